//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// longTrace is a trace that lasts two minutes: children spans through it and
// a root that ends last. Its parts are sent separately, children first, as
// an SDK exports spans when they end.
type longTrace struct {
	id       pcommon.TraceID
	base     time.Time
	children ptrace.Traces
	root     ptrace.Traces
	name     string
}

const longTraceChildren = 4

func newLongTrace(n byte, base time.Time) longTrace {
	lt := longTrace{id: pcommon.TraceID{0xe2, 0xe, 'l', 'o', 'n', 'g', n}, base: base, name: fmt.Sprintf("POST /batch/%d", n)}
	mk := func() (ptrace.Traces, ptrace.SpanSlice) {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "batch")
		return td, rs.ScopeSpans().AppendEmpty().Spans()
	}
	ts := func(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(base.Add(d)) }
	var children, roots ptrace.SpanSlice
	lt.children, children = mk()
	lt.root, roots = mk()
	for i := 0; i < longTraceChildren; i++ {
		sp := children.AppendEmpty()
		sp.SetTraceID(lt.id)
		sp.SetSpanID(pcommon.SpanID{n, byte(i + 2)})
		sp.SetParentSpanID(pcommon.SpanID{n, 1})
		sp.SetName(fmt.Sprintf("step %d", i))
		sp.SetKind(ptrace.SpanKindInternal)
		sp.SetStartTimestamp(ts(time.Duration(i) * 25 * time.Second))
		sp.SetEndTimestamp(ts(time.Duration(i)*25*time.Second + 20*time.Second))
	}
	root := roots.AppendEmpty()
	root.SetTraceID(lt.id)
	root.SetSpanID(pcommon.SpanID{n, 1})
	root.SetName(lt.name)
	root.SetKind(ptrace.SpanKindServer)
	root.SetStartTimestamp(ts(0))
	root.SetEndTimestamp(ts(2 * time.Minute))
	root.Status().SetCode(ptrace.StatusCodeError)
	return lt
}

func (lt longTrace) hexID() string { return lt.id.String() }

// ungrouped and grouped count the trace's span documents without and with
// its trace group.
func (s *stack) traceGroupCounts(lt longTrace) (grouped, ungrouped int, err error) {
	_ = osDo(s.osURL, http.MethodPost, "/"+s.spanAlias+"/_refresh", nil, nil)
	q := func(query map[string]any) (int, error) {
		var c struct{ Count int }
		err := osDo(s.osURL, http.MethodPost, "/"+s.spanAlias+"/_count", map[string]any{"query": query}, &c)
		return c.Count, err
	}
	trace := map[string]any{"term": map[string]any{"traceId": lt.hexID()}}
	if grouped, err = q(map[string]any{"bool": map[string]any{"filter": []any{trace,
		map[string]any{"term": map[string]any{"traceGroup": lt.name}},
		map[string]any{"term": map[string]any{"traceGroupFields.durationInNanos": (2 * time.Minute).Nanoseconds()}},
		map[string]any{"term": map[string]any{"traceGroupFields.statusCode": 2}},
		map[string]any{"term": map[string]any{"traceGroupFields.endTime": lt.base.Add(2 * time.Minute).UTC().Format(time.RFC3339Nano)}},
	}}}); err != nil {
		return
	}
	ungrouped, err = q(map[string]any{"bool": map[string]any{"filter": []any{trace},
		"must_not": []any{map[string]any{"exists": map[string]any{"field": "traceGroup"}}}}})
	return
}

// waitGroups waits until the trace has grouped and ungrouped span documents.
func (s *stack) waitGroups(lt longTrace, grouped, ungrouped int, timeout time.Duration) {
	s.t.Helper()
	require.NoError(s.t, vigiltest.Eventually(timeout, func() error {
		g, u, err := s.traceGroupCounts(lt)
		if err == nil && (g != grouped || u != ungrouped) {
			err = fmt.Errorf("trace %s: %d spans with its group, %d without; want %d and %d (pipeline: %s)", lt.hexID(), g, u, grouped, ungrouped, s.documentOutcomes())
		}
		return err
	}))
}

