package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/pipeline/document"
)

// longValue is a 100 KB string that starts with a searchable head, as a
// Java stack trace does.
func longValue(head string) string {
	var b strings.Builder
	b.WriteString(head)
	for i := 0; b.Len() < 100<<10; i++ {
		fmt.Fprintf(&b, "\n\tat com.example.app.Handler%d.handle(Handler%d.java:%d)", i, i, i%997)
	}
	return b.String()
}

// bulkAll sends docs (id, document) to index in requests of at most 500
// and requires every one to be indexed: none would go to the DLQ.
func bulkAll(t *testing.T, c *Client, index string, ids []string, docs [][]byte) {
	t.Helper()
	for from := 0; from < len(docs); from += 500 {
		to := min(from+500, len(docs))
		var body []byte
		for i := from; i < to; i++ {
			body = AppendCreate(body, index, ids[i], docs[i])
		}
		res, err := c.Bulk(t.Context(), [][]byte{body}, to-from)
		require.NoError(t, err)
		for i, r := range res {
			require.Equal(t, Done, r.Class, "document %d: %d %s: %s", from+i, r.Status, r.ErrType, r.Reason)
			require.Equal(t, 201, r.Status, "document %d", from+i)
		}
	}
}

// search runs query on index and returns the hits' _source.
func search(t *testing.T, c *Client, index, query string) []map[string]any {
	t.Helper()
	ctx := t.Context()
	r, err := c.Do(ctx, http.MethodPost, "/"+index+"/_refresh", nil)
	require.NoError(t, err)
	require.Equal(t, 200, r.Status, string(r.Body))
	r, err = c.Do(ctx, http.MethodPost, "/"+index+"/_search", []byte(`{"size":20,"query":`+query+`}`))
	require.NoError(t, err)
	require.Equal(t, 200, r.Status, string(r.Body))
	var res struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &res))
	var out []map[string]any
	for _, h := range res.Hits.Hits {
		out = append(out, h.Source)
	}
	return out
}

func prefixQuery(field, prefix string) string {
	f, _ := json.Marshal(field)
	p, _ := json.Marshal(prefix)
	return fmt.Sprintf(`{"prefix":{%s:{"value":%s}}}`, f, p)
}

// TestLongValuesIndexed: a log whose attribute, resource attribute or body
// is 100 KB, and a span whose attribute is, are indexed through the
// shipped templates (a flat_object or keyword term over 32766 bytes used
// to refuse the whole document), found by a prefix query, and hold the
// whole value in _source.
func TestLongValuesIndexed(t *testing.T) {
	c := testClient(t)
	n := testNames(t, c)
	in := &Installer{Client: c, Names: n, Settings: defaultSettings, Lifecycle: defaultLifecycle, Log: quietLog()}
	require.NoError(t, in.Install(t.Context()))
	t0 := time.Now().UTC().Truncate(time.Second)

	stack := longValue("java.lang.IllegalStateException: order 42 refused")
	body := longValue("payment failed for order 42")
	resVal := longValue("build-info")
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("build.info", resVal)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.Body().SetStr(body)
	lr.Attributes().PutStr("exception.stacktrace", stack)
	lr.Attributes().PutStr("order.id", "42")
	// Multi-byte characters: the cut must stay inside Lucene's byte limit.
	lr.Attributes().PutStr("note", strings.Repeat("ü✓", 20000))
	buf, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	logs, err := document.LogsOTLP(buf, document.Options{Now: t0})
	require.NoError(t, err)
	require.Len(t, logs, 1)
	bulkAll(t, c, n.LogsDataStream, []string{logs[0].ID}, [][]byte{logs[0].Body})

	hits := search(t, c, n.LogsDataStream, prefixQuery("attributes.exception.stacktrace", "java.lang.IllegalStateException: order 42"))
	require.Len(t, hits, 1, "the attribute's prefix is searchable")
	full := hits[0]["vigil.full"].(map[string]any)
	require.True(t, stack == full["attributes"].(map[string]any)["exception.stacktrace"], "the whole value is in the document")
	require.True(t, resVal == full["resource"].(map[string]any)["build.info"])
	require.True(t, body == hits[0]["body"], "the body is kept whole")
	attrs := hits[0]["attributes"].(map[string]any)
	cut := attrs["exception.stacktrace"].(string)
	require.True(t, strings.HasPrefix(stack, cut), "the indexed value is the value's prefix")
	require.LessOrEqual(t, len(cut), document.MaxFlatValue)
	require.Greater(t, len(cut), document.MaxFlatValue*3/4)
	require.Equal(t, "42", attrs["order.id"])
	require.Len(t, search(t, c, n.LogsDataStream, prefixQuery("resource.build.info", "build-info")), 1)
	require.Len(t, search(t, c, n.LogsDataStream, `{"match_phrase_prefix":{"body":"payment failed for order 42"}}`), 1, "the body is searchable")
	require.Len(t, search(t, c, n.LogsDataStream, `{"term":{"attributes.order.id":"42"}}`), 1)

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.SetName("POST /pay")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Millisecond)))
	sp.Attributes().PutStr("exception.stacktrace", stack) // a known key: a field
	sp.Attributes().PutStr("app.payload", body)           // overflow
	spans, errs := document.Spans(td, document.Options{Now: t0})
	require.Empty(t, errs)
	bulkAll(t, c, n.SpanAlias, []string{spans[0].ID()}, [][]byte{spans[0].Render(nil)})

	hits = search(t, c, n.SpanAlias, prefixQuery("span.attributes.exception@stacktrace", "java.lang.IllegalStateException: order 42"))
	require.Len(t, hits, 1, "the span attribute's prefix is searchable")
	full = hits[0]["vigil.full"].(map[string]any)
	require.True(t, stack == full["span.attributes.exception@stacktrace"], "the whole value is in the document")
	require.True(t, body == full["span.attributes.overflow.app.payload"])
	cut = hits[0]["span.attributes.exception@stacktrace"].(string)
	require.True(t, strings.HasPrefix(stack, cut))
	require.LessOrEqual(t, len(cut), document.MaxKeywordValue)
	require.Len(t, search(t, c, n.SpanAlias, prefixQuery("span.attributes.overflow.app.payload", "payment failed for order 42")), 1)
}

