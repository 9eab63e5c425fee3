package document

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	t0   = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	opts = Options{Now: t0.Add(time.Minute), RecordTime: t0.Add(2 * time.Second)}
)

func golden(t *testing.T, name string, doc []byte) {
	t.Helper()
	require.True(t, json.Valid(doc), "not valid JSON: %s", doc)
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, doc, "", "  "))
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), pretty.String())
}

// SampleTraces is a two-service trace: a frontend root server span calling
// the backend through a client span.
func sampleTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "frontend")
	rs.Resource().Attributes().PutStr("host.name", "web-1")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("io.opentelemetry.http")
	ss.Scope().SetVersion("1.2.3")
	root := ss.Spans().AppendEmpty()
	root.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	root.SetSpanID(pcommon.SpanID{1, 1, 1, 1, 1, 1, 1, 1})
	root.SetName("GET /checkout")
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	root.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(250 * time.Millisecond)))
	root.Status().SetCode(ptrace.StatusCodeError)
	root.Status().SetMessage("payment declined")
	root.Attributes().PutStr("http.method", "GET")
	root.Attributes().PutInt("http.status_code", 502)
	root.Attributes().PutBool("retry", true)
	root.Attributes().PutDouble("ratio", 0.5)
	sl := root.Attributes().PutEmptySlice("tags")
	sl.AppendEmpty().SetStr("a")
	sl.AppendEmpty().SetInt(2)
	m := root.Attributes().PutEmptyMap("user")
	m.PutStr("id", "u-1")
	ev := root.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(200 * time.Millisecond)))
	ev.Attributes().PutStr("exception.type", "PaymentError")
	ln := root.Links().AppendEmpty()
	ln.SetTraceID(pcommon.TraceID{9})
	ln.SetSpanID(pcommon.SpanID{9})
	ln.Attributes().PutStr("link.kind", "follows")

	child := ss.Spans().AppendEmpty()
	child.SetTraceID(root.TraceID())
	child.SetSpanID(pcommon.SpanID{2, 2, 2, 2, 2, 2, 2, 2})
	child.SetParentSpanID(root.SpanID())
	child.SetName("POST /pay")
	child.SetKind(ptrace.SpanKindClient)
	child.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(10 * time.Millisecond)))
	child.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(210 * time.Millisecond)))

	rs2 := td.ResourceSpans().AppendEmpty()
	rs2.Resource().Attributes().PutStr("service.name", "payments")
	srv := rs2.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	srv.SetTraceID(root.TraceID())
	srv.SetSpanID(pcommon.SpanID{3, 3, 3, 3, 3, 3, 3, 3})
	srv.SetParentSpanID(child.SpanID())
	srv.SetName("POST /pay")
	srv.SetKind(ptrace.SpanKindServer)
	srv.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(20 * time.Millisecond)))
	srv.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(200 * time.Millisecond)))
	return td
}

func sampleLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "frontend")
	rl.Resource().Attributes().PutStr("k8s.pod.name", "web-1-abc")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("app.logger")
	sl.Scope().Attributes().PutStr("logger.kind", "slog")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond)))
	lr.SetSeverityText("ERROR")
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.Body().SetStr("payment declined for order 42\n\"card\" rejected")
	lr.Attributes().PutStr("order.id", "42")
	lr.Attributes().PutInt("order.items", 3)
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 1, 1, 1, 1, 1, 1, 1})
	return ld
}

func TestSpanGolden(t *testing.T) {
	spans, errs := Spans(sampleTraces(), opts)
	require.Empty(t, errs)
	require.Len(t, spans, 3)
	root := spans[0]
	require.True(t, root.IsRoot())
	g := root.Group()
	golden(t, "span_root.json", root.Render(&g))
	golden(t, "span_child.json", spans[1].Render(&g))
	golden(t, "span_no_group.json", spans[2].Render(nil))
	require.Equal(t, "0102030405060708090a0b0c0d0e0f10-0101010101010101", root.ID())
}

func TestServiceMapGolden(t *testing.T) {
	spans, _ := Spans(sampleTraces(), opts)
	rels := Edge(spans[1].Info(), spans[2].Info(), "GET /checkout")
	require.Len(t, rels, 2)
	golden(t, "servicemap_destination.json", rels[0].Render())
	golden(t, "servicemap_target.json", rels[1].Render())
	require.NotEqual(t, rels[0].ID(), rels[1].ID())

	// Same service, or not a client->server call: no edge.
	require.Nil(t, Edge(spans[0].Info(), spans[1].Info(), "x"))
	require.Nil(t, Edge(spans[2].Info(), spans[1].Info(), "x"))
}

func TestLogGolden(t *testing.T) {
	docs, err := Logs(sampleLogs(), opts)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	golden(t, "log.json", docs[0].Body)
	// Same record, same id: redelivery is a 409, not a duplicate.
	again, err := Logs(sampleLogs(), opts)
	require.NoError(t, err)
	require.Equal(t, docs[0].ID, again[0].ID)
	require.Len(t, docs[0].ID, 32)
}

// TestLogIDsOfRepeats: byte-identical log records in one request are
// distinct events and get distinct ids; the same request sent again (a
// collector re-send) or a record on its own yields the same ids, so
// re-sends are still deduplicated.
func TestLogIDsOfRepeats(t *testing.T) {
	request := func(records ...string) plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "loadgen")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, body := range records {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
			lr.Body().SetStr(body)
		}
		return ld
	}
	ids := func(ld plog.Logs) []string {
		var out []string
		docs, err := Logs(ld, opts)
		require.NoError(t, err)
		for _, d := range docs {
			out = append(out, d.ID)
		}
		return out
	}
	first := ids(request("the message", "other", "the message", "the message"))
	require.Len(t, first, 4)
	distinct := map[string]bool{}
	for _, id := range first {
		require.Len(t, id, 32)
		distinct[id] = true
	}
	require.Len(t, distinct, 4, "identical records in one request are distinct events")
	require.Equal(t, first, ids(request("the message", "other", "the message", "the message")), "a re-sent request has the same ids")
	require.Equal(t, first[0], ids(request("the message"))[0], "a record's first occurrence keeps its content id")
	require.Equal(t, first[1], ids(request("other"))[0])
}

