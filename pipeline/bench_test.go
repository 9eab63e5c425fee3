package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// BenchmarkPipelineAtLag measures the pipeline with default settings
// draining a backlog of b.N log records (100 per Kafka record, 20
// attributes and a 200-byte body each) from the real Kafka into the real
// OpenSearch, and reports documents per second and the process's peak RSS
// while draining (VmHWM, reset after producing the backlog). Run with e.g.
// -bench PipelineAtLag -benchtime 200000x.
func BenchmarkPipelineAtLag(b *testing.B) {
	body := strings.Repeat("order accepted; payment authorised ", 6)[:200]
	benchAtLag(b, kindLog, func(cfg Config, sent int) (*kgo.Record, int) {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "orders")
		sl := rl.ScopeLogs().AppendEmpty()
		n := 0
		for ; n < 100 && sent+n < b.N; n++ {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			lr.Body().SetStr(body)
			for a := range 20 {
				lr.Attributes().PutStr("attr."+strconv.Itoa(a), fmt.Sprintf("value-%d-%d", a, sent+n))
			}
		}
		v, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		return &kgo.Record{Topic: cfg.Kafka.Logs.Topic, Value: v}, n
	})
}

// BenchmarkPipelineSpansAtLag is BenchmarkPipelineAtLag for spans, laid
// out as the collector's Kafka exporter writes them with
// partition_traces_by_id: one record per trace per batch, keyed by trace id.
// Each trace has 10 spans (20 attributes each); its 9 children come in one
// record and its root in a later one, so the children are held until the
// root arrives.
func BenchmarkPipelineSpansAtLag(b *testing.B) {
	trace := 0
	pendingRoot := false
	benchAtLag(b, kindSpan, func(cfg Config, sent int) (*kgo.Record, int) {
		td := ptrace.NewTraces()
		ss := td.ResourceSpans().AppendEmpty()
		ss.Resource().Attributes().PutStr("service.name", "orders")
		spans := ss.ScopeSpans().AppendEmpty().Spans()
		var tid pcommon.TraceID
		n := 0
		if pendingRoot || b.N-sent == 1 {
			// The root of the trace whose children came last (or of a
			// new trace when only one span is left to send).
			if !pendingRoot {
				trace++
			}
			binary.BigEndian.PutUint64(tid[8:], uint64(trace))
			sp := spans.AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{1})
			sp.SetName("GET /orders")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			pendingRoot = false
			n = 1
		} else {
			trace++
			binary.BigEndian.PutUint64(tid[8:], uint64(trace))
			for i := 2; i <= 10 && sent+n < b.N-1; i++ {
				sp := spans.AppendEmpty()
				sp.SetTraceID(tid)
				sp.SetSpanID(pcommon.SpanID{byte(i)})
				sp.SetParentSpanID(pcommon.SpanID{1})
				sp.SetName("child")
				sp.SetKind(ptrace.SpanKindInternal)
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Now()))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Now()))
				for a := range 20 {
					sp.Attributes().PutStr("attr."+strconv.Itoa(a), fmt.Sprintf("value-%d-%d", a, sent+n))
				}
				n++
			}
			pendingRoot = true
		}
		v, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		return &kgo.Record{Topic: cfg.Kafka.Spans.Topic, Key: tid[:], Value: v}, n
	})
}

