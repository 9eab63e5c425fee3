package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/document"
)

// testNames returns index names unique to the test, and deletes everything
// made with them when the test ends.
func testNames(t *testing.T, c *Client) Names {
	t.Helper()
	p := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "")) + fmt.Sprintf("%06d", rand.IntN(1e6))
	n := Names{SpanAlias: "t" + p + "-span", ServiceMap: "t" + p + "-servicemap", LogsDataStream: "t" + p + "_logs-vigil-default", Events: "t" + p + "-events", DLQ: "t" + p + "-dlq"}
	t.Cleanup(func() { cleanup(c, n) })
	return n
}

func cleanup(c *Client, n Names) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.Do(ctx, http.MethodDelete, "/_data_stream/"+n.LogsDataStream, nil)
	c.Do(ctx, http.MethodDelete, "/"+n.SpanAlias+"-*,"+n.ServiceMap+","+n.Events+","+n.DLQ+"?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true", nil)
	for _, tpl := range []string{n.SpanTemplate(), n.ServiceMapTemplate(), n.LogsTemplate(), n.EventsTemplate(), n.DLQTemplate()} {
		c.Do(ctx, http.MethodDelete, "/_index_template/"+tpl, nil)
	}
}

func testClient(t *testing.T, opts ...func(*Config)) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Addresses = []string{testinfra.OpenSearch(t)}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestInstallIdempotentAndNeverDowngrades(t *testing.T) {
	ctx := t.Context()
	c := testClient(t)
	n := testNames(t, c)
	var reported []string
	in := &Installer{Client: c, Names: n, Settings: defaultSettings, Lifecycle: defaultLifecycle, Log: quietLog(),
		Report: func(res, action string, changed bool) {
			reported = append(reported, fmt.Sprintf("%s: %s %v", res, action, changed))
		}}
	created := []string{
		"index template " + n.SpanTemplate() + ": created true",
		"index template " + n.ServiceMapTemplate() + ": created true",
		"index template " + n.LogsTemplate() + ": created true",
		"index template " + n.EventsTemplate() + ": created true",
		"index template " + n.DLQTemplate() + ": created true",
		"ism policies: skipped: index-management plugin not installed false",
		"index " + n.BootstrapIndex() + ": created with write alias " + n.SpanAlias + " true",
	}

	// A dry run reports what would be done and does nothing.
	in.DryRun = true
	require.NoError(t, in.Install(ctx))
	require.Equal(t, created, reported)
	res, err := c.Do(ctx, http.MethodGet, "/_index_template/"+n.EventsTemplate(), nil)
	require.NoError(t, err)
	require.Equal(t, 404, res.Status, "dry run installed a template")

	in.DryRun, reported = false, nil
	require.NoError(t, in.Install(ctx))
	require.Equal(t, created, reported)
	reported = nil
	require.NoError(t, in.Install(ctx), "second install must be a no-op")
	require.Equal(t, []string{
		"index template " + n.SpanTemplate() + ": unchanged (version " + strconv.Itoa(TemplateVersion) + ") false",
		"index template " + n.ServiceMapTemplate() + ": unchanged (version " + strconv.Itoa(TemplateVersion) + ") false",
		"index template " + n.LogsTemplate() + ": unchanged (version " + strconv.Itoa(TemplateVersion) + ") false",
		"index template " + n.EventsTemplate() + ": unchanged (version " + strconv.Itoa(TemplateVersion) + ") false",
		"index template " + n.DLQTemplate() + ": unchanged (version " + strconv.Itoa(TemplateVersion) + ") false",
		"ism policies: skipped: index-management plugin not installed false",
		"alias " + n.SpanAlias + ": unchanged (exists) false",
	}, reported)

	// The bootstrap index carries the write alias.
	res, err = c.Do(ctx, http.MethodGet, "/_alias/"+n.SpanAlias, nil)
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)
	require.Contains(t, string(res.Body), `"`+n.BootstrapIndex()+`"`)
	require.Contains(t, string(res.Body), `"is_write_index":true`)

	// A newer template (from a newer pipeline) is left alone.
	newer := ServiceMapTemplate(n, defaultSettings)
	newer["version"] = TemplateVersion + 10
	newer["priority"] = 201
	b, _ := json.Marshal(newer)
	res, err = c.Do(ctx, http.MethodPut, "/_index_template/"+n.ServiceMapTemplate(), b)
	require.NoError(t, err)
	require.Equal(t, 200, res.Status, string(res.Body))
	reported = nil
	require.NoError(t, in.Install(ctx))
	require.Contains(t, reported, fmt.Sprintf("index template %s: unchanged (version %d is newer than this build's %d; never downgraded) false", n.ServiceMapTemplate(), TemplateVersion+10, TemplateVersion))
	res, err = c.Do(ctx, http.MethodGet, "/_index_template/"+n.ServiceMapTemplate(), nil)
	require.NoError(t, err)
	require.Contains(t, string(res.Body), fmt.Sprintf(`"version":%d`, TemplateVersion+10))

	// An older one is upgraded.
	older := ServiceMapTemplate(n, defaultSettings)
	older["version"] = 0
	b, _ = json.Marshal(older)
	res, err = c.Do(ctx, http.MethodPut, "/_index_template/"+n.ServiceMapTemplate(), b)
	require.NoError(t, err)
	require.Equal(t, 200, res.Status, string(res.Body))
	reported = nil
	require.NoError(t, in.Install(ctx))
	require.Contains(t, reported, fmt.Sprintf("index template %s: upgraded version 0 -> %d true", n.ServiceMapTemplate(), TemplateVersion))
	res, err = c.Do(ctx, http.MethodGet, "/_index_template/"+n.ServiceMapTemplate(), nil)
	require.NoError(t, err)
	require.Contains(t, string(res.Body), fmt.Sprintf(`"version":%d`, TemplateVersion))
}

