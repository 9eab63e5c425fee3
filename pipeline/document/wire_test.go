package document

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// randomLogs is a request with what log documents must handle: several
// resources and scopes, every value type, nesting past maxDepth, invalid
// UTF-8, empty and duplicate keys (also after dot replacement), zero and
// far-future timestamps, zero and set ids, structured bodies.
func randomLogs(r *rand.Rand) plog.Logs {
	ld := plog.NewLogs()
	for range 1 + r.IntN(3) {
		rl := ld.ResourceLogs().AppendEmpty()
		if r.IntN(4) > 0 {
			rl.SetSchemaUrl(pick(r, "https://opentelemetry.io/schemas/1.26.0", "bad\xff"))
		}
		res := rl.Resource()
		if r.IntN(3) > 0 {
			res.Attributes().PutStr("service.name", pick(r, "checkout", "bad\xfesvc", ""))
		}
		if r.IntN(5) == 0 {
			res.Attributes().PutInt("service.name", 3) // a second, ignored one or a non-string first
		}
		randomMap(r, res.Attributes(), 0, 6)
		res.SetDroppedAttributesCount(uint32(r.IntN(3)))
		for range r.IntN(3) + 1 {
			sl := rl.ScopeLogs().AppendEmpty()
			if r.IntN(3) > 0 {
				sl.Scope().SetName(pick(r, "io.opentelemetry.slf4j", "sc\x80ope"))
				sl.Scope().SetVersion("1.2.3")
			}
			if r.IntN(3) == 0 {
				randomMap(r, sl.Scope().Attributes(), 0, 3)
			}
			sl.Scope().SetDroppedAttributesCount(uint32(r.IntN(2)))
			sl.SetSchemaUrl("https://example.com/scope")
			for range r.IntN(6) {
				randomRecord(r, sl.LogRecords().AppendEmpty())
			}
		}
	}
	return ld
}

func randomRecord(r *rand.Rand, lr plog.LogRecord) {
	switch r.IntN(5) {
	case 0: // missing
	case 1:
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(100 * 365 * 24 * time.Hour)))
	default:
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(r.IntN(1e9)))))
	}
	if r.IntN(2) == 0 {
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(r.IntN(3)) * 1000 * time.Hour)))
	}
	lr.SetSeverityNumber(plog.SeverityNumber(r.IntN(30) - 2))
	if r.IntN(2) == 0 {
		lr.SetSeverityText(pick(r, "INFO", "WARN", "b\xffad"))
	}
	if r.IntN(2) == 0 {
		var id pcommon.TraceID
		if r.IntN(4) > 0 {
			id[r.IntN(16)] = byte(1 + r.IntN(255))
		}
		lr.SetTraceID(id)
	}
	if r.IntN(2) == 0 {
		lr.SetSpanID(pcommon.SpanID{byte(r.IntN(3)), 2})
	}
	lr.SetFlags(plog.LogRecordFlags(r.Uint32() % 3))
	if r.IntN(4) == 0 {
		lr.SetEventName(pick(r, "user.login", "ev\xc3"))
	}
	lr.SetDroppedAttributesCount(uint32(r.IntN(2)))
	randomValue(r, lr.Body(), 0)
	if r.IntN(3) > 0 {
		randomMap(r, lr.Attributes(), 0, 25)
	}
}

func pick(r *rand.Rand, s ...string) string { return s[r.IntN(len(s))] }

var keys = []string{"http.method", "http@method", "a", "", "k\xff", "user.id", "x.y.z", "dup", "dup"}

func randomMap(r *rand.Rand, m pcommon.Map, depth, n int) {
	for i := range r.IntN(n + 1) {
		k := keys[r.IntN(len(keys))]
		if r.IntN(2) == 0 {
			k = fmt.Sprintf("attr.%d", i)
		}
		// PutEmpty replaces a key already there; duplicate keys, which
		// only a payload can carry, are in TestLogsWireDuplicateKeys.
		v := m.PutEmpty(k)
		randomValue(r, v, depth)
	}
}

