package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/dlq"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// env is one test's private Kafka (kfake) and index names on the shared
// OpenSearch.
type env struct {
	t      *testing.T
	cfg    Config
	kafka  *kfake.Cluster
	prod   *kgo.Client
	os     *opensearch.Client
	osURL  string
	prefix string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	osURL := testinfra.OpenSearch(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(2), kfake.AllowAutoTopicCreation())
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	prefix := "t" + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "")) + fmt.Sprintf("%06d", rand.IntN(1e6))

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = kc.ListenAddrs()
	cfg.Kafka.Group = prefix + "-group"
	cfg.Kafka.Logs.Topic = "otlp_logs"
	cfg.Kafka.Spans.Topic = "otlp_spans"
	cfg.OpenSearch.Addresses = []string{osURL}
	cfg.Indices.SpanAlias = prefix + "-span"
	cfg.Indices.ServiceMap = prefix + "-servicemap"
	cfg.Indices.LogsDataStream = prefix + "_logs-vigil-default"
	cfg.Indices.HealthEvents = prefix + "-health-events"
	cfg.Indices.DLQ = prefix + "-dlq"
	cfg.Indices.Canary = prefix + "-canary"
	cfg.Events.Group = prefix + "-events"
	cfg.CommitInterval = 100 * time.Millisecond
	cfg.HealthInterval = time.Second
	cfg.Bulk.Linger = 20 * time.Millisecond
	cfg.TraceGroup.Window = 2 * time.Second
	cfg.Retry.InitialBackoff = 10 * time.Millisecond

	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(prod.Close)
	ctx := t.Context()
	_, err = kadm.NewClient(prod).CreateTopics(ctx, 2, 1, nil, cfg.Kafka.Logs.Topic, cfg.Kafka.Spans.Topic, cfg.Kafka.DLQTopic)
	require.NoError(t, err)

	osc, err := opensearch.NewClient(cfg.OpenSearch)
	require.NoError(t, err)
	e := &env{t: t, cfg: cfg, kafka: kc, prod: prod, os: osc, osURL: osURL, prefix: prefix}
	t.Cleanup(func() { osc.Close() })
	cleanupIndices(t, cfg)
	return e
}

// cleanupIndices deletes, when the test ends, every index, data stream and
// template made with cfg's names.
func cleanupIndices(tb testing.TB, cfg Config) {
	osc, err := opensearch.NewClient(cfg.OpenSearch)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		defer osc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		osc.Do(ctx, http.MethodDelete, "/_data_stream/"+cfg.Indices.LogsDataStream, nil)
		osc.Do(ctx, http.MethodDelete, "/"+cfg.Indices.SpanAlias+"-*,"+cfg.Indices.ServiceMap+","+cfg.Indices.HealthEvents+","+cfg.Indices.DLQ+","+cfg.Indices.Canary+"?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true", nil)
		n := cfg.names()
		for _, tpl := range []string{n.SpanTemplate(), n.ServiceMapTemplate(), n.LogsTemplate(), n.EventsTemplate(), n.DLQTemplate(), n.CanaryTemplate()} {
			osc.Do(ctx, http.MethodDelete, "/_index_template/"+tpl, nil)
		}
	})
}

func (e *env) produce(topic string, part int32, value []byte) {
	e.t.Helper()
	require.NoError(e.t, e.prod.ProduceSync(e.t.Context(), &kgo.Record{Topic: topic, Partition: part, Value: value}).FirstErr())
}

// run runs a Service until stop is called; stop returns Run's error.
func (e *env) run(cfg Config, reg *prometheus.Registry) (stop func() error) {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg, component.Deps{Logger: log, Registerer: reg})
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("Run did not return")
		}
	}
}

func (e *env) count(index, query string) int {
	e.t.Helper()
	ctx := e.t.Context()
	res, err := e.os.Do(ctx, http.MethodPost, "/"+index+"/_refresh?ignore_unavailable=true&allow_no_indices=true", nil)
	require.NoError(e.t, err)
	path := "/" + index + "/_count?ignore_unavailable=true&allow_no_indices=true"
	var body []byte
	if query != "" {
		body = []byte(query)
	}
	res, err = e.os.Do(ctx, http.MethodPost, path, body)
	require.NoError(e.t, err)
	if res.Status == 404 {
		return 0
	}
	if res.Status == 503 {
		// A just-created index whose shard has not started yet.
		return -1
	}
	require.Equal(e.t, 200, res.Status, string(res.Body))
	var c struct {
		Count int `json:"count"`
	}
	require.NoError(e.t, json.Unmarshal(res.Body, &c))
	return c.Count
}

// eventually polls cond with a generous deadline (the machine is shared and
// loaded; nothing here asserts a duration).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var (
	traceA = pcommon.TraceID{0xa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	t0     = time.Now().Add(-time.Minute).UTC()
)

