package detector

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/internal/events"
)

// metrics are the detector's own metrics, vigil_detector_*.
type metrics struct {
	evaluations   *prometheus.CounterVec
	evalDuration  prometheus.Histogram
	transitions   *prometheus.CounterVec
	leader        prometheus.Gauge
	published     prometheus.Counter
	heartbeats    prometheus.Counter
	publishErrors prometheus.Counter
	queueLength   prometheus.Gauge
	webhooks      *prometheus.CounterVec
	status        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_rule_evaluations_total",
			Help: "Rule evaluations by result: ok, no_data or error.",
		}, []string{"result"}),
		evalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_detector_rule_evaluation_duration_seconds",
			Help: "Time one rule's query to Prometheus takes, as the detector sees it.",
			// 1ms to 32s in doublings: a loopback query takes a few
			// milliseconds, a timed-out one query_timeout (10s).
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_transitions_total",
			Help: "Target status transitions decided, by target and new status.",
		}, []string{"target", "status"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_leader",
			Help: "1 while this replica is the leader that evaluates and publishes.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_published_events_total",
			Help: "Health events committed to Kafka.",
		}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_heartbeats_total",
			Help: "Heartbeats committed to the health topic by the leader.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_detector_publish_errors_total",
			Help: "Failed publish attempts (each is retried until it succeeds or leadership ends).",
		}),
		queueLength: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_detector_publish_queue_length",
			Help: "Transitions waiting to be published.",
		}),
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_detector_target_status",
			Help: "1 for each target's current status, 0 for the others (HEALTHY, CAUTION, CRITICAL, UNKNOWN); set on the leader.",
		}, []string{"target", "status"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_detector_webhook_requests_total",
			Help: "Alert webhook requests by source (alertmanager, grafana) and HTTP status code.",
		}, []string{"source", "code"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.evaluations, m.evalDuration, m.transitions, m.leader, m.published, m.heartbeats, m.publishErrors, m.queueLength, m.webhooks, m.status} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// setStatus marks target's current status, so dashboards and `make run`
// see it before (and between) transitions.
func (m *metrics) setStatus(target string, st events.Status) {
	for _, s := range []events.Status{events.Healthy, events.Caution, events.Critical, events.Unknown} {
		v := 0.0
		if s == st {
			v = 1
		}
		m.status.WithLabelValues(target, string(s)).Set(v)
	}
}
