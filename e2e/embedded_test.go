//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestAllWithEmbeddedKafka: `vigil all` with embedded_kafka enabled needs no
// Kafka of its own. telemetrygen's logs go through the collector into the
// in-process broker (a real client reads them back) and through the
// pipeline into the real OpenSearch (all 2,000 indexed), and the first
// SIGINT drains every component before the broker stops (exit 0).
func TestAllWithEmbeddedKafka(t *testing.T) {
	osURL := testinfra.OpenSearch(t)
	prefix := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	dir := t.TempDir()
	broker, admin, grpc := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	cfg := fmt.Sprintf(`
admin: {listen_address: %q}
embedded_kafka: {enabled: true, listen_address: %q, data_dir: %q}
collector:
  config: [%q]
  telemetry_url: ""
pipeline:
  kafka: {brokers: [%q]}
  opensearch: {addresses: [%q]}
  indices:
    span_alias: %s-otel-v1-apm-span
    service_map: %s-otel-v1-apm-service-map
    logs_data_stream: %s_logs-vigil-default
detector:
  kafka: {brokers: [%q]}
  prometheus: {url: "http://127.0.0.1:1"}
alerting:
  kafka: {brokers: [%q]}
`, admin, broker, filepath.Join(dir, "kafka"), filepath.Join(vigiltest.RepoRoot(t), "configs/collector.yaml"),
		broker, osURL, prefix, prefix, prefix, broker, broker)
	t.Cleanup(func() { deleteIndices(osURL, prefix) })
	path := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))

	env := []string{
		"VIGIL_KAFKA_BROKERS=" + broker,
		"VIGIL_OTLP_GRPC_ENDPOINT=" + grpc,
		"VIGIL_OTLP_HTTP_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_QUEUE_DIR=" + filepath.Join(dir, "queue"),
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(t, vigiltest.FreeAddr(t)),
	}
	p := vigiltest.Start(t, env, "all", "--config", path)
	p.WaitReady(admin, 90*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testinfra.Tool(t, "telemetrygen"), "logs", "--otlp-insecure",
		"--otlp-endpoint", grpc, "--logs", "2000", "--rate", "2000").CombinedOutput()
	require.NoError(t, err, "telemetrygen: %s", out)

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("otlp_logs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var u plog.ProtoUnmarshaler
	n := 0
	for n < 2000 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == events.HeaderCanary {
					return // the collector's heartbeat, not data
				}
			}
			ld, err := u.UnmarshalLogs(r.Value)
			require.NoError(t, err)
			n += ld.LogRecordCount()
		})
	}
	require.Equal(t, 2000, n, "log records in the embedded broker")
	logs := prefix + "_logs-vigil-default"
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		got, err := count(osURL, logs)
		if err == nil && got != 2000 {
			err = fmt.Errorf("%d of 2000 log records indexed in %s", got, logs)
		}
		return err
	}))
	require.Equal(t, 0, p.Stop(60*time.Second), "exit code after one SIGINT; output:\n%s", p.Output())
}

// count returns an index's document count after a refresh.
func count(base, index string) (int, error) {
	if resp, err := http.Post(base+"/"+index+"/_refresh", "application/json", nil); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/" + index + "/_count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/_count: %s", index, resp.Status)
	}
	var c struct{ Count int }
	return c.Count, json.NewDecoder(resp.Body).Decode(&c)
}

// deleteIndices removes what a test's pipeline created under prefix.
func deleteIndices(base, prefix string) {
	for _, path := range []string{"/_data_stream/" + prefix + "*", "/" + prefix + "*", "/_index_template/" + prefix + "*"} {
		req, _ := http.NewRequest(http.MethodDelete, base+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}