func sampleDocs(t *testing.T) (span, child []byte, rel document.Relationship, log document.Log) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "frontend")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("scope")
	ss.Scope().Attributes().PutStr("scope.attr", "x")
	sp := ss.Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{1})
	sp.SetName("GET /")
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
	sp.Attributes().PutStr("http.method", "GET")
	sp.Attributes().PutInt("http.status_code", 200)
	ev := sp.Events().AppendEmpty()
	ev.SetName("e")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	ev.Attributes().PutInt("n", 1)
	ln := sp.Links().AppendEmpty()
	ln.SetTraceID(pcommon.TraceID{2})
	ln.SetSpanID(pcommon.SpanID{2})
	ln.Attributes().PutStr("l", "x")
	// The same attribute key with another type: keyword takes both.
	sp2 := ss.Spans().AppendEmpty()
	sp.CopyTo(sp2)
	sp2.SetSpanID(pcommon.SpanID{2})
	sp2.SetParentSpanID(pcommon.SpanID{1})
	sp2.SetKind(ptrace.SpanKindServer)
	sp2.Attributes().PutStr("http.status_code", "two hundred")
	sp2.Attributes().PutBool("http.method", true)
	spans, errs := document.Spans(td, document.Options{Now: t0})
	require.Empty(t, errs)
	g := spans[0].Group()

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "frontend")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().Attributes().PutStr("a", "b")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.Body().SetStr("hello")
	lr.SetSeverityText("INFO")
	lr.Attributes().PutStr("http.method", "GET")
	lr.Attributes().PutEmptyMap("nested").PutInt("n", 1)
	logs, err := document.Logs(ld, document.Options{Now: t0})
	require.NoError(t, err)
	rel = document.Relationship{ServiceName: "a", Kind: "SPAN_KIND_CLIENT", Destination: &document.Endpoint{Domain: "b", Resource: "GET /"}, TraceGroupName: "GET /"}
	return spans[0].Render(&g), spans[1].Render(&g), rel, logs[0]
}

// TestBulkAndMappingGolden writes one document of each kind through the
// installed templates and pins the resulting mappings: what Dashboards sees.
func TestBulkAndMappingGolden(t *testing.T) {
	ctx := t.Context()
	c := testClient(t)
	n := testNames(t, c)
	in := &Installer{Client: c, Names: n, Settings: defaultSettings, Lifecycle: defaultLifecycle, Log: quietLog()}
	require.NoError(t, in.Install(ctx))

	span, child, rel, log := sampleDocs(t)
	var body []byte
	body = AppendCreate(body, n.SpanAlias, "s1", span)
	body = AppendCreate(body, n.SpanAlias, "s2", child)
	body = AppendCreate(body, n.ServiceMap, rel.ID(), rel.Render())
	spans := len(body)
	body = AppendCreate(body, n.LogsDataStream, log.ID, log.Body)
	body = AppendCreate(body, n.LogsDataStream, "bad", []byte(`{"@timestamp":"not a date"}`))
	// Sent in pieces, the log as the pipeline renders it (CreateHead).
	head, at := CreateHead(n.LogsDataStream, len(log.ID))
	copy(head[at:], log.ID)
	logLine := append(append(head, log.Body...), '\n')
	require.Equal(t, string(body[spans:spans+len(logLine)]), string(logLine))
	res, err := c.Bulk(ctx, [][]byte{body[:spans], head, log.Body, {'\n'}, body[spans+len(logLine):]}, 5)
	require.NoError(t, err)
	for i := range 4 {
		require.Equal(t, Done, res[i].Class, "item %d: %+v", i, res[i])
	}
	require.Equal(t, Permanent, res[4].Class)
	require.Equal(t, 400, res[4].Status)

	// Again, in pieces and gzipped: every item is a 409, which counts as
	// done.
	gz := testClient(t, func(c *Config) { c.Gzip = true })
	res, err = gz.Bulk(ctx, [][]byte{body[:spans], head, log.Body, {'\n'}}, 4)
	require.NoError(t, err)
	for i := range 4 {
		require.Equal(t, 409, res[i].Status)
		require.Equal(t, Done, res[i].Class)
	}

	for _, tc := range []struct{ index, golden string }{
		{n.SpanAlias, "mapping_span.json"},
		{n.ServiceMap, "mapping_servicemap.json"},
		{n.LogsDataStream, "mapping_logs.json"},
	} {
		r, err := c.Do(ctx, http.MethodGet, "/"+tc.index+"/_mapping", nil)
		require.NoError(t, err)
		require.Equal(t, 200, r.Status, string(r.Body))
		var byIndex map[string]struct {
			Mappings any `json:"mappings"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &byIndex))
		require.Len(t, byIndex, 1)
		for _, v := range byIndex {
			goldenJSON(t, filepath.Join("testdata", tc.golden), v.Mappings)
		}
	}
}

// TestServerVersion proves which OpenSearch a test pass talks to: `make
// test` runs the OpenSearch-facing tests once on the default 3.x server and
// once on the 2.x one (VIGIL_TEST_OPENSEARCH_VERSION from scripts/env.sh,
// overridden for the second pass), and a pass pointed at the wrong server
// must not pass silently.
func TestServerVersion(t *testing.T) {
	c := testClient(t)
	want := os.Getenv("VIGIL_TEST_OPENSEARCH_VERSION")
	res, err := c.Do(t.Context(), http.MethodGet, "/", nil)
	require.NoError(t, err)
	var v struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &v), string(res.Body))
	t.Logf("OpenSearch %s", v.Version.Number)
	if want != "" {
		require.Equal(t, want, v.Version.Number)
	}
}