// TestTraceGroupRepair (complete trace groups): spans of a two-minute trace
// whose root ends last wait trace_group.window (shortened to 2 s here, as
// the real window is to the real trace) for their root, are indexed without
// group, and get the group once the root comes: updated in place, no
// document added. A pipeline SIGKILLed after indexing the root but before
// repairing (repair_delay far away) left the root's record uncommitted:
// restarted, it reads the root again and repairs. Dashboards' traces query
// then shows both traces with their group and latency.
func TestTraceGroupRepair(t *testing.T) {
	s := newStack(t, 3)
	c := s.startCollector()
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-3 * time.Minute).Truncate(time.Millisecond)
	a, b := newLongTrace(1, base), newLongTrace(2, base.Add(time.Second))
	const window = "trace_group: {window: 2s, repair_delay: %s}\ncommit_interval: 1s\n"

	// Killed between indexing the root and repairing its trace.
	p := s.startPipeline(fmt.Sprintf(window, "1h"))
	snd.sendTraces(a.children)
	s.waitGroups(a, 0, longTraceChildren, 2*time.Minute)
	snd.sendTraces(a.root)
	s.waitGroups(a, 1, longTraceChildren, 2*time.Minute)
	// Long enough for several offset commits: the root's must not be one.
	time.Sleep(4 * time.Second)
	pending, err := metric(p.admin, "vigil_pipeline_trace_group_repairs_pending")
	require.NoError(t, err)
	require.Equal(t, 1.0, pending, "the root's repair waits")
	s.waitGroups(a, 1, longTraceChildren, time.Second)
	p.proc.Kill()

	p = s.startPipeline(fmt.Sprintf(window, "2s"))
	s.waitGroups(a, 1+longTraceChildren, 0, 2*time.Minute)

	// Without a restart.
	snd.sendTraces(b.children)
	s.waitGroups(b, 0, longTraceChildren, 2*time.Minute)
	snd.sendTraces(b.root)
	s.waitGroups(b, 1+longTraceChildren, 0, time.Minute)

	// Updated, never added: each span once.
	s.requireExactlyOnce(s.spanAlias, "spanId", 2*(1+longTraceChildren))
	for _, m := range []struct {
		name  string
		match []string
		want  float64
	}{
		{"vigil_pipeline_trace_group_repairs_total", []string{`result="repaired"`}, 2},
		{"vigil_pipeline_trace_group_repaired_spans_total", nil, 2 * longTraceChildren},
		{"vigil_pipeline_trace_group_repairs_pending", nil, 0},
	} {
		got, err := metric(p.admin, m.name, m.match...)
		require.NoError(t, err)
		require.Equal(t, m.want, got, "%s%v", m.name, m.match)
	}

	// What Dashboards' traces table reads.
	var res struct {
		Aggregations struct {
			Traces struct {
				Buckets []struct {
					Key        string `json:"key"`
					DocCount   int    `json:"doc_count"`
					TraceGroup struct {
						Buckets []bucket `json:"buckets"`
					} `json:"trace_group"`
					Latency    struct{ Value float64 } `json:"latency"`
					ErrorCount docCount                `json:"error_count"`
				} `json:"buckets"`
			} `json:"traces"`
		} `json:"aggregations"`
	}
	search(t, s, s.spanAlias+"-*", tracesQuery, &res)
	got := map[string]string{}
	for _, bk := range res.Aggregations.Traces.Buckets {
		require.Len(t, bk.TraceGroup.Buckets, 1, "trace %s", bk.Key)
		got[bk.Key] = fmt.Sprintf("%v docs=%d group=%v latency_ms=%v errors=%d", bk.Key, bk.DocCount, bk.TraceGroup.Buckets[0].Key, bk.Latency.Value, bk.ErrorCount.DocCount)
	}
	want := map[string]string{}
	for _, lt := range []longTrace{a, b} {
		want[lt.hexID()] = fmt.Sprintf("%v docs=%d group=%v latency_ms=%v errors=%d", lt.hexID(), 1+longTraceChildren, lt.name, 120000.0, 1+longTraceChildren)
	}
	require.Equal(t, want, got)
}
