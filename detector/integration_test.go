package detector

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
)

// exporter serves one gauge on 127.0.0.1:<free port> for the real
// Prometheus to scrape, through a file_sd file in its targets dir.
func exporter(t *testing.T, job string) prometheus.Gauge {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_test_detector_value", Help: "Test value the detector watches."})
	reg.MustRegister(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	testinfra.ScrapeTarget(t, job, ln.Addr().String(), map[string]string{"job": job})
	return g
}

// TestRealPrometheusAndKafka drives a gauge scraped by the real Prometheus
// past CRITICAL and back, and reads the events from the real Kafka.
func TestRealPrometheusAndKafka(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	broker := testinfra.Kafka(t)
	job := uniqueName(t, "job")
	g := exporter(t, job)
	g.Set(0.1)

	cfg := kafkaConfig(t, broker, 10*time.Second, 10*time.Second)
	cfg.Prometheus.URL = promURL
	cfg.Kafka.SessionTimeout = 10 * time.Second
	target := "it-" + job
	cfg.Targets = []Target{{Name: target, Labels: map[string]string{"job": job}, Rules: []Rule{{
		Name: "value", Expr: fmt.Sprintf(`max(vigil_test_detector_value{job=%q})`, job),
		Caution: "> 0.5", Critical: "> 0.9",
		Interval: dur(time.Second), For: dur(10 * time.Second), RecoverFor: dur(10 * time.Second),
	}}}}
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, broker, []string{cfg.Kafka.Group}, cfg.Kafka.HealthTopic, cfg.Kafka.LeaderTopic)
	})

	cfg.Instance = "it"
	s, err := New(cfg, component.Deps{Logger: testLogger(t), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	pub := func() []pubEvent { return published(t, broker, cfg.Kafka.HealthTopic) }
	within := 3 * time.Minute
	// A new target starts UNKNOWN; the first data makes it HEALTHY.
	eventuallyWithin(t, within, "the first HEALTHY", func() bool { return len(pub()) == 1 })
	require.Equal(t, "UNKNOWN->HEALTHY#1", summary(pub()))

	raised := time.Now()
	g.Set(0.95)
	eventuallyWithin(t, within, "the CRITICAL event", func() bool { return len(pub()) == 2 })
	t.Logf("CRITICAL published %s after the gauge was raised (for: 10s, scrape interval 5s)", time.Since(raised).Round(100*time.Millisecond))
	critical := pub()[1]
	require.Equal(t, events.Critical, critical.Status)
	require.Equal(t, events.Healthy, critical.PreviousStatus)
	require.Equal(t, 0.95, *critical.Value)
	require.Equal(t, 0.9, *critical.Threshold)
	require.Equal(t, "vigil-detector/it", critical.Source)
	requireHeld(t, critical.Health, critical.Time, raised, 10*time.Second, time.Second)

	lowered := time.Now()
	g.Set(0.1)
	eventuallyWithin(t, within, "the HEALTHY event", func() bool { return len(pub()) == 3 })
	t.Logf("HEALTHY published %s after the gauge was lowered (recover_for: 10s)", time.Since(lowered).Round(100*time.Millisecond))
	healthy := pub()[2]
	require.Equal(t, events.Healthy, healthy.Status)
	require.Equal(t, events.Critical, healthy.PreviousStatus)
	require.Equal(t, critical.Generation+1, healthy.Generation)
	requireHeld(t, healthy.Health, healthy.Time, lowered, 10*time.Second, time.Second)

	// Exactly one of each: nothing more after many further evaluations.
	start := testutilEvaluations(s)
	eventuallyWithin(t, within, "10 more evaluations", func() bool { return testutilEvaluations(s) >= start+10 })
	require.Equal(t, "UNKNOWN->HEALTHY#1 HEALTHY->CRITICAL#2 CRITICAL->HEALTHY#3", summary(pub()))
}

// requireHeld checks an event's timing: published no sooner than hold
// after the gauge changed, and, on the detector's clock, after its
// condition had held for hold but no more than two intervals longer (the
// scrape interval between the change and the first evaluation seeing it is
// Prometheus', not the detector's).
func requireHeld(t *testing.T, h events.Health, at, changed time.Time, hold, interval time.Duration) {
	t.Helper()
	require.GreaterOrEqual(t, at.Sub(changed), hold, "%s published before its hold ended", h.Status)
	held := at.Sub(h.Since)
	t.Logf("%s: condition held %s before it was published", h.Status, held.Round(10*time.Millisecond))
	require.GreaterOrEqual(t, held, hold)
	require.LessOrEqual(t, held, hold+2*interval)
}

func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRestoreRealKafka: Restore reads committed transactions up to the end
// of a real Kafka's log (whose commit markers end it) and keeps each
// target's highest generation; an aborted transaction is invisible.
func TestRestoreRealKafka(t *testing.T) {
	broker := testinfra.Kafka(t)
	cfg := kafkaConfig(t, broker, 0, 0)
	cfg.Kafka.TopicPartitions = 3
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, broker, []string{cfg.Kafka.Group}, cfg.Kafka.HealthTopic, cfg.Kafka.LeaderTopic)
	})
	createTopics(t, cfg)
	m, err := newMetrics(nil)
	require.NoError(t, err)
	p := &publisher{opts: []kgo.Opt{kgo.SeedBrokers(broker), kgo.TransactionalID(cfg.Kafka.TransactionalID)}, timeout: 10 * time.Second, log: testLogger(t), m: m}
	defer p.close()
	ctx := context.Background()
	steps := []Transition{
		{Target: "kafka", From: events.Unknown, To: events.Healthy, Generation: 1},
		{Target: "opensearch-primary", From: events.Unknown, To: events.Critical, Generation: 1},
		{Target: "kafka", From: events.Healthy, To: events.Caution, Generation: 2},
		{Target: "opensearch-primary", From: events.Critical, To: events.Healthy, Generation: 2},
		{Target: "kafka", From: events.Caution, To: events.Critical, Generation: 3},
	}
	for _, tr := range steps {
		tr.At, tr.Since, tr.Reason = t0, t0, "test"
		_, rec, err := Event("test", tr)
		require.NoError(t, err)
		rec.Topic = cfg.Kafka.HealthTopic
		require.NoError(t, p.publish(ctx, rec))
	}
	// An aborted transaction must not count.
	_, rec, err := Event("test", Transition{Target: "kafka", From: events.Critical, To: events.Healthy, At: t0, Since: t0, Reason: "aborted", Generation: 4})
	require.NoError(t, err)
	rec.Topic = cfg.Kafka.HealthTopic
	require.NoError(t, p.cl.BeginTransaction())
	require.NoError(t, p.cl.ProduceSync(ctx, rec).FirstErr())
	require.NoError(t, p.cl.EndTransaction(ctx, kgo.TryAbort))

	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	got, err := Restore(rctx, cfg.Kafka.HealthTopic, testLogger(t), kgo.SeedBrokers(broker))
	require.NoError(t, err)
	require.Equal(t, map[string]Restored{
		"kafka":              {events.Critical, 3},
		"opensearch-primary": {events.Healthy, 2},
	}, got)
}

