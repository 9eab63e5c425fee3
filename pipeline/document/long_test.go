package document

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestCutJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		limit    int
		want     string
		cut      bool
	}{
		{"short", `{"a":"xy"}`, 2, `{"a":"xy"}`, false},
		{"plain", `{"a":"xyz"}`, 2, `{"a":"xy"}`, true},
		{"keys are never cut", `{"abcdef":1}`, 2, `{"abcdef":1}`, false},
		{"escape not split", `{"a":"x\n\n"}`, 2, `{"a":"x"}`, true},
		{"unicode escape not split", `{"a":"\u0001\u0002"}`, 10, `{"a":"\u0001"}`, true},
		{"escaped quote", `{"a":"\"\"\"","b":"q"}`, 4, `{"a":"\"\"","b":"q"}`, true},
		{"utf-8 not split", `{"a":"üü"}`, 3, `{"a":"ü"}`, true},
		{"nested and arrays", `{"a":["xyz",{"b":"uvw"}],"c":3}`, 1, `{"a":["x",{"b":"u"}],"c":3}`, true},
		{"bare string", `"xyz"`, 1, `"x"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := cutJSON(nil, []byte(tc.in), tc.limit)
			require.Equal(t, tc.want, string(got))
			require.Equal(t, tc.cut, cut)
			require.True(t, json.Valid(got))
		})
	}
}

func TestLongString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"a":"xy"}`, false},
		{`{"a":"xyz"}`, true},
		{`{"abc":1}`, true}, // keys count too (cutJSON then leaves them)
		{`{"a":"\"\""}`, true},
		{`{"a":"\\","b":"x"}`, false}, // an escaped backslash, then the closing quote
		{`{"a":"\"x"}`, true},
		{`[1,2,"ab"]`, false},
	} {
		require.Equal(t, tc.want, longString([]byte(tc.in), 2), tc.in)
	}
}

func decode(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m), "%.300s", doc)
	return m
}

// TestLongLogValues: flat_object fields hold each string cut to
// MaxFlatValue bytes, and the document the whole objects in vigil.full.
func TestLongLogValues(t *testing.T) {
	stack := "java.lang.IllegalStateException\n" + strings.Repeat("\tat a.B.c(B.java:1)\n", 5000)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("build", strings.Repeat("r", 3*MaxFlatValue))
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().Attributes().PutStr("s", strings.Repeat("s", MaxFlatValue+1))
	for range 2 { // the second record repeats the first one's keys (keyMemo)
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.Body().SetStr(stack)
		lr.Attributes().PutStr("order.id", "42")
		lr.Attributes().PutStr("exception.stacktrace", stack)
		lr.Attributes().PutEmptySlice("list").AppendEmpty().SetStr(stack)
		lr.Attributes().PutInt("n", 1)
	}
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	docs, err := LogsOTLP(b, opts)
	require.NoError(t, err)
	want := oracleLogs(ld, opts)
	require.Len(t, docs, 2)
	for i, d := range docs {
		require.Equal(t, string(want[i].Body), string(d.Body), "the oracle agrees")
		m := decode(t, d.Body)
		require.Equal(t, stack, m["body"], "the body is whole")
		attrs := m["attributes"].(map[string]any)
		cut := attrs["exception.stacktrace"].(string)
		require.True(t, strings.HasPrefix(stack, cut))
		require.LessOrEqual(t, len(cut), MaxFlatValue)
		require.Greater(t, len(cut), MaxFlatValue*3/4)
		require.Equal(t, "42", attrs["order.id"])
		require.LessOrEqual(t, len(attrs["list"].([]any)[0].(string)), MaxFlatValue)
		require.Len(t, m["resource"].(map[string]any)["build"], MaxFlatValue)
		full := m["vigil.full"].(map[string]any)
		require.Equal(t, stack, full["attributes"].(map[string]any)["exception.stacktrace"])
		require.Equal(t, stack, full["attributes"].(map[string]any)["list"].([]any)[0])
		require.Len(t, full["resource"].(map[string]any)["build"], 3*MaxFlatValue)
		require.Len(t, full["instrumentationScope.attributes"].(map[string]any)["s"], MaxFlatValue+1)
		require.Contains(t, m["vigil.sanitized"], "attributes: values longer than 8192 bytes indexed by their first 8192 bytes; whole in vigil.full")
		require.Contains(t, m["vigil.sanitized"], "resource: values longer than 8192 bytes indexed by their first 8192 bytes; whole in vigil.full")
	}
}

// TestSpanAttributes: known keys are fields, the others go to the
// overflow object; long strings are cut to MaxKeywordValue bytes with the
// whole value in vigil.full.
func TestSpanAttributes(t *testing.T) {
	long := strings.Repeat("é", MaxKeywordValue)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("build", long)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.Attributes().PutStr("http.route", "/pay")
	sp.Attributes().PutStr("exception.stacktrace", long)
	sp.Attributes().PutStr("tenant.x.plan", "gold")
	sp.Attributes().PutStr("tenant.x.note", long)
	sp.Attributes().PutInt("retries", 2)
	spans, errs := Spans(td, opts)
	require.Empty(t, errs)
	m := decode(t, spans[0].Render(nil))
	require.Equal(t, "/pay", m["span.attributes.http@route"])
	require.Equal(t, map[string]any{"tenant.x.plan": "gold", "tenant.x.note": long[:MaxKeywordValue], "retries": 2.0}, m["span.attributes.overflow"])
	require.NotContains(t, m, "span.attributes.retries")
	require.Equal(t, long[:MaxKeywordValue], m["span.attributes.exception@stacktrace"])
	require.Equal(t, long[:MaxKeywordValue], m["resource.attributes.build"])
	require.Equal(t, map[string]any{
		"span.attributes.exception@stacktrace":   long,
		"span.attributes.overflow.tenant.x.note": long,
		"resource.attributes.build":              long,
	}, m["vigil.full"])
	require.Contains(t, m["vigil.sanitized"], "span.attributes: values longer than 1024 bytes indexed by their first 1024 bytes; whole in vigil.full")
}

// TestSpanFieldsConfigured: keys given in Options.SpanFields are fields of
// their own too; the known ones stay fields.
func TestSpanFieldsConfigured(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.Attributes().PutStr("http.route", "/pay")
	sp.Attributes().PutStr("app.tenant", "acme")
	sp.Attributes().PutStr("app.other", "x")
	o := opts
	o.SpanFields = SpanFields([]string{"app.tenant"})
	spans, errs := Spans(td, o)
	require.Empty(t, errs)
	m := decode(t, spans[0].Render(nil))
	require.Equal(t, "/pay", m["span.attributes.http@route"])
	require.Equal(t, "acme", m["span.attributes.app@tenant"])
	require.Equal(t, map[string]any{"app.other": "x"}, m["span.attributes.overflow"])
	require.NotContains(t, SpanFields(nil), "app.tenant", "the known set is not changed")
}
