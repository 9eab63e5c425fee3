//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestQueueSurvivesRestarts: with Kafka down, the collector accepts logs,
// is SIGKILLed and restarted, accepts more, and is stopped with SIGTERM,
// which must end the process although the exporters are still retrying
// (shutdown_timeout). Restarted once more on the same queue directory with
// Kafka back, every record reaches the topic exactly once, and `vigil
// pipeline` indexes each once. An in-memory sending queue loses the records
// of both stops.
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
	indexOnce(t, broker, logsTopic, spansTopic, want)
}

// indexOnce runs `vigil pipeline` over logsTopic into a data stream of its
// own and requires exactly want documents there: what the queue kept
// through the stops is searchable, once.
func indexOnce(t *testing.T, broker, logsTopic, spansTopic string, want int) {
	t.Helper()
	osURL := testinfra.OpenSearch(t)
	sfx := strings.ToLower(strings.TrimPrefix(logsTopic, "otlp_logs"))
	// Names of their own, which no shipped template's pattern matches.
	prefix := "e2equeue" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, sfx)
	stream := prefix + "_logs-vigil-default"
	admin := vigiltest.FreeAddr(t)
	dlqTopic := prefix + ".dlq"
	group := prefix + "-pipeline"
	cfg := fmt.Sprintf(`admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: %s
  logs: {topic: %s}
  priority: {topic: %s_priority}
  spans: {topic: %s}
  dlq_topic: %s
opensearch: {addresses: [%q]}
indices:
  span_alias: %s-otel-v1-apm-span
  service_map: %s-otel-v1-apm-service-map
  logs_data_stream: %s
`, admin, broker, group, logsTopic, logsTopic, spansTopic, dlqTopic, osURL, prefix, prefix, stream)
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, osURL+"/_data_stream/"+stream, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		testinfra.DeleteKafka(t, broker, []string{group}, dlqTopic)
	})
	p := vigiltest.Start(t, nil, "pipeline", "--config", path)
	p.WaitReady(admin, 90*time.Second)
	count := func() (int, error) {
		res, err := http.Post(osURL+"/"+stream+"/_refresh", "application/json", nil)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		res, err = http.Get(osURL + "/" + stream + "/_count")
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		var c struct{ Count int }
		if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
			return 0, err
		}
		return c.Count, nil
	}
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		n, err := count()
		if err == nil && n < want {
			err = fmt.Errorf("%d of %d indexed", n, want)
		}
		return err
	}))
	time.Sleep(2 * time.Second)
	n, err := count()
	require.NoError(t, err)
	require.Equal(t, want, n, "documents in %s", stream)
	require.Equal(t, 0, p.Stop(60*time.Second), "pipeline exit code after SIGINT")
}
