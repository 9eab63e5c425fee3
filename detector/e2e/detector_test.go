//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// targetYAML is one target whose rule watches the test gauge of job:
// caution above 0.5, critical above 0.9.
func targetYAML(name, job string, interval, hold, recoverFor time.Duration) string {
	return fmt.Sprintf(`  - name: %s
    labels: {job: %s}
    rules:
      - name: value
        expr: 'max(%s{job=%q})'
        caution: "> 0.5"
        critical: "> 0.9"
        interval: %s
        for: %s
        recover_for: %s
`, name, job, gaugeName, job, interval, hold, recoverFor)
}

func jobName(kind string) string {
	return "vigil-e2e-" + kind + "-" + time.Now().Format("150405.000000")
}

// TestFlappingPublishesNothing: a gauge flapping every 3s
// past CRITICAL and back, watched for 36s, publishes nothing for a rule with
// `for: 10s`. A control target on the same gauge with `for: 1s` must publish
// the flaps, which proves the detector saw them.
func TestFlappingPublishesNothing(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	c := newCluster(t)
	job := jobName("flap")
	g := exporter(t, job)
	g.Set(0.1)
	prom := promAPI(t, promURL)
	waitScraped(t, prom, job, 0.1)

	const steady, control = "flap-steady", "flap-control"
	targets := targetYAML(steady, job, time.Second, 10*time.Second, 10*time.Second) +
		targetYAML(control, job, time.Second, time.Second, time.Second)
	admin := vigiltest.FreeAddr(t)
	d := startDetector(t, "a", admin, c.detectorConfig(t, "a", admin, promURL, targets))
	c.waitEvents(t, steady, 1, 2*time.Minute)
	before := len(of(c.readHealth(t), control))
	evals := d.evaluations(t)

	// Twelve 3s phases, high first, ending low so that nothing high is left
	// to outlast `for` after the watch.
	const phase, phases = 3 * time.Second, 12
	tick := time.NewTicker(phase)
	for i := range phases {
		if i%2 == 0 {
			g.Set(0.95)
		} else {
			g.Set(0.1)
		}
		<-tick.C
	}
	tick.Stop()
	g.Set(0.1)

	// Prometheus sampled the flapping as it was, not an alias of it.
	changes, err := promValue(context.Background(), prom, fmt.Sprintf("changes(%s{job=%q}[%ds])", gaugeName, job, int((phase*phases).Seconds())))
	require.NoError(t, err)
	require.GreaterOrEqual(t, changes, float64(phases-3), "Prometheus saw the gauge flap")
	require.GreaterOrEqual(t, d.evaluations(t)-evals, float64(2*phases*3/2), "both rules were evaluated about every second throughout")

	all := c.readHealth(t)
	require.Equal(t, steady+":UNKNOWN->HEALTHY#1", summary(of(all, steady)), "a flap shorter than for: 10s publishes nothing")
	flaps := of(all, control)[before:]
	t.Logf("the for: 1s control published %d events while flapping: %s", len(flaps), summary(flaps))
	require.GreaterOrEqual(t, len(flaps), 4, "the for: 1s control saw the flaps")
	require.False(t, d.Exited())
}

