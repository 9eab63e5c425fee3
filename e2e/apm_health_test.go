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
	h := newHealthStack(t, "apm")
	env := "e2e-apm-" + strings.ReplaceAll(h.suffix, ".", "")

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
	require.NoError(t, apm.NewRemoteWriter(h.promURL+"/api/v1/write", 10*time.Second).Write(ctx, windows))

	// The shipped target templates, rediscovering every 2s, with every
	// rule evaluated every second.
	shipped, err := os.ReadFile(filepath.Join(vigiltest.RepoRoot(t), "configs", "detector.yaml"))
	require.NoError(t, err)
	_, templates, ok := strings.Cut(string(shipped), "\ntarget_templates:\n")
	require.True(t, ok, "configs/detector.yaml has target_templates")
	templates = strings.ReplaceAll(templates, "refresh: 1m", "refresh: 2s")

	detector := h.detectorConfig("defaults: {interval: 1s, for: 0s, recover_for: 0s}\ntargets: []\ntarget_templates:\n" + templates)
	alertingCfg := h.alertingConfig("")
	detAdmin, fake := h.detAdmin, h.fake

	// VIGIL_APM_ENVIRONMENTS keeps other runs' services out.
	det := vigiltest.Start(t, []string{"VIGIL_DASHBOARDS_URL=https://dashboards.example", "VIGIL_APM_ENVIRONMENTS=" + env}, "detector", "--config", detector)
	det.WaitReady(detAdmin, time.Minute)
	al := vigiltest.Start(t, nil, "alerting", "--config", alertingCfg)
	al.WaitReady(h.alAdmin, time.Minute)

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
