package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/pipeline/document"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// TestServiceRidesOutOpenSearchOutage puts a proxy in front of the real
// OpenSearch that refuses bulks (the shared cluster cannot be stopped while
// others test against it): fetching pauses, nothing is lost or committed,
// and once bulks are accepted again every document arrives exactly once.
func TestServiceRidesOutOpenSearchOutage(t *testing.T) {
	e := newEnv(t)
	target, err := url.Parse(e.osURL)
	require.NoError(t, err)
	var failing atomic.Bool
	var refused atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && strings.HasPrefix(r.URL.Path, "/_bulk") {
			refused.Add(1)
			http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := e.cfg
	cfg.OpenSearch.Addresses = []string{srv.URL}
	cfg.Retry.MaxBackoff = 50 * time.Millisecond

	failing.Store(true)
	for i := range 4 {
		e.produce(cfg.Kafka.Logs.Topic, int32(i%2), logsPayload(10, "outage"+string(rune('a'+i))))
	}
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	eventually(t, "fetching to pause while bulks fail", func() bool {
		return metricValue(t, reg, "vigil_pipeline_paused") == 1 && refused.Load() >= 3
	})
	require.LessOrEqual(t, e.count(cfg.Indices.LogsDataStream, ""), 0, "nothing indexed during the outage")
	offs, err := kadm.NewClient(e.prod).FetchOffsets(t.Context(), cfg.Kafka.Group)
	require.NoError(t, err)
	offs.Each(func(o kadm.OffsetResponse) {
		require.LessOrEqual(t, o.At, int64(0), "nothing committed while nothing is indexed")
	})

	failing.Store(false)
	eventually(t, "40 logs after the outage", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == 40 })
	eventually(t, "fetching to resume", func() bool { return metricValue(t, reg, "vigil_pipeline_paused") == 0 })
	require.NoError(t, stop())
	require.Equal(t, 40, e.count(cfg.Indices.LogsDataStream, ""))
	require.Greater(t, metricValue(t, reg, "vigil_pipeline_bulk_request_failures_total", "reason", "http_503"), 0.0)
}

// TestServiceCommitsOnRevoke starts a second member in the group: the first
// commits what it finished when its partition is revoked (the periodic
// commit is too slow to have done it), so the second re-reads nothing.
func TestServiceCommitsOnRevoke(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.CommitInterval = time.Hour
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(10, "p0"))
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(10, "p1"))
	regA := prometheus.NewRegistry()
	stopA := e.run(cfg, regA)
	eventually(t, "20 logs", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == 20 })

	regB := prometheus.NewRegistry()
	cfgB := cfg
	cfgB.Kafka.ClientID = "member-b"
	stopB := e.run(cfgB, regB)
	// Keep producing until the new member has indexed records of its own.
	i := 0
	eventually(t, "the second member to take a partition", func() bool {
		e.produce(cfg.Kafka.Logs.Topic, int32(i%2), logsPayload(5, "more"+string(rune('a'+i%26))+strings.Repeat("x", i/26)))
		i++
		return metricValue(t, regB, "vigil_pipeline_records_total", "signal", "logs", "outcome", "indexed") > 0
	})
	want := 20 + 5*i
	eventually(t, "every log", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == want })
	require.NoError(t, stopB())
	require.NoError(t, stopA())
	require.Equal(t, want, e.count(cfg.Indices.LogsDataStream, ""))
	require.Equal(t, 0.0, metricValue(t, regB, "vigil_pipeline_documents_total", "kind", "log", "outcome", "duplicate"),
		"the revoked member committed before handing over, so nothing was read twice")
}

// TestServiceJSONEncoding reads otlp_json records.
func TestServiceJSONEncoding(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Kafka.Logs.Encoding = EncodingJSON
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(logsPayload(7, "json"))
	require.NoError(t, err)
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	e.produce(cfg.Kafka.Logs.Topic, 0, b)
	stop := e.run(cfg, prometheus.NewRegistry())
	eventually(t, "7 logs", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == 7 })
	require.NoError(t, stop())
}

// TestReusedBuffersKeepDocuments: with budgets small enough that the
// buffers of indexed records (values, document chunks) are reused many
// times over, every document in OpenSearch is byte for byte what the
// record renders to on its own: nothing is overwritten before it is sent.
func TestReusedBuffersKeepDocuments(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Bulk.MaxBytes = 64 << 10
	cfg.MaxInFlightBytes = 256 << 10
	const records, perRecord = 40, 100
	want := map[string]map[string]any{}
	for i := range records {
		v := logsPayload(perRecord, fmt.Sprintf("reuse-%d", i))
		docs, err := document.LogsOTLP(v, document.Options{Now: time.Now()})
		require.NoError(t, err)
		for _, d := range docs {
			var src map[string]any
			require.NoError(t, json.Unmarshal(d.Body, &src))
			want[d.ID] = src
		}
		e.produce(cfg.Kafka.Logs.Topic, int32(i%2), v)
	}
	require.Len(t, want, records*perRecord)
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	eventually(t, "every log", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == records*perRecord })
	require.NoError(t, stop())

	e.requireDocs(cfg.Indices.LogsDataStream, want)
}

