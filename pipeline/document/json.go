package document

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// obj appends one JSON object's members to a byte slice in the order they
// are written. Documents are rendered by hand rather than through maps and
// encoding/json so that field order is stable (golden files, content-derived
// ids) and so that building a document allocates little.
type obj struct {
	b     []byte
	first bool
	fix   *fixes
}

func newObj(b []byte, fx *fixes) obj {
	return obj{b: append(b, '{'), first: true, fix: fx}
}

// key starts member k. k is one of the document's own field names, plain
// ASCII that needs no escaping (attribute keys go through appendKey).
func (o *obj) key(k string) {
	if !o.first {
		o.b = append(o.b, ',')
	}
	o.first = false
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *obj) str(k, v string) {
	o.key(k)
	o.b = appendString(o.b, v, o.fix, k)
}

func (o *obj) strOrNull(k, v string) {
	if v == "" {
		o.key(k)
		o.b = append(o.b, "null"...)
		return
	}
	o.str(k, v)
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) uint(k string, v uint64) {
	o.key(k)
	o.b = strconv.AppendUint(o.b, v, 10)
}

func (o *obj) raw(k string, v []byte) {
	o.key(k)
	o.b = append(o.b, v...)
}

func (o *obj) close() []byte { return append(o.b, '}') }

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD and, when fx is non-nil, recorded as a fix of field.
func appendString(b []byte, s string, fx *fixes, field string) []byte {
	b = append(b, '"')
	b = appendStringBody(b, s, false, fx, field)
	return append(b, '"')
}

// appendKey appends the quoted key prefix+k, with dots in k written as "@"
// when atKeys, without building the key string.
func appendKey(b []byte, prefix, k string, atKeys bool) []byte {
	b = append(b, '"')
	if prefix != "" {
		b = appendStringBody(b, prefix, false, nil, "")
	}
	if atKeys && plain(k, false) {
		// The usual key: copied, and its dots rewritten in place.
		start := len(b)
		b = append(b, k...)
		for i := start; i < len(b); i++ {
			if b[i] == '.' {
				b[i] = '@'
			}
		}
		return append(b, '"')
	}
	b = appendStringBody(b, k, atKeys, nil, "")
	return append(b, '"')
}

// appendStringBody appends s escaped for a JSON string, without quotes;
// with atDots, '.' is written as '@'. It is the innermost loop of document
// building (every body, key and value passes here), so runs of bytes that
// need nothing are skipped eight at a time.
func appendStringBody(b []byte, s string, atDots bool, fx *fixes, field string) []byte {
	if plain(s, atDots) {
		return append(b, s...)
	}
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && !special8(load8(s, i), atDots) {
			i += 8
		}
		if i >= len(s) {
			break
		}
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

// plain reports whether s needs no escaping (nor, with atDots, dot
// rewriting): most keys and values, many shorter than eight bytes, which
// the loop in appendStringBody would check byte by byte.
func plain(s string, atDots bool) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if special8(load8(s, i), atDots) {
			return false
		}
	}
	switch {
	case i == len(s):
		return true
	case len(s) >= 8: // the last eight bytes, overlapping checked ones
		return !special8(load8(s, len(s)-8), atDots)
	}
	x := uint64(ones * 'a') // padding that needs nothing
	for j := 0; j < len(s); j++ {
		x = x&^(0xff<<(8*j)) | uint64(s[j])<<(8*j)
	}
	return !special8(x, atDots)
}

// load8 reads s[i:i+8] as a little-endian word (the compiler turns this
// into one load).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasZeroByte is non-zero when a byte of x is zero (exact as a whole-word
// test; see "Bit Twiddling Hacks").
func hasZeroByte(x uint64) uint64 { return (x - ones) & ^x & highs }

// special8 reports whether any of the eight bytes in x needs more than a
// copy: a control character, '"', '\\', a non-ASCII byte (UTF-8 is checked
// byte-wise), or '.' when dots are rewritten.
func special8(x uint64, atDots bool) bool {
	m := x & highs                    // non-ASCII
	m |= (x - ones*0x20) & ^x & highs // < 0x20 (for ASCII bytes)
	m |= hasZeroByte(x ^ (ones * '"'))
	m |= hasZeroByte(x ^ (ones * '\\'))
	if atDots {
		m |= hasZeroByte(x ^ (ones * '.'))
	}
	return m != 0
}

