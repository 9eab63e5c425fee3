package alerting

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events        *prometheus.CounterVec
	notifications *prometheus.CounterVec
	suppressed    *prometheus.CounterVec
	incidentsOpen prometheus.Gauge
	latency       prometheus.Histogram
	active        prometheus.Gauge

	failoverDecisions *prometheus.CounterVec
	failoverHeld      *prometheus.CounterVec
	failoverOnStandby *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_events_consumed_total",
			Help: "Events consumed by type (health, failover, heartbeat, other) and outcome (applied, stale, invalid, ignored).",
		}, []string{"type", "outcome"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_notifications_total",
			Help: "Slack notifications by kind (open, change, reminder, recovered, resolved_update, failover, storm_summary) and result (posted, failed); failed ones were refused by Slack for good.",
		}, []string{"kind", "result"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_notifications_suppressed_total",
			Help: "Notifications not posted on their own, by reason (silence, maintenance, storm).",
		}, []string{"reason"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alerting_active",
			Help: "1 while this replica is the active one (state loaded, consuming), else 0 (standby).",
		}),
		incidentsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_alerting_incidents_open",
			Help: "Incidents open now (muted and folded ones included).",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_alerting_notification_latency_seconds",
			Help:    "Time from a health transition (or failover step) to its Slack message being posted.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		failoverDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_failover_decisions_total",
			Help: "Failover decisions published on vigil.failover by type (failover.requested, failback.requested).",
		}, []string{"type"}),
		failoverHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerting_failover_held_total",
			Help: "Times a due switch was held back, by reason (standby_not_healthy, blocked); counted once per reason in a row.",
		}, []string{"reason"}),
		failoverOnStandby: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_alerting_failover_on_standby",
			Help: "1 while a configured failover target is served by its standby, else 0.",
		}, []string{"target"}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.notifications, m.suppressed, m.incidentsOpen, m.latency, m.active,
			m.failoverDecisions, m.failoverHeld, m.failoverOnStandby)
	}
	return m
}