// requireDocs checks that index holds exactly the documents of want, by
// id, each with the source want has for it.
func (e *env) requireDocs(index string, want map[string]map[string]any) {
	t := e.t
	t.Helper()
	res, err := e.os.Do(t.Context(), http.MethodPost, "/"+index+"/_search",
		[]byte(fmt.Sprintf(`{"size":%d,"query":{"match_all":{}}}`, len(want))))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status, string(res.Body))
	var got struct {
		Hits struct {
			Hits []struct {
				ID     string         `json:"_id"`
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &got))
	require.Len(t, got.Hits.Hits, len(want))
	for _, h := range got.Hits.Hits {
		w, ok := want[h.ID]
		require.True(t, ok, "document %s is none of the records'", h.ID)
		require.Equal(t, w, h.Source, "document %s", h.ID)
	}
}

// TestPermanentInstallError: only a template OpenSearch rejects stops the
// pipeline; refused credentials and permissions, timeouts and throttling
// are retried until an operator or the cluster fixes them.
func TestPermanentInstallError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&opensearch.StatusError{Status: 400}, true},
		{&opensearch.StatusError{Status: 404}, true},
		{&opensearch.StatusError{Status: 401}, false},
		{&opensearch.StatusError{Status: 403}, false},
		{&opensearch.StatusError{Status: 408}, false},
		{&opensearch.StatusError{Status: 429}, false},
		{&opensearch.StatusError{Status: 503}, false},
		{fmt.Errorf("check plugins: %w", &opensearch.StatusError{Status: 401}), false},
		{errors.New("connection refused"), false},
	} {
		require.Equal(t, tc.want, permanent(tc.err), "%v", tc.err)
	}
}

// TestReusedChunksKeepHeldSpans: span documents are written into kept
// chunks, as logs are, and a span held for its trace's root keeps its
// record, and so its chunk, from being reused: with records finishing
// (and their chunks reused) while others' spans are held, every span
// indexed is still the document rendered from its own record.
func TestReusedChunksKeepHeldSpans(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Bulk.MaxBytes = 64 << 10
	cfg.MaxInFlightBytes = 32 << 20
	const records, perRecord = 12, 100
	// Record i holds the children of traces i*perRecord...; their roots
	// come in a record of their own after the next record's children,
	// so that one record's spans are held while another's finish.
	payload := func(i int, roots bool) []byte {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "reuse")
		ss := rs.ScopeSpans().AppendEmpty()
		for j := range perRecord {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{0xc, byte(i), byte(j)})
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(1+i*perRecord+j) * time.Microsecond)))
			if roots {
				sp.SetSpanID(pcommon.SpanID{1})
				sp.SetName(fmt.Sprintf("GET /root/%d/%d", i, j))
				continue
			}
			sp.SetSpanID(pcommon.SpanID{2})
			sp.SetParentSpanID(pcommon.SpanID{1})
			sp.SetName(fmt.Sprintf("SELECT %d/%d", i, j))
			sp.Attributes().PutStr("url.path", fmt.Sprintf("/api/v1/orders/%d/%d/%s", i, j, strings.Repeat("x", 200)))
			sp.Attributes().PutStr("http.request.method", "GET")
		}
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		return b
	}
	want := map[string]map[string]any{}
	docs := func(v []byte) []*document.Span {
		spans, errs, err := document.SpansOTLP(v, document.Options{Now: time.Now()})
		require.NoError(t, err)
		require.Empty(t, errs)
		return spans
	}
	for i := range records {
		children, roots := payload(i, false), payload(i, true)
		rootSpans := docs(roots)
		for j, sp := range docs(children) {
			g := rootSpans[j].Group()
			var src map[string]any
			require.NoError(t, json.Unmarshal(sp.Render(&g), &src))
			want[sp.ID()] = src
		}
		for _, sp := range rootSpans {
			g := sp.Group()
			var src map[string]any
			require.NoError(t, json.Unmarshal(sp.Render(&g), &src))
			want[sp.ID()] = src
		}
	}
	require.Len(t, want, 2*records*perRecord)
	for i := range records {
		e.produce(cfg.Kafka.Spans.Topic, 0, payload(i, false))
		if i > 0 {
			e.produce(cfg.Kafka.Spans.Topic, 0, payload(i-1, true))
		}
	}
	e.produce(cfg.Kafka.Spans.Topic, 0, payload(records-1, true))
	stop := e.run(cfg, prometheus.NewRegistry())
	eventually(t, "every span", func() bool { return e.count(cfg.Indices.SpanAlias, "") == len(want) })
	require.NoError(t, stop())

	e.requireDocs(cfg.Indices.SpanAlias, want)
}