// TestPrometheusOutage: the real Prometheus stopped makes the
// target UNKNOWN (on_error: unknown, after `for`) while evaluation goes on,
// and HEALTHY again once Prometheus is back; a target whose rule says
// on_error: keep_last publishes nothing; the process never exits.
func TestPrometheusOutage(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	c := newCluster(t)
	job := jobName("outage")
	g := exporter(t, job)
	g.Set(0.1)
	waitScraped(t, promAPI(t, promURL), job, 0.1)

	const target, keepLast = "outage", "outage-keep-last"
	targets := targetYAML(target, job, time.Second, 3*time.Second, 3*time.Second) +
		targetYAML(keepLast, job, time.Second, 3*time.Second, 3*time.Second) + "        on_error: keep_last\n"
	admin := vigiltest.FreeAddr(t)
	d := startDetector(t, "a", admin, c.detectorConfig(t, "a", admin, promURL, targets))
	c.waitEvents(t, target, 1, 2*time.Minute)
	c.waitEvents(t, keepLast, 1, 2*time.Minute)

	// Whatever happens below, the next test finds Prometheus running.
	t.Cleanup(func() { testinfra.Start(t, "prometheus") })
	testinfra.Stop(t, "prometheus")
	evs := c.waitEvents(t, target, 2, 2*time.Minute)
	unknown := evs[1]
	require.Equal(t, target+":HEALTHY->UNKNOWN#2", unknown.String())
	require.Contains(t, unknown.Reason, "query error")
	require.Nil(t, unknown.Value, "no data, no value")

	// Evaluation goes on (and fails) while Prometheus is down; the process
	// stays up and healthy.
	errs := d.metric(t, "vigil_detector_rule_evaluations_total", map[string]string{"result": "error"})
	waitFor(t, time.Minute, "five more failed evaluations", func() bool {
		return d.metric(t, "vigil_detector_rule_evaluations_total", map[string]string{"result": "error"}) >= errs+5
	})
	resp, err := http.Get("http://" + admin + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, of(c.readHealth(t), target), 2, "one UNKNOWN for the whole outage")

	testinfra.Start(t, "prometheus")
	evs = c.waitEvents(t, target, 3, 2*time.Minute)
	back := evs[2]
	require.Equal(t, target+":UNKNOWN->HEALTHY#3", back.String())
	require.Equal(t, 0.1, *back.Value)
	ok := d.evaluations(t)
	waitFor(t, time.Minute, "five more evaluations", func() bool { return d.evaluations(t) >= ok+5 })
	all := c.readHealth(t)
	require.Len(t, of(all, target), 3)
	require.Equal(t, keepLast+":UNKNOWN->HEALTHY#1", summary(of(all, keepLast)), "keep_last ignores failed evaluations")
	require.False(t, d.Exited(), "the detector survived the outage")
}