func TestBadInputSanitized(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "bad\xffsvc")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("bad \xc3\x28 utf8")
	lr.Attributes().PutStr("", "empty key")
	lr.Attributes().PutStr("ctl", "a\x00b")
	deep := lr.Attributes().PutEmptyMap("d")
	for range 12 {
		deep = deep.PutEmptyMap("d")
	}
	// Timestamp 0, observed in the far future.
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(10 * 365 * 24 * time.Hour)))

	docs, err := Logs(ld, opts)
	require.NoError(t, err)
	require.Len(t, docs, 1)
	golden(t, "log_sanitized.json", docs[0].Body)
	var m map[string]any
	require.NoError(t, json.Unmarshal(docs[0].Body, &m))
	fixes := m["vigil.sanitized"].([]any)
	joined := ""
	for _, f := range fixes {
		joined += f.(string) + "\n"
	}
	for _, want := range []string{"@timestamp: missing", "observedTimestamp: beyond", "body: invalid UTF-8", "attributes: empty attribute key", "attributes: nesting deeper", "resource: invalid UTF-8"} {
		require.Contains(t, joined, want)
	}
	require.Equal(t, timeString(uint64(opts.RecordTime.UnixNano())), m["@timestamp"])

	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	noID := ss.Spans().AppendEmpty()
	noID.SetName("orphan")
	future := ss.Spans().AppendEmpty()
	future.SetTraceID(pcommon.TraceID{1})
	future.SetSpanID(pcommon.SpanID{1})
	future.SetStartTimestamp(pcommon.Timestamp(1<<63 + 5)) // past date_nanos range
	future.SetEndTimestamp(1)
	future.SetKind(ptrace.SpanKind(42))
	spans, errs := Spans(td, opts)
	require.Len(t, errs, 1)
	require.True(t, errors.Is(errs[0], ErrInvalidSpan))
	require.Len(t, spans, 1)
	require.Equal(t, uint64(opts.RecordTime.UnixNano()), spans[0].Start)
	require.Equal(t, spans[0].Start, spans[0].End)
	doc := string(spans[0].Render(nil))
	require.Contains(t, doc, "startTime: missing or beyond")
	require.Contains(t, doc, "endTime: missing")
	require.Contains(t, doc, `"kind":"SPAN_KIND_UNSPECIFIED"`)
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x1f\t\n\r", "ünïcödé ✓", "<html>&"} {
		var got any
		require.NoError(t, json.Unmarshal(appendString(nil, s, nil, ""), &got))
		require.Equal(t, s, got)
	}
	require.Equal(t, "\"a\ufffdb\"", string(appendString(nil, "a\xffb", nil, "")))
	require.True(t, strings.HasPrefix(string(appendFloat(nil, 1.5)), "1.5"))
	require.Equal(t, `"NaN"`, string(appendFloat(nil, nan())))
}

func nan() float64 { var z float64; return z / z }

func TestDuplicateKeysAfterDotReplacement(t *testing.T) {
	for _, n := range []int{0, 40} { // small-set and map paths
		td := ptrace.NewTraces()
		sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{1})
		for i := range n {
			sp.Attributes().PutInt(fmt.Sprintf("k%d", i), int64(i))
		}
		sp.Attributes().PutStr("http.method", "first") // known: a field
		sp.Attributes().PutStr("http@method", "second")
		spans, errs := Spans(td, opts)
		require.Empty(t, errs)
		doc := spans[0].Render(nil)
		var m map[string]any
		require.NoError(t, json.Unmarshal(doc, &m))
		require.Equal(t, "first", m["span.attributes.http@method"])
		require.Equal(t, 1, strings.Count(string(doc), `"span.attributes.http@method"`), "a repeated key would be rejected by OpenSearch")
		require.Contains(t, string(doc), "span.attributes: duplicate attribute key dropped")
	}
}

// TestLogLines: with a Head, every document is rendered as its bulk line
// pair: the head with the document's id in it, the document exactly as
// without a head, and a newline; ids, repeats' included, are unchanged.
func TestLogLines(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "loadgen")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, body := range []string{"a", "b", "a", "a", "c"} {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.Body().SetStr(body)
		lr.Attributes().PutStr("k", body)
	}
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	plain, err := LogsOTLP(raw, opts)
	require.NoError(t, err)
	head := []byte(`{"create":{"_id":"` + strings.Repeat("-", IDLen) + `"}}` + "\n")
	o := opts
	o.Head, o.HeadID = head, len(`{"create":{"_id":"`)
	o.Chunk = func(n int) []byte { return make([]byte, 0, 64) } // many chunks, and documents that outgrow them
	lines, err := LogsOTLP(raw, o)
	require.NoError(t, err)
	require.Len(t, lines, len(plain))
	for i, d := range lines {
		require.Equal(t, plain[i].ID, d.ID)
		require.Equal(t, string(plain[i].Body), string(d.Body))
		want := `{"create":{"_id":"` + plain[i].ID + `"}}` + "\n" + string(plain[i].Body) + "\n"
		require.Equal(t, want, string(d.Line))
		require.Nil(t, plain[i].Line)
	}
	require.Equal(t, strings.Repeat("-", IDLen), string(head[o.HeadID:o.HeadID+IDLen]), "the head itself is not written to")
}
