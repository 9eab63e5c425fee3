package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/pipeline/document"
)

// span builds one span document of trace tid.
func span(t *testing.T, tid, id, parent byte, service string, kind ptrace.SpanKind, name string) *document.Span {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{tid})
	sp.SetSpanID(pcommon.SpanID{id})
	if parent != 0 {
		sp.SetParentSpanID(pcommon.SpanID{parent})
	}
	sp.SetKind(kind)
	sp.SetName(name)
	sp.SetStartTimestamp(1000)
	sp.SetEndTimestamp(5000)
	spans, errs := document.Spans(td, document.Options{})
	require.Empty(t, errs)
	return spans[0]
}

// inertRecord never finishes (its references never reach zero in a test).
func inertRecord() *record {
	r := &record{}
	r.pending.Store(1 << 20)
	return r
}

func names(out *emission) map[string]string {
	m := map[string]string{}
	for _, s := range out.spans {
		g := "<none>"
		if s.g != nil {
			g = s.g.Name
		}
		m[s.sp.SpanID] = g
	}
	return m
}

func TestTraceBufferHoldsUntilRoot(t *testing.T) {
	b := newTraceBuffer(TraceGroupConfig{Window: 10 * time.Second, MaxHeldSpans: 100, MaxTraces: 100, ServiceMap: true}, 0)
	now := time.Unix(1000, 0)
	p := tp{"spans", 0}
	rec := inertRecord()
	var out emission
	b.add(span(t, 1, 2, 1, "front", ptrace.SpanKindClient, "call"), rec, p, now, &out)
	b.add(span(t, 1, 3, 2, "back", ptrace.SpanKindServer, "serve"), rec, p, now, &out)
	require.Empty(t, out.spans, "children wait for the root")
	require.Empty(t, out.edges, "edges wait for the trace group")
	require.Equal(t, 2, b.held)

	b.add(span(t, 1, 1, 0, "front", ptrace.SpanKindServer, "GET /"), rec, p, now.Add(time.Second), &out)
	require.Equal(t, map[string]string{"0200000000000000": "GET /", "0300000000000000": "GET /", "0100000000000000": "GET /"}, names(&out))
	require.Len(t, out.edges, 2)
	for _, e := range out.edges {
		require.Equal(t, "GET /", e.rel.TraceGroupName)
	}
	require.Equal(t, 0, b.held)

	// A late span of a trace whose root is known goes out at once.
	out = emission{}
	b.add(span(t, 1, 4, 1, "front", ptrace.SpanKindInternal, "late"), rec, p, now.Add(2*time.Second), &out)
	require.Equal(t, map[string]string{"0400000000000000": "GET /"}, names(&out))

	// The same edge again (another trace of the same shape): deduplicated.
	out = emission{}
	b.add(span(t, 2, 1, 0, "front", ptrace.SpanKindServer, "GET /"), rec, p, now, &out)
	b.add(span(t, 2, 2, 1, "front", ptrace.SpanKindClient, "call"), rec, p, now, &out)
	b.add(span(t, 2, 3, 2, "back", ptrace.SpanKindServer, "serve"), rec, p, now, &out)
	require.Len(t, out.edges, 1)
	require.Empty(t, out.edges[0].rel.ServiceName, "a deduplicated edge only hands back its reference")
}

func TestTraceBufferWindowExpiry(t *testing.T) {
	b := newTraceBuffer(TraceGroupConfig{Window: 10 * time.Second, MaxHeldSpans: 100, MaxTraces: 100}, 0)
	now := time.Unix(1000, 0)
	p := tp{"spans", 0}
	var out emission
	b.add(span(t, 1, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), p, now, &out)
	b.add(span(t, 2, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), p, now.Add(5*time.Second), &out)
	b.expire(now.Add(9*time.Second), &out)
	require.Empty(t, out.spans)
	b.expire(now.Add(10*time.Second), &out)
	require.Len(t, out.spans, 1, "only the first trace's window has passed")
	require.Nil(t, out.spans[0].g)
	require.Equal(t, 1, b.held)
	// Past the TTL the trace is forgotten altogether.
	b.expire(now.Add(time.Hour), &out)
	require.Empty(t, b.traces)
	require.Equal(t, 0, b.held)
}

func TestTraceBufferBounds(t *testing.T) {
	b := newTraceBuffer(TraceGroupConfig{Window: time.Minute, MaxHeldSpans: 3, MaxTraces: 100}, 0)
	now := time.Unix(1000, 0)
	var out emission
	for i := byte(1); i <= 5; i++ {
		b.add(span(t, i, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), tp{"spans", 0}, now, &out)
	}
	require.Equal(t, 3, b.held)
	require.Len(t, out.spans, 2, "the oldest traces were released to stay within max_held_spans")

	// By bytes: room for about two spans.
	one := span(t, 9, 2, 1, "a", ptrace.SpanKindInternal, "x").Size()
	b3 := newTraceBuffer(TraceGroupConfig{Window: time.Minute, MaxHeldSpans: 100, MaxTraces: 100}, 2*one+one/2)
	out = emission{}
	for i := byte(1); i <= 5; i++ {
		b3.add(span(t, i, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), tp{"spans", 0}, now, &out)
	}
	require.Equal(t, 2, b3.held)
	require.Len(t, out.spans, 3, "the oldest traces were released to stay within the held bytes")
	require.Equal(t, 2*one, b3.heldBytes)

	b2 := newTraceBuffer(TraceGroupConfig{Window: time.Minute, MaxHeldSpans: 100, MaxTraces: 2}, 0)
	out = emission{}
	for i := byte(1); i <= 4; i++ {
		b2.add(span(t, i, 1, 0, "a", ptrace.SpanKindServer, "root"), inertRecord(), tp{"spans", 0}, now, &out)
	}
	require.Len(t, b2.traces, 2)
}