// TestLeaderKilledMidFor (on real processes):
// two detectors; the leader is SIGKILLed while a CRITICAL's `for` runs; the
// survivor takes over within 30s and publishes CRITICAL exactly once. The
// survivor restarted while CRITICAL publishes nothing; lowering the gauge
// publishes one HEALTHY with the next generation after recover_for.
func TestLeaderKilledMidFor(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	c := newCluster(t)
	job := jobName("failover")
	g := exporter(t, job)
	g.Set(0.1)
	prom := promAPI(t, promURL)
	waitScraped(t, prom, job, 0.1)

	const (
		target     = "failover"
		interval   = 2 * time.Second
		hold       = 10 * time.Second
		recoverFor = 10 * time.Second
		// takeover is the bound on a replica replacing a dead leader.
		takeover = 30 * time.Second
	)
	targets := targetYAML(target, job, interval, hold, recoverFor)
	adminA, adminB := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	a := startDetector(t, "a", adminA, c.detectorConfig(t, "a", adminA, promURL, targets))
	waitFor(t, time.Minute, "a to lead", func() bool { return a.leader(t) })
	cfgB := c.detectorConfig(t, "b", adminB, promURL, targets)
	b := startDetector(t, "b", adminB, cfgB)
	evs := c.waitEvents(t, target, 1, 2*time.Minute)
	require.Equal(t, "vigil-detector/a", evs[0].Source)
	require.False(t, b.leader(t), "one leader at a time")

	// Raise the gauge and make sure a has evaluated it (the `for` period
	// runs) before killing it.
	raised := time.Now()
	g.Set(0.95)
	waitScraped(t, prom, job, 0.95)
	n := a.evaluations(t)
	waitFor(t, time.Minute, "a to evaluate the raised value", func() bool { return a.evaluations(t) >= n+2 })
	killed := time.Now()
	a.Kill() // SIGKILL: no LeaveGroup, no drain
	require.True(t, a.Exited(), "a is dead")
	t.Logf("a killed %s after the raise (for: %s)", killed.Sub(raised).Round(100*time.Millisecond), hold)

	waitFor(t, takeover, "b to take over within 30s of a's death", func() bool { return b.leader(t) })
	t.Logf("b led %s after a was killed", time.Since(killed).Round(100*time.Millisecond))
	evs = c.waitEvents(t, target, 2, 2*time.Minute)
	crit := evs[1]
	t.Logf("CRITICAL published %s after a was killed", crit.Time.Sub(killed).Round(100*time.Millisecond))
	require.Equal(t, target+":HEALTHY->CRITICAL#2", crit.String())
	require.Equal(t, "vigil-detector/b", crit.Source, "the survivor published it, not the dead leader")
	require.Equal(t, 0.95, *crit.Value)
	require.Equal(t, 0.9, *crit.Threshold)
	requireHeld(t, crit, hold, interval)

	// Exactly once: ten evaluations of b later, still two events.
	n = b.evaluations(t)
	waitFor(t, time.Minute, "ten more evaluations", func() bool { return b.evaluations(t) >= n+10 })
	require.Equal(t, target+":UNKNOWN->HEALTHY#1 "+target+":HEALTHY->CRITICAL#2", summary(of(c.readHealth(t), target)))

	// The leader restarted while the target is CRITICAL
	// restores it from the topic and publishes nothing.
	require.Equal(t, 0, b.Stop(time.Minute), "a clean stop exits 0")
	b = startDetector(t, "b", adminB, cfgB)
	waitFor(t, time.Minute, "the restarted b to lead", func() bool { return b.leader(t) })
	n = b.evaluations(t)
	waitFor(t, time.Minute, "ten evaluations after the restart", func() bool { return b.evaluations(t) >= n+10 })
	require.Equal(t, 1.0, b.metric(t, "vigil_detector_target_status", map[string]string{"target": target, "status": string(events.Critical)}), "restored as CRITICAL")
	require.Len(t, of(c.readHealth(t), target), 2, "the restart published nothing")

	// The way down: one HEALTHY after recover_for, from
	// CRITICAL, with the next generation.
	lowered := time.Now()
	g.Set(0.1)
	evs = c.waitEvents(t, target, 3, 2*time.Minute)
	healthy := evs[2]
	require.Equal(t, target+":CRITICAL->HEALTHY#3", healthy.String())
	require.Equal(t, crit.Generation+1, healthy.Generation)
	require.GreaterOrEqual(t, healthy.Time.Sub(lowered), recoverFor, "not before recover_for")
	requireHeld(t, healthy, recoverFor, interval)
	n = b.evaluations(t)
	waitFor(t, time.Minute, "five more evaluations", func() bool { return b.evaluations(t) >= n+5 })
	require.Len(t, of(c.readHealth(t), target), 3)
}

// requireHeld checks, on the detector's own clock, that the event's
// condition held at least d before the level changed, and no more than two
// evaluation intervals longer.
func requireHeld(t *testing.T, e event, d, interval time.Duration) {
	t.Helper()
	held := e.Time.Sub(e.Since)
	t.Logf("%s: condition held %s before it was published", e, held.Round(10*time.Millisecond))
	require.GreaterOrEqual(t, held, d, "%s entered before its hold ended", e)
	require.LessOrEqual(t, held, d+2*interval, "%s entered later than two intervals after its hold", e)
	require.True(t, strings.HasPrefix(e.Reason, "value: "), "reason names the rule: %q", e.Reason)
}