// longStrings are longer than MaxFlatValue, with escapes, multi-byte and
// invalid UTF-8 around the cut.
var longStrings = []string{
	strings.Repeat("x", MaxFlatValue+1),
	strings.Repeat("at \"frame\"\n\t✓ ", 700),
	strings.Repeat("ü", MaxFlatValue/2) + "bad \xc3\x28" + strings.Repeat("\x01", 100),
}

func randomValue(r *rand.Rand, v pcommon.Value, depth int) {
	max := 9
	if depth > 10 {
		max = 7
	}
	switch r.IntN(max) {
	case 0:
		// empty
	case 1, 7:
		if r.IntN(40) == 0 {
			v.SetStr(longStrings[r.IntN(len(longStrings))]) // cut in flat_object fields (long.go)
			return
		}
		v.SetStr(pick(r, "", "plain", "quote\" back\\ \n\t\x01", "ünï ✓", "bad \xc3\x28", "a.b.c"))
	case 2:
		v.SetInt(r.Int64() - math.MaxInt64/2)
	case 3:
		v.SetDouble([]float64{0.5, -1e300, math.NaN(), math.Inf(1), 3}[r.IntN(5)])
	case 4:
		v.SetBool(r.IntN(2) == 0)
	case 5:
		v.SetEmptyBytes().FromRaw([]byte{byte(r.IntN(256)), 0, 0xff}[:r.IntN(4)])
	case 6:
		s := v.SetEmptySlice()
		for range r.IntN(4) {
			randomValue(r, s.AppendEmpty(), depth+1)
		}
	case 8:
		randomMap(r, v.SetEmptyMap(), depth+1, 3)
	}
}

// TestLogsWireMatchesOracle: documents rendered from the wire equal, byte
// for byte and id for id, those of the pdata-based builder they replaced.
func TestLogsWireMatchesOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		ld := randomLogs(r)
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		require.NoError(t, err)
		got, err := LogsOTLP(b, opts)
		require.NoError(t, err)
		want := oracleLogs(ld, opts)
		require.Equal(t, len(want), len(got), "case %d", i)
		for j := range want {
			require.Equal(t, string(want[j].Body), string(got[j].Body), "case %d doc %d", i, j)
			require.Equal(t, want[j].ID, got[j].ID, "case %d doc %d", i, j)
			require.Equal(t, want[j].Timestamp, got[j].Timestamp)
		}
		docs, err := logsWire(b, opts)
		require.NoError(t, err, "pdata's encoding of case %d is not read directly", i)
		require.Len(t, docs, len(want))
	}
}

// wireMsg is the fields num of a message, one per part.
func wireMsg(num protowire.Number, parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	return b
}

// TestLogsWireDuplicateKeys: a payload whose attributes repeat a key (pdata
// keeps both) renders the first, like the oracle.
func TestLogsWireDuplicateKeys(t *testing.T) {
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
	rec := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
	rec = protowire.AppendFixed64(rec, uint64(t0.UnixNano()))
	rec = append(rec, msg(6, kv("k", "first"), kv("other", "x"), kv("k", "second"), kv("", "e1"), kv("", "e2"))...)
	res := msg(1, kv("service.name", "svc"), kv("service.name", "ignored"))
	rl := append(msg(1, res), msg(2, msg(2, rec))...)
	b := msg(1, rl)

	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	require.NoError(t, err)
	want := oracleLogs(ld, opts)
	got, err := logsWire(b, opts)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, string(want[0].Body), string(got[0].Body))
	require.Contains(t, string(got[0].Body), `"attributes":{"k":"first","other":"x","_empty":"e1"}`)
	require.Contains(t, string(got[0].Body), "attributes: duplicate attribute key dropped")
}

// TestLogsWireGivesUp: forms pdata's encoder never writes go to pdata,
// which either reads them (the same documents) or rejects them.
func TestLogsWireGivesUp(t *testing.T) {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
	lr.Body().SetStr("hello")
	canonical, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
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
			_, err := logsWire(tc.b, opts)
			require.ErrorIs(t, err, errGiveUp)
			docs, err := LogsOTLP(tc.b, opts)
			if !tc.decodes {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			want := oracleLogs(ld, opts)
			require.Equal(t, string(want[0].Body), string(docs[0].Body))
		})
	}
}

