package alerting

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/google/uuid"
	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/alerting/statetopic"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

// TestRestartKeepsThread: the state is restored from the state topic and
// the recovery lands in the thread opened before the restart.
func TestRestartKeepsThread(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	newStore := func() *statetopic.Store {
		s, err := statetopic.New(StateTopic, kgo.SeedBrokers(c.ListenAddrs()...))
		require.NoError(t, err)
		t.Cleanup(s.Close)
		require.NoError(t, s.Ensure(t.Context()))
		return s
	}
	h1 := newHarness(t, testConfig(), newStore(), nil)
	h1.apply(health("db-1", events.Critical, events.Healthy, 1, 0))
	_, err = h1.eng.AddSilence(t.Context(), SilenceRequest{Matchers: []string{"target=web-9"}, Duration: "1h", Reason: "kept"})
	require.NoError(t, err)

	h2 := newHarness(t, testConfig(), newStore(), h1.srv)
	require.Len(t, h2.eng.Silences(), 1)
	require.Equal(t, outcomeStale, h2.apply(health("db-1", events.Critical, events.Healthy, 1, 0)))
	h2.apply(health("db-1", events.Healthy, events.Critical, 2, 12*time.Minute+30*time.Second))
	posts := h2.srv.Posts()
	require.Len(t, posts, 2)
	require.Equal(t, posts[0].TS, posts[1].ThreadTS)
	require.Contains(t, posts[1].Text, "recovered after 12m30s")
	ups := h2.srv.Updates()
	require.Len(t, ups, 1)
	require.Equal(t, posts[0].TS, ups[0].TS)
}

// fakeAdmin is the part of the admin server a component uses.
type fakeAdmin struct {
	mu     sync.Mutex
	mux    *http.ServeMux
	checks map[string]func() error
}

func newFakeAdmin() *fakeAdmin {
	return &fakeAdmin{mux: http.NewServeMux(), checks: map[string]func() error{}}
}

func (a *fakeAdmin) Handle(p string, h http.Handler) { a.mux.Handle(p, h) }

func (a *fakeAdmin) AddCheck(n string, f func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks[n] = f
}

func (a *fakeAdmin) check(n string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.checks[n]()
}

func produce(t *testing.T, cl *kgo.Client, topic, typ, subject string, data any) {
	t.Helper()
	ev, err := events.New(uuid.NewString(), "test", typ, subject, time.Now(), data)
	require.NoError(t, err)
	r, err := events.Record(topic, ev)
	require.NoError(t, err)
	require.NoError(t, cl.ProduceSync(t.Context(), r).FirstErr())
}

// TestService runs the component against kfake and the fake Slack.
func TestService(t *testing.T) {
	cfg := kfakeConfig(t)
	serviceScenario(t, cfg)
}

// TestServiceRealKafka runs the same scenario on the real Kafka, with topics
// and a group of its own; the state topic is created by the service.
func TestServiceRealKafka(t *testing.T) {
	cfg, adm := realKafkaConfig(t, nil)
	serviceScenario(t, cfg)

	// The service created its state topic compacted.
	rc, err := adm.DescribeTopicConfigs(t.Context(), cfg.Kafka.StateTopic)
	require.NoError(t, err)
	v, err := rc.On(cfg.Kafka.StateTopic, nil)
	require.NoError(t, err)
	found := false
	for _, c := range v.Configs {
		if c.Key == "cleanup.policy" {
			require.Equal(t, "compact", c.MaybeValue())
			found = true
		}
	}
	require.True(t, found)
}

// serviceScenario: events from the health and failover topics become one
// thread, and after a restart the recovery closes the same thread.
func serviceScenario(t *testing.T, cfg Config) {
	srv := slackfake.New()
	defer srv.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	require.NoError(t, err)
	defer prod.Close()

	cfg.Slack.BotToken = config.Secret{Value: "xoxb-test"}
	cfg.Slack.APIURL = srv.URL()
	cfg.API.Token = config.Secret{Value: "s3cret"}
	cfg.TickInterval = 50 * time.Millisecond

	start := func() (*fakeAdmin, *prometheus.Registry, func()) {
		adm, reg := newFakeAdmin(), prometheus.NewRegistry()
		s, err := New(cfg, component.Deps{Logger: quiet, Registerer: reg, Admin: adm}, WithKafkaOptions(kgo.FetchMaxWait(100*time.Millisecond)))
		require.NoError(t, err)
		require.Error(t, adm.check("alerting"), "not ready before the state is loaded")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		require.Eventually(t, func() bool { return adm.check("alerting") == nil }, scenarioWait, 10*time.Millisecond)
		return adm, reg, func() { cancel(); require.NoError(t, <-done) }
	}

	adm, reg, stop := start()
	produce(t, prod, cfg.Kafka.HealthTopic, events.HealthChangedType, "db-1", health("db-1", events.Critical, events.Healthy, 1, 0))
	produce(t, prod, cfg.Kafka.FailoverTopic, events.FailoverRequestedType, "db-1", events.Failover{Target: "db-1", From: "primary", To: "standby", Generation: 1})
	produce(t, prod, cfg.Kafka.HealthTopic, "dev.vigil.something.else.v1", "db-1", map[string]string{})
	require.Eventually(t, func() bool { return len(srv.Posts()) == 2 }, scenarioWait, 20*time.Millisecond)

	// The silences API is mounted and guarded.
	api := httptest.NewServer(adm.mux)
	defer api.Close()
	_, err = Client{URL: api.URL, Token: "wrong"}.Silences(t.Context())
	require.ErrorContains(t, err, "401")
	sil, err := Client{URL: api.URL, Token: "s3cret"}.CreateSilence(t.Context(), SilenceRequest{Matchers: []string{"target=web-1"}, Duration: "1h", Reason: "test"})
	require.NoError(t, err)
	require.Equal(t, "target=web-1", sil.Matchers[0].String())
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(metricVec(t, reg, "vigil_alerting_events_consumed_total", "type", "other", "outcome", "ignored")) == 1
	}, scenarioWait, 10*time.Millisecond)
	stop()

	_, _, stop = start()
	produce(t, prod, cfg.Kafka.HealthTopic, events.HealthChangedType, "db-1", health("db-1", events.Healthy, events.Critical, 2, 12*time.Minute+30*time.Second))
	require.Eventually(t, func() bool { return len(srv.Posts()) == 3 && len(srv.Updates()) == 1 }, scenarioWait, 20*time.Millisecond)
	stop()
	posts := srv.Posts()
	require.Equal(t, posts[0].TS, posts[1].ThreadTS)
	require.Equal(t, posts[0].TS, posts[2].ThreadTS, "the recovery after the restart is in the same thread")
	require.Contains(t, posts[2].Text, "recovered after 12m30s")
	require.Equal(t, posts[0].TS, srv.Updates()[0].TS)
}

// metricVec returns the sample of a counter vector with the label pairs.
func metricVec(t *testing.T, reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.GetMetric() {
				want := map[string]string{}
				for i := 0; i+1 < len(labels); i += 2 {
					want[labels[i]] = labels[i+1]
				}
				for _, lp := range m.GetLabel() {
					if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
						continue next
					}
				}
				return m.GetCounter().GetValue()
			}
		}
		return 0
	})
}

// collectorFunc exposes a value as a gauge for testutil.ToFloat64.
type collectorFunc func() float64

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc("test_value", "test", nil, nil)
}

func (f collectorFunc) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("test_value", "test", nil, nil), prometheus.GaugeValue, f())
}
