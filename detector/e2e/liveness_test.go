//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestDeadCollectorIsCritical: the shipped liveness rule of the collector
// target (Prometheus' up for its scrape job) turns a SIGKILLed `vigil
// collector` into a CRITICAL event naming the rule, within the rule's for
// plus scrape and evaluation delays; a collector back on the same job
// recovers the target.
func TestDeadCollectorIsCritical(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	c := newCluster(t)
	job := jobName("collector")

	admin := vigiltest.FreeAddr(t)
	collectorEnv := func() []string {
		return []string{
			"VIGIL_KAFKA_BROKERS=" + c.broker,
			"VIGIL_LOGS_TOPIC=" + job + ".logs", "VIGIL_SPANS_TOPIC=" + job + ".spans",
			"VIGIL_LOGS_PRIORITY_TOPIC=" + job + ".logs_priority",
			"VIGIL_COLLECTOR_QUEUE_DIR=" + t.TempDir(),
			"VIGIL_OTLP_GRPC_ENDPOINT=" + vigiltest.FreeAddr(t),
			"VIGIL_OTLP_HTTP_ENDPOINT=" + vigiltest.FreeAddr(t),
			"VIGIL_COLLECTOR_ADMIN=" + admin,
			"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(t),
			"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(t),
			"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(t, vigiltest.FreeAddr(t)),
		}
	}
	col := vigiltest.Start(t, collectorEnv(), "collector", "--config", "configs/collector.yaml")
	col.WaitReady(admin, time.Minute)
	testinfra.ScrapeTarget(t, job, admin, map[string]string{
		"job": job, "__scrape_interval__": scrapeInterval.String(), "__scrape_timeout__": scrapeInterval.String(),
	})

	// The detector reads the job's name from the environment, as the
	// chart and `make run` set it.
	t.Setenv("VIGIL_COLLECTOR_SCRAPE_JOB", job)
	dAdmin := vigiltest.FreeAddr(t)
	startDetector(t, "a", dAdmin, c.detectorConfig(t, "a", dAdmin, promURL, vigiltest.ShippedTarget(t, "collector", map[string]any{"interval": "1s", "recover_for": "2s"})))
	first := c.waitEvents(t, "collector", 1, 2*time.Minute)
	require.Equal(t, events.Healthy, first[0].Status, "a running collector: %s", first[0].Reason)

	killed := time.Now()
	col.Kill()
	evs := c.waitEvents(t, "collector", 2, 3*time.Minute)
	crit := evs[1]
	t.Logf("CRITICAL %s after SIGKILL (for: 30s, scrape every %s): %s", time.Since(killed).Round(100*time.Millisecond), scrapeInterval, crit.Reason)
	require.Equal(t, events.Critical, crit.Status, crit.Reason)
	require.Equal(t, "up", crit.Rule)
	require.Contains(t, crit.Reason, "up:")
	require.Equal(t, "collector", crit.Labels["component"])

	col = vigiltest.Start(t, collectorEnv(), "collector", "--config", "configs/collector.yaml")
	col.WaitReady(admin, time.Minute)
	evs = c.waitEvents(t, "collector", 3, 3*time.Minute)
	require.Equal(t, events.Healthy, evs[2].Status, "a collector back on its job recovers the target: %s", evs[2].Reason)
	col.Stop(time.Minute)
}

// TestIdlePipelineIsHealthy: a real `vigil pipeline` with no traffic (its
// topics empty, no record ever counted) makes the shipped pipeline target
// HEALTHY, not UNKNOWN: the ratio rules' idle queries see no traffic while
// the pipeline is scraped. SIGKILLed, the pipeline turns the target
// CRITICAL through its liveness rule.
func TestIdlePipelineIsHealthy(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	c := newCluster(t)
	job := jobName("pipeline")
	admin := vigiltest.FreeAddr(t)
	cfg := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: %s
  logs: {topic: %s.logs}
  priority: {topic: %s.logs_priority}
  spans: {topic: %s.spans}
  dlq_topic: %s.dlq
opensearch:
  addresses: ["http://127.0.0.1:1"]  # nothing listens: no record is indexed, none is offered either
`, admin, c.broker, job, job, job, job, job)), 0o644))
	p := vigiltest.Start(t, nil, "pipeline", "--config", cfg)
	testinfra.ScrapeTarget(t, job, admin, map[string]string{
		"job": job, "__scrape_interval__": scrapeInterval.String(), "__scrape_timeout__": scrapeInterval.String(),
	})
	prom := promAPI(t, promURL)
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		v, err := promValue(context.Background(), prom, fmt.Sprintf("up{job=%q}", job))
		if err == nil && v != 1 {
			err = fmt.Errorf("up = %g", v)
		}
		return err
	}), "Prometheus never scraped the pipeline")

	t.Setenv("VIGIL_PIPELINE_SCRAPE_JOB", job)
	dAdmin := vigiltest.FreeAddr(t)
	startDetector(t, "a", dAdmin, c.detectorConfig(t, "a", dAdmin, promURL, vigiltest.ShippedTarget(t, "pipeline", map[string]any{"interval": "1s", "recover_for": "2s"})))
	first := c.waitEvents(t, "pipeline", 1, 2*time.Minute)[0]
	require.Equal(t, events.Healthy, first.Status, "an idle pipeline: %s", first.Reason)
	// And it stays so: nothing but the first event while idle.
	time.Sleep(10 * time.Second)
	require.Len(t, c.waitEvents(t, "pipeline", 1, time.Minute), 1)
	require.False(t, p.Exited(), "the pipeline exited: %s", p.Output())

	killed := time.Now()
	p.Kill()
	crit := c.waitEvents(t, "pipeline", 2, 3*time.Minute)[1]
	t.Logf("CRITICAL %s after the pipeline's SIGKILL (for: 30s, scrape every %s): %s", time.Since(killed).Round(100*time.Millisecond), scrapeInterval, crit.Reason)
	require.Equal(t, events.Critical, crit.Status, crit.Reason)
	require.Equal(t, "up", crit.Rule)
}
