//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestRecipes runs each configs/recipes/*.yaml end to end: the real
// collector with the shipped collector.yaml and the recipe merged after it,
// Kafka, one shared `vigil pipeline` and OpenSearch, and checks what was
// indexed. Each recipe has its own collector and service name; the topics,
// pipeline and indices are shared.
func TestRecipes(t *testing.T) {
	s := newStack(t, 3)
	s.startPipeline("")
	// Each recipe's collector is stopped when its subtest ends, and has its
	// own queue directory.
	t.Run("parse-body", func(t *testing.T) { recipeParseBody(t, s) })
	t.Run("drop-debug", func(t *testing.T) { recipeDropDebug(t, s) })
	t.Run("redact", func(t *testing.T) { recipeRedact(t, s) })
	t.Run("tail-sampling", func(t *testing.T) {
		c := s.startRecipe(t, []string{"tail-sampling"}, "VIGIL_TAIL_SAMPLING_DECISION_WAIT=2s")
		recipeTailSampling(t, s, c, "recipe-sampled")
	})
	// The same through the load-balancing exporter: the collector forwards
	// each trace's spans by trace id to its own second OTLP receiver (the
	// only peer here), whose pipeline samples.
	t.Run("tail-sampling-load-balanced", func(t *testing.T) {
		peer := vigiltest.FreeAddr(t)
		c := s.startRecipe(t, []string{"tail-sampling", "load-balancing"}, "VIGIL_TAIL_SAMPLING_DECISION_WAIT=2s",
			"VIGIL_SAMPLING_OTLP_ENDPOINT="+peer, "VIGIL_SAMPLING_PEERS=127.0.0.1", "VIGIL_SAMPLING_PEERS_PORT="+vigiltest.Port(t, peer))
		recipeTailSampling(t, s, c, "recipe-sampled-lb")
	})
}

// startRecipe starts a collector with recipes merged after the shipped
// collector.yaml, in order, and stops it (draining) when t ends.
func (s *stack) startRecipe(t *testing.T, recipes []string, env ...string) *collector {
	t.Helper()
	env = append(env, "VIGIL_COLLECTOR_QUEUE_DIR="+t.TempDir())
	var files []string
	for _, r := range recipes {
		files = append(files, "configs/recipes/"+r+".yaml")
	}
	c := s.startCollectorWith(env, files...)
	t.Cleanup(func() { c.proc.Stop(30 * time.Second) })
	return c
}

// logRec is one log record a recipe test sends; seq identifies it in
// OpenSearch.
type logRec struct {
	seq      int
	sevNum   plog.SeverityNumber
	sevText  string
	body     string
	attrs    map[string]any
	resAttrs map[string]any
}

func sendRecs(t *testing.T, addr, service string, recs []logRec) {
	t.Helper()
	ld := plog.NewLogs()
	now := time.Now()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		require.NoError(t, rl.Resource().Attributes().FromRaw(merge(map[string]any{"service.name": service}, r.resAttrs)))
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(r.seq) * time.Microsecond)))
		lr.SetSeverityNumber(r.sevNum)
		lr.SetSeverityText(r.sevText)
		lr.Body().SetStr(r.body)
		require.NoError(t, lr.Attributes().FromRaw(merge(map[string]any{"seq": int64(r.seq)}, r.attrs)))
	}
	newSender(t, addr).sendLogsData(ld)
}