// TestLeaderFailoverRealKafka is TestLeaderFailover against the real Kafka
// with the default 10s session timeout.
func TestLeaderFailoverRealKafka(t *testing.T) {
	broker := testinfra.Kafka(t)
	cfg := kafkaConfig(t, broker, 3*time.Second, 3*time.Second)
	cfg.Kafka.SessionTimeout = 10 * time.Second
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, broker, []string{cfg.Kafka.Group}, cfg.Kafka.HealthTopic, cfg.Kafka.LeaderTopic)
	})
	testFailover(t, cfg)
}

// TestIdleOnRealPrometheus evaluates rules with an idle query against the
// real Prometheus: no data (or 0/0) with no traffic is healthy, no data
// with traffic or with an empty idle query stays no data.
func TestIdleOnRealPrometheus(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	client, err := api.NewClient(api.Config{Address: promURL})
	require.NoError(t, err)
	q := v1.NewAPI(client)
	for _, tc := range []struct {
		name, expr, idle string
		want             Observation
	}{
		{"0/0 with no traffic", "vector(0) / vector(0)", "vector(0)", Observation{Idle: true}},
		{"no series with no traffic", "sum(rate(vigil_test_never_exported_total[5m]))", "sum(rate(vigil_test_never_exported_total[5m])) or vector(0)", Observation{Idle: true}},
		{"no data with traffic", "vector(0) / vector(0)", "vector(3)", Observation{Err: ErrNoData}},
		{"no data, idle query empty too", "vector(0) / vector(0)", "sum(vigil_test_never_exported)", Observation{Err: ErrNoData}},
		{"no data without an idle query", "vector(0) / vector(0)", "", Observation{Err: ErrNoData}},
		{"data wins over idle", "vector(0.5)", "vector(0)", Observation{Value: 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Rule{Name: "r", Expr: tc.expr, Idle: tc.idle, Critical: "> 0.1"}
			require.NoError(t, r.validate())
			got := evaluate(context.Background(), q, compileRule(r, DefaultConfig().Defaults), 10*time.Second, time.Now())
			require.Equal(t, tc.want, got)
		})
	}
}