// appendFloat writes f as a JSON number; NaN and infinities, which JSON
// cannot carry, become strings.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.AppendQuote(b, strconv.FormatFloat(f, 'g', -1, 64))
	}
	// Values of at most two decimals (durations in ms, amounts,
	// percentages) are written without strconv's shortest-digits search:
	// f is then v/100 correctly rounded, and below 1e6 no other decimal of
	// as few digits is that close to f, so these are the digits strconv
	// finds; it writes no exponent below 1e6.
	if v := f * 100; f != 0 && f > -1e6 && f < 1e6 && v == math.Trunc(v) && float64(int64(v))/100 == f {
		n := int64(v)
		if n < 0 {
			b = append(b, '-')
			n = -n
		}
		b = strconv.AppendInt(b, n/100, 10)
		switch c := n % 100; {
		case c == 0:
		case c%10 == 0:
			b = append(b, '.', byte('0'+c/10))
		default:
			b = append(b, '.', byte('0'+c/10), byte('0'+c%10))
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// maxDepth bounds nesting of map and array values; the value at this depth
// is written as one JSON string (of its whole structure), so that a hostile
// payload cannot exceed OpenSearch's nesting limits. Depths past maxDepth
// are inside that string and are not cut again: re-quoting at every further
// maxDepth levels doubled the escapes each time, and a 2 KB payload nested
// 300 deep rendered exabytes.
const maxDepth = 8

// sanitizeKey makes an attribute key usable as a field name part (dots
// are handled by appendKey).
func sanitizeKey(k string, fx *fixes, field string) string {
	if k == "" {
		fx.add(field, "empty attribute key renamed to _empty")
		return "_empty"
	}
	if !utf8.ValidString(k) {
		fx.add(field, "invalid UTF-8 in attribute key replaced by U+FFFD")
		k = toValidUTF8(k)
	}
	return k
}

// keySet detects keys that would be written twice (after dot replacement):
// JSON with a repeated key is rejected by OpenSearch. Small maps, the usual
// case, are checked by a scan without allocating, and the scan is skipped
// when a 128-bit filter of the keys so far rules a repeat out (almost
// always: a map's keys are nearly always distinct).
type keySet struct {
	at     bool
	filter [2]uint64
	small  [32]string
	n      int
	big    map[string]struct{}
}

// filterBit picks k's bit in the filter from its length and its first and
// last bytes (as written: with at, '.' is '@'). k is not empty.
func (ks *keySet) filterBit(k string) (word int, bit uint64) {
	first, last := k[0], k[len(k)-1]
	if ks.at {
		first, last = dotAt(first), dotAt(last)
	}
	h := uint(len(k))*0x9e + uint(first)*0x3b + uint(last)
	return int(h>>6) & 1, 1 << (h & 63)
}

func dotAt(c byte) byte {
	if c == '.' {
		return '@'
	}
	return c
}

// seen reports whether k was seen, and adds it. (wctx.appendMap and
// flatAttrs write the usual case, the filter ruling a repeat out, in line.)
func (ks *keySet) seen(k string) bool {
	w, bit := ks.filterBit(k)
	if ks.filter[w]&bit == 0 && ks.n < len(ks.small) {
		ks.filter[w] |= bit
		ks.small[ks.n] = k
		ks.n++
		return false
	}
	return ks.seenSlow(k, w, bit)
}

func (ks *keySet) seenSlow(k string, w int, bit uint64) bool {
	if ks.big == nil {
		if ks.filter[w]&bit != 0 {
			for i := 0; i < ks.n; i++ {
				if sameKey(ks.small[i], k, ks.at) {
					return true
				}
			}
		}
		ks.filter[w] |= bit
		if ks.n < len(ks.small) {
			ks.small[ks.n] = k
			ks.n++
			return false
		}
		ks.big = make(map[string]struct{}, 2*len(ks.small))
		for _, x := range ks.small {
			ks.big[ks.norm(x)] = struct{}{}
		}
	}
	nk := ks.norm(k)
	if _, ok := ks.big[nk]; ok {
		return true
	}
	ks.big[nk] = struct{}{}
	return false
}

func (ks *keySet) norm(k string) string {
	if ks.at {
		return replaceDots(k)
	}
	return k
}

// sameKey compares keys as written: with at, '.' equals '@'.
func sameKey(a, b string, at bool) bool {
	if len(a) != len(b) {
		return false
	}
	if !at {
		return a == b
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '.' {
			x = '@'
		}
		if y == '.' {
			y = '@'
		}
		if x != y {
			return false
		}
	}
	return true
}

func toValidUTF8(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\ufffd"...)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return string(out)
}

func replaceDots(k string) string {
	for i := 0; i < len(k); i++ {
		if k[i] == '.' {
			b := []byte(k)
			for j := i; j < len(b); j++ {
				if b[j] == '.' {
					b[j] = '@'
				}
			}
			return string(b)
		}
	}
	return k
}
