//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestAllWithEmbeddedKafka: `vigil all` with embedded_kafka enabled needs no
// Kafka of its own. telemetrygen's logs go through the collector into the
// in-process broker, a real client reads them back, and the first SIGINT
// drains every component before the broker stops (exit 0).
func TestAllWithEmbeddedKafka(t *testing.T) {
	dir := t.TempDir()
	broker, admin, grpc := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	cfg := fmt.Sprintf(`
admin: {listen_address: %q}
embedded_kafka: {enabled: true, listen_address: %q, data_dir: %q}
collector:
  config: [%q]
  telemetry_url: ""
detector:
  kafka: {brokers: [%q]}
  prometheus: {url: "http://127.0.0.1:1"}
alerting:
  kafka: {brokers: [%q]}
`, admin, broker, filepath.Join(dir, "kafka"), filepath.Join(vigiltest.RepoRoot(t), "configs/collector.yaml"), broker, broker)
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
			ld, err := u.UnmarshalLogs(r.Value)
			require.NoError(t, err)
			n += ld.LogRecordCount()
		})
	}
	require.Equal(t, 2000, n, "log records in the embedded broker")
	require.Equal(t, 0, p.Stop(60*time.Second), "exit code after one SIGINT; output:\n%s", p.Output())
}