func logsPayload(n int, tag string) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "frontend")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		lr.Body().SetStr(fmt.Sprintf("%s log line %d", tag, i))
		lr.Attributes().PutInt("i", int64(i))
		lr.SetTraceID(traceA)
	}
	b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	return b
}

// spansPayload builds spans of traceA: with root, the frontend root server
// span; else its frontend client child and the backend server grandchild.
func spansPayload(root bool) []byte {
	td := ptrace.NewTraces()
	add := func(service string, id, parent byte, kind ptrace.SpanKind, name string) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(traceA)
		sp.SetSpanID(pcommon.SpanID{id})
		if parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{parent})
		}
		sp.SetKind(kind)
		sp.SetName(name)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(10-id) * time.Millisecond)))
	}
	if root {
		add("frontend", 1, 0, ptrace.SpanKindServer, "GET /checkout")
	} else {
		add("frontend", 2, 1, ptrace.SpanKindClient, "POST /pay")
		add("payments", 3, 2, ptrace.SpanKindServer, "POST /pay")
	}
	b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return b
}

// wideSpan has more resource attributes than a small total_fields limit
// allows (span attributes cannot: keys outside a known set go to one
// flat_object field): a
// document OpenSearch rejects permanently (illegal_argument_exception).
func wideSpan() []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "wide")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0xb})
	sp.SetSpanID(pcommon.SpanID{0xb})
	sp.SetName("wide")
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0))
	for i := range 300 {
		rs.Resource().Attributes().PutStr(fmt.Sprintf("attr%d", i), "x")
	}
	b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return b
}

