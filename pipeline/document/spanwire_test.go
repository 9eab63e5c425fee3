package document

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// spanKeys are span attribute keys: known ones (fields of their own), ones
// that go to the overflow, and the awkward ones of keys.
var spanKeys = append([]string{"http.route", "db.system", "http.request.method", "tenant.plan", "error"}, keys...)

// randomTraces is a request with what span documents must handle: several
// resources and scopes, every value type in every attribute set, long
// values, invalid UTF-8, empty and duplicate keys, zero, far-future and
// reversed timestamps, empty ids (an invalid span), unknown kinds, events
// and links.
func randomTraces(r *rand.Rand) ptrace.Traces {
	td := ptrace.NewTraces()
	for range 1 + r.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		if r.IntN(4) > 0 {
			rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		}
		res := rs.Resource()
		if r.IntN(3) > 0 {
			res.Attributes().PutStr("service.name", pick(r, "checkout", "bad\xfesvc", "", "q\"uote"))
		}
		if r.IntN(5) == 0 {
			res.Attributes().PutInt("service.name", 3)
		}
		randomMap(r, res.Attributes(), 0, 6)
		res.SetDroppedAttributesCount(uint32(r.IntN(3)))
		for range r.IntN(3) + 1 {
			ss := rs.ScopeSpans().AppendEmpty()
			if r.IntN(3) > 0 {
				ss.Scope().SetName(pick(r, "io.opentelemetry.http", "sc\x80ope"))
			}
			if r.IntN(2) > 0 {
				ss.Scope().SetVersion(pick(r, "1.2.3", "v\xff"))
			}
			if r.IntN(3) == 0 {
				randomMap(r, ss.Scope().Attributes(), 0, 3)
			}
			ss.Scope().SetDroppedAttributesCount(uint32(r.IntN(2)))
			ss.SetSchemaUrl("https://example.com/scope")
			for range r.IntN(6) {
				randomSpan(r, ss.Spans().AppendEmpty())
			}
		}
	}
	return td
}

func randomTime(r *rand.Rand) pcommon.Timestamp {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return pcommon.NewTimestampFromTime(t0.Add(100 * 365 * 24 * time.Hour))
	case 2:
		return pcommon.Timestamp(math.MaxUint64 - uint64(r.IntN(3)))
	default:
		return pcommon.NewTimestampFromTime(t0.Add(time.Duration(r.IntN(1e9))))
	}
}

func randomSpan(r *rand.Rand, sp ptrace.Span) {
	if r.IntN(12) > 0 {
		var id pcommon.TraceID
		id[r.IntN(16)] = byte(1 + r.IntN(255))
		sp.SetTraceID(id)
	}
	if r.IntN(12) > 0 {
		sp.SetSpanID(pcommon.SpanID{byte(r.IntN(3)), 2, byte(r.IntN(256))})
	}
	if r.IntN(2) == 0 {
		sp.SetParentSpanID(pcommon.SpanID{byte(r.IntN(2)), 0, 0, 0, 0, 0, 0, byte(r.IntN(2))})
	}
	if r.IntN(3) == 0 {
		sp.TraceState().FromRaw(pick(r, "vendor=1", "b\xffd"))
	}
	sp.SetName(pick(r, "", "GET /checkout", "q\"uote\n", "b\xc3d"))
	sp.SetKind(ptrace.SpanKind(r.IntN(8) - 1))
	sp.SetStartTimestamp(randomTime(r))
	sp.SetEndTimestamp(randomTime(r))
	if r.IntN(3) > 0 {
		m := sp.Attributes()
		for i := range r.IntN(25) {
			k := spanKeys[r.IntN(len(spanKeys))]
			if r.IntN(3) == 0 {
				k = "attr." + string(rune('a'+i))
			}
			randomValue(r, m.PutEmpty(k), 0)
		}
	}
	sp.SetDroppedAttributesCount(uint32(r.IntN(3)))
	sp.Status().SetCode(ptrace.StatusCode(r.IntN(4)))
	if r.IntN(3) == 0 {
		sp.Status().SetMessage(pick(r, "boom", "b\xffd"))
	}
	for range r.IntN(4) {
		ev := sp.Events().AppendEmpty()
		ev.SetName(pick(r, "", "exception", "e\xffv"))
		ev.SetTimestamp(randomTime(r))
		if r.IntN(2) == 0 {
			randomMap(r, ev.Attributes(), 0, 4)
		}
		ev.SetDroppedAttributesCount(uint32(r.IntN(2)))
	}
	sp.SetDroppedEventsCount(uint32(r.IntN(2)))
	for range r.IntN(3) {
		ln := sp.Links().AppendEmpty()
		if r.IntN(3) > 0 {
			ln.SetTraceID(pcommon.TraceID{byte(r.IntN(2)), 9})
		}
		if r.IntN(3) > 0 {
			ln.SetSpanID(pcommon.SpanID{byte(r.IntN(2))})
		}
		if r.IntN(2) == 0 {
			ln.TraceState().FromRaw(pick(r, "a=b", "x\xff"))
		}
		if r.IntN(2) == 0 {
			randomMap(r, ln.Attributes(), 0, 3)
		}
		ln.SetDroppedAttributesCount(uint32(r.IntN(2)))
		ln.SetFlags(r.Uint32() % 3)
	}
	sp.SetDroppedLinksCount(uint32(r.IntN(2)))
	sp.SetFlags(r.Uint32() % 3)
}