// FuzzLogsOTLP: whatever the bytes, the wire reader either gives up or
// builds exactly what pdata's decoder and the oracle build; LogsOTLP fails
// exactly when pdata cannot decode.
func FuzzLogsOTLP(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(randomLogs(r))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ld, perr := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		docs, werr := logsWire(b, opts)
		if werr == nil {
			require.NoError(t, perr, "the wire reader took bytes pdata rejects")
		}
		got, err := LogsOTLP(b, opts)
		if errors.Is(werr, ErrTooDeep) {
			require.ErrorIs(t, err, ErrTooDeep)
			return
		}
		if perr != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		want := oracleLogs(ld, opts)
		require.Equal(t, len(want), len(got))
		for j := range want {
			require.Equal(t, string(want[j].Body), string(got[j].Body))
			require.Equal(t, want[j].ID, got[j].ID)
			if werr == nil {
				require.Equal(t, string(want[j].Body), string(docs[j].Body))
			}
		}
	})
}

// TestDeepNesting: nesting past maxDepth is one JSON string whose size
// grows with the input's, not twice per further 8 levels; past maxNesting
// the record is refused (it would exhaust the stack).
func TestDeepNesting(t *testing.T) {
	nested := func(depth int) plog.Logs {
		ld := plog.NewLogs()
		lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
		m := lr.Attributes().PutEmptyMap("d")
		for range depth {
			m = m.PutEmptyMap("d")
		}
		m.PutStr("q", `"quoted"`)
		return ld
	}
	size := func(depth int) int {
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(nested(depth))
		require.NoError(t, err)
		docs, err := LogsOTLP(b, opts)
		require.NoError(t, err)
		return len(docs[0].Body)
	}
	// Each level adds `{\"d\":` and its closing brace: 8 bytes.
	require.Equal(t, 8*60, size(100)-size(40))

	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(nested(maxNesting + 5))
	require.NoError(t, err)
	_, err = LogsOTLP(b, opts)
	require.ErrorIs(t, err, ErrTooDeep)
}

// FuzzParseKV: the inline reading of the usual KeyValue gives what the
// general reader gives, for any bytes.
func FuzzParseKV(f *testing.F) {
	kv := func(k string, v func(b []byte) []byte) []byte {
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendBytes(b, v(nil))
	}
	f.Add(kv("http.method", func(b []byte) []byte {
		return protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), "POST")
	}))
	f.Add(kv(string(make([]byte, 200)), func(b []byte) []byte {
		return protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), string(make([]byte, 300)))
	}))
	f.Add(kv("n", func(b []byte) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, 3, protowire.VarintType), math.MaxUint64)
	}))
	f.Add(kv("ok", func(b []byte) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), 1)
	}))
	f.Add(kv("d", func(b []byte) []byte {
		return protowire.AppendFixed64(protowire.AppendTag(b, 4, protowire.Fixed64Type), math.Float64bits(12.5))
	}))
	f.Add(kv("e", func(b []byte) []byte { return b }))
	f.Add([]byte{0x12, 0x06, 0x0a, 0x04, 'P', 'O', 'S', 'T', 0x0a, 0x01, 'm'}) // pdata's order
	f.Add([]byte{0x12, 0x02, 0x10, 0x01, 0x12, 0x02, 0x10, 0x00, 0x0a, 0x01, 'm'})
	f.Add([]byte{0x0a, 0x80, 0x00, 0x12, 0x02, 0x10, 0x01})        // overlong key length
	f.Add([]byte{0x0a, 0x01, 'k', 0x12, 0x03, 0x0a, 0x01, 'v', 0}) // value longer than said
	f.Add([]byte{0x0a, 0x01, 'k', 0x12, 0x02, 0x0a, 0x00, 0x0a, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, v, ok := parseKV(b)
		wk, wv, wok := parseKVAny(b)
		require.Equal(t, wok, ok)
		if ok {
			require.Equal(t, string(wk), string(k))
			require.Equal(t, wv.typ, v.typ)
			require.Equal(t, wv.u, v.u)
			require.Equal(t, string(wv.b), string(v.b))
		}
	})
}

