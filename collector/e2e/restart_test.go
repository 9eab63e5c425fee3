//go:build e2e

package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/testinfra"
)

// TestQueueSurvivesRestarts: with Kafka down, the collector accepts logs,
// is SIGKILLed and restarted, accepts more, and is stopped with SIGTERM,
// which must end the process although the exporters are still retrying
// (shutdown_timeout). Restarted once more on the same queue directory with
// Kafka back, every record reaches the topic exactly once. An in-memory
// sending queue loses the records of both stops.
func TestQueueSurvivesRestarts(t *testing.T) {
	broker := testinfra.Kafka(t)
	logsTopic, spansTopic := uniqueTopic(t, "otlp_logs"), uniqueTopic(t, "otlp_spans")
	createTopics(t, broker, 3, logsTopic, spansTopic)
	dir := queueDir(t)
	env := []string{"VIGIL_COLLECTOR_SHUTDOWN_TIMEOUT=5s"}

	testinfra.Stop(t, "kafka")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			testinfra.Start(t, "kafka")
		}
	})

	// The batch processor holds records up to 200 ms before the queue has
	// them; the OTLP answer comes before that.
	const batchSettle = 2 * time.Second
	c := startCollector(t, broker, logsTopic, spansTopic, dir, env...)
	telemetrygen(t, c.grpc, "logs", "--logs", "1000", "--workers", "1", "--rate", "2000")
	time.Sleep(batchSettle)
	c.proc.Kill()

	c = startCollector(t, broker, logsTopic, spansTopic, dir, env...)
	telemetrygen(t, c.grpc, "logs", "--logs", "1000", "--workers", "1", "--rate", "2000")
	time.Sleep(batchSettle)
	c.proc.Signal(syscall.SIGTERM)
	// Generous: the bound under test is shutdown_timeout (5s here); the
	// Kafka exporter alone would retry for as long as Kafka is down.
	code := c.proc.Wait(2 * time.Minute)
	require.True(t, c.proc.Exited(), "collector still running after SIGTERM with Kafka down")
	t.Logf("collector exited with %d after SIGTERM with Kafka down", code)

	c = startCollector(t, broker, logsTopic, spansTopic, dir, env...)
	testinfra.Start(t, "kafka")
	restarted = true

	const want = 2000
	recs := readAll(t, broker, logsTopic, 3*time.Minute, func(rs []*kgo.Record) bool {
		n, _ := countLogs(t, rs)
		return n >= want
	})
	// Anything more would have arrived with the rest: give stragglers a
	// moment, then require the exact count.
	time.Sleep(2 * time.Second)
	recs = readAll(t, broker, logsTopic, 30*time.Second, func(rs []*kgo.Record) bool { return len(rs) >= len(recs) })
	n, _ := countLogs(t, recs)
	require.Equal(t, want, n, "log records in %s after a SIGKILL and a SIGTERM with Kafka down", logsTopic)
	require.Equal(t, 0, c.proc.Stop(60*time.Second), "collector exit code after SIGINT")
}
