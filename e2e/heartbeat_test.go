//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting"
	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestDetectorSilenceIsAnIncident runs the real `vigil detector` and
// `vigil alerting` on the real Kafka and Prometheus with a fake Slack. While
// the detector's heartbeats (every 1s) flow, alerting posts nothing about
// it; SIGKILLed, the detector goes silent and alerting opens a CRITICAL
// incident for vigil-detector after detector_heartbeat_timeout (8s);
// restarted, its heartbeats resume and the incident is resolved.
func TestDetectorSilenceIsAnIncident(t *testing.T) {
	h := newHealthStack(t, "hb")
	detector := h.detectorConfig(`targets:
  - name: steady
    rules:
      - {name: one, expr: vector(1), critical: "> 5", interval: 1s}
`)
	alertingCfg := h.alertingConfig("detector_heartbeat_timeout: 8s\n")
	detAdmin, fake := h.detAdmin, h.fake

	det := vigiltest.Start(t, nil, "detector", "--config", detector)
	det.WaitReady(detAdmin, time.Minute)
	// Alerting's watch counts from its own start: start it once the
	// detector leads and beats (election and restore take seconds, more
	// than this test's short timeout).
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		if n := heartbeats(detAdmin); n < 2 {
			return fmt.Errorf("%g heartbeats", n)
		}
		return nil
	}))
	al := vigiltest.Start(t, nil, "alerting", "--config", alertingCfg)
	al.WaitReady(h.alAdmin, time.Minute)

	about := func() []slackfake.Message {
		var out []slackfake.Message
		for _, p := range fake.Posts() {
			if p.ThreadTS == "" && strings.Contains(p.Text+string(p.Blocks), alerting.DetectorTarget) {
				out = append(out, p)
			}
		}
		return out
	}
	// Two timeouts with heartbeats flowing: no incident.
	time.Sleep(16 * time.Second)
	require.Empty(t, about(), "an incident although the detector's heartbeats flow")

	killed := time.Now()
	det.Kill()
	var parent slackfake.Message
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		ps := about()
		if len(ps) == 0 {
			return fmt.Errorf("no incident for %s yet", alerting.DetectorTarget)
		}
		parent = ps[0]
		return nil
	}))
	t.Logf("incident for %s posted %s after the detector's SIGKILL (timeout 8s, tick 1s): %s",
		alerting.DetectorTarget, time.Since(killed).Round(100*time.Millisecond), parent.Text)
	require.Contains(t, parent.Text, "CRITICAL")
	require.Equal(t, "C0HB", parent.Channel)

	restarted := time.Now()
	det = vigiltest.Start(t, nil, "detector", "--config", detector)
	det.WaitReady(detAdmin, time.Minute)
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		for _, u := range fake.Updates() {
			if u.TS == parent.TS && strings.HasPrefix(u.Text, "RESOLVED: "+alerting.DetectorTarget) {
				return nil
			}
		}
		return fmt.Errorf("the incident is not resolved yet")
	}))
	t.Logf("resolved %s after the detector's restart", time.Since(restarted).Round(100*time.Millisecond))
	require.Len(t, about(), 1, "one incident for the silence")
	det.Stop(time.Minute)
	al.Stop(time.Minute)
}

// heartbeats reads vigil_detector_heartbeats_total from a detector's
// /metrics; 0 when it cannot.
func heartbeats(admin string) float64 {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "vigil_detector_heartbeats_total "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n
		}
	}
	return 0
}

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
