package document

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// realisticAttrs fills m with 20 attributes of mixed types, as an HTTP
// server instrumentation would.
func realisticAttrs(m pcommon.Map, i int) {
	m.PutStr("http.request.method", "POST")
	m.PutStr("url.path", fmt.Sprintf("/api/v1/orders/%d", i))
	m.PutStr("url.scheme", "https")
	m.PutInt("http.response.status_code", 200)
	m.PutStr("server.address", "orders.internal")
	m.PutInt("server.port", 8443)
	m.PutStr("client.address", "10.1.2.3")
	m.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
	m.PutStr("network.protocol.version", "1.1")
	m.PutInt("http.request.body.size", 512)
	m.PutInt("http.response.body.size", 2048)
	m.PutStr("enduser.id", fmt.Sprintf("user-%d", i%1000))
	m.PutStr("session.id", "0f8fad5b-d9cb-469f-a165-70867728950e")
	m.PutBool("cache.hit", i%2 == 0)
	m.PutDouble("db.duration_ms", 12.5)
	m.PutStr("db.system", "postgresql")
	m.PutStr("db.operation", "SELECT")
	m.PutStr("code.function", "OrdersHandler.Create")
	m.PutStr("code.namespace", "github.com/example/orders")
	m.PutStr("deployment.environment", "production")
}

func benchResource(m pcommon.Map) {
	m.PutStr("service.name", "orders")
	m.PutStr("service.version", "1.42.0")
	m.PutStr("host.name", "orders-7d9f-abcde")
	m.PutStr("k8s.namespace.name", "shop")
	m.PutStr("k8s.pod.name", "orders-7d9f-abcde")
}

// benchLogs is a 100-record request, each record with 20 attributes and a
// 200-byte body, in the collector's otlp_proto encoding.
func benchLogs(b *testing.B) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	benchResource(rl.Resource().Attributes())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("orders.logger")
	body := strings.Repeat("order accepted; payment authorised ", 6)[:200]
	for i := range 100 {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(body)
		lr.SetTraceID(pcommon.TraceID{1, 2, 3})
		lr.SetSpanID(pcommon.SpanID{4, 5, 6})
		realisticAttrs(lr.Attributes(), i)
	}
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkLogs decodes and builds the documents of benchLogs as the
// pipeline does (LogsOTLP, straight from the wire).
func BenchmarkLogs(b *testing.B) {
	raw := benchLogs(b)
	benchDocs(b, func() []Log {
		docs, err := LogsOTLP(raw, opts)
		if err != nil {
			b.Fatal(err)
		}
		return docs
	})
}

// BenchmarkLogsPdata is the same work done the way it was before the wire
// reader: pdata's decoder, then documents from pdata (oracleLogs).
func BenchmarkLogsPdata(b *testing.B) {
	raw := benchLogs(b)
	benchDocs(b, func() []Log {
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(raw)
		if err != nil {
			b.Fatal(err)
		}
		return oracleLogs(ld, opts)
	})
}

func benchDocs(b *testing.B, build func() []Log) {
	b.ReportAllocs()
	var bytes int
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		docs := build()
		bytes = 0
		for _, d := range docs {
			bytes += len(d.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/doc")
	b.SetBytes(int64(bytes))
}

// benchTraces is a 100-span request, each span with 20 attributes and one
// event, in the collector's otlp_proto encoding.
func benchTraces(b *testing.B) ([]byte, ptrace.Traces) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	benchResource(rs.Resource().Attributes())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("otelhttp")
	for i := range 100 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(i), 2, 3})
		sp.SetSpanID(pcommon.SpanID{byte(i), 5})
		sp.SetParentSpanID(pcommon.SpanID{9})
		sp.SetName("POST /api/v1/orders")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(1e6)))
		realisticAttrs(sp.Attributes(), i)
		ev := sp.Events().AppendEmpty()
		ev.SetName("order.created")
		ev.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		ev.Attributes().PutStr("order.id", "42")
	}
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		b.Fatal(err)
	}
	return raw, td
}

// BenchmarkSpans decodes, builds and renders (with a trace group) the
// documents of benchTraces as the pipeline does (SpansOTLP, straight from
// the wire).
func BenchmarkSpans(b *testing.B) {
	raw, _ := benchTraces(b)
	benchSpans(b, func() []*Span {
		spans, errs, err := SpansOTLP(raw, opts)
		if err != nil || len(errs) > 0 {
			b.Fatal(err, errs)
		}
		return spans
	})
}

// BenchmarkSpansChunks is BenchmarkSpans with the documents written into
// kept chunks (Options.Chunk), given back once the documents are rendered,
// as the pipeline does (its chunks go back when the record is finished;
// those under 8 KiB are allocated, and a kept one is taken when it holds
// at most twice what is asked): against BenchmarkSpans, the price of
// allocating and collecting the documents' own bytes.
func BenchmarkSpansChunks(b *testing.B) {
	raw, _ := benchTraces(b)
	var kept, used [][]byte
	o := opts
	o.Chunk = func(n int) []byte {
		if n < 8<<10 {
			return make([]byte, 0, n)
		}
		for i, c := range kept {
			if cap(c) >= n && cap(c) <= 2*n {
				kept = append(kept[:i], kept[i+1:]...)
				used = append(used, c)
				return c[:0]
			}
		}
		c := make([]byte, 0, n)
		used = append(used, c)
		return c
	}
	benchSpans(b, func() []*Span {
		kept, used = append(kept, used...), used[:0]
		spans, errs, err := SpansOTLP(raw, o)
		if err != nil || len(errs) > 0 {
			b.Fatal(err, errs)
		}
		return spans
	})
}

// BenchmarkSpansFacts is BenchmarkSpans handing out the APM derivation's
// facts as well (Options.Facts): their price, against BenchmarkSpans.
func BenchmarkSpansFacts(b *testing.B) {
	raw, _ := benchTraces(b)
	var facts []SpanFacts
	o := opts
	o.Facts = &facts
	benchSpans(b, func() []*Span {
		facts = facts[:0]
		spans, errs, err := SpansOTLP(raw, o)
		if err != nil || len(errs) > 0 || len(facts) != len(spans) {
			b.Fatal(err, errs)
		}
		return spans
	})
}

// BenchmarkSpansPdata is the same work done the way it was before the wire
// reader: pdata's decoder, then documents from pdata (oracleSpans).
func BenchmarkSpansPdata(b *testing.B) {
	raw, _ := benchTraces(b)
	benchSpans(b, func() []*Span {
		td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
		if err != nil {
			b.Fatal(err)
		}
		spans, _ := oracleSpans(td, opts)
		return spans
	})
}

func benchSpans(b *testing.B, build func() []*Span) {
	g := &TraceGroup{Name: "POST /api/v1/orders", EndTime: 1, DurationInNanos: 1}
	b.ReportAllocs()
	var bytes int
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		spans := build()
		bytes = 0
		for _, s := range spans {
			bytes += len(s.Render(g))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/doc")
	b.SetBytes(int64(bytes))
}

// reportCPU reports the process's CPU time (user and system, the garbage
// collector's included) per document since cpu0: on a shared machine,
// where ns/doc (wall time) counts the waits for a core too.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*100), "cpu-ns/doc")
}

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
