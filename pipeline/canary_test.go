package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/events"
)

// heartbeatResource sets a collector heartbeat's resource attributes
// (collector/canary).
func heartbeatResource(a pcommon.Map, topic string, part int32, seq, acked int64, emitted time.Time) {
	a.PutStr(events.CanaryInstance, "c1")
	a.PutStr(events.CanaryRun, "r1")
	a.PutStr(events.CanaryTopic, topic)
	a.PutInt(events.CanaryPartition, int64(part))
	a.PutInt(events.CanarySeq, seq)
	a.PutInt(events.CanaryEmitted, emitted.UnixNano())
	a.PutInt(events.CanaryAcked, acked)
}

// heartbeatPayload is a collector heartbeat as OTLP logs.
func heartbeatPayload(part int32, seq, acked int64, emitted time.Time, attrs bool) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	if attrs {
		heartbeatResource(rl.Resource().Attributes(), "otlp_logs", part, seq, acked, emitted)
	}
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("vigil canary")
	b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	return b
}

// spanHeartbeatPayload is a collector heartbeat as OTLP traces.
func spanHeartbeatPayload(topic string, part int32, seq int64, emitted time.Time) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	heartbeatResource(rs.Resource().Attributes(), topic, part, seq, 0, emitted)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0xc, 1})
	sp.SetSpanID(pcommon.SpanID{0xc, 1})
	sp.SetName("vigil canary")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(emitted))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(emitted))
	b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return b
}

// TestHeartbeats feeds the pipeline (kfake, real OpenSearch) what one
// collector writes to two partitions: heartbeats every window, its records
// between them, each heartbeat counting what was written before it. In
// partition 1, ten records the heartbeats count never arrive. Heartbeats
// reach the canary index only (one document per partition, the latest), the
// records the logs data stream; the windows report the ten as lost in the
// logs topic; a marked record that is not a heartbeat is indexed as data;
// a heartbeat read twice, log or span, is counted and indexed nowhere.
func TestHeartbeats(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Canary.Window = time.Second
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	defer func() { require.NoError(t, stop()) }()

	produceTo := func(topic string, part int32, value []byte, heartbeat bool) {
		t.Helper()
		hs := []kgo.RecordHeader{{Key: events.HeaderCollector, Value: []byte("c1")}}
		if heartbeat {
			hs = append(hs, kgo.RecordHeader{Key: events.HeaderCanary, Value: []byte("1")})
		}
		r := &kgo.Record{Topic: topic, Partition: part, Value: value, Headers: hs}
		require.NoError(t, e.prod.ProduceSync(t.Context(), r).FirstErr())
	}
	produce := func(part int32, value []byte, heartbeat bool) {
		t.Helper()
		produceTo(cfg.Kafka.Logs.Topic, part, value, heartbeat)
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
	// Written twice (a collector's retry after a produce error): the second
	// is counted, and indexed nowhere.
	produce(0, heartbeatPayload(0, last, acked[0], base.Add(time.Duration(last)*time.Second), true), true)
	spanBeat := spanHeartbeatPayload(cfg.Kafka.Spans.Topic, 0, 1, base)
	produceTo(cfg.Kafka.Spans.Topic, 0, spanBeat, true)
	produceTo(cfg.Kafka.Spans.Topic, 0, spanBeat, true)
	logs := 2*int(last)*perBeat + 1
	// Every record finished (its documents, if any, indexed): the counts
	// below are final.
	records := float64(2*int(last)*(1+perBeat) + 2)
	eventually(t, "every record finished", func() bool {
		return metricValue(t, reg, "vigil_pipeline_records_total", "signal", "logs", "outcome", "indexed") == records &&
			metricValue(t, reg, "vigil_pipeline_records_total", "signal", "spans", "outcome", "indexed") == 2
	})
	require.Equal(t, logs, e.count(cfg.Indices.LogsDataStream, ""), "log documents: the records between heartbeats and the marked record that is not one")
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_canary_duplicate_heartbeats_total", "topic", cfg.Kafka.Logs.Topic))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_canary_duplicate_heartbeats_total", "topic", cfg.Kafka.Spans.Topic))
	require.Zero(t, e.count(cfg.Indices.SpanAlias, ""), "a span heartbeat is no span document")
	require.Equal(t, 1, e.count(cfg.Indices.Canary, fmt.Sprintf(`{"query":{"term":{"topic":%q}}}`, cfg.Kafka.Spans.Topic)), "the span heartbeat's document")
	require.Zero(t, metricValue(t, reg, "vigil_pipeline_canary_gaps_total", "topic", "otlp_logs"))
	require.Positive(t, metricValue(t, reg, "vigil_pipeline_canary_windows_total", "topic", "otlp_logs", "result", "ok"))
	require.Equal(t, 1, e.count(cfg.Indices.LogsDataStream, `{"query":{"match_phrase":{"body":"vigil canary"}}}`), "the record that is not a heartbeat is data")
	require.Equal(t, 2, e.count(cfg.Indices.Canary, fmt.Sprintf(`{"query":{"bool":{"filter":[{"term":{"kind":"heartbeat"}},{"term":{"topic":%q}}]}}}`, cfg.Kafka.Logs.Topic)), "one heartbeat document per logs partition")
	require.Equal(t, 1, e.count(cfg.Indices.Canary, fmt.Sprintf(`{"query":{"bool":{"filter":[{"term":{"kind":"heartbeat"}},{"term":{"seq":%d}},{"term":{"partition":1}}]}}}`, last)), "the latest heartbeat")
	require.Positive(t, e.count(cfg.Indices.Canary, `{"query":{"range":{"lost":{"gt":0}}}}`), "a window document with the loss")
}
