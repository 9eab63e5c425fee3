package canary

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	heartbeats *prometheus.CounterVec   // topic
	duplicates *prometheus.CounterVec   // topic
	freshness  *prometheus.HistogramVec // topic
	gaps       *prometheus.CounterVec   // topic
	produced   *prometheus.GaugeVec     // topic
	consumed   *prometheus.GaugeVec     // topic
	lost       *prometheus.GaugeVec     // topic
	lostTotal  *prometheus.CounterVec   // topic
	windows    *prometheus.CounterVec   // topic, result
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_canary_heartbeats_total",
			Help: "Collector heartbeats read, by topic.",
		}, []string{"topic"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_canary_duplicate_heartbeats_total",
			Help: "Heartbeats already seen (written twice by a collector's retry after a produce error): counted as records, indexed nowhere, by topic.",
		}, []string{"topic"}),
		freshness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_pipeline_canary_freshness_seconds",
			Help: "From a heartbeat's emission in the collector (before its queue and Kafka) to its document indexed, by topic.",
			// Fine below 2 s, where a healthy pipeline is; 30 and 120 are the
			// default rules' thresholds.
			Buckets: []float64{0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600},
		}, []string{"topic"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_canary_gaps_total",
			Help: "Heartbeats missing from a collector's sequence in a partition (lost records), by topic.",
		}, []string{"topic"}),
		produced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_canary_window_produced_records",
			Help: "Records the collectors handed to Kafka in the last closed window, by topic.",
		}, []string{"topic"}),
		consumed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_canary_window_consumed_records",
			Help: "Records the pipeline indexed or dead-lettered of the last closed window, by topic.",
		}, []string{"topic"}),
		lost: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_canary_window_lost_records",
			Help: "Records handed to Kafka and neither indexed nor dead-lettered, in the last closed window, by topic.",
		}, []string{"topic"}),
		lostTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_canary_lost_records_total",
			Help: "Records lost, summed over closed windows, by topic.",
		}, []string{"topic"}),
		windows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_canary_windows_total",
			Help: "Closed windows by topic and result (ok, loss).",
		}, []string{"topic", "result"}),
	}
	reg.MustRegister(m.heartbeats, m.duplicates, m.freshness, m.gaps, m.produced, m.consumed, m.lost, m.lostTotal, m.windows)
	return m
}

func (m *metrics) closed(w Window) {
	m.produced.WithLabelValues(w.Topic).Set(float64(w.Produced))
	m.consumed.WithLabelValues(w.Topic).Set(float64(w.Consumed))
	m.lost.WithLabelValues(w.Topic).Set(float64(w.Lost))
	m.lostTotal.WithLabelValues(w.Topic).Add(float64(w.Lost))
	result := "ok"
	if w.Lost > 0 {
		result = "loss"
	}
	m.windows.WithLabelValues(w.Topic, result).Inc()
}