// requireSameSpans: got are want, field for field and document for
// document, with and without a trace group.
func requireSameSpans(t *testing.T, want, got []*Span, wantErrs, gotErrs []error, msg ...any) {
	t.Helper()
	require.Equal(t, len(want), len(got), msg...)
	g := &TraceGroup{Name: "GET /x\xff", EndTime: uint64(t0.UnixNano()), DurationInNanos: 5, StatusCode: 2}
	for j := range want {
		w, s := want[j], got[j]
		require.Equal(t, string(w.Render(nil)), string(s.Render(nil)), msg...)
		require.Equal(t, string(w.Render(g)), string(s.Render(g)), msg...)
		require.Equal(t, w.Info(), s.Info(), msg...)
		require.Equal(t, w.TraceID, s.TraceID, msg...)
		require.Equal(t, w.Group(), s.Group(), msg...)
		require.Equal(t, w.Size(), s.Size(), msg...)
	}
	require.Equal(t, len(wantErrs), len(gotErrs), msg...)
	for j := range wantErrs {
		require.Equal(t, wantErrs[j].Error(), gotErrs[j].Error(), msg...)
		require.ErrorIs(t, gotErrs[j], ErrInvalidSpan)
	}
}

// TestSpansWireMatchesOracle: span documents rendered from the wire equal,
// byte for byte, those of the pdata-based builder they replaced, and so do
// the spans' ids, names, services, kinds, times and errors.
func TestSpansWireMatchesOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	custom := opts
	custom.SpanFields = SpanFields([]string{"tenant.plan", "attr.a"})
	for i := range 3000 {
		o := opts
		if i%3 == 0 {
			o = custom
		}
		td := randomTraces(r)
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		got, gotErrs, err := SpansOTLP(b, o)
		require.NoError(t, err)
		want, wantErrs := oracleSpans(td, o)
		requireSameSpans(t, want, got, wantErrs, gotErrs, "case %d", i)
		_, _, err = spansWire(b, o)
		require.NoError(t, err, "pdata's encoding of case %d is not read directly", i)
		viaPdata, errs := Spans(td, o)
		requireSameSpans(t, want, viaPdata, wantErrs, errs, "case %d via Spans", i)
	}
}

// TestSpansWireGivesUp: forms pdata's encoder never writes go to pdata,
// which either reads them (the same documents) or rejects them.
func TestSpansWireGivesUp(t *testing.T) {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1})
	sp.SetSpanID(pcommon.SpanID{2})
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	sp.SetName("hello")
	canonical, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	unknown := protowire.AppendTag(append([]byte(nil), canonical...), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 7)
	for name, tc := range map[string]struct {
		b       []byte
		decodes bool
	}{
		"unknown top-level field": {unknown, true},
		"truncated":               {canonical[:len(canonical)-2], false},
		"garbage":                 {[]byte{0xff, 0xff, 0xff}, false},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := spansWire(tc.b, opts)
			require.ErrorIs(t, err, errGiveUp)
			spans, errs, err := SpansOTLP(tc.b, opts)
			if !tc.decodes {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			want, wantErrs := oracleSpans(td, opts)
			requireSameSpans(t, want, spans, wantErrs, errs)
		})
	}
}

// FuzzSpansOTLP: whatever the bytes, the wire reader either gives up or
// builds exactly what pdata's decoder and the oracle build; SpansOTLP fails
// exactly when pdata cannot decode (or the values nest too deep).
func FuzzSpansOTLP(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 20 {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(randomTraces(r))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		td, perr := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
		spans, errs, werr := spansWire(b, opts)
		if werr == nil {
			require.NoError(t, perr, "the wire reader took bytes pdata rejects")
		}
		got, gotErrs, err := SpansOTLP(b, opts)
		if errors.Is(werr, ErrTooDeep) {
			require.ErrorIs(t, err, ErrTooDeep)
			return
		}
		if perr != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		want, wantErrs := oracleSpans(td, opts)
		requireSameSpans(t, want, got, wantErrs, gotErrs)
		if werr == nil {
			requireSameSpans(t, want, spans, wantErrs, errs)
		}
	})
}

// TestTimeText: every timestamp is written as Go's RFC3339Nano writes it.
func TestTimeText(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var tt timeText
	for range 100000 {
		ns := r.Uint64N(maxDateNanos)
		switch r.IntN(8) {
		case 0: // around a day's, month's or year's end
			at := time.Date(1970+r.IntN(292), time.Month(1+r.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
			ns = uint64(max(0, at.Add(time.Duration(r.IntN(3)-1)*time.Second).UnixNano()))
		case 1: // the first days, leap days
			ns = uint64(r.IntN(4*366)) * 86400e9
		}
		if r.IntN(3) == 0 {
			ns -= ns % uint64([]int{1, 1e3, 1e6, 1e9}[r.IntN(4)])
		}
		want := `"` + timeString(ns) + `"`
		require.Equal(t, want, string(tt.append(nil, ns)))
		g := appendGroup(nil, &TraceGroup{EndTime: ns})
		require.Equal(t, `"traceGroup":"","traceGroupFields":{"endTime":`+want+`,"durationInNanos":0,"statusCode":0}`, string(g))
	}
}
