package apm

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/demo"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create")
	require.Equal(t, string(want), string(got))
}

var part = Partition{"otlp_spans", 3}

// demoWindows runs the demo trace set (every fifth payment fails) through
// an aggregator as one record and closes it.
func demoWindows(t *testing.T) []Window {
	t.Helper()
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	a := NewAggregator(time.Minute, 5*time.Second, time.Minute)
	a.Add(part, start.Add(time.Second), start, FromTraces(demo.TraceSet(20, start, 7), nil))
	require.Empty(t, a.Ready(start.Add(time.Second)), "the window is open")
	ws := a.Ready(start.Add(2 * time.Minute))
	require.Len(t, ws, 1, "an idle partition's window closes by wall time")
	return ws
}

func TestDemoGolden(t *testing.T) {
	ws := demoWindows(t)
	w := ws[0]
	var docs strings.Builder
	for _, d := range w.Details {
		docs.WriteString(d.ID() + " " + string(d.Render()) + "\n")
	}
	golden(t, "demo-details.ndjson", []byte(docs.String()))
	var samples strings.Builder
	for _, s := range w.Series {
		samples.WriteString(s.String() + "\n")
	}
	golden(t, "demo-series.txt", []byte(samples.String()))

	// What Dashboards shows, from the samples: per service, requests and
	// faults (server side: no remoteService), and the call edges.
	req, fault := map[string]float64{}, map[string]float64{}
	for _, s := range w.Series {
		if s.Get("remoteService") != "" {
			continue
		}
		switch s.Name() {
		case "request":
			req[s.Get("service")] += s.Value
		case "fault":
			fault[s.Get("service")] += s.Value
		}
	}
	require.Equal(t, map[string]float64{"frontend": 20, "checkout": 20, "payment": 20}, req)
	require.Equal(t, map[string]float64{"frontend": 0, "checkout": 0, "payment": 4}, fault)
	edges := map[string]bool{}
	for _, d := range w.Details {
		if d.TargetNode != nil {
			edges[d.SourceNode.KeyAttributes.Name+"->"+d.TargetNode.KeyAttributes.Name] = true
		}
	}
	require.Equal(t, map[string]bool{"frontend->checkout": true, "checkout->payment": true}, edges)
}

func TestDerivedAgainIsIdentical(t *testing.T) {
	a, b := demoWindows(t), demoWindows(t)
	require.Equal(t, a, b, "a window derived again (restart, rebalance) is the same documents and samples")
}

func TestBucketsAreCumulative(t *testing.T) {
	for _, s := range demoWindows(t)[0].Series {
		if s.Name() != "latency_seconds_count" {
			continue
		}
		var inf float64
		prev := -1.0
		for _, b := range demoWindows(t)[0].Series {
			if b.Name() != "latency_seconds_bucket" || labelKey(without(b.Labels, "le", "__name__")) != labelKey(without(s.Labels, "__name__")) {
				continue
			}
			require.GreaterOrEqual(t, b.Value, prev, "buckets never decrease")
			prev = b.Value
			if b.Get("le") == "+Inf" {
				inf = b.Value
			}
		}
		require.Equal(t, s.Value, inf, "+Inf equals _count for %v", s)
	}
}

func without(ls []Label, names ...string) []Label {
	var out []Label
	for _, l := range ls {
		skip := false
		for _, n := range names {
			skip = skip || l.Name == n
		}
		if !skip {
			out = append(out, l)
		}
	}
	return out
}