func readDLQ(t *testing.T, e *env, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Kafka.Brokers...), kgo.ConsumeTopics(e.cfg.Kafka.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "waiting for %d DLQ records, have %d", want, len(out))
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestServiceEndToEnd produces logs, a trace whose root arrives after its
// children, a garbage record and a document OpenSearch rejects, and checks
// exact counts, trace groups, the service map, the DLQ, committed offsets,
// and that running again over the same records adds no duplicates.
func TestServiceEndToEnd(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Indices.TotalFieldsLimit = 100
	// The root must come inside the window, however long the 50 logs take
	// to be searchable on a loaded machine: the children are released when
	// it arrives, not when the window ends.
	cfg.TraceGroup.Window = 2 * time.Minute

	garbage := []byte("\xff\x00 this is not protobuf \x01\x02")
	wide := wideSpan()
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(30, "a"))
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(20, "b"))
	e.produce(cfg.Kafka.Spans.Topic, 0, spansPayload(false)) // children first
	e.produce(cfg.Kafka.Spans.Topic, 1, garbage)
	e.produce(cfg.Kafka.Spans.Topic, 1, wide)
	// Records without data: counted, finished, never dead-lettered.
	e.produce(cfg.Kafka.Logs.Topic, 1, nil)
	e.produce(cfg.Kafka.Logs.Topic, 1, []byte{})
	e.produce(cfg.Kafka.Spans.Topic, 0, nil)

	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	eventually(t, "50 logs", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == 50 })
	// The root comes later, inside the window: every span gets its group.
	e.produce(cfg.Kafka.Spans.Topic, 0, spansPayload(true))
	eventually(t, "3 spans", func() bool { return e.count(cfg.Indices.SpanAlias, "") == 3 })
	require.Equal(t, 3, e.count(cfg.Indices.SpanAlias, `{"query":{"term":{"traceGroup":"GET /checkout"}}}`), "every span carries the root's trace group")
	require.Equal(t, 3, e.count(cfg.Indices.SpanAlias, `{"query":{"term":{"traceGroupFields.statusCode":0}}}`))
	eventually(t, "2 service-map relationships", func() bool { return e.count(cfg.Indices.ServiceMap, "") == 2 })
	require.Equal(t, 1, e.count(cfg.Indices.ServiceMap, `{"query":{"bool":{"filter":[{"term":{"serviceName":"frontend"}},{"term":{"destination.domain":"payments"}},{"term":{"destination.resource":"POST /pay"}},{"term":{"traceGroupName":"GET /checkout"}}]}}}`))
	require.Equal(t, 1, e.count(cfg.Indices.ServiceMap, `{"query":{"bool":{"filter":[{"term":{"serviceName":"payments"}},{"term":{"target.domain":"payments"}}]}}}`))
	// Logs correlate with the trace by the top-level fields.
	require.Equal(t, 50, e.count(cfg.Indices.LogsDataStream, fmt.Sprintf(`{"query":{"bool":{"filter":[{"term":{"traceId":"%s"}},{"term":{"serviceName":"frontend"}}]}}}`, traceA)))

	dl := readDLQ(t, e, 2)
	byType := map[string]*kgo.Record{}
	for _, r := range dl {
		ent, err := dlq.Parse(r.Headers)
		require.NoError(t, err)
		byType[ent.ErrorType] = r
		require.Equal(t, cfg.Kafka.Spans.Topic, ent.SourceTopic)
		require.Equal(t, int32(1), ent.SourcePartition)
		require.False(t, ent.FirstFailure.IsZero())
	}
	require.Contains(t, byType, dlq.ErrorTypeDecode)
	require.Equal(t, garbage, byType[dlq.ErrorTypeDecode].Value, "the DLQ keeps the original bytes")
	require.Contains(t, byType, "illegal_argument_exception")
	rej, _ := dlq.Parse(byType["illegal_argument_exception"].Headers)
	require.Equal(t, wide, byType["illegal_argument_exception"].Value)
	require.Equal(t, 400, rej.HTTPStatus)
	// The concrete write index that refused it, not the alias in front of it.
	require.Equal(t, cfg.Indices.SpanAlias+"-000001", rej.TargetIndex)
	require.Equal(t, int64(1), rej.SourceOffset)
	require.Contains(t, rej.Reason, "total fields")
	// The DLQ's headers are searchable by cause (pipeline/eventindex).
	eventually(t, "2 DLQ documents", func() bool { return e.count(cfg.Indices.DLQ, "") == 2 })
	require.Equal(t, 1, e.count(cfg.Indices.DLQ, `{"query":{"bool":{"filter":[{"term":{"errorType":"illegal_argument_exception"}},{"term":{"httpStatus":400}},{"term":{"source.topic":"otlp_spans"}},{"term":{"source.offset":1}}]}}}`))
	require.Equal(t, 1, e.count(cfg.Indices.DLQ, `{"query":{"term":{"errorType":"decode_error"}}}`))

	// Everything is finished, so the group's offsets reach the end.
	adm := kadm.NewClient(e.prod)
	eventually(t, "offsets committed to the end", func() bool {
		offs, err := adm.FetchOffsets(t.Context(), cfg.Kafka.Group)
		if err != nil {
			return false
		}
		ends, err := adm.ListEndOffsets(t.Context(), cfg.Kafka.Logs.Topic, cfg.Kafka.Spans.Topic)
		if err != nil {
			return false
		}
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			c, found := offs.Lookup(o.Topic, o.Partition)
			if o.Offset > 0 && (!found || c.At != o.Offset) {
				ok = false
			}
		})
		return ok
	})
	require.NoError(t, stop())
	require.Equal(t, 4.0, metricValue(t, reg, "vigil_pipeline_records_total", "signal", "logs", "outcome", "indexed"))
	require.Equal(t, 2.0, metricValue(t, reg, "vigil_pipeline_records_total", "signal", "spans", "outcome", "dead_lettered"))
	require.Equal(t, 3.0, metricValue(t, reg, "vigil_pipeline_records_total", "signal", "spans", "outcome", "indexed"))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_empty_records_total", "signal", "logs", "reason", "null"))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_empty_records_total", "signal", "logs", "reason", "empty"))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_empty_records_total", "signal", "spans", "reason", "null"))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_opensearch_up", "cluster", "primary"))

	// Redelivery: a new group reads every record again. Deterministic ids
	// and bulk create make every document a 409: the counts do not move.
	cfg2 := cfg
	cfg2.Kafka.Group += "-again"
	reg2 := prometheus.NewRegistry()
	stop2 := e.run(cfg2, reg2)
	eventually(t, "second run to finish every record", func() bool {
		return metricValue(t, reg2, "vigil_pipeline_records_total", "signal", "logs", "outcome", "indexed") == 4 &&
			metricValue(t, reg2, "vigil_pipeline_records_total", "signal", "spans", "outcome", "indexed") == 3 &&
			metricValue(t, reg2, "vigil_pipeline_records_total", "signal", "spans", "outcome", "dead_lettered") == 2
	})
	require.NoError(t, stop2())
	require.Equal(t, 50, e.count(cfg.Indices.LogsDataStream, ""))
	require.Equal(t, 3, e.count(cfg.Indices.SpanAlias, ""))
	require.Equal(t, 2, e.count(cfg.Indices.ServiceMap, ""))
	require.Equal(t, 50.0, metricValue(t, reg2, "vigil_pipeline_documents_total", "kind", "log", "outcome", "duplicate"))
	require.Equal(t, 0.0, metricValue(t, reg2, "vigil_pipeline_documents_total", "kind", "log", "outcome", "indexed"))
}

// metricValue returns the value of the series of name with the given label
// pairs (0 when absent).
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return m.Histogram.GetSampleSum()
			}
		}
	}
	return 0
}