// BenchmarkPipelineRPCSpansAtLag is BenchmarkPipelineSpansAtLag with
// every span taking part in Dashboards APM's derivation: each trace is a
// SERVER root in frontend and 9 calls, CLIENT spans in frontend each with
// a SERVER child in backend (one record per trace). Run with apm off and
// on, its cpu-µs/doc is what the APM derivation costs per span.
func BenchmarkPipelineRPCSpansAtLag(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("apm=%v", on), func(b *testing.B) {
			var prom string
			if on {
				prom = testinfra.Prometheus(b)
			}
			configure := func(cfg *Config) {
				cfg.APM.Enabled = on
				cfg.APM.Window = 10 * time.Second
				cfg.APM.RemoteWriteURL = prom + "/api/v1/write"
				// Not under the span alias: its template's pattern would
				// overlap the span template's.
				cfg.Indices.APMServiceMap = cfg.Kafka.Group + "-apm-map"
				b.Cleanup(func() { deleteAPMIndices(b, *cfg) })
			}
			trace := 0
			benchAtLagWith(b, kindSpan, configure, func(cfg Config, sent int) (*kgo.Record, int) {
				trace++
				var tid pcommon.TraceID
				binary.BigEndian.PutUint64(tid[8:], uint64(trace))
				td := ptrace.NewTraces()
				res := func(svc string) ptrace.SpanSlice {
					rs := td.ResourceSpans().AppendEmpty()
					rs.Resource().Attributes().PutStr("service.name", svc)
					rs.Resource().Attributes().PutStr("deployment.environment.name", "bench")
					return rs.ScopeSpans().AppendEmpty().Spans()
				}
				front, back := res("frontend"), res("backend")
				now := pcommon.NewTimestampFromTime(time.Now())
				add := func(spans ptrace.SpanSlice, id, parent byte, kind ptrace.SpanKind, name string) {
					sp := spans.AppendEmpty()
					sp.SetTraceID(tid)
					sp.SetSpanID(pcommon.SpanID{id})
					if parent != 0 {
						sp.SetParentSpanID(pcommon.SpanID{parent})
					}
					sp.SetName(name)
					sp.SetKind(kind)
					sp.SetStartTimestamp(now)
					sp.SetEndTimestamp(now + pcommon.Timestamp(int64(id)*int64(time.Millisecond)))
					sp.Attributes().PutInt("http.response.status_code", int64(200+300*(int(id)%2)))
					for a := range 20 {
						sp.Attributes().PutStr("attr."+strconv.Itoa(a), fmt.Sprintf("value-%d-%d", a, sent))
					}
				}
				n := min(10, b.N-sent)
				add(front, 1, 0, ptrace.SpanKindServer, "GET /orders")
				for i := 1; i < n; i++ {
					if i%2 == 1 {
						add(front, byte(i+1), 1, ptrace.SpanKindClient, "call "+strconv.Itoa(i%4))
					} else {
						add(back, byte(i+1), byte(i), ptrace.SpanKindServer, "serve "+strconv.Itoa(i%4))
					}
				}
				v, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
				return &kgo.Record{Topic: cfg.Kafka.Spans.Topic, Key: tid[:], Value: v}, n
			})
		})
	}
}

// deleteAPMIndices removes the APM application map's indices, template
// and policy.
func deleteAPMIndices(b *testing.B, cfg Config) {
	osc, err := opensearch.NewClient(cfg.OpenSearch)
	require.NoError(b, err)
	defer osc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := cfg.names()
	osc.Do(ctx, http.MethodDelete, "/"+n.APMServiceMap+"-*?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true", nil)
	osc.Do(ctx, http.MethodDelete, "/_index_template/"+n.APMServiceMapTemplate(), nil)
	osc.Do(ctx, http.MethodDelete, "/_plugins/_ism/policies/"+n.APMServiceMapPolicy(), nil)
}

// benchAtLag produces b.N documents' worth of records with next, then runs
// the pipeline until they are indexed.
func benchAtLag(b *testing.B, kind string, next func(cfg Config, sent int) (*kgo.Record, int)) {
	benchAtLagWith(b, kind, nil, next)
}

