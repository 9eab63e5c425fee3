package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/slack-go/slack/slacktest.(*hub).run"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// base is the time of the first transition in tests.
var base = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.DefaultRoute = Route{Name: "default", Channel: "C0DEFAULT", MentionGroup: "S0ONCALL", RepeatInterval: time.Hour}
	cfg.Routes = []Route{{
		Name: "databases", Matchers: mustMatchers("target=~db-.*"), Channel: "C0DB",
		MentionGroup: "S0DBA", OpenOnCaution: true, RepeatInterval: 30 * time.Minute,
	}}
	cfg.Storm = StormConfig{Threshold: 5, Window: time.Minute}
	return cfg
}

func mustMatchers(ss ...string) []Matcher {
	ms, err := ParseMatchers(ss)
	if err != nil {
		panic(err)
	}
	return ms
}

// clock is a settable time for tests that do not run in a synctest bubble.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// harness is an engine posting in bot mode to a fake Slack.
type harness struct {
	t     *testing.T
	srv   *slackfake.Server
	store Store
	eng   *Engine
	clk   *clock
	reg   *prometheus.Registry
	waits int
}

func newHarness(t *testing.T, cfg Config, store Store, srv *slackfake.Server) *harness {
	t.Helper()
	if srv == nil {
		srv = slackfake.New()
		t.Cleanup(srv.Close)
	}
	if store == nil {
		store = NewMemStore()
	}
	if !cfg.Slack.BotToken.IsSet() && len(cfg.Slack.Webhooks) == 0 {
		cfg.Slack.BotToken = config.Secret{Value: "xoxb-test"}
	}
	cfg.Slack.APIURL = srv.URL()
	cfg.Slack.PerChannelRate = 1000
	require.NoError(t, cfg.Validate())
	h := &harness{t: t, srv: srv, store: store, clk: &clock{t: base}, reg: prometheus.NewRegistry()}
	sc, err := slack.New(cfg.Slack, quiet, h.reg)
	require.NoError(t, err)
	sc.SetRetryWait(func(ctx context.Context, _ time.Duration) error { h.waits++; return ctx.Err() })
	h.eng = NewEngine(cfg, store, sc, quiet, h.reg)
	h.eng.now = h.clk.now
	require.NoError(t, h.eng.Restore(t.Context()))
	return h
}

func (h *harness) apply(ev events.Health) string {
	h.t.Helper()
	out, err := h.eng.ApplyHealth(h.t.Context(), ev)
	require.NoError(h.t, err)
	return out
}

func (h *harness) tick() {
	h.t.Helper()
	require.NoError(h.t, h.eng.Tick(h.t.Context()))
}

// health builds a transition of target at base+after.
func health(target string, status, prev events.Status, gen uint64, after time.Duration) events.Health {
	v, th := 0.97, 0.9
	return events.Health{
		Target: target, Status: status, PreviousStatus: prev, Since: base.Add(after),
		Rule: "error_ratio", Value: &v, Threshold: &th,
		Reason:     "error ratio 0.97 above 0.9 for 5m",
		Labels:     map[string]string{"env": "prod"},
		Generation: gen,
		Annotations: map[string]string{
			"runbook_url":   "https://runbooks.example/" + target,
			"dashboard_url": "https://dashboards.example/d/" + target,
			"graph_url":     "https://prometheus.example/graph?g0.expr=up",
		},
	}
}

// golden compares a posted message's payload with testdata/<name>.golden.json.
func golden(t *testing.T, name string, m slackfake.Message) {
	t.Helper()
	payload := map[string]any{"text": m.Text, "metadata": m.Metadata, "in_thread": m.ThreadTS != ""}
	if len(m.Blocks) > 0 {
		payload["blocks"] = m.Blocks
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <!subteam^...> and <url|label> readable
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(payload))
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), string(got))
}

// keys returns the metadata keys of msgs.
func keys(msgs []slackfake.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Key()
	}
	return out
}

// kfakeConfig points testConfig at a kfake cluster, closed when the test
// ends, with the health and failover topics seeded.
func kfakeConfig(t *testing.T) Config {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, events.HealthTopic, events.FailoverTopic))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cfg := testConfig()
	cfg.Kafka.Brokers = c.ListenAddrs()
	return cfg
}

// realKafkaConfig points testConfig at the real Kafka with topics and a
// group of the test's own: the health and failover topics are created with
// topicConfigs, the state topic is left to the service, and all three and
// the group are deleted when the test ends. The admin client stays open
// until then.
func realKafkaConfig(t *testing.T, topicConfigs map[string]*string) (Config, *kadm.Client) {
	t.Helper()
	broker := testinfra.Kafka(t)
	cfg := testConfig()
	cfg.Kafka.Brokers = []string{broker}
	suffix := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + uuid.NewString()[:8]
	cfg.Kafka.HealthTopic = "test.health." + suffix
	cfg.Kafka.FailoverTopic = "test.failover." + suffix
	cfg.Kafka.StateTopic = "test.alerting.state." + suffix
	cfg.Kafka.Group = "test-alerting-" + suffix
	cfg.Kafka.TransactionalID = "test-alerting-" + suffix
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	adm := kadm.NewClient(cl)
	t.Cleanup(func() {
		defer cl.Close()
		_, _ = adm.DeleteTopics(context.Background(), cfg.Kafka.HealthTopic, cfg.Kafka.FailoverTopic, cfg.Kafka.StateTopic)
		_, _ = adm.DeleteGroup(context.Background(), cfg.Kafka.Group)
	})
	_, err = adm.CreateTopics(t.Context(), 1, 1, topicConfigs, cfg.Kafka.HealthTopic, cfg.Kafka.FailoverTopic)
	require.NoError(t, err)
	return cfg, adm
}
