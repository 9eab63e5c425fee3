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

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/demo"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
	"github.com/vigil-dev/vigil/pipeline/apm"
)

// TestServiceHealthFromAPM: the span-derived RED samples of the demo trace
// set (every fifth payment fails), remote-written to the real Prometheus as
// the pipeline writes them, in an environment of the test's own. The real
// `vigil detector` with the shipped per-service target template discovers
// frontend, checkout and payment, marks payment CRITICAL (20% faults), and
// the real `vigil alerting` posts one incident, naming payment and linking
// to its page in Dashboards APM.
func TestServiceHealthFromAPM(t *testing.T) {
	broker := testinfra.Kafka(t)
	promURL := testinfra.Prometheus(t)
	suffix := time.Now().Format("150405.000000")
	env := "e2e-apm-" + strings.ReplaceAll(suffix, ".", "")
	health, state, group := "vigil.health.apm."+suffix, "vigil.alerting.state.apm."+suffix, "vigil-detector-apm-"+suffix
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, broker, []string{group, "vigil-alerting-apm-" + suffix}, health, state, "vigil.detector.leader.apm."+suffix)
	})

	// The samples: one window of the demo trace set, stamped 10s ago.
	td := demo.TraceSet(50, time.Now().Add(-20*time.Second), 11)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		td.ResourceSpans().At(i).Resource().Attributes().PutStr("deployment.environment.name", env)
	}
	agg := apm.NewAggregator(time.Second, 0, time.Second)
	at := time.Now().Add(-10 * time.Second)
	agg.Add(apm.Partition{Topic: "e2e-apm", Partition: 0}, at, at, apm.FromTraces(td, nil))
	windows := agg.Close(nil)
	require.Len(t, windows, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, apm.NewRemoteWriter(promURL+"/api/v1/write", 10*time.Second).Write(ctx, windows))

	// The shipped target templates, rediscovering every 2s, with every
	// rule evaluated every second.
	shipped, err := os.ReadFile(filepath.Join(vigiltest.RepoRoot(t), "configs", "detector.yaml"))
	require.NoError(t, err)
	_, templates, ok := strings.Cut(string(shipped), "\ntarget_templates:\n")
	require.True(t, ok, "configs/detector.yaml has target_templates")
	templates = strings.ReplaceAll(templates, "refresh: 1m", "refresh: 2s")

	fake := slackfake.New()
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	detAdmin, alAdmin := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	detector := write("detector.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
instance: apm
prometheus: {url: %q}
heartbeat_interval: 1s
kafka:
  brokers: [%q]
  health_topic: %s
  leader_topic: vigil.detector.leader.apm.%s
  group: %s
  transactional_id: %s
  session_timeout: 6s
defaults: {interval: 1s, for: 0s, recover_for: 0s}
targets: []
target_templates:
%s`, detAdmin, promURL, broker, health, suffix, group, group, templates))
	alertingCfg := write("alerting.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: vigil-alerting-apm-%s
  health_topic: %s
  failover_topic: ""
  state_topic: %s
slack:
  bot_token: xoxb-apm
  api_url: %q
  backoff_initial: 200ms
default_route: {name: default, channel: C0APM}
tick_interval: 1s
`, alAdmin, broker, suffix, health, state, fake.URL()))

	// VIGIL_APM_ENVIRONMENTS keeps other runs' services out.
	det := vigiltest.Start(t, []string{"VIGIL_DASHBOARDS_URL=https://dashboards.example", "VIGIL_APM_ENVIRONMENTS=" + env}, "detector", "--config", detector)
	det.WaitReady(detAdmin, time.Minute)
	al := vigiltest.Start(t, nil, "alerting", "--config", alertingCfg)
	al.WaitReady(alAdmin, time.Minute)

	incidents := func() []slackfake.Message {
		var out []slackfake.Message
		for _, p := range fake.Posts() {
			if p.ThreadTS == "" && strings.Contains(p.Text+string(p.Blocks), "apm/"+env+"/") {
				out = append(out, p)
			}
		}
		return out
	}
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		if len(incidents()) == 0 {
			return fmt.Errorf("no incident yet")
		}
		return nil
	}), "detector:\n%s\nalerting:\n%s", det.Output(), al.Output())
	// The other services are healthy: give their evaluations time to
	// (wrongly) open incidents of their own.
	time.Sleep(5 * time.Second)
	got := incidents()
	require.Len(t, got, 1, "one incident, for payment: %+v", got)
	msg := got[0].Text + string(got[0].Blocks)
	require.Contains(t, got[0].Text, "CRITICAL")
	require.Contains(t, msg, "apm/"+env+"/payment")
	require.Contains(t, msg, "https://dashboards.example/app/observability-apm-services#/service-details/payment/"+env)
	for _, svc := range []string{"frontend", "checkout"} {
		require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
			v, err := vigiltest.Metric(detAdmin, "vigil_detector_target_status", map[string]string{"target": "apm/" + env + "/" + svc, "status": "HEALTHY"})
			if err != nil {
				return err
			}
			if v != 1 {
				return fmt.Errorf("%s status %v", svc, v)
			}
			return nil
		}), "%s is discovered and healthy", svc)
	}
	det.Stop(time.Minute)
	al.Stop(time.Minute)
}
