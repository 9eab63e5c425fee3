//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// stackTrace is a 100 KB Java stack trace.
func stackTrace() string {
	var b strings.Builder
	b.WriteString("java.lang.IllegalStateException: order 42 refused")
	for i := 0; b.Len() < 100<<10; i++ {
		fmt.Fprintf(&b, "\n\tat com.example.shop.Step%d.run(Step%d.java:%d)", i, i, i%997)
	}
	return b.String()
}

// TestRecordShapes: records whose shape OpenSearch refused before are
// indexed through the real pipeline and Kafka, and none is dead-lettered: a
// log with a 100 KB attribute and a 100 KB body, a span with a 100 KB
// attribute, a span with 10,000 distinct attribute keys, 6,000 spans each
// with a key of its own (past the 5000-field limit). Records without data
// (null and empty values) are counted in
// vigil_pipeline_empty_records_total and finished.
func TestRecordShapes(t *testing.T) {
	s := newStack(t, 1)
	p := s.startPipeline("")
	stack := stackTrace()
	t0 := time.Now().UTC().Add(-time.Minute)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "shop")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.Body().SetStr("checkout failed: " + stack)
	lr.Attributes().PutStr("exception.stacktrace", stack)
	logs, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	ss := rs.ScopeSpans().AppendEmpty()
	span := func(trace, n int) ptrace.Span {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(seqTraceID(trace))
		sp.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n)})
		sp.SetName("POST /checkout")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond)))
		return sp
	}
	span(1, 1).Attributes().PutStr("exception.stacktrace", stack)
	wide := span(2, 1).Attributes()
	for i := range 10000 {
		wide.PutStr(fmt.Sprintf("cart.item%05d", i), "sku")
	}
	wideSpans, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)

	td = ptrace.NewTraces()
	rs = td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	ss = rs.ScopeSpans().AppendEmpty()
	for i := range 6000 {
		span(3+i, 1).Attributes().PutInt(fmt.Sprintf("tenant_%d.requests", i), int64(i))
	}
	flood, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)

	dir := t.TempDir()
	file := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return path
	}
	kcat(t, s.broker, s.logsTopic, file("long.pb", logs))
	kcat(t, s.broker, s.spansTopic, file("wide.pb", wideSpans), file("flood.pb", flood))
	// A tombstone and an empty value, which kcat cannot send.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx,
		&kgo.Record{Topic: s.logsTopic, Value: nil},
		&kgo.Record{Topic: s.logsTopic, Value: []byte{}},
		&kgo.Record{Topic: s.spansTopic, Value: nil}).FirstErr())

	s.waitCount(s.logsStream, 1, 2*time.Minute)
	s.waitCount(s.spanAlias, 6002, 2*time.Minute)
	require.Empty(t, readDLQ(t, s, 0), "nothing is dead-lettered")

	for _, m := range []struct {
		match []string
		want  float64
	}{
		{[]string{`signal="logs"`, `reason="null"`}, 1},
		{[]string{`signal="logs"`, `reason="empty"`}, 1},
		{[]string{`signal="spans"`, `reason="null"`}, 1},
	} {
		require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
			v, err := metric(p.admin, "vigil_pipeline_empty_records_total", m.match...)
			if err == nil && v != m.want {
				err = fmt.Errorf("vigil_pipeline_empty_records_total%v = %v, want %v", m.match, v, m.want)
			}
			return err
		}))
	}
	v, err := metric(p.admin, "vigil_pipeline_records_total", `signal="logs"`, `outcome="indexed"`)
	require.NoError(t, err)
	require.Equal(t, 3.0, v, "the empty records are finished too")

	type hits struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			}
		}
	}
	prefix := func(index, field, value string) hits {
		var h hits
		require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+index+"/_search",
			map[string]any{"query": map[string]any{"prefix": map[string]any{field: value}}}, &h))
		return h
	}
	h := prefix(s.logsStream, "attributes.exception.stacktrace", "java.lang.IllegalStateException: order 42")
	require.Len(t, h.Hits.Hits, 1, "the log found by the attribute's prefix")
	doc := h.Hits.Hits[0].Source
	require.True(t, stack == doc["vigil.full"].(map[string]any)["attributes"].(map[string]any)["exception.stacktrace"], "the whole value is kept")
	require.True(t, "checkout failed: "+stack == doc["body"], "the body is kept whole")

	h = prefix(s.spanAlias, "span.attributes.exception@stacktrace", "java.lang.IllegalStateException: order 42")
	require.Len(t, h.Hits.Hits, 1, "the span found by the attribute's prefix")
	require.True(t, stack == h.Hits.Hits[0].Source["vigil.full"].(map[string]any)["span.attributes.exception@stacktrace"], "the whole value is kept")
	require.Len(t, prefix(s.spanAlias, "span.attributes.overflow.cart.item09999", "sku").Hits.Hits, 1)
	require.Len(t, prefix(s.spanAlias, "span.attributes.overflow.tenant_5999.requests", "5999").Hits.Hits, 1)
}
