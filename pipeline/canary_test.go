package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/internal/events"
)

// heartbeatPayload is a collector heartbeat (collector/canary) as OTLP logs.
func heartbeatPayload(part int32, seq, acked int64, emitted time.Time, attrs bool) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	if attrs {
		a.PutStr(events.CanaryInstance, "c1")
		a.PutStr(events.CanaryRun, "r1")
		a.PutStr(events.CanaryTopic, "otlp_logs")
		a.PutInt(events.CanaryPartition, int64(part))
		a.PutInt(events.CanarySeq, seq)
		a.PutInt(events.CanaryEmitted, emitted.UnixNano())
		a.PutInt(events.CanaryAcked, acked)
	}
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("vigil canary")
	b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	return b
}

// TestHeartbeats feeds the pipeline (kfake, real OpenSearch) what one
// collector writes to two partitions: heartbeats every window, its records
// between them, each heartbeat counting what was written before it. In
// partition 1, ten records the heartbeats count never arrive. Heartbeats
// reach the canary index only (one document per partition, the latest), the
// records the logs data stream; the windows report the ten as lost in the
// logs topic; a marked record that is not a heartbeat is indexed as data.
func TestHeartbeats(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Canary.Window = time.Second
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	defer func() { require.NoError(t, stop()) }()

	produce := func(part int32, value []byte, heartbeat bool) {
		t.Helper()
		hs := []kgo.RecordHeader{{Key: events.HeaderCollector, Value: []byte("c1")}}
		if heartbeat {
			hs = append(hs, kgo.RecordHeader{Key: events.HeaderCanary, Value: []byte("1")})
		}
		r := &kgo.Record{Topic: cfg.Kafka.Logs.Topic, Partition: part, Value: value, Headers: hs}
		require.NoError(t, e.prod.ProduceSync(t.Context(), r).FirstErr())
	}
	base := time.Now().Truncate(time.Second).Add(-time.Minute)
	acked := [2]int64{}
	const perBeat = 3
	beat := func(k int64) {
		at := base.Add(time.Duration(k) * time.Second)
		for p := int32(0); p < 2; p++ {
			produce(p, heartbeatPayload(p, k, acked[p], at, true), true)
			acked[p]++ // the heartbeat itself
			for i := range perBeat {
				produce(p, logsPayload(1, fmt.Sprintf("p%d-k%d-%d", p, k, i)), false)
				acked[p]++
			}
			if p == 1 && k == 5 {
				acked[p] += 10 // written, then gone
			}
		}
	}
	// A window closes when a later heartbeat is read after its records
	// are indexed: beat on, as a collector does, until one reports.
	k := int64(1)
	for ; k <= 6; k++ {
		beat(k)
	}
	eventually(t, "a window with the loss", func() bool {
		if metricValue(t, reg, "vigil_pipeline_canary_lost_records_total", "topic", "otlp_logs") > 0 {
			return true
		}
		beat(k)
		k++
		time.Sleep(200 * time.Millisecond)
		return false
	})
	require.Equal(t, 10.0, metricValue(t, reg, "vigil_pipeline_canary_lost_records_total", "topic", "otlp_logs"))
	last := k - 1
	// Marked, but not a heartbeat's resource: data.
	produce(0, heartbeatPayload(0, 99, 0, base, false), true)
	logs := 2*int(last)*perBeat + 1
	eventually(t, "the log records indexed", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == logs })
	require.Zero(t, metricValue(t, reg, "vigil_pipeline_canary_gaps_total", "topic", "otlp_logs"))
	require.Positive(t, metricValue(t, reg, "vigil_pipeline_canary_windows_total", "topic", "otlp_logs", "result", "ok"))
	require.Equal(t, 1, e.count(cfg.Indices.LogsDataStream, `{"query":{"match_phrase":{"body":"vigil canary"}}}`), "the record that is not a heartbeat is data")
	require.Equal(t, 2, e.count(cfg.Indices.Canary, `{"query":{"term":{"kind":"heartbeat"}}}`), "one heartbeat document per partition")
	require.Equal(t, 1, e.count(cfg.Indices.Canary, fmt.Sprintf(`{"query":{"bool":{"filter":[{"term":{"kind":"heartbeat"}},{"term":{"seq":%d}},{"term":{"partition":1}}]}}}`, last)), "the latest heartbeat")
	require.Positive(t, e.count(cfg.Indices.Canary, `{"query":{"range":{"lost":{"gt":0}}}}`), "a window document with the loss")
}