// FuzzPdataKV: the attribute read in pdata's layout is what the general
// readers make of the same field, for any bytes.
func FuzzPdataKV(f *testing.F) {
	f.Add([]byte{0x32, 0x0b, 0x12, 0x06, 0x0a, 0x04, 'P', 'O', 'S', 'T', 0x0a, 0x01, 'm'})
	f.Add([]byte{0x32, 0x08, 0x12, 0x03, 0x18, 0xc8, 0x01, 0x0a, 0x01, 'n', 0x32})
	f.Add([]byte{0x32, 0x0a, 0x12, 0x04, 0x18, 0x80, 0x80, 0x01, 0x0a, 0x02, 'n', 'n'})
	f.Add([]byte{0x32, 0x0f, 0x12, 0x09, 0x21, 0, 0, 0, 0, 0, 0, 0x29, 0x40, 0x0a, 0x02, 'd', 'd'})
	f.Add([]byte{0x32, 0x07, 0x12, 0x02, 0x10, 0x01, 0x0a, 0x01, 'b'})
	f.Add([]byte{0x32, 0x07, 0x12, 0x02, 0x10, 0x01, 0x0a, 0x00, 0x00})
	f.Add([]byte{0x32, 0x07, 0x12, 0x00, 0x0a, 0x03, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, v, n := pdataKV(b, 0x32)
		if n == 0 {
			return
		}
		f, m := next(b)
		require.Equal(t, m, n)
		require.Equal(t, protowire.Number(6), f.num)
		require.Equal(t, protowire.BytesType, f.typ)
		wk, wv, ok := parseKV(f.b)
		require.True(t, ok)
		require.NotEmpty(t, k)
		require.Equal(t, string(wk), string(k))
		require.Equal(t, wv.typ, v.typ)
		require.Equal(t, wv.u, v.u)
		require.Equal(t, string(wv.b), string(v.b))
	})
}

// TestKeyMemo: records whose attribute keys repeat the last record's (in
// part, in another order, with repeats, empty or unplain keys among them)
// render as the oracle renders them.
func TestKeyMemo(t *testing.T) {
	keys := []string{"a", "b", "c", "a.b", "", "q\"uote", "bad\xff", "long.key.name.of.some.length"}
	values := [][]byte{
		protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 7),
		protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 300),
		protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "plain"),
		protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "bad\xff utf-8"),
		protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "esc\"aped\n"),
		protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 1),
		protowire.AppendFixed64(protowire.AppendTag(nil, 4, protowire.Fixed64Type), math.Float64bits(0.1)),
		// A map value {"m": "bad\xff"}.
		protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType),
				protowire.AppendBytes(protowire.AppendTag(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "m"), 2, protowire.BytesType),
					protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "bad\xff")))),
		nil, // empty
	}
	kv := func(k string, v int) []byte {
		any := values[v]
		var b []byte // pdata's order: the value first
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, any)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		return protowire.AppendString(b, k)
	}
	msg := wireMsg
	r := rand.New(rand.NewPCG(3, 4))
	for c := range 300 {
		var recs [][]byte
		prev := []int{0, 1, 2, 3}
		for range 1 + r.IntN(12) {
			// Mostly the last record's keys, sometimes changed.
			ks := append([]int(nil), prev...)
			switch r.IntN(6) {
			case 0:
				ks = append(ks, r.IntN(len(keys)))
			case 1:
				if len(ks) > 0 {
					ks = ks[:r.IntN(len(ks))]
				}
			case 2:
				if len(ks) > 0 {
					ks[r.IntN(len(ks))] = r.IntN(len(keys))
				}
			}
			prev = ks
			var attrs [][]byte
			for _, k := range ks {
				// Mostly the value the key had before.
				v := (k * 7) % len(values)
				if r.IntN(3) == 0 {
					v = r.IntN(len(values))
				}
				attrs = append(attrs, kv(keys[k], v))
			}
			rec := protowire.AppendTag(nil, 1, protowire.Fixed64Type)
			rec = protowire.AppendFixed64(rec, uint64(t0.UnixNano()))
			recs = append(recs, append(rec, msg(6, attrs...)...))
		}
		b := msg(1, msg(2, msg(2, recs...)))
		ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
		require.NoError(t, err)
		want := oracleLogs(ld, opts)
		got, err := logsWire(b, opts)
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, string(want[i].Body), string(got[i].Body), "case %d record %d", c, i)
		}
	}
}
