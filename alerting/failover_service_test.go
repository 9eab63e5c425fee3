package alerting

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/alerting/failover"
	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

// decisions returns every record on the failover topic, up to its end
// offset of now, as "<short type>#<generation>", each validated against
// the schema and keyed by its target.
func decisions(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	require.NoError(t, err)
	end, ok := ends.Lookup(topic, 0)
	require.True(t, ok)
	var out []string
	for int64(len(out)) < end.Offset {
		fs := cl.PollFetches(t.Context())
		require.NoError(t, fs.Err())
		fs.EachRecord(func(r *kgo.Record) {
			require.NoError(t, events.ValidateFailover(r.Value))
			ev, err := events.Parse(r)
			require.NoError(t, err)
			f, err := events.Data[events.Failover](ev)
			require.NoError(t, err)
			require.Equal(t, f.Target, string(r.Key))
			out = append(out, fmt.Sprintf("%s#%d", ShortType(ev.Type()), f.Generation))
		})
	}
	return out
}

// TestServiceFailover runs the controller inside the service against kfake.
func TestServiceFailover(t *testing.T) {
	cfg := kfakeConfig(t)
	failoverScenario(t, cfg)
}

// TestServiceFailoverRealKafka runs the same scenario on the real Kafka,
// with topics and a group of its own.
func TestServiceFailoverRealKafka(t *testing.T) {
	cfg, _ := realKafkaConfig(t, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	failoverScenario(t, cfg)
}

// failoverScenario: health events in, decisions out on the failover topic
// with generations, the executor's outcomes in, the API, Slack replies, and
// a restart that publishes nothing again.
// scenarioWait bounds each condition of the scenario. The steps take about a
// second; the bound is generous because CI runs every package's tests
// against the same real Kafka at once.
const scenarioWait = 2 * time.Minute

func failoverScenario(t *testing.T, cfg Config) {
	brokers := cfg.Kafka.Brokers
	topic := cfg.Kafka.FailoverTopic
	srv := slackfake.New()
	defer srv.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer prod.Close()

	cfg.Slack.BotToken = config.Secret{Value: "xoxb-test"}
	cfg.Slack.APIURL = srv.URL()
	cfg.API.Token = config.Secret{Value: "s3cret"}
	cfg.TickInterval = 50 * time.Millisecond
	cfg.Failover.TickInterval = 20 * time.Millisecond
	cfg.Failover.Targets = []failover.Policy{{Target: "db-1", Standby: "db-1-standby", CriticalFor: time.Minute, Failback: failover.FailbackAuto, Dwell: time.Minute}}

	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("alerting service log:\n%s", logs.String())
		}
	})
	start := func() (Client, func()) {
		adm := newFakeAdmin()
		s, err := New(cfg, component.Deps{Logger: logger(logs), Registerer: prometheus.NewRegistry(), Admin: adm}, WithKafkaOptions(kgo.FetchMaxWait(50*time.Millisecond)))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		require.Eventually(t, func() bool { return adm.check("alerting") == nil && s.Active() }, scenarioWait, 10*time.Millisecond)
		api := httptest.NewServer(adm.mux)
		return Client{URL: api.URL, Token: "s3cret"}, func() { api.Close(); cancel(); require.NoError(t, <-done) }
	}
	status := func(fc Client) TargetStatus {
		st, err := fc.FailoverStatus(t.Context())
		require.NoError(t, err)
		require.Len(t, st, 1)
		return st[0]
	}
	// Since lies an hour back, so critical_for and dwell have passed when
	// the event arrives: the decisions follow at once.
	past := time.Now().Add(-time.Hour)
	hev := func(target string, s events.Status, gen uint64) events.Health {
		return events.Health{Target: target, Status: s, PreviousStatus: events.Unknown, Since: past, Reason: "test", Generation: gen}
	}
	outcome := func(typ string, gen uint64, from, to string) {
		produce(t, prod, topic, typ, "db-1", events.Failover{Target: "db-1", From: from, To: to, At: time.Now(), Generation: gen, Actor: "pipeline/test"})
	}
	waitFor := func(want ...string) {
		t.Helper()
		require.Eventually(t, func() bool { return len(decisions(t, brokers, topic)) >= len(want) }, scenarioWait, 20*time.Millisecond)
		require.Equal(t, want, decisions(t, brokers, topic))
	}

	fc, stop := start()
	produce(t, prod, cfg.Kafka.HealthTopic, events.HealthChangedType, "db-1-standby", hev("db-1-standby", events.Healthy, 1))
	produce(t, prod, cfg.Kafka.HealthTopic, events.HealthChangedType, "db-1", hev("db-1", events.Critical, 1))
	waitFor("failover.requested#1")
	outcome(events.FailoverCompletedType, 1, failover.Primary, failover.Standby)
	require.Eventually(t, func() bool { return status(fc).Active == failover.Standby }, scenarioWait, 20*time.Millisecond)

	// The controller's request and the executor's outcome are replies in
	// the incident's thread.
	require.Eventually(t, func() bool { return len(srv.Posts()) == 3 }, scenarioWait, 20*time.Millisecond)
	posts := srv.Posts()
	require.Contains(t, posts[1].Text, "Failover requested for *db-1*: primary → standby — primary CRITICAL for 1h")
	require.Contains(t, posts[2].Text, "Failover completed for *db-1*: primary → standby (by pipeline/test)")
	require.Equal(t, posts[0].TS, posts[1].ThreadTS)
	require.Equal(t, posts[0].TS, posts[2].ThreadTS)
	stop()

	// After a restart nothing is published again, and the sequence goes on.
	fc, stop = start()
	defer stop()
	require.Equal(t, uint64(1), status(fc).Generation)
	produce(t, prod, cfg.Kafka.HealthTopic, events.HealthChangedType, "db-1", hev("db-1", events.Healthy, 2))
	waitFor("failover.requested#1", "failover.completed#1", "failback.requested#2")
	outcome(events.FailbackCompletedType, 2, failover.Standby, failover.Primary)
	require.Eventually(t, func() bool { return status(fc).Active == failover.Primary }, scenarioWait, 20*time.Millisecond)
	st := status(fc)
	require.Equal(t, []string{"failover.requested", "failover.completed", "failback.requested", "failback.completed"}, stepTypes(st.Last))
}