func merge(a, b map[string]any) map[string]any {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func (s *sender) sendLogsData(ld plog.Logs) {
	s.t.Helper()
	req := plogotlp.NewExportRequestFromLogs(ld)
	s.retry(func(ctx context.Context) error { _, err := s.logs.Export(ctx, req); return err })
}

// logsOf returns the indexed log documents of service by their seq
// attribute, once exactly want of them are indexed and no more arrive.
func (s *stack) logsOf(service string, want int) map[int]map[string]any {
	t := s.t
	t.Helper()
	index := s.prefix + "_logs-*"
	q := map[string]any{"term": map[string]any{"serviceName": service}}
	var docs []map[string]any
	fetch := func() error {
		var err error
		docs, err = s.search(index, q, 1000)
		if err == nil && len(docs) != want {
			err = fmt.Errorf("%d log documents of %s, want %d (pipeline: %s)", len(docs), service, want, s.documentOutcomes())
		}
		return err
	}
	require.NoError(t, vigiltest.Eventually(2*time.Minute, fetch))
	// Nothing more arrives later: the records a recipe dropped were in the
	// same requests as those indexed, so they would be here by now.
	time.Sleep(3 * time.Second)
	require.NoError(t, fetch())
	out := map[int]map[string]any{}
	for _, d := range docs {
		attrs, _ := d["attributes"].(map[string]any)
		seq, ok := attrs["seq"].(float64)
		require.True(t, ok, "document without seq: %v", d)
		out[int(seq)] = d
	}
	require.Len(t, out, want, "distinct seq")
	return out
}

// search returns the _source of up to size documents matching query.
func (s *stack) search(index string, query map[string]any, size int) ([]map[string]any, error) {
	_ = osDo(s.osURL, http.MethodPost, "/"+index+"/_refresh", nil, nil)
	var resp struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := osDo(s.osURL, http.MethodPost, "/"+index+"/_search", map[string]any{"size": size, "query": query}, &resp); err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(resp.Hits.Hits))
	for _, h := range resp.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

// recipeParseBody: JSON and key=value bodies become attributes; a body that
// is neither, or that does not parse, is indexed unchanged.
func recipeParseBody(t *testing.T, s *stack) {
	c := s.startRecipe(t, []string{"parse-body"})
	const svc = "recipe-parse"
	info := plog.SeverityNumberInfo
	sendRecs(t, c.grpc, svc, []logRec{
		{seq: 1, sevNum: info, body: `{"user":"ana","order_id":"o-1","amount":12.5,"ok":true}`},
		{seq: 2, sevNum: info, body: `user=bob order_id=o-2 status="paid in full"`},
		{seq: 3, sevNum: info, body: "order 3 placed"},
		{seq: 4, sevNum: info, body: `{"user": "truncated`},
		// An attribute the body also names is overwritten by the body's.
		{seq: 5, sevNum: info, body: `{"user":"dan"}`, attrs: map[string]any{"user": "set-by-client", "kept": "yes"}},
	})
	docs := s.logsOf(svc, 5)
	attrs := func(seq int) map[string]any { a, _ := docs[seq]["attributes"].(map[string]any); return a }
	require.Equal(t, map[string]any{"seq": 1.0, "user": "ana", "order_id": "o-1", "amount": 12.5, "ok": true}, attrs(1))
	require.Equal(t, map[string]any{"seq": 2.0, "user": "bob", "order_id": "o-2", "status": "paid in full"}, attrs(2))
	require.Equal(t, map[string]any{"seq": 3.0}, attrs(3))
	require.Equal(t, map[string]any{"seq": 4.0}, attrs(4))
	require.Equal(t, map[string]any{"seq": 5.0, "user": "dan", "kept": "yes"}, attrs(5))
	// The body stays as sent.
	require.Equal(t, `user=bob order_id=o-2 status="paid in full"`, docs[2]["body"])
	require.Equal(t, `{"user": "truncated`, docs[4]["body"])
}

// recipeDropDebug: the DEBUG and TRACE records of one service are dropped;
// its other records and every record of another service are indexed.
func recipeDropDebug(t *testing.T, s *stack) {
	const noisy, other = "recipe-noisy", "recipe-quiet"
	c := s.startRecipe(t, []string{"drop-debug"}, "VIGIL_DROP_DEBUG_SERVICE="+noisy)
	unspec := plog.SeverityNumberUnspecified
	recs := []logRec{
		{seq: 1, sevNum: plog.SeverityNumberDebug, sevText: "DEBUG", body: "cache miss"},
		{seq: 2, sevNum: plog.SeverityNumberDebug4, sevText: "DEBUG4", body: "cache miss"},
		{seq: 3, sevNum: plog.SeverityNumberTrace, sevText: "TRACE", body: "enter"},
		{seq: 4, sevNum: unspec, sevText: "debug", body: "text-only debug"},
		{seq: 5, sevNum: plog.SeverityNumberInfo, sevText: "INFO", body: "order placed"},
		{seq: 6, sevNum: plog.SeverityNumberError, sevText: "ERROR", body: "payment failed"},
		{seq: 7, sevNum: unspec, sevText: "info", body: "text-only info"},
		{seq: 8, sevNum: unspec, body: "no severity"},
	}
	sendRecs(t, c.grpc, noisy, recs)
	sendRecs(t, c.grpc, other, recs)
	noisyDocs := s.logsOf(noisy, 4)
	for _, seq := range []int{5, 6, 7, 8} {
		require.Contains(t, noisyDocs, seq, "%s record %d (not DEBUG) is kept", noisy, seq)
	}
	s.logsOf(other, len(recs))
}

// recipeRedact: card numbers and e-mail addresses in bodies, log, resource
// and span attributes are masked in the collector: neither the records in
// Kafka (read with kcat) nor the documents in OpenSearch hold them.
func recipeRedact(t *testing.T, s *stack) {
	c := s.startRecipe(t, []string{"redact"})
	const svc = "recipe-redact"
	marker := fmt.Sprintf("redact-marker-%d", time.Now().UnixNano())
	secrets := []string{
		"4111 1111 1111 1111", "4111111111111111", "5500-0000-0000-0004", "378282246310005",
		"6011000990139424", "ana@example.com", "bob.smith+shop@mail.example.org", "ops@example.com",
		"carol@example.net",
	}
	sendRecs(t, c.grpc, svc, []logRec{
		{seq: 1, sevNum: plog.SeverityNumberInfo, body: marker + " paid with 4111 1111 1111 1111, receipt to ana@example.com",
			attrs: map[string]any{
				"card": "5500-0000-0000-0004", "card_int": int64(4111111111111111), "amex": "378282246310005",
				"customer": "bob.smith+shop@mail.example.org", "order_id": "o-12345678",
			},
			resAttrs: map[string]any{"owner.email": "ops@example.com"}},
		// An ERROR takes the priority lane's pipeline and topic: masked there too.
		{seq: 2, sevNum: plog.SeverityNumberError, body: marker + " discover 6011000990139424 declined"},
	})
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", svc)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID(sha16(marker)))
	sp.SetSpanID(pcommon.SpanID([8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	sp.SetName("POST /pay")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(time.Millisecond)))
	sp.Attributes().PutStr("user.email", "carol@example.net")
	sp.Attributes().PutStr("marker", marker)
	newSender(t, c.grpc).sendTraces(td)

	docs := s.logsOf(svc, 2)
	require.Equal(t, marker+" paid with ****, receipt to ****", docs[1]["body"])
	require.Equal(t, marker+" discover **** declined", docs[2]["body"])
	attrs, _ := docs[1]["attributes"].(map[string]any)
	require.Equal(t, "****", attrs["card"])
	require.Equal(t, "****", attrs["card_int"])
	require.Equal(t, "****", attrs["amex"])
	require.Equal(t, "****", attrs["customer"])
	require.Equal(t, "o-12345678", attrs["order_id"], "values without a card number or address are kept")
	res, _ := docs[1]["resource"].(map[string]any)
	require.Equal(t, "****", res["owner.email"])
	var spans []map[string]any
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		var err error
		spans, err = s.search(s.spanAlias, map[string]any{"term": map[string]any{"serviceName": svc}}, 10)
		if err == nil && len(spans) != 1 {
			err = fmt.Errorf("%d spans of %s, want 1", len(spans), svc)
		}
		return err
	}))
	indexed, err := json.Marshal(append(spans, docs[1], docs[2]))
	require.NoError(t, err)
	span, err := json.Marshal(spans[0])
	require.NoError(t, err)
	require.Contains(t, string(span), marker)
	require.Contains(t, string(span), `"****"`, "the span's user.email is masked")
	for _, secret := range secrets {
		require.NotContains(t, string(indexed), secret, "OpenSearch holds a value the recipe masks")
	}

	// Kafka: every record of the three topics, read from the start with kcat.
	for _, topic := range []string{s.logsTopic, s.prioTopic, s.spansTopic} {
		out, err := exec.Command(testinfra.Tool(t, "kcat"), "-C", "-b", s.broker, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%s\n").Output()
		require.NoError(t, err, "kcat -C %s", topic)
		require.Contains(t, string(out), marker, "%s: the recipe's records were read", topic)
		for _, secret := range secrets {
			require.NotContains(t, string(out), secret, "%s holds a value the recipe masks", topic)
		}
	}
}

