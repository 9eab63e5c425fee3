//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// collectorUnderTest is a `vigil collector --config configs/collector.yaml`
// process (the shipped default configuration) with its ports, queue and
// topics moved out of the way through the environment.
type collectorUnderTest struct {
	proc       *vigiltest.Process
	grpc       string
	admin      string
	logsTopic  string
	spansTopic string
	queueDir   string
}

func startCollector(t *testing.T, broker, logsTopic, spansTopic, queueDir string, extraEnv ...string) *collectorUnderTest {
	t.Helper()
	c := &collectorUnderTest{
		grpc: vigiltest.FreeAddr(t), admin: vigiltest.FreeAddr(t),
		logsTopic: logsTopic, spansTopic: spansTopic, queueDir: queueDir,
	}
	env := []string{
		"VIGIL_KAFKA_BROKERS=" + broker,
		"VIGIL_LOGS_TOPIC=" + logsTopic,
		"VIGIL_LOGS_PRIORITY_TOPIC=" + logsTopic + "_priority",
		"VIGIL_SPANS_TOPIC=" + spansTopic,
		"VIGIL_COLLECTOR_QUEUE_DIR=" + queueDir,
		"VIGIL_OTLP_GRPC_ENDPOINT=" + c.grpc,
		"VIGIL_OTLP_HTTP_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_ADMIN=" + c.admin,
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(t, vigiltest.FreeAddr(t)),
	}
	env = append(env, extraEnv...)
	c.proc = vigiltest.Start(t, env, "collector", "--config", "configs/collector.yaml")
	c.proc.WaitReady(c.admin, 60*time.Second)
	return c
}

// telemetrygen runs the real OTLP load generator against addr.
func telemetrygen(t *testing.T, addr string, args ...string) {
	t.Helper()
	bin := testinfra.Tool(t, "telemetrygen")
	full := append([]string{args[0], "--otlp-insecure", "--otlp-endpoint", addr}, args[1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, full...).CombinedOutput()
	require.NoError(t, err, "telemetrygen %s:\n%s", strings.Join(full, " "), tail(string(out), 2000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// uniqueTopic returns a topic name no other run uses.
func uniqueTopic(t *testing.T, base string) string {
	return fmt.Sprintf("%s.%s.%d", base, strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
}

func createTopics(t *testing.T, broker string, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
	require.NoError(t, err)
	for _, r := range resp {
		require.NoError(t, r.Err, "create topic %s", r.Topic)
	}
	t.Cleanup(func() { testinfra.DeleteKafka(t, broker, nil, topics...) })
}

// readAll consumes topic from the start until stop says enough or timeout.
func readAll(t *testing.T, broker, topic string, timeout time.Duration, stop func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(broker),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for !stop(recs) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// logRecords decodes every record as an OTLP ExportLogsServiceRequest and
// returns the log records' bodies+attributes fingerprints in order.
func countLogs(t *testing.T, recs []*kgo.Record) (total int, seqs map[string]int) {
	t.Helper()
	var u plog.ProtoUnmarshaler
	seqs = map[string]int{}
	for _, r := range recs {
		if heartbeat(r) {
			continue
		}
		ld, err := u.UnmarshalLogs(r.Value)
		require.NoError(t, err, "record %s/%d@%d is not OTLP logs", r.Topic, r.Partition, r.Offset)
		rls := ld.ResourceLogs()
		for i := 0; i < rls.Len(); i++ {
			sls := rls.At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				lrs := sls.At(j).LogRecords()
				for k := 0; k < lrs.Len(); k++ {
					total++
					if v, ok := lrs.At(k).Attributes().Get("seq"); ok {
						seqs[v.AsString()]++
					}
				}
			}
		}
	}
	return total, seqs
}

type spanSeen struct {
	traceID   string
	partition int32
}

func decodeSpans(t *testing.T, recs []*kgo.Record) []spanSeen {
	t.Helper()
	var u ptrace.ProtoUnmarshaler
	var out []spanSeen
	for _, r := range recs {
		if heartbeat(r) {
			continue
		}
		td, err := u.UnmarshalTraces(r.Value)
		require.NoError(t, err, "record %s/%d@%d is not OTLP traces", r.Topic, r.Partition, r.Offset)
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					out = append(out, spanSeen{traceID: spans.At(k).TraceID().String(), partition: r.Partition})
				}
			}
		}
	}
	return out
}

// heartbeat reports whether a record is one of the collector's heartbeats
// (collector/canary), which every topic carries besides the data.
func heartbeat(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == events.HeaderCanary {
			return true
		}
	}
	return false
}

func queueDir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "queue")
	require.NoError(t, os.MkdirAll(d, 0o755))
	return d
}
