package apm

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/demo"
	"github.com/vigil-dev/vigil/pipeline/document"
)

func pick[T any](r *rand.Rand, s ...T) T { return s[r.IntN(len(s))] }

// putRandom sets k in m to one of the values the derivation must read
// alike from pdata and from the wire: strings (blank, numeric, not),
// ints (past int32 too), doubles, bools, bytes, empty values and, rarely,
// an array or a map.
func putRandom(r *rand.Rand, m pcommon.Map, k string, strs ...string) {
	switch r.IntN(12) {
	case 0:
		m.PutInt(k, pick[int64](r, 200, 404, 499, 500, 503, 1<<40, -1))
	case 1:
		m.PutDouble(k, pick(r, 500.0, 404.5, math.NaN(), math.Inf(-1)))
	case 2:
		m.PutBool(k, r.IntN(2) == 0)
	case 3:
		m.PutEmptyBytes(k).FromRaw([]byte{1, 0xff})
	case 4:
		m.PutEmpty(k)
	case 5:
		if r.IntN(8) == 0 {
			m.PutEmptySlice(k).AppendEmpty().SetStr("x")
		} else {
			m.PutStr(k, pick(r, "", "  ", "503", "404", "abc", "99999999999"))
		}
	default:
		m.PutStr(k, pick(r, strs...))
	}
}

// randomAPMTraces is a request rich in what the derivation reads.
func randomAPMTraces(r *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	for range 1 + r.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		if r.IntN(6) > 0 {
			putRandom(r, res, "service.name", "checkout", "payment", "")
		}
		for _, k := range []string{"deployment.environment.name", "deployment.environment", "cloud.platform", "cloud.provider", "faas.name", "aws.ecs.launchtype", "cloud.resource_id", "other"} {
			if r.IntN(4) == 0 {
				putRandom(r, res, k, "prod", "aws", "aws_ecs", "aws_api_gateway", "aws_lambda", "fargate", "ec2", "arn:aws:lambda:eu:1:function:f", "fn")
			}
		}
		for range 1 + r.IntN(2) {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for range r.IntN(8) {
				sp := spans.AppendEmpty()
				if r.IntN(10) > 0 {
					sp.SetTraceID(pcommon.TraceID{byte(r.IntN(3)), 1})
				}
				if r.IntN(10) > 0 {
					sp.SetSpanID(pcommon.SpanID{byte(r.IntN(3)), 2, byte(r.IntN(256))})
				}
				if r.IntN(2) == 0 {
					sp.SetParentSpanID(pcommon.SpanID{1, byte(r.IntN(3))})
				}
				sp.SetName(pick(r, "", "GET", "POST", "UnknownOperation", "GET /cart", "charge"))
				sp.SetKind(ptrace.SpanKind(pick(r, 2, 3, 3, 2, 1, 0, 4, 9)))
				sp.SetStartTimestamp(pcommon.Timestamp(r.IntN(3) * 1e9))
				sp.SetEndTimestamp(pcommon.Timestamp(r.IntN(3) * 1e9))
				sp.Status().SetCode(ptrace.StatusCode(r.IntN(3)))
				m := sp.Attributes()
				for _, k := range []string{"http.response.status_code", "http.status_code", "http.request.method", "http.method", "http.path", "http.target", "http.url", "url.full", "cloud.platform", "aws.api_gateway.stage", "cloud.resource_id", "aws.lambda.invoked_arn", "user.id"} {
					if r.IntN(5) == 0 {
						putRandom(r, m, k, "GET", "POST", "/cart/1?x=1", "cart/2#f", "http://h/a/b", "/", "aws_api_gateway", "aws_eks", "aws_ec2", "prod", "arn:aws:lambda:x")
					}
				}
			}
		}
	}
	return td
}

// TestFromFactsMatchesFromTraces: the spans derived from the wire
// renderer's facts equal those FromTraces derives from pdata, or FromFacts
// says to use FromTraces.
func TestFromFactsMatchesFromTraces(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	derived, fallbacks := 0, 0
	for i := range 5000 {
		td := randomAPMTraces(r)
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		var facts []document.SpanFacts
		_, _, err = document.SpansOTLP(b, document.Options{Facts: &facts})
		require.NoError(t, err)
		require.Len(t, facts, td.SpanCount(), "case %d", i)
		want := FromTraces(td, nil)
		got, ok := FromFacts(facts, nil)
		if !ok {
			fallbacks++
			continue
		}
		require.Equal(t, want, got, "case %d", i)
		derived += len(got)
	}
	require.Greater(t, derived, 10000)
	require.Greater(t, fallbacks, 0)
	t.Logf("%d spans derived; %d requests left to pdata", derived, fallbacks)
}

// TestFromFactsDemo: the demo trace set derives alike.
func TestFromFactsDemo(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	td := demo.TraceSet(20, start, 7)
	{
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		var facts []document.SpanFacts
		_, _, err = document.SpansOTLP(b, document.Options{Facts: &facts})
		require.NoError(t, err)
		got, ok := FromFacts(facts, nil)
		require.True(t, ok)
		require.Equal(t, FromTraces(td, nil), got)
	}
}