func sha16(s string) [16]byte {
	h := sha256.Sum256([]byte(s))
	var id [16]byte
	copy(id[:], h[:16])
	return id
}

// recipeTailSampling: 1,000 traces of three spans each, every 20th with an
// error on a child span; each trace's children and root come in separate
// requests. Every error trace is indexed whole; of the others about 10% are
// (the trace ids are fixed, so the sampled set is the same on every run; the
// band is wide enough for any hash); no trace is indexed in part.
func recipeTailSampling(t *testing.T, s *stack, c *collector, svc string) {
	const traces, perTrace, errEvery = 1000, 3, 20
	snd := newSender(t, c.grpc)
	now := time.Now()
	// First one error span, until it is indexed: the load-balancing
	// exporter starts before the receiver it sends to, and spans it holds
	// in retries for longer than decision_wait would be decided apart from
	// the rest of their trace (as after any delay of that length).
	warm := ptrace.NewTraces()
	wrs := warm.ResourceSpans().AppendEmpty()
	wrs.Resource().Attributes().PutStr("service.name", svc+"-warmup")
	ws := wrs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	ws.SetTraceID(pcommon.TraceID(sha16(svc + "-warmup")))
	ws.SetSpanID(pcommon.SpanID([8]byte{9}))
	ws.SetName("warm-up")
	ws.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
	ws.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Millisecond)))
	ws.Status().SetCode(ptrace.StatusCodeError)
	snd.sendTraces(warm)
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		docs, err := s.search(s.spanAlias, map[string]any{"term": map[string]any{"serviceName": svc + "-warmup"}}, 1)
		if err == nil && len(docs) == 0 {
			err = fmt.Errorf("warm-up span of %s not indexed yet", svc)
		}
		return err
	}))
	ids := map[string]bool{} // error traces, by hex id
	// children first (they end first), then the roots, 100 traces a request.
	for _, roots := range []bool{false, true} {
		for from := 0; from < traces; from += 100 {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", svc)
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for i := from; i < from+100; i++ {
				tid := pcommon.TraceID(sha16(fmt.Sprintf("%s-%d", svc, i)))
				root := pcommon.SpanID([8]byte{byte(i >> 8), byte(i), 0, 0, 0, 0, 0, 1})
				start := now.Add(time.Duration(i) * time.Millisecond)
				add := func(n int, parent pcommon.SpanID, name string) ptrace.Span {
					sp := spans.AppendEmpty()
					sp.SetTraceID(tid)
					sp.SetSpanID(pcommon.SpanID([8]byte{byte(i >> 8), byte(i), 0, 0, 0, 0, 0, byte(n)}))
					sp.SetParentSpanID(parent)
					sp.SetName(name)
					sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(n) * time.Millisecond)))
					sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(10 * time.Millisecond)))
					return sp
				}
				if roots {
					add(1, pcommon.SpanID{}, "GET /checkout").SetKind(ptrace.SpanKindServer)
					continue
				}
				add(2, root, "SELECT orders")
				pay := add(3, root, "POST /pay")
				if i%errEvery == 0 {
					pay.Status().SetCode(ptrace.StatusCodeError)
					ids[tid.String()] = true
				}
			}
			snd.sendTraces(td)
		}
	}

	// Spans per indexed trace, once all error traces are in and the count
	// has stopped moving (the decisions come decision_wait after each
	// trace's first span).
	type bucket struct {
		Key      string `json:"key"`
		DocCount int    `json:"doc_count"`
	}
	var buckets []bucket
	last := -1
	stable := 0
	err := vigiltest.Eventually(2*time.Minute, func() error {
		_ = osDo(s.osURL, http.MethodPost, "/"+s.spanAlias+"/_refresh", nil, nil)
		var resp struct {
			Aggregations struct {
				T struct {
					Buckets []bucket `json:"buckets"`
				} `json:"t"`
			} `json:"aggregations"`
		}
		body := map[string]any{
			"size":  0,
			"query": map[string]any{"term": map[string]any{"serviceName": svc}},
			"aggs":  map[string]any{"t": map[string]any{"terms": map[string]any{"field": "traceId", "size": 2 * traces}}},
		}
		if err := osDo(s.osURL, http.MethodPost, "/"+s.spanAlias+"/_search", body, &resp); err != nil {
			return err
		}
		buckets = resp.Aggregations.T.Buckets
		errs, n := 0, 0
		for _, b := range buckets {
			n += b.DocCount
			if ids[b.Key] && b.DocCount == perTrace {
				errs++
			}
		}
		if errs < len(ids) || n != last {
			stable, last = 0, n
			return fmt.Errorf("%d of %d error traces whole, %d spans so far (pipeline: %s)", errs, len(ids), n, s.documentOutcomes())
		}
		if stable++; stable < 3 {
			time.Sleep(time.Second)
			return fmt.Errorf("%d spans; waiting for the count to settle", n)
		}
		return nil
	})
	require.NoError(t, err)

	sampled := 0
	for _, b := range buckets {
		require.Equal(t, perTrace, b.DocCount, "trace %s indexed in part", b.Key)
		if !ids[b.Key] {
			sampled++
		}
	}
	others := traces - len(ids)
	t.Logf("%s: %d of %d error traces, %d of %d other traces (%.1f%%) indexed whole", svc, len(ids), len(ids), sampled, others, 100*float64(sampled)/float64(others))
	// 10% of 950 is 95 (standard deviation about 9): [4%, 20%] is more than
	// five deviations either side.
	require.GreaterOrEqual(t, sampled, others*4/100, "sampled fraction")
	require.LessOrEqual(t, sampled, others*20/100, "sampled fraction")
	require.Less(t, len(buckets), traces, "some traces were dropped")
}