func TestJavaHashes(t *testing.T) {
	// Values of String.hashCode and Objects.hash computed by the JVM
	// (jshell, with Data Prepper's Node and KeyAttributes hashCode).
	require.Equal(t, int32(99162322), javaString("hello"))
	require.Equal(t, int32(0), javaString(""))
	require.Equal(t, int32(128), javaHash(javaString("a")))
	require.Equal(t, int32(-1366064316), javaString("caf\u00e9\U0001F600"), "UTF-16 code units")
	require.Equal(t, int32(1947386601), (&Node{Type: NodeType, KeyAttributes: KeyAttributes{"prod", "a"}, GroupByAttributes: map[string]string{"team": "x", "k8s.ns": "shop"}}).javaHash())
	for _, tc := range []struct {
		name             string
		src, dst         *Node
		srcOp, dstOp     *Operation
		wantNode, wantOp string
	}{
		{"edge", newNode("demo", "frontend"), newNode("demo", "checkout"), newOp("GET /checkout"), newOp("POST /api/checkout"), "-1620272243", "1131324268"},
		{"leaf", newNode("demo", "payment"), nil, newOp("payment.Charge"), nil, "-257962063", "1309364021"},
	} {
		n, o := connectionHashes(tc.src, tc.dst, tc.srcOp, tc.dstOp)
		require.Equal(t, tc.wantNode, n, tc.name)
		require.Equal(t, tc.wantOp, o, tc.name)
	}
}

func TestEnvironmentAndFaults(t *testing.T) {
	for _, tc := range []struct {
		name        string
		res, attrs  map[string]any
		status      ptrace.StatusCode
		env         string
		errs, fault int
	}{
		{"default", nil, nil, ptrace.StatusCodeOk, "generic:default", 0, 0},
		{"name wins", map[string]any{"deployment.environment.name": "prod", "deployment.environment": "old"}, nil, ptrace.StatusCodeUnset, "prod", 0, 0},
		{"legacy key", map[string]any{"deployment.environment": "staging"}, nil, ptrace.StatusCodeUnset, "staging", 0, 0},
		{"4xx is error", nil, map[string]any{"http.response.status_code": 404}, ptrace.StatusCodeError, "generic:default", 1, 0},
		{"5xx is fault", nil, map[string]any{"http.status_code": "503"}, ptrace.StatusCodeUnset, "generic:default", 0, 1},
		{"2xx hides status error", nil, map[string]any{"http.response.status_code": 200}, ptrace.StatusCodeError, "generic:default", 0, 0},
		{"status error is fault", nil, nil, ptrace.StatusCodeError, "generic:default", 0, 1},
		{"blank name skipped", map[string]any{"deployment.environment.name": " ", "deployment.environment": "qa"}, nil, ptrace.StatusCodeUnset, "qa", 0, 0},
		{"aws platform first", map[string]any{"cloud.platform": "aws_ecs", "aws.ecs.launchtype": "fargate", "deployment.environment.name": "prod"}, nil, ptrace.StatusCodeUnset, "ecs-fargate:default", 0, 0},
		{"api gateway stage on the span", nil, map[string]any{"cloud.platform": "aws_api_gateway", "aws.api_gateway.stage": "beta"}, ptrace.StatusCodeUnset, "api-gateway:beta", 0, 0},
		{"lambda by arn", map[string]any{"cloud.resource_id": "arn:aws:lambda:eu-west-1:1:function:f"}, nil, ptrace.StatusCodeUnset, "lambda:default", 0, 0},
		{"lambda by faas.name", map[string]any{"cloud.provider": "aws", "faas.name": "f"}, nil, ptrace.StatusCodeUnset, "lambda:default", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			require.NoError(t, rs.Resource().Attributes().FromRaw(tc.res))
			rs.Resource().Attributes().PutStr("service.name", "svc")
			sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{1})
			sp.SetSpanID(pcommon.SpanID{1})
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetName("op")
			sp.Status().SetCode(tc.status)
			require.NoError(t, sp.Attributes().FromRaw(tc.attrs))
			got := FromTraces(td, nil)
			require.Len(t, got, 1)
			require.Equal(t, tc.env, got[0].Environment)
			require.Equal(t, [2]int{tc.errs, tc.fault}, [2]int{got[0].Error, got[0].Fault})
		})
	}
}

