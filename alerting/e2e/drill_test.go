//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

const drillGauge = "vigil_e2e_ha_drill_value"

// TestHADrill: two detectors and two alerting replicas on the real Kafka
// and Prometheus, Slack by slackfake. A gauge crosses CRITICAL; once the
// incident's parent is in Slack, the leading detector and the active
// alerting replica are both SIGKILLed. The survivors take over (their
// takeover times are printed), the gauge recovers, and Slack holds exactly
// one parent and one recovery for the incident, and nothing else.
func TestHADrill(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	s := newStack(t)
	job := "vigil-e2e-ha-drill-" + time.Now().Format("150405.000000")
	g := drillExporter(t, job)
	g.Set(0.1)
	prom := drillProm(t, promURL)
	waitGauge(t, prom, job, 0.1)

	const target = "ha-drill"
	targets := fmt.Sprintf(`  - name: %s
    labels: {job: %s}
    rules:
      - name: value
        expr: 'max(%s{job=%q})'
        critical: "> 0.9"
        interval: 1s
        for: 2s
        recover_for: 2s
`, target, job, drillGauge, job)
	detAdminA, detAdminB := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	alAdminA, alAdminB := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	dA := s.startDetector("a", detAdminA, promURL, targets)
	waitFor(t, time.Minute, "detector a to lead", func() bool { return detectorLeads(t, dA.admin) })
	dB := s.startDetector("b", detAdminB, promURL, targets)
	aA := s.startAlerting("a", alAdminA, s.alertingConfig("a", alAdminA, ""))
	waitFor(t, time.Minute, "alerting a to be active", func() bool { return aA.active(t) })
	aB := s.startAlerting("b", alAdminB, s.alertingConfig("b", alAdminB, ""))
	require.False(t, detectorLeads(t, dB.admin), "one detector leads")
	require.False(t, aB.active(t), "one alerting replica is active")

	raised := time.Now()
	g.Set(0.95)
	// The incident's ID carries the generation that opened it: 1 when the
	// detector had not yet published HEALTHY, else 2.
	var open string
	waitFor(t, 2*time.Minute, "the incident's parent", func() bool {
		for k := range s.posts() {
			if strings.HasPrefix(k, target+"#") && strings.HasSuffix(k, "/open") {
				open = k
				return true
			}
		}
		return false
	})
	t.Logf("incident parent in Slack %s after the gauge was raised", time.Since(raised).Round(100*time.Millisecond))

	dA.Kill()
	aA.Kill()
	killed := time.Now()
	var detTakeover, alTakeover time.Duration
	waitFor(t, time.Minute, "both survivors to take over", func() bool {
		if detTakeover == 0 && detectorLeads(t, dB.admin) {
			detTakeover = time.Since(killed)
		}
		if alTakeover == 0 && aB.active(t) {
			alTakeover = time.Since(killed)
		}
		return detTakeover > 0 && alTakeover > 0
	})
	t.Logf("takeover after SIGKILL: detector %s (session_timeout 10s), alerting %s (session_timeout 6s)",
		detTakeover.Round(100*time.Millisecond), alTakeover.Round(100*time.Millisecond))

	lowered := time.Now()
	g.Set(0.1)
	resolved := strings.TrimSuffix(open, "/open") + "/resolved"
	s.waitPosted(2*time.Minute, resolved)
	t.Logf("recovery in Slack %s after the gauge was lowered", time.Since(lowered).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // a late duplicate would land by now
	got := s.posts()
	require.Equal(t, 1, got[open], "one parent: %v", got)
	require.Equal(t, 1, got[resolved], "one recovery: %v", got)
	require.Len(t, s.slack.Posts(), 2, "nothing else posted: %v", got)
	parent, _ := s.post(open)
	rec, _ := s.post(resolved)
	require.Equal(t, parent.TS, rec.ThreadTS, "the recovery is in the parent's thread")
}

// startDetector runs `vigil detector` named name on the stack's health topic.
func (s *stack) startDetector(name, admin, promURL, targets string) *alerting {
	s.t.Helper()
	cfg := fmt.Sprintf(`
admin: {listen_address: %q}
instance: %s
prometheus: {url: %q, query_timeout: 2s}
kafka:
  brokers: [%q]
  health_topic: %s
  leader_topic: %s
  group: %s
  transactional_id: %s
  session_timeout: 10s   # the default
  publish_timeout: 5s
targets:
%s`, admin, name, promURL, s.broker, s.health, s.detLeader, s.detGroup, s.detTxn, targets)
	path := filepath.Join(s.t.TempDir(), "detector-"+name+".yaml")
	require.NoError(s.t, os.WriteFile(path, []byte(cfg), 0o644))
	p := vigiltest.Start(s.t, nil, "detector", "--config", path)
	p.WaitReady(admin, time.Minute)
	return &alerting{Process: p, name: name, admin: admin, config: path}
}

func detectorLeads(t *testing.T, admin string) bool {
	return metricValue(t, admin, "vigil_detector_leader", nil) == 1
}

// drillExporter serves one gauge and has the real Prometheus scrape it
// every second.
func drillExporter(t *testing.T, job string) prometheus.Gauge {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: drillGauge, Help: "Value the HA drill's detector watches."})
	reg.MustRegister(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	testinfra.ScrapeTarget(t, job, ln.Addr().String(), map[string]string{
		"job": job, "__scrape_interval__": "1s", "__scrape_timeout__": "1s",
	})
	return g
}

func drillProm(t *testing.T, url string) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: url})
	require.NoError(t, err)
	return v1.NewAPI(c)
}

// waitGauge waits until Prometheus has scraped want for job.
func waitGauge(t *testing.T, p v1.API, job string, want float64) {
	t.Helper()
	q := fmt.Sprintf("%s{job=%q}", drillGauge, job)
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, _, _, err := p.Query(ctx, q, time.Now())
		if err != nil {
			return err
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 || float64(vec[0].Value) != want {
			return fmt.Errorf("%s = %v, want %g", q, v, want)
		}
		return nil
	}))
}
