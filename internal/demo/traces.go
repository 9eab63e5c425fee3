// Package demo makes the sample data and the report of `make run`: a
// multi-service trace set (three services calling each other, some calls
// failing), and a summary of what Vigil indexed.
//
// It is not a command's own code: scripts/demo (`make run`) prints the
// report, scripts/bench.d/logload writes the sample logs for the pipeline
// benchmark, and pipeline/e2e's tests index the same traces and logs, so
// the three measure and show one data set. That is why it stays under
// internal/ rather than beside scripts/demo.
package demo

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Services in the trace set: frontend calls checkout, checkout calls
// payment. Each call is a CLIENT span in the caller and a SERVER span in the
// callee, the pair the service map is drawn from.
const (
	Frontend = "frontend"
	Checkout = "checkout"
	Payment  = "payment"
)

// TraceSet builds n traces starting at start. Every fifth trace's payment
// fails (status ERROR on the payment spans and the checkout call), so error
// counts show in Trace Analytics. The same seed gives the same traces.
func TraceSet(n int, start time.Time, seed uint64) ptrace.Traces {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	td := ptrace.NewTraces()
	scopes := map[string]ptrace.SpanSlice{}
	for _, svc := range []string{Frontend, Checkout, Payment} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		rs.Resource().Attributes().PutStr("deployment.environment", "demo")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("vigil-demo")
		scopes[svc] = ss.Spans()
	}
	for i := 0; i < n; i++ {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], rng.Uint64())
		binary.BigEndian.PutUint64(tid[8:], rng.Uint64())
		t0 := start.Add(time.Duration(i) * 50 * time.Millisecond)
		failed := i%5 == 4
		b := spanBuilder{tid: tid, rng: rng}

		root := b.add(scopes[Frontend], "GET /checkout", ptrace.SpanKindServer, pcommon.SpanID{}, t0, 120*time.Millisecond)
		root.Attributes().PutStr("http.request.method", "GET")
		root.Attributes().PutStr("url.path", "/checkout")
		call := b.add(scopes[Frontend], "POST /api/checkout", ptrace.SpanKindClient, root.SpanID(), t0.Add(5*time.Millisecond), 100*time.Millisecond)
		call.Attributes().PutStr("server.address", Checkout)
		call.Attributes().PutStr("http.request.method", "POST")
		srv := b.add(scopes[Checkout], "POST /api/checkout", ptrace.SpanKindServer, call.SpanID(), t0.Add(8*time.Millisecond), 90*time.Millisecond)
		srv.Attributes().PutStr("http.request.method", "POST")
		pay := b.add(scopes[Checkout], "payment.Charge", ptrace.SpanKindClient, srv.SpanID(), t0.Add(20*time.Millisecond), 60*time.Millisecond)
		pay.Attributes().PutStr("rpc.system", "grpc")
		pay.Attributes().PutStr("server.address", Payment)
		charge := b.add(scopes[Payment], "payment.Charge", ptrace.SpanKindServer, pay.SpanID(), t0.Add(25*time.Millisecond), 50*time.Millisecond)
		charge.Attributes().PutStr("rpc.system", "grpc")
		if failed {
			for _, s := range []ptrace.Span{charge, pay} {
				s.Status().SetCode(ptrace.StatusCodeError)
				s.Status().SetMessage("card declined")
			}
			ev := charge.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(70 * time.Millisecond)))
			ev.Attributes().PutStr("exception.type", "CardDeclined")
			ev.Attributes().PutStr("exception.message", "card declined")
		}
	}
	return td
}

type spanBuilder struct {
	tid pcommon.TraceID
	rng *rand.Rand
}

func (b spanBuilder) add(spans ptrace.SpanSlice, name string, kind ptrace.SpanKind, parent pcommon.SpanID, start time.Time, d time.Duration) ptrace.Span {
	s := spans.AppendEmpty()
	var sid pcommon.SpanID
	binary.BigEndian.PutUint64(sid[:], b.rng.Uint64()|1)
	s.SetTraceID(b.tid)
	s.SetSpanID(sid)
	s.SetParentSpanID(parent)
	s.SetName(name)
	s.SetKind(kind)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
	if kind == ptrace.SpanKindServer || kind == ptrace.SpanKindClient {
		s.Status().SetCode(ptrace.StatusCodeOk)
	}
	return s
}