// TestSpanAttributeKeysCannotFillTheMapping: a span with 10,000 distinct
// attribute keys, and then 6,000 spans each with a key of its own (more
// than the 5000-field limit), are all indexed; the keys outside the known
// set are searchable in span.attributes.overflow, and the index's fields
// stay few.
func TestSpanAttributeKeysCannotFillTheMapping(t *testing.T) {
	c := testClient(t)
	n := testNames(t, c)
	in := &Installer{Client: c, Names: n, Settings: defaultSettings, Lifecycle: defaultLifecycle, Log: quietLog()}
	require.NoError(t, in.Install(t.Context()))
	t0 := time.Now().UTC().Truncate(time.Second)

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "flood")
	ss := rs.ScopeSpans().AppendEmpty()
	wide := ss.Spans().AppendEmpty()
	wide.SetTraceID(pcommon.TraceID{2})
	wide.SetSpanID(pcommon.SpanID{1})
	wide.SetName("wide")
	wide.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	wide.SetEndTimestamp(pcommon.NewTimestampFromTime(t0))
	wide.Attributes().PutStr("http.request.method", "GET")
	// A key that is another one's prefix: an object and a value at one
	// path, which typed fields could not hold.
	wide.Attributes().PutStr("app", "x")
	wide.Attributes().PutStr("app.id", "y")
	for i := range 10000 {
		wide.Attributes().PutStr(fmt.Sprintf("wide.key%05d", i), fmt.Sprintf("v%d", i))
	}
	for i := range 6000 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{3, byte(i >> 8), byte(i)})
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetName("flood")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.Attributes().PutInt(fmt.Sprintf("tenant_%d.requests", i), int64(i))
	}
	spans, errs := document.Spans(td, document.Options{Now: t0})
	require.Empty(t, errs)
	require.Len(t, spans, 6001)
	ids := make([]string, len(spans))
	docs := make([][]byte, len(spans))
	for i, sp := range spans {
		ids[i], docs[i] = sp.ID(), sp.Render(nil)
	}
	bulkAll(t, c, n.SpanAlias, ids[:1], docs[:1])
	bulkAll(t, c, n.SpanAlias, ids[1:], docs[1:])

	require.Len(t, search(t, c, n.SpanAlias, `{"term":{"span.attributes.overflow.wide.key09999":"v9999"}}`), 1)
	require.Len(t, search(t, c, n.SpanAlias, `{"term":{"span.attributes.http@request@method":"GET"}}`), 1, "a known key is a field of its own")
	require.Len(t, search(t, c, n.SpanAlias, `{"term":{"span.attributes.overflow.tenant_5999.requests":"5999"}}`), 1)
	require.Len(t, search(t, c, n.SpanAlias, `{"term":{"span.attributes.overflow.app.id":"y"}}`), 1)
	require.Len(t, search(t, c, n.SpanAlias, `{"term":{"span.attributes.overflow.app":"x"}}`), 1)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := c.Do(ctx, http.MethodGet, "/"+n.SpanAlias+"/_count", nil)
	require.NoError(t, err)
	require.Contains(t, string(r.Body), `"count":6001`)
	r, err = c.Do(ctx, http.MethodGet, "/"+n.SpanAlias+"/_mapping", nil)
	require.NoError(t, err)
	fields := strings.Count(string(r.Body), `"type":`)
	t.Logf("span index mapping: %d fields after 16,000 distinct attribute keys", fields)
	require.Less(t, fields, 200, "distinct attribute keys must not become fields")
}
