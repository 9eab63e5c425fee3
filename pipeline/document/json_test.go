package document

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// appendStringBodyRef is the plain byte-at-a-time escaper that
// appendStringBody's word-at-a-time fast path must agree with.
func appendStringBodyRef(b []byte, s string, atDots bool, fx *fixes, field string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (c != '.' || !atDots) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '.':
				b = append(b, '@')
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			if fx != nil {
				fx.add(field, "invalid UTF-8 replaced by U+FFFD")
			}
			i++
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

func TestAppendStringBodyMatchesReference(t *testing.T) {
	alphabet := []string{"a", "Z", "0", " ", ".", "@", "\"", "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€", "😀", "\xff", "\xc3", "/", "<"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 5000 {
		s := ""
		for range rng.IntN(40) {
			if rng.IntN(3) == 0 {
				s += alphabet[rng.IntN(len(alphabet))]
			} else {
				s += "abcdefgh"[:rng.IntN(9)]
			}
		}
		for _, at := range []bool{false, true} {
			var fx, fxRef fixes
			got := string(appendStringBody([]byte("x"), s, at, &fx, "f"))
			want := string(appendStringBodyRef([]byte("x"), s, at, &fxRef, "f"))
			if got != want || len(fx.set) != len(fxRef.set) {
				t.Fatalf("case %d %q (atDots %v): got %q, want %q", n, s, at, got, want)
			}
		}
	}
}

// Documents of one request share arena chunks: each must be exactly what
// it is when built alone, however many were built after it.
func TestLogsShareArenaSafely(t *testing.T) {
	var want []string
	all := plog.NewLogs()
	for i := range 50 {
		one := plog.NewLogs()
		rl := one.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "orders")
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(1e18 + pcommon.Timestamp(i))
		lr.Body().SetStr(strings.Repeat("x", i*40))
		lr.Attributes().PutInt("i", int64(i))
		d, err := Logs(one, opts)
		require.NoError(t, err)
		want = append(want, string(d[0].Body))
		one.ResourceLogs().MoveAndAppendTo(all.ResourceLogs())
	}
	docs, err := Logs(all, opts)
	require.NoError(t, err)
	require.Len(t, docs, len(want))
	for i, d := range docs {
		require.Equal(t, want[i], string(d.Body), "document %d", i)
		require.Equal(t, len(d.Body), cap(d.Body), "document %d is capped", i)
	}
}

// TestAppendFloat: the two-decimal fast path writes what strconv writes.
func TestAppendFloat(t *testing.T) {
	check := func(f float64) {
		t.Helper()
		want := strconv.AppendFloat(nil, f, 'g', -1, 64)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			want = strconv.AppendQuote(nil, string(want))
		}
		require.Equal(t, string(want), string(appendFloat(nil, f)), "%v", f)
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 0.01, 0.1, 0.5, 1, 12.5, 12.34, -12.34, 99.99, 0.29, 1.005, 1e6 - 0.01, 1e6, -1e6, 999999.99, 1e-5, 0.001, 123456.78, math.NaN(), math.Inf(1), 1.0 / 3, 5e-324, math.MaxFloat64} {
		check(f)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		check(float64(r.IntN(200_000_000)-100_000_000) / 100)
		check(float64(r.IntN(2000)) / 1000)
		check(r.NormFloat64() * 1000)
		check(math.Float64frombits(r.Uint64()))
	}
}