// TestWebhooksPublish (on a real process and Kafka): the
// Alertmanager v4 and Grafana golden fixtures, POSTed to a running `vigil
// detector`, publish on the health topic the events their golden files hold
// (but for generation and time); a malformed body gets the golden 400 and
// publishes nothing; a wrong token gets 401.
func TestWebhooksPublish(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	c := newCluster(t)
	job := jobName("webhooks")
	g := exporter(t, job)
	g.Set(0.1)
	waitScraped(t, promAPI(t, promURL), job, 0.1)

	// The targets the fixtures name, kept HEALTHY by their rules, with the
	// labels the goldens were made with.
	targets := strings.Replace(targetYAML("kafka", job, time.Second, time.Second, time.Second), "labels: {job: "+job+"}", "labels: {component: kafka}", 1) +
		targetYAML("opensearch-primary", job, time.Second, time.Second, time.Second)
	admin := vigiltest.FreeAddr(t)
	path := c.detectorConfig(t, "a", admin, promURL, targets)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw = append(raw, []byte("webhooks: {enabled: true, token: {env: VIGIL_E2E_WEBHOOK_TOKEN}}\n")...)
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	const token = "e2e-s3cret"
	p := vigiltest.Start(t, []string{"VIGIL_E2E_WEBHOOK_TOKEN=" + token}, "detector", "--config", path)
	p.WaitReady(admin, time.Minute)
	d := &detector{Process: p, name: "a", admin: admin, config: path}
	waitFor(t, time.Minute, "a to lead", func() bool { return d.leader(t) })
	c.waitEvents(t, "kafka", 1, 2*time.Minute)
	c.waitEvents(t, "opensearch-primary", 1, 2*time.Minute)

	type exchange struct {
		Fixture  string            `json:"fixture"`
		Code     int               `json:"code"`
		Response json.RawMessage   `json:"response"`
		Events   []json.RawMessage `json:"events"`
	}
	fixtures := filepath.Join(vigiltest.RepoRoot(t), "detector", "testdata", "webhooks")
	post := func(source, fixture, tok string) (int, []byte) {
		body, err := os.ReadFile(filepath.Join(fixtures, source, fixture))
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, "http://"+admin+"/api/v1/alerts/"+source, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
	// data is an event's data without its generation, which depends on
	// what the topic held before.
	data := func(v any) map[string]any {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		delete(m, "generation")
		return m
	}

	code, _ := post("alertmanager", "firing-critical.json", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)

	seen := len(c.readHealth(t))
	for _, golden := range []struct{ source, name string }{
		{"alertmanager", "firing-then-resolved"},
		{"grafana", "firing-then-resolved"},
		{"alertmanager", "bad-labels"},
		{"grafana", "bad-no-alerts"},
	} {
		raw, err := os.ReadFile(filepath.Join(fixtures, golden.source, golden.name+".want.json"))
		require.NoError(t, err)
		var want []exchange
		require.NoError(t, json.Unmarshal(raw, &want))
		for _, ex := range want {
			code, body := post(golden.source, ex.Fixture, token)
			require.Equal(t, ex.Code, code, "%s/%s", golden.source, ex.Fixture)
			require.JSONEq(t, string(ex.Response), string(body), "%s/%s", golden.source, ex.Fixture)
			var got []event
			if len(ex.Events) > 0 {
				require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
					if got = c.readHealth(t); len(got) < seen+len(ex.Events) {
						return fmt.Errorf("%d new events, want %d", len(got)-seen, len(ex.Events))
					}
					return nil
				}))
			} else {
				got = c.readHealth(t)
			}
			require.Len(t, got, seen+len(ex.Events), "%s/%s: the events it publishes, no more", golden.source, ex.Fixture)
			for i, e := range ex.Events {
				var ce struct {
					Data map[string]any `json:"data"`
				}
				require.NoError(t, json.Unmarshal(e, &ce))
				pub := got[seen+i]
				require.Equal(t, data(ce.Data), data(pub.Health), "%s/%s event %d", golden.source, ex.Fixture, i)
				prev := of(got[:seen+i], pub.Target)
				require.Equal(t, prev[len(prev)-1].Generation+1, pub.Generation, "the next generation of %s", pub.Target)
				require.Equal(t, "vigil-detector/a", pub.Source)
			}
			seen = len(got)
		}
	}
}