func TestOperationName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]any
		want  string
	}{
		{"GET /users/42", map[string]any{"http.request.method": "GET", "http.target": "/users/42"}, "GET /users/42"},
		{"GET", map[string]any{"http.request.method": "GET", "http.target": "/users/42?x=1"}, "GET /users"},
		{"GET", map[string]any{"http.method": "GET"}, "UnknownOperation"},
		{"", nil, "UnknownOperation"},
	} {
		m := pcommon.NewMap()
		require.NoError(t, m.FromRaw(tc.attrs))
		require.Equal(t, tc.want, operationName(tc.name, pmap(m)), "%s %v", tc.name, tc.attrs)
	}
}

// A call whose client span arrives in one window and its server span in
// the next still makes an edge: a window is evaluated with its neighbours.
func TestCallAcrossWindows(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	a := NewAggregator(time.Minute, 5*time.Second, 10*time.Minute)
	tid := pcommon.TraceID{9}
	root := Span{TraceID: tid, SpanID: pcommon.SpanID{1}, Service: "a", Kind: kindServer, Operation: "GET /", Environment: "e", DurationNanos: 1e6}
	call := Span{TraceID: tid, SpanID: pcommon.SpanID{2}, ParentSpanID: pcommon.SpanID{1}, Service: "a", Kind: kindClient, Operation: "call", Environment: "e", DurationNanos: 1e6}
	srv := Span{TraceID: tid, SpanID: pcommon.SpanID{3}, ParentSpanID: pcommon.SpanID{2}, Service: "b", Kind: kindServer, Operation: "serve", Environment: "e", DurationNanos: 1e6}
	a.Add(part, start.Add(50*time.Second), start, []Span{root, call})
	a.Add(part, start.Add(70*time.Second), start, []Span{srv})
	require.Empty(t, a.Ready(start), "window 0 waits for window 1 to close")
	a.Add(part, start.Add(125*time.Second), start, nil) // record time moves past window 1 + grace
	ws := a.Ready(start)
	require.Len(t, ws, 1, "window 1 stays open until window 2 closes")
	var edges []string
	for _, w := range ws {
		for _, d := range w.Details {
			b, _ := json.Marshal(d.TargetNode)
			edges = append(edges, d.SourceNode.KeyAttributes.Name+" "+string(b))
		}
	}
	require.Contains(t, strings.Join(edges, "\n"), `a {"type":"service","keyAttributes":{"environment":"e","name":"b"},"groupByAttributes":{}}`)
}

// Past the limit the oldest windows are evaluated early, and the count of
// held spans follows every way windows leave.
func TestShedBoundsHeldSpans(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	a := NewAggregator(time.Minute, 5*time.Second, 10*time.Minute)
	spans := FromTraces(demo.TraceSet(10, start, 1), nil) // 50 spans
	for w := 0; w < 4; w++ {
		a.Add(Partition{"t", int32(w % 2)}, start.Add(time.Duration(w)*time.Minute), start, spans)
	}
	require.Equal(t, 200, a.Spans())
	ws := a.Shed(120)
	require.NotEmpty(t, ws)
	require.LessOrEqual(t, a.Spans(), 120)
	require.Equal(t, start, ws[0].Start, "the oldest window first")
	a.Drop(map[string][]int32{"t": {0}})
	a.Close(nil)
	require.Equal(t, 0, a.Spans())
}

// A lost partition's windows are forgotten, not evaluated: its records are
// read again and must not count twice.
func TestDropForgets(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	a := NewAggregator(time.Minute, 5*time.Second, 10*time.Minute)
	spans := FromTraces(demo.TraceSet(10, start, 1), nil)
	a.Add(part, start, start, spans)
	a.Drop(map[string][]int32{part.Topic: {part.Partition}})
	require.Equal(t, 0, a.Spans())
	a.Add(part, start, start, spans) // read again
	ws := a.Close(nil)
	require.Len(t, ws, 1)
	for _, s := range ws[0].Series {
		if s.Name() == "request" && s.Get("service") == "payment" {
			require.Equal(t, 10.0, s.Value)
		}
	}
}