func TestTraceBufferWindowZeroAndDrop(t *testing.T) {
	b := newTraceBuffer(TraceGroupConfig{Window: 0, MaxHeldSpans: 10, MaxTraces: 10}, 0)
	var out emission
	b.add(span(t, 1, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), tp{"spans", 0}, time.Unix(1, 0), &out)
	require.Len(t, out.spans, 1, "window 0 never holds")

	b = newTraceBuffer(TraceGroupConfig{Window: time.Minute, MaxHeldSpans: 10, MaxTraces: 10}, 0)
	out = emission{}
	b.add(span(t, 1, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), tp{"spans", 0}, time.Unix(1, 0), &out)
	b.add(span(t, 2, 2, 1, "a", ptrace.SpanKindInternal, "x"), inertRecord(), tp{"spans", 1}, time.Unix(1, 0), &out)
	b.drop(map[string][]int32{"spans": {0}})
	require.Empty(t, out.spans, "dropped spans are not emitted: their records stay uncommitted")
	require.Equal(t, 1, b.held)
	require.Len(t, b.traces, 1)
}

// TestTraceBufferAsksForRepair: a root asks for a trace group repair when
// spans of its trace may have been indexed without group: the buffer
// released some (window passed, or bounds), or the trace lasted longer than
// the window (so a restarted pipeline that forgot the first still asks).
func TestTraceBufferAsksForRepair(t *testing.T) {
	const window = 10 * time.Second
	now := time.Unix(1000, 0)
	p := tp{"spans", 0}
	long := func(sp *document.Span) *document.Span {
		sp.End = sp.Start + uint64(2*time.Minute)
		return sp
	}
	tests := []struct {
		name      string
		repairOff bool
		maxTraces int
		run       func(b *traceBuffer, rec *record, out *emission)
		want      []string // trace ids repaired, in order
	}{
		{
			name: "root after the window",
			run: func(b *traceBuffer, rec *record, out *emission) {
				b.add(span(t, 1, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out)
				b.expire(now.Add(window), out)
				b.add(span(t, 1, 1, 0, "s", ptrace.SpanKindServer, "GET /"), rec, p, now.Add(window+time.Second), out)
			},
			want: []string{"01000000000000000000000000000000"},
		},
		{
			name: "root inside the window",
			run: func(b *traceBuffer, rec *record, out *emission) {
				b.add(span(t, 1, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out)
				b.add(span(t, 1, 1, 0, "s", ptrace.SpanKindServer, "GET /"), rec, p, now.Add(time.Second), out)
			},
		},
		{
			name: "root lasting longer than the window, nothing released here",
			run: func(b *traceBuffer, rec *record, out *emission) {
				b.add(long(span(t, 1, 1, 0, "s", ptrace.SpanKindServer, "GET /")), rec, p, now, out)
			},
			want: []string{"01000000000000000000000000000000"},
		},
		{
			name: "released to bound memory, trace forgotten",
			run: func(b *traceBuffer, rec *record, out *emission) {
				b.add(span(t, 1, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out)
				b.add(span(t, 2, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out)
				b.add(span(t, 3, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out) // trace 1 released and forgotten
				b.add(span(t, 1, 1, 0, "s", ptrace.SpanKindServer, "GET /"), rec, p, now, out)
			},
			maxTraces: 2,
			want:      []string{"01000000000000000000000000000000"},
		},
		{
			name: "only the last max_traces released traces are remembered",
			run: func(b *traceBuffer, rec *record, out *emission) {
				for tid := byte(1); tid <= 4; tid++ {
					b.add(span(t, tid, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out)
				}
				b.expire(now.Add(window), out)
				b.add(span(t, 5, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now.Add(window), out)
				b.expire(now.Add(2*window), out) // 5 pushes 1 out of the ring
				b.add(span(t, 1, 1, 0, "s", ptrace.SpanKindServer, "GET /"), rec, p, now.Add(2*window), out)
				b.add(span(t, 5, 1, 0, "s", ptrace.SpanKindServer, "GET /"), rec, p, now.Add(2*window), out)
			},
			maxTraces: 4,
			want:      []string{"05000000000000000000000000000000"},
		},
		{
			name:      "repair off",
			repairOff: true,
			run: func(b *traceBuffer, rec *record, out *emission) {
				b.add(span(t, 1, 2, 1, "s", ptrace.SpanKindInternal, "child"), rec, p, now, out)
				b.expire(now.Add(window), out)
				b.add(long(span(t, 1, 1, 0, "s", ptrace.SpanKindServer, "GET /")), rec, p, now.Add(window+time.Second), out)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxTraces := tt.maxTraces
			if maxTraces == 0 {
				maxTraces = 100
			}
			b := newTraceBuffer(TraceGroupConfig{Window: window, MaxHeldSpans: 100, MaxTraces: maxTraces, Repair: !tt.repairOff}, 0)
			rec := &record{}
			rec.pending.Store(1 << 20)
			var out emission
			tt.run(b, rec, &out)
			var got []string
			for _, r := range out.repairs {
				got = append(got, r.traceID)
				require.Equal(t, "GET /", r.g.Name)
				require.Same(t, rec, r.rec)
			}
			require.Equal(t, tt.want, got)
			// Each repair takes a reference on the root's record (a
			// span's the caller takes).
			require.EqualValues(t, 1<<20+len(out.repairs), rec.pending.Load())
		})
	}
}