// TestServiceFailoverReplay: a new consumer group reads the health topic
// from its start; a CRITICAL long since over must not fail over. The
// history is written in Kafka transactions, as the detector does, so the
// topic ends in a commit marker.
func TestServiceFailoverReplay(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, events.HealthTopic, events.FailoverTopic))
	require.NoError(t, err)
	defer c.Close()
	brokers := c.ListenAddrs()
	tx, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("detector-test"))
	require.NoError(t, err)
	defer tx.Close()
	past := time.Now().Add(-24 * time.Hour)
	for _, h := range []events.Health{
		{Target: "db-1-standby", Status: events.Healthy, Since: past, Reason: "ok", Generation: 1},
		{Target: "db-1", Status: events.Critical, Since: past, Reason: "down", Generation: 1},
		{Target: "db-1", Status: events.Healthy, Since: past.Add(time.Hour), Reason: "ok", Generation: 2},
	} {
		require.NoError(t, tx.BeginTransaction())
		produce(t, tx, events.HealthTopic, events.HealthChangedType, h.Target, h)
		require.NoError(t, tx.EndTransaction(t.Context(), kgo.TryCommit))
	}

	cfg := testConfig()
	cfg.Kafka.Brokers = brokers
	cfg.Slack.BotToken = config.Secret{Value: "xoxb-test"}
	srv := slackfake.New()
	defer srv.Close()
	cfg.Slack.APIURL = srv.URL()
	cfg.Failover.TickInterval = 20 * time.Millisecond
	cfg.Failover.Targets = []failover.Policy{{Target: "db-1", Standby: "db-1-standby", CriticalFor: time.Minute}}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, component.Deps{Logger: quiet, Registerer: reg}, WithKafkaOptions(kgo.FetchMaxWait(50*time.Millisecond)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	// All three events consumed (and the replayed ones dropped by the
	// controller), with ticks in between: still nothing published.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(metricVec(t, reg, "vigil_alerting_events_consumed_total", "type", "health", "outcome", "applied")) == 3
	}, scenarioWait, 10*time.Millisecond)
	s.Controller().Tick(t.Context())
	require.Empty(t, decisions(t, brokers, events.FailoverTopic))
	st := s.Controller().Status()[0]
	require.Equal(t, events.Healthy, st.PrimaryHealth)
	require.Equal(t, failover.Primary, st.Active)
}

// lockedBuffer collects a service's log for printing if the test fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) contains(s string) bool { return strings.Contains(l.String(), s) }

// logger writes a service's debug log to w.
func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
