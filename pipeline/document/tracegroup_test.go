package document

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestUpdateDocMatchesRender: a repaired span carries the very trace group
// fields it would have had if its root had come in time.
func TestUpdateDocMatchesRender(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetParentSpanID(pcommon.SpanID{1})
	sp.SetName("child")
	spans, errs := Spans(td, Options{})
	require.Empty(t, errs)
	for _, g := range []TraceGroup{
		{Name: "GET /\"quoted\"", EndTime: 1_790_000_000_123_456_789, DurationInNanos: 120_000_000_000, StatusCode: 2},
		{Name: "", EndTime: 0, DurationInNanos: 0, StatusCode: 0},
	} {
		var full, upd map[string]any
		require.NoError(t, json.Unmarshal(spans[0].Render(&g), &full))
		require.NoError(t, json.Unmarshal(g.UpdateDoc(), &upd))
		require.Equal(t, map[string]any{"traceGroup": full["traceGroup"], "traceGroupFields": full["traceGroupFields"]}, upd)
	}
}
