//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// channelName is the channel the routes name; slackfake knows it by this
// name and ID, among others, served two a page so that resolving it reads
// several pages of conversations.list.
const (
	channelName = "alerts"
	channelID   = "C0ALERTS"
)

// stack is one test's Kafka names (unique per run on the shared Kafka) and
// its fake Slack.
type stack struct {
	t                                 *testing.T
	broker                            string
	health, state, leader, group, txn string
	detLeader, detGroup, detTxn       string
	slack                             *slackfake.Server
	prod                              *kgo.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	broker := testinfra.Kafka(t)
	sfx := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "." + time.Now().Format("150405.000000")
	s := &stack{
		t: t, broker: broker,
		health: "vigil.health.e2e." + sfx, state: "vigil.alerting.state.e2e." + sfx, leader: "vigil.alerting.leader.e2e." + sfx,
		group: "vigil-alerting-e2e-" + sfx, txn: "vigil-alerting-e2e-" + sfx,
		detLeader: "vigil.detector.leader.e2e." + sfx, detGroup: "vigil-detector-e2e-" + sfx, detTxn: "vigil-detector-e2e-" + sfx,
		slack: slackfake.New(),
	}
	t.Cleanup(s.slack.Close)
	for _, n := range []string{"general", "random", channelName, "ops", "zz-archive"} {
		id := "C0" + strings.ToUpper(strings.ReplaceAll(n, "-", ""))
		s.slack.AddChannel(n, id)
	}
	s.slack.SetPageSize(2)
	var err error
	s.prod, err = kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	t.Cleanup(s.prod.Close)
	// The health topic as the detector creates it: compacted, 2 partitions.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = kadm.NewClient(s.prod).CreateTopic(ctx, 2, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, s.health)
	require.NoError(t, err)
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, broker, []string{s.group, s.detGroup}, s.health, s.state, s.leader, s.detLeader)
	})
	return s
}

// alertingConfig writes a standalone alerting file serving admin; extra is
// appended (top-level YAML).
func (s *stack) alertingConfig(name, admin, extra string) string {
	s.t.Helper()
	cfg := fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: %s
  leader_topic: %s
  transactional_id: %s
  session_timeout: 6s   # the default
  health_topic: %s
  failover_topic: ""
  state_topic: %s
slack:
  bot_token: xoxb-e2e
  api_url: %q
  per_channel_rate: 20
  backoff_initial: 200ms
  backoff_max: 1s
default_route:
  channel: %s
tick_interval: 500ms
drain_timeout: 5s
%s`, admin, s.broker, s.group, s.leader, s.txn, s.health, s.state, s.slack.URL(), channelName, extra)
	path := filepath.Join(s.t.TempDir(), name+".yaml")
	require.NoError(s.t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// alerting is one `vigil alerting` process.
type alerting struct {
	*vigiltest.Process
	name, admin, config string
	started             time.Time
}

func (s *stack) startAlerting(name, admin, config string) *alerting {
	s.t.Helper()
	a := &alerting{name: name, admin: admin, config: config, started: time.Now()}
	a.Process = vigiltest.Start(s.t, nil, "alerting", "--config", config)
	a.WaitReady(admin, time.Minute)
	return a
}

func (a *alerting) active(t *testing.T) bool {
	return metricValue(t, a.admin, "vigil_alerting_active", nil) == 1
}

// publish writes one health transition as the detector would.
func (s *stack) publish(target string, st, prev events.Status, gen uint64) {
	s.t.Helper()
	h := events.Health{Target: target, Status: st, PreviousStatus: prev, Since: time.Now(), Reason: "e2e " + string(st), Generation: gen}
	ev, err := events.New(fmt.Sprintf("%s-%d", target, gen), "vigil-detector/e2e", events.HealthChangedType, target, time.Now(), h)
	require.NoError(s.t, err)
	r, err := events.Record(s.health, ev)
	require.NoError(s.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(s.t, s.prod.ProduceSync(ctx, r).FirstErr())
}

// posts counts the messages posted per metadata key.
func (s *stack) posts() map[string]int {
	out := map[string]int{}
	for _, m := range s.slack.Posts() {
		out[m.Key()]++
	}
	return out
}

// post returns the first message posted with key.
func (s *stack) post(key string) (slackfake.Message, bool) {
	for _, m := range s.slack.Posts() {
		if m.Key() == key {
			return m, true
		}
	}
	return slackfake.Message{}, false
}

// waitPosted waits until every key has been posted.
func (s *stack) waitPosted(timeout time.Duration, keys ...string) {
	s.t.Helper()
	require.NoError(s.t, vigiltest.Eventually(timeout, func() error {
		got := s.posts()
		for _, k := range keys {
			if got[k] == 0 {
				return fmt.Errorf("%s not posted yet (posted: %v)", k, got)
			}
		}
		return nil
	}))
}

// metricValue is one sample of the process's /metrics, 0 when absent or
// when the process does not answer.
func metricValue(t *testing.T, admin, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := vigiltest.Metric(admin, name, labels)
	return v
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	require.NoError(t, vigiltest.Eventually(timeout, func() error {
		if !cond() {
			return fmt.Errorf("not yet: %s", what)
		}
		return nil
	}), "timed out after %s waiting for %s", timeout, what)
}