// benchAtLagWith is benchAtLag with configure (when not nil) applied to
// the configuration.
func benchAtLagWith(b *testing.B, kind string, configure func(*Config), next func(cfg Config, sent int) (*kgo.Record, int)) {
	broker := testinfra.Kafka(b)
	osURL := testinfra.OpenSearch(b)
	ctx := context.Background()
	prefix := fmt.Sprintf("bench%d", time.Now().UnixNano())
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Kafka.Group = prefix
	cfg.Kafka.Logs.Topic = prefix + "_logs"
	cfg.Kafka.Spans.Topic = prefix + "_spans"
	cfg.Kafka.DLQTopic = prefix + "_dlq"
	cfg.OpenSearch.Addresses = []string{osURL}
	cfg.Indices.SpanAlias = prefix + "-span"
	cfg.Indices.ServiceMap = prefix + "-servicemap"
	cfg.Indices.LogsDataStream = prefix + "_logs-vigil-default"
	cfg.Indices.HealthEvents = prefix + "-health-events"
	cfg.Indices.DLQ = prefix + "-dlq"
	// The event topics are not what is measured.
	cfg.Events.Enabled = false
	// VIGIL_BENCH_AT_LAG_SINK=discard measures the pipeline alone: bulks
	// built and dropped, OpenSearch not waited for.
	if sink := os.Getenv("VIGIL_BENCH_AT_LAG_SINK"); sink != "" {
		cfg.Sink = sink
	}
	if configure != nil {
		configure(&cfg)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerBatchMaxBytes(1<<20))
	require.NoError(b, err)
	adm := kadm.NewClient(cl)
	_, err = adm.CreateTopics(ctx, 4, 1, nil, cfg.Kafka.Logs.Topic, cfg.Kafka.Spans.Topic, cfg.Kafka.DLQTopic)
	require.NoError(b, err)
	b.Cleanup(func() {
		defer cl.Close()
		adm.DeleteTopics(context.Background(), cfg.Kafka.Logs.Topic, cfg.Kafka.Spans.Topic, cfg.Kafka.DLQTopic)
		adm.DeleteGroup(context.Background(), cfg.Kafka.Group)
	})
	cleanupIndices(b, cfg)

	for sent := 0; sent < b.N; {
		r, n := next(cfg, sent)
		cl.Produce(ctx, r, nil)
		sent += n
	}
	require.NoError(b, cl.Flush(ctx))
	// Measure the pipeline, not the producer's buffers.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	b.Logf("RSS after producing the backlog and freeing: %.1f MiB", float64(peakRSS())/(1<<20))

	reg := prometheus.NewRegistry()
	s, err := New(cfg, component.Deps{Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	require.NoError(b, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	go func() { done <- s.Run(rctx) }()
	var peakHeap uint64
	var peakInFlight float64
	var ms runtime.MemStats
	// This loop's own CPU (gathering the registry, reading MemStats) is
	// measured on its thread and left out of the pipeline's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var pollCPU time.Duration
	last, lastAt := 0.0, time.Now()
	for {
		t0 := threadCPU()
		n := metricValue(b, reg, "vigil_pipeline_documents_total", "kind", kind, "outcome", "indexed")
		if n >= float64(b.N) {
			break
		}
		if n > last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > 2*time.Minute {
			b.Fatalf("no progress for 2 minutes at %.0f of %d documents", n, b.N)
		}
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapInuse)
		peakInFlight = max(peakInFlight, metricValue(b, reg, "vigil_pipeline_in_flight_bytes"))
		pollCPU += threadCPU() - t0
		time.Sleep(50 * time.Millisecond)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0-pollCPU
	b.StopTimer()
	cancel()
	require.NoError(b, <-done)
	// Stopping included: it evaluates and writes the APM windows still
	// open (a backlog drained in seconds leaves them all open).
	cpuAll := cpuTime() - cpu0 - pollCPU
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "docs/s")
	// The process's CPU while draining, but for this loop's.
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "CPU-s/M-docs")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-inuse-MiB")
	b.ReportMetric(peakInFlight/(1<<20), "peak-in-flight-MiB")
	// CPU (user + system) of this process, the pipeline, per document:
	// unlike docs/s it does not depend on what else the machine runs.
	b.ReportMetric(float64(cpuAll.Microseconds())/float64(b.N), "cpu-µs/doc")
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is the calling thread's CPU time so far.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() int64 {
	raw, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
