package document

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestSpanFactsMatchPdata: the facts handed out with the documents of the
// span oracle's random requests (every value type, invalid UTF-8, empty
// ids, unknown kinds) are what pdata reads of the same spans: one for
// every span, in order, and every FactKeys attribute as Map.Get and
// Value.AsString find it.
func TestSpanFactsMatchPdata(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 6))
	for i := range 2000 {
		td := randomTraces(r)
		// Some of the keys the facts hold, with random values.
		for j := 0; j < td.ResourceSpans().Len(); j++ {
			rs := td.ResourceSpans().At(j)
			randomValue(r, rs.Resource().Attributes().PutEmpty(FactKeys[r.IntN(len(FactKeys))]), 0)
			for k := 0; k < rs.ScopeSpans().Len(); k++ {
				spans := rs.ScopeSpans().At(k).Spans()
				for l := 0; l < spans.Len(); l++ {
					randomValue(r, spans.At(l).Attributes().PutEmpty(FactKeys[r.IntN(len(FactKeys))]), 0)
				}
			}
		}
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		facts := make([]SpanFacts, 1, 4) // appended to
		_, _, err = SpansOTLP(b, Options{Now: opts.Now, Facts: &facts})
		require.NoError(t, err)
		require.Len(t, facts, 1+td.SpanCount(), "case %d", i)
		n := 1
		for j := 0; j < td.ResourceSpans().Len(); j++ {
			rs := td.ResourceSpans().At(j)
			for k := 0; k < rs.ScopeSpans().Len(); k++ {
				spans := rs.ScopeSpans().At(k).Spans()
				for l := 0; l < spans.Len(); l++ {
					sp, f := spans.At(l), facts[n]
					n++
					require.Equal(t, sp.TraceID(), f.TraceID)
					require.Equal(t, sp.SpanID(), f.SpanID)
					require.Equal(t, sp.ParentSpanID(), f.ParentSpanID)
					require.Equal(t, sp.Name(), f.Name)
					require.Equal(t, int32(sp.Kind()), f.Kind)
					require.Equal(t, uint64(sp.StartTimestamp()), f.Start)
					require.Equal(t, uint64(sp.EndTimestamp()), f.End)
					require.Equal(t, int32(sp.Status().Code()), f.StatusCode)
					requireSameFacts(t, sp.Attributes(), &f.Attrs, "case %d span %q", i, sp.Name())
					requireSameFacts(t, rs.Resource().Attributes(), f.Resource, "case %d resource", i)
				}
			}
		}
	}
}

func requireSameFacts(t *testing.T, m pcommon.Map, a *FactAttrs, msg ...any) {
	t.Helper()
	unsure := false
	for _, k := range FactKeys {
		v, ok := m.Get(k)
		got, gotOK := a.Get(k)
		require.Equal(t, ok, gotOK, msg...)
		if !ok {
			continue
		}
		switch v.Type() {
		case pcommon.ValueTypeSlice, pcommon.ValueTypeMap:
			unsure = true
			continue
		case pcommon.ValueTypeInt:
			require.True(t, got.IsInt, msg...)
			require.Equal(t, v.Int(), got.Int, msg...)
		}
		require.Equal(t, v.AsString(), got.Str, msg...)
	}
	require.Equal(t, unsure, a.Unsure, msg...)
}

// TestSpanFactsGivenUp: a request the wire reader gives up on (to pdata,
// whose encoding it then reads) adds its facts once.
func TestSpanFactsGivenUp(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetName("hello")
	canonical, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	unknown := protowire.AppendTag(append([]byte(nil), canonical...), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 7)
	_, _, err = spansWire(unknown, opts)
	require.ErrorIs(t, err, errGiveUp)
	var facts []SpanFacts
	_, _, err = SpansOTLP(unknown, Options{Now: opts.Now, Facts: &facts})
	require.NoError(t, err)
	require.Len(t, facts, 1)
	require.Equal(t, "hello", facts[0].Name)
}

// TestSpanFactsChangeNoDocument: asking for facts renders the same
// documents.
func TestSpanFactsChangeNoDocument(t *testing.T) {
	td := sampleTraces()
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	with, _, err := SpansOTLP(b, Options{Now: opts.Now, Facts: new([]SpanFacts)})
	require.NoError(t, err)
	without, _, err := SpansOTLP(b, Options{Now: opts.Now})
	require.NoError(t, err)
	requireSameSpans(t, without, with, nil, nil, "facts change no document")
}

// TestSpanFactsDuplicateKeys: of a key sent twice (only a payload can),
// the facts hold the first, as pdata's Map.Get finds it.
func TestSpanFactsDuplicateKeys(t *testing.T) {
	kv := func(k, v string) []byte {
		var any []byte
		any = protowire.AppendTag(any, 1, protowire.BytesType)
		any = protowire.AppendString(any, v)
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendBytes(b, any)
	}
	msg := wireMsg
	sp := msg(1, id16(1))
	sp = append(sp, msg(2, id8(2))...)
	sp = append(sp, msg(5, []byte("GET"))...)
	sp = append(sp, msg(9, kv("http.method", "GET"), kv("http.target", "/a/b"), kv("http.method", "POST"), kv("http.target", "/c"))...)
	res := msg(1, kv("service.name", "svc"), kv("service.name", "ignored"))
	b := msg(1, append(msg(1, res), msg(2, msg(2, sp))...))

	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	require.NoError(t, err)
	var facts []SpanFacts
	_, _, err = SpansOTLP(b, Options{Now: opts.Now, Facts: &facts})
	require.NoError(t, err)
	require.Len(t, facts, 1)
	rs := td.ResourceSpans().At(0)
	requireSameFacts(t, rs.ScopeSpans().At(0).Spans().At(0).Attributes(), &facts[0].Attrs)
	requireSameFacts(t, rs.Resource().Attributes(), facts[0].Resource)
	v, _ := facts[0].Attrs.Get("http.method")
	require.Equal(t, "GET", v.Str)
	v, _ = facts[0].Resource.Get("service.name")
	require.Equal(t, "svc", v.Str)
}

func id16(b byte) []byte { return []byte{b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }
func id8(b byte) []byte  { return []byte{b, 0, 0, 0, 0, 0, 0, 0} }
