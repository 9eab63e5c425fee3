package eventindex

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	indexed *prometheus.CounterVec // index
	skipped *prometheus.CounterVec // topic, reason
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		indexed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_events_indexed_total",
			Help: "Event and DLQ documents indexed (or found already indexed), by index.",
		}, []string{"index"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_events_skipped_total",
			Help: "Records of the event and DLQ topics not indexed, by topic and reason (invalid: not a valid event; heartbeat: a detector heartbeat; rejected: OpenSearch refused the document).",
		}, []string{"topic", "reason"}),
	}
	reg.MustRegister(m.indexed, m.skipped)
	return m
}
