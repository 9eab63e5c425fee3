//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// healthStack is the real Kafka and Prometheus with a health topic, a state
// topic and consumer groups of a test's own, for a `vigil detector`
// (heartbeats every 1s) and a `vigil alerting` posting to a fake Slack on
// channel C0<NAME> (ticking every 1s). Its topics and groups are deleted
// when the test ends.
type healthStack struct {
	t                    *testing.T
	name, suffix         string
	broker, promURL      string
	health, state, group string
	fake                 *slackfake.Server
	detAdmin, alAdmin    string
	dir                  string
}

func newHealthStack(t *testing.T, name string) *healthStack {
	h := &healthStack{t: t, name: name, broker: testinfra.Kafka(t), promURL: testinfra.Prometheus(t)}
	h.suffix = time.Now().Format("150405.000000")
	h.health, h.state, h.group = "vigil.health."+name+"."+h.suffix, "vigil.alerting.state."+name+"."+h.suffix, "vigil-detector-"+name+"-"+h.suffix
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, h.broker, []string{h.group, h.alertingGroup()}, h.health, h.state, h.leaderTopic())
	})
	h.fake = slackfake.New()
	t.Cleanup(h.fake.Close)
	h.dir = t.TempDir()
	h.detAdmin, h.alAdmin = vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	return h
}

func (h *healthStack) leaderTopic() string   { return "vigil.detector.leader." + h.name + "." + h.suffix }
func (h *healthStack) alertingGroup() string { return "vigil-alerting-" + h.name + "-" + h.suffix }

// channel is the Slack channel alerting posts to.
func (h *healthStack) channel() string { return "C0" + strings.ToUpper(h.name) }

func (h *healthStack) write(name, content string) string {
	p := filepath.Join(h.dir, name)
	require.NoError(h.t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// detectorConfig writes the detector's configuration; rules (targets,
// defaults, target_templates) follows its kafka section.
func (h *healthStack) detectorConfig(rules string) string {
	return h.write("detector.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
instance: %s
prometheus: {url: %q}
heartbeat_interval: 1s
kafka:
  brokers: [%q]
  health_topic: %s
  leader_topic: %s
  group: %s
  transactional_id: %s
  session_timeout: 6s
%s`, h.detAdmin, h.name, h.promURL, h.broker, h.health, h.leaderTopic(), h.group, h.group, rules))
}

// alertingConfig writes alerting's configuration; extra follows it.
func (h *healthStack) alertingConfig(extra string) string {
	return h.write("alerting.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: %s
  health_topic: %s
  failover_topic: ""
  state_topic: %s
slack:
  bot_token: xoxb-%s
  api_url: %q
  backoff_initial: 200ms
default_route: {name: default, channel: %s}
tick_interval: 1s
%s`, h.alAdmin, h.broker, h.alertingGroup(), h.health, h.state, h.name, h.fake.URL(), h.channel(), extra))
}
