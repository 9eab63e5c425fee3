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
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestAgentTailsPodLogs: the shipped agent configuration (DaemonSet mode)
// tails container log files in the CRI format, names each record's pod from
// its path, joins partial lines, and forwards to the gateway collector,
// which ships to Kafka. The k8sattributes processor needs a Kubernetes API,
// so this run drops it from the pipeline with a yaml: override; everything
// else is the shipped file.
func TestAgentTailsPodLogs(t *testing.T) {
	broker := testinfra.Kafka(t)
	logsTopic, spansTopic := uniqueTopic(t, "otlp_logs"), uniqueTopic(t, "otlp_spans")
	createTopics(t, broker, 3, logsTopic, spansTopic)
	gw := startCollector(t, broker, logsTopic, spansTopic, queueDir(t))

	root := t.TempDir()
	podDir := filepath.Join(root, "var/log/pods/shop_checkout-7d9f_0f1e2d3c-aaaa-bbbb-cccc-123456789abc/app")
	require.NoError(t, os.MkdirAll(podDir, 0o755))
	var b strings.Builder
	const lines = 1000
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&b, "2026-11-22T10:00:%02d.%09dZ stdout F order %d placed\n", i%60, i, i)
	}
	// A line the runtime split in two: P(artial) then F(ull).
	b.WriteString("2026-11-22T10:01:00.000000000Z stderr P payment gateway timeout, \n")
	b.WriteString("2026-11-22T10:01:00.000000001Z stderr F retrying\n")
	require.NoError(t, os.WriteFile(filepath.Join(podDir, "0.log"), []byte(b.String()), 0o644))

	admin := vigiltest.FreeAddr(t)
	env := []string{
		"VIGIL_GATEWAY_ENDPOINT=" + gw.grpc,
		"VIGIL_COLLECTOR_ADMIN=" + admin,
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(t, vigiltest.FreeAddr(t)),
		"VIGIL_COLLECTOR_QUEUE_DIR=" + queueDir(t),
		"K8S_NODE_NAME=node-1",
	}
	agent := vigiltest.Start(t, env, "collector",
		"--config", "configs/collector-agent.yaml",
		"--config", "yaml:service::pipelines::logs::processors: [memory_limiter, batch]",
		"--config", "yaml:receivers::filelog::include: ["+root+"/var/log/pods/*/*/*.log]",
		"--config", "yaml:receivers::filelog::start_at: beginning",
	)
	agent.WaitReady(admin, 60*time.Second)

	recs := readAll(t, broker, logsTopic, 2*time.Minute, func(rs []*kgo.Record) bool {
		n, _ := countLogs(t, rs)
		return n >= lines+1
	})
	n, _ := countLogs(t, recs)
	require.Equal(t, lines+1, n, "one record per full line, the partial pair joined")

	var u plog.ProtoUnmarshaler
	var joined bool
	for _, r := range recs {
		if heartbeat(r) {
			continue
		}
		ld, err := u.UnmarshalLogs(r.Value)
		require.NoError(t, err)
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			attrs := rl.Resource().Attributes().AsRaw()
			require.Equal(t, "shop", attrs["k8s.namespace.name"])
			require.Equal(t, "checkout-7d9f", attrs["k8s.pod.name"])
			require.Equal(t, "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", attrs["k8s.pod.uid"])
			require.Equal(t, "app", attrs["k8s.container.name"])
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					if lrs.At(k).Body().AsString() == "payment gateway timeout, retrying" {
						joined = true
						stream, _ := lrs.At(k).Attributes().Get("log.iostream")
						require.Equal(t, "stderr", stream.AsString())
					}
				}
			}
		}
	}
	require.True(t, joined, "the partial CRI line was joined with its continuation")
}
