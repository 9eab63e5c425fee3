package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestTraceSet(t *testing.T) {
	td := TraceSet(10, time.Unix(1_800_000_000, 0), 42)
	require.Equal(t, 50, td.SpanCount(), "5 spans per trace")

	type key struct{ svc, kind string }
	kinds := map[key]int{}
	traces := map[string]int{}
	errs := 0
	parents := map[string]bool{}
	ids := map[string]bool{}
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		svc, _ := rs.Resource().Attributes().Get("service.name")
		spans := rs.ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			s := spans.At(j)
			kinds[key{svc.Str(), s.Kind().String()}]++
			traces[s.TraceID().String()]++
			ids[s.SpanID().String()] = true
			if !s.ParentSpanID().IsEmpty() {
				parents[s.ParentSpanID().String()] = true
			}
			if s.Status().Code() == ptrace.StatusCodeError {
				errs++
			}
		}
	}
	require.Len(t, traces, 10)
	require.Equal(t, map[key]int{
		{Frontend, "Server"}: 10, {Frontend, "Client"}: 10,
		{Checkout, "Server"}: 10, {Checkout, "Client"}: 10,
		{Payment, "Server"}: 10,
	}, kinds)
	require.Equal(t, 4, errs, "2 failed traces x (payment server + checkout client)")
	for p := range parents {
		require.True(t, ids[p], "every parent is a span of the set")
	}
	require.Equal(t, TraceSet(10, time.Unix(1_800_000_000, 0), 42), td, "deterministic for a seed")
}
