package document

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads OTLP's protobuf wire format directly (field numbers from
// opentelemetry-proto's common.proto and logs.proto) so that log documents
// are rendered from the Kafka record's bytes without building pdata's object
// tree first: decoding into pdata allocated a string and a struct per
// attribute and was a quarter of the pipeline's CPU (docs/benchmarks.md).
//
// The reader only takes the form pdata's own encoder writes (every field
// known and of its declared wire type, no singular field repeated, ids of
// their exact length). Anything else (malformed bytes, unknown fields, a
// merged message) makes it give up, and the caller decodes the payload with
// pdata, which either rejects it with its own error or re-encodes it in that
// form. So documents never depend on which path built them (FuzzLogsOTLP).

// wfield is one field of a message.
type wfield struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // varint, fixed32 and fixed64 values
	b   []byte // length-delimited values
}

// next consumes one field from b; n is the bytes it took, or 0 when b does
// not start with a well-formed field of a wire type OTLP uses.
func next(b []byte) (f wfield, n int) {
	// Every OTLP field number fits a one-byte tag, and most lengths and
	// varints one byte: decode those inline.
	if len(b) >= 2 && b[0] < 0x80 && b[0] >= 8 {
		f.num, f.typ = protowire.Number(b[0]>>3), protowire.Type(b[0]&7)
		switch f.typ {
		case protowire.BytesType:
			if l := b[1]; l < 0x80 {
				end := 2 + int(l)
				if end > len(b) {
					return f, 0
				}
				f.b = b[2:end:end]
				return f, end
			}
		case protowire.VarintType:
			if v := b[1]; v < 0x80 {
				f.u = uint64(v)
				return f, 2
			}
		case protowire.Fixed64Type:
			if len(b) >= 9 {
				f.u = binary.LittleEndian.Uint64(b[1:9])
				return f, 9
			}
		}
	}
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return f, 0
	}
	f.num, f.typ = num, typ
	var m int
	switch typ {
	case protowire.VarintType:
		f.u, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed64Type:
		f.u, m = protowire.ConsumeFixed64(b[n:])
	case protowire.Fixed32Type:
		var v uint32
		v, m = protowire.ConsumeFixed32(b[n:])
		f.u = uint64(v)
	case protowire.BytesType:
		f.b, m = protowire.ConsumeBytes(b[n:])
	default:
		return f, 0
	}
	if m < 0 {
		return f, 0
	}
	return f, n + m
}

// once tracks singular fields (numbers below 32) already seen in a message.
type once uint32

// first reports whether field num appears for the first time.
func (o *once) first(num protowire.Number) bool {
	bit := once(1) << (uint(num) & 31)
	if *o&bit != 0 {
		return false
	}
	*o |= bit
	return true
}

// str is b as a string without copying: the payload outlives the document
// building that reads it, and nothing built keeps it.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// maxNesting is the deepest attribute value nesting a record may have.
// Rendering recurses once per level, and a 20 MB record nested to the end
// would exhaust the goroutine stack, a crash no recover catches.
const maxNesting = 128

// ErrTooDeep marks a record whose attribute values nest deeper than
// maxNesting: it goes to the DLQ.
var ErrTooDeep = errors.New("attribute values nested deeper than 128 levels")

// wctx renders wire values.
type wctx struct {
	tooDeep bool // a value nested deeper than maxNesting
}

// wvalue is an AnyValue.
type wvalue struct {
	typ pcommon.ValueType
	u   uint64 // bool, int, double bits
	b   []byte // string, bytes, ArrayValue or KeyValueList message
}

func parseAny(b []byte) (v wvalue, ok bool) {
	v.typ = pcommon.ValueTypeEmpty
	set := false
	for len(b) > 0 {
		f, n := next(b)
		if n == 0 || set {
			return v, false
		}
		b = b[n:]
		set = true
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
			v.typ, v.b = pcommon.ValueTypeStr, f.b
		case f.num == 2 && f.typ == protowire.VarintType:
			v.typ, v.u = pcommon.ValueTypeBool, f.u
		case f.num == 3 && f.typ == protowire.VarintType:
			v.typ, v.u = pcommon.ValueTypeInt, f.u
		case f.num == 4 && f.typ == protowire.Fixed64Type:
			v.typ, v.u = pcommon.ValueTypeDouble, f.u
		case f.num == 5 && f.typ == protowire.BytesType:
			v.typ, v.b = pcommon.ValueTypeSlice, f.b
		case f.num == 6 && f.typ == protowire.BytesType:
			v.typ, v.b = pcommon.ValueTypeMap, f.b
		case f.num == 7 && f.typ == protowire.BytesType:
			v.typ, v.b = pcommon.ValueTypeBytes, f.b
		case f.num == 8 && f.typ == protowire.VarintType:
			// string_value_strindex (profiles' dictionary): pdata's
			// Value reports it as empty.
			v.typ = pcommon.ValueTypeEmpty
		default:
			return v, false
		}
	}
	return v, true
}

// uvarint2 decodes a varint of at most two bytes (every length and most
// numbers in a KeyValue); n is 0 when b does not start with one.
func uvarint2(b []byte) (v uint64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	if len(b) > 1 && b[1] < 0x80 && b[1] != 0 {
		return uint64(b[0]&0x7f) | uint64(b[1])<<7, 2
	}
	return 0, 0
}

// parseKV reads a KeyValue. The usual one (a key and a string, bool, int or
// double value, in either order: pdata writes the value first) is read
// inline here; it was most of the time spent on attributes. Anything else
// goes to parseKVAny, which gives the same result for the usual shape
// (FuzzParseKV).
func parseKV(b []byte) (k []byte, v wvalue, ok bool) {
	var haveK, haveV bool
	for p := 0; p < len(b); {
		tag := b[p]
		l, n := uvarint2(b[p+1:])
		if n == 0 || uint64(len(b)-p-1-n) < l {
			return parseKVAny(b)
		}
		end := p + 1 + n + int(l)
		f := b[p+1+n : end : end]
		p = end
		switch {
		case tag == 0x0a && !haveK: // key
			haveK, k = true, f
		case tag == 0x12 && !haveV: // value
			haveV = true
			if v, ok = parseScalar(f); !ok {
				return parseKVAny(b)
			}
		default:
			return parseKVAny(b)
		}
	}
	if !haveK || !haveV {
		return parseKVAny(b)
	}
	return k, v, true
}

// pdataKV reads, at the start of msg, the usual attribute as pdata's
// encoder lays it out: the field's tag (given; 0 matches nothing) and a
// one-byte length, then the value (0x12, a one-byte length, one string,
// bool, int or double field) before the key (0x0a, a one-byte length, not
// empty). n is the bytes it took, 0 when msg starts with anything else
// (then the general readers decide). What it reads, parseKV reads alike
// (FuzzPdataKV); it is the loop over a map's entries that matters, and the
// general path's calls and checks were most of it.
func pdataKV(msg []byte, tag byte) (k []byte, v wvalue, n int) {
	if len(msg) < 8 || msg[0] != tag || msg[1] >= 0x80 || msg[2] != 0x12 || msg[3] >= 0x80 {
		return nil, v, 0
	}
	end, ko := 2+int(msg[1]), 4+int(msg[3]) // ko: the key's tag
	if end > len(msg) || ko+3 > end || msg[ko] != 0x0a || int(msg[ko+1]) != end-ko-2 {
		return nil, v, 0
	}
	val := msg[4:ko]
	if len(val) < 2 {
		return nil, v, 0
	}
	switch val[0] {
	case 0x0a: // string_value
		if int(val[1]) != len(val)-2 {
			return nil, v, 0
		}
		v = wvalue{typ: pcommon.ValueTypeStr, b: val[2:]}
	case 0x10, 0x18: // bool_value, int_value
		var u uint64
		switch {
		case len(val) == 2 && val[1] < 0x80:
			u = uint64(val[1])
		case len(val) == 3 && val[1] >= 0x80 && val[2] < 0x80:
			u = uint64(val[1]&0x7f) | uint64(val[2])<<7
		default:
			var m int
			if u, m = protowire.ConsumeVarint(val[1:]); m != len(val)-1 {
				return nil, v, 0
			}
		}
		v = wvalue{typ: pcommon.ValueTypeInt, u: u}
		if val[0] == 0x10 {
			v.typ = pcommon.ValueTypeBool
		}
	case 0x21: // double_value
		if len(val) != 9 {
			return nil, v, 0
		}
		v = wvalue{typ: pcommon.ValueTypeDouble, u: binary.LittleEndian.Uint64(val[1:])}
	default:
		return nil, v, 0
	}
	return msg[ko+2 : end : end], v, end
}

// parseScalar reads an AnyValue that is one string, bool, int or double
// field; ok is false for anything else.
func parseScalar(a []byte) (v wvalue, ok bool) {
	if len(a) < 2 {
		return v, false
	}
	switch a[0] {
	case 0x0a: // string_value
		if l, n := uvarint2(a[1:]); n > 0 && uint64(len(a)-1-n) == l {
			return wvalue{typ: pcommon.ValueTypeStr, b: a[1+n:]}, true
		}
	case 0x10, 0x18: // bool_value, int_value
		if u, n := protowire.ConsumeVarint(a[1:]); n == len(a)-1 {
			if a[0] == 0x10 {
				return wvalue{typ: pcommon.ValueTypeBool, u: u}, true
			}
			return wvalue{typ: pcommon.ValueTypeInt, u: u}, true
		}
	case 0x21: // double_value
		if len(a) == 9 {
			return wvalue{typ: pcommon.ValueTypeDouble, u: binary.LittleEndian.Uint64(a[1:])}, true
		}
	}
	return v, false
}

// parseKVAny reads any KeyValue.
func parseKVAny(b []byte) (k []byte, v wvalue, ok bool) {
	v.typ = pcommon.ValueTypeEmpty
	var seen once
	for len(b) > 0 {
		f, n := next(b)
		if n == 0 || f.typ != protowire.BytesType || !seen.first(f.num) {
			return nil, v, false
		}
		b = b[n:]
		switch f.num {
		case 1:
			k = f.b
		case 2:
			if v, ok = parseAny(f.b); !ok {
				return nil, v, false
			}
		default:
			return nil, v, false
		}
	}
	return k, v, true
}

// appendScalar is appendScalar for a wire value.
func (c *wctx) appendScalar(b []byte, v wvalue, fx *fixes, field string) ([]byte, bool) {
	switch v.typ {
	case pcommon.ValueTypeStr:
		return appendString(b, str(v.b), fx, field), true
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, int64(v.u), 10), true
	case pcommon.ValueTypeDouble:
		return appendFloat(b, math.Float64frombits(v.u)), true
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.u != 0), true
	case pcommon.ValueTypeBytes:
		// base64 needs no escaping.
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.b)
		return append(b, '"'), true
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		inner, ok := c.appendValue(nil, v, fx, field, 0)
		return appendString(b, str(inner), nil, ""), ok
	default:
		return append(b, "null"...), true
	}
}

// appendValue is appendValue for a wire value.
func (c *wctx) appendValue(b []byte, v wvalue, fx *fixes, field string, depth int) ([]byte, bool) {
	switch v.typ {
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		if depth > maxNesting {
			c.tooDeep = true
			return b, false
		}
		if depth == maxDepth {
			fx.add(field, "nesting deeper than 8 levels written as a string")
			inner, ok := c.appendValue(nil, v, nil, field, maxDepth+1)
			return appendString(b, str(inner), nil, ""), ok
		}
		if v.typ == pcommon.ValueTypeMap {
			return c.appendMap(b, attrsOf(v.b, 1, true), mapOut{fx: fx, field: field}, depth+1, nil)
		}
		b = append(b, '[')
		for rest, i := v.b, 0; len(rest) > 0; i++ {
			f, n := next(rest)
			if n == 0 || f.num != 1 || f.typ != protowire.BytesType {
				return b, false
			}
			rest = rest[n:]
			ev, ok := parseAny(f.b)
			if !ok {
				return b, false
			}
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = c.appendValue(b, ev, fx, field, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	default:
		return c.appendScalar(b, v, fx, field)
	}
}

// kvReader reads the KeyValues held as field num of a message (a map's
// entries: KeyValueList.values, Resource.attributes, Span.attributes, ...),
// one at a time.
type kvReader struct {
	msg  []byte // what is left of the message
	num  protowire.Number
	tag  byte // num's one-byte tag; 0 (matching nothing) when it takes two
	only bool // the message holds nothing else: another field is malformed
}

// attrsOf reads the KeyValues held as field num of msg. With only, msg may
// hold nothing else; otherwise its parser has checked the rest.
func attrsOf(msg []byte, num protowire.Number, only bool) kvReader {
	r := kvReader{msg: msg, num: num, only: only}
	if num < 16 {
		r.tag = byte(num)<<3 | byte(protowire.BytesType)
	}
	return r
}

// kvState is what kvReader.next found.
type kvState uint8

const (
	kvOK  kvState = iota // a KeyValue
	kvEnd                // the end of the message
	kvBad                // bytes the wire reader does not take
)

// next reads the next KeyValue: its key, its value and its field's bytes
// (tag and length included, for keyMemo). (The map writers try pdataKV on
// r.msg themselves first: the call and its results were a tenth of a log
// document's time.)
func (r *kvReader) next() (k []byte, v wvalue, wire []byte, st kvState) {
	for len(r.msg) > 0 {
		msg := r.msg
		if k, v, n := pdataKV(msg, r.tag); n > 0 {
			r.msg = msg[n:]
			return k, v, msg[:n:n], kvOK
		}
		var kv []byte
		// The attributes' own tag and a short length are read inline
		// (next is not inlined); the rest of the message through next.
		if l, n := uvarint2(msg[1:]); msg[0] == r.tag && n > 0 && uint64(len(msg)-1-n) >= l {
			end := 1 + n + int(l)
			kv, r.msg = msg[1+n:end:end], msg[end:]
		} else {
			f, n := next(msg)
			if n == 0 {
				return nil, v, nil, kvBad
			}
			r.msg = msg[n:]
			if f.num != r.num {
				if r.only {
					return nil, v, nil, kvBad
				}
				continue
			}
			if f.typ != protowire.BytesType {
				return nil, v, nil, kvBad
			}
			kv = f.b
		}
		k, v, ok := parseKV(kv)
		if !ok {
			return nil, v, nil, kvBad
		}
		n := len(msg) - len(r.msg)
		return k, v, msg[:n:n], kvOK
	}
	return nil, v, nil, kvEnd
}

// mapOut is where a map's entries are written: the fixes and the field
// they are recorded under and, with atKeys, dots in keys written as "@"
// (event and link attributes, as Data Prepper writes them).
type mapOut struct {
	fx     *fixes
	field  string
	atKeys bool
}

// appendMap writes the KeyValues r reads as a JSON object (maps as
// objects, arrays as arrays: log attributes, resource, scope attributes,
// event and link attributes). Empty keys, which no mapping accepts, become
// "_empty"; a key repeated (as written) keeps its first value. With memo,
// attributes that repeat the last map's are written the short way
// (keyMemo).
func (c *wctx) appendMap(b []byte, r kvReader, out mapOut, depth int, memo *keyMemo) ([]byte, bool) {
	b = append(b, '{')
	ks := keySet{at: out.atKeys}
	mw := newMemoWalk(memo)
	first := true
	for {
		if e := mw.replay(r.msg); e != nil {
			// The last map's attribute, byte for byte: so is its output.
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, e.out...)
			r.msg = r.msg[len(e.wire):]
			continue
		}
		kb, v, n := pdataKV(r.msg, r.tag)
		var wire []byte
		if n > 0 {
			wire, r.msg = r.msg[:n:n], r.msg[n:]
		} else {
			var st kvState
			if kb, v, wire, st = r.next(); st != kvOK {
				return append(b, '}'), st == kvEnd
			}
		}
		k := str(kb)
		// e is the memo's entry for this attribute, if any; raw: k is
		// written as it is.
		e := mw.follow(k)
		raw := e != nil
		if e == nil {
			mw.leave(&ks)
			// A plain key (the usual) needs no repair and no escaping.
			if raw = k != "" && plain(k, false); !raw {
				k = sanitizeKey(k, out.fx, out.field)
			}
			// ks.seen(k), its usual case written out: ks is then known
			// to be on this stack, and storing k needs no GC write
			// barrier (with the collector often running, most of seen's
			// cost).
			if w, bit := ks.filterBit(k); ks.filter[w]&bit == 0 && ks.n < len(ks.small) {
				ks.filter[w] |= bit
				ks.small[ks.n] = k
				ks.n++
			} else if ks.seenSlow(k, w, bit) {
				out.fx.add(out.field, "duplicate attribute key dropped")
				continue
			}
			raw = raw && !out.atKeys
			e = mw.note(k, raw)
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		start := len(b)
		if raw {
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, '"', ':')
		} else {
			b = appendKey(b, "", k, out.atKeys)
			b = append(b, ':')
		}
		fixed := out.fx.count()
		switch v.typ { // the usual values without two calls' detour
		case pcommon.ValueTypeStr:
			b = appendString(b, str(v.b), out.fx, out.field)
		case pcommon.ValueTypeInt:
			b = strconv.AppendInt(b, int64(v.u), 10)
		default:
			var ok bool
			if b, ok = c.appendValue(b, v, out.fx, out.field, depth); !ok {
				return b, false
			}
		}
		if e != nil {
			// A value written with nothing to fix is written alike
			// whenever its bytes come again.
			e.remember(wire, b[start:len(b):len(b)], out.fx.count() == fixed)
		}
	}
}

// wServiceName is serviceName for the attributes (field 1) of a Resource:
// pdata's Map.Get finds the first key that matches.
func wServiceName(res []byte) (string, bool) {
	for len(res) > 0 {
		f, n := next(res)
		if n == 0 {
			return "", false
		}
		res = res[n:]
		if f.num != 1 || f.typ != protowire.BytesType {
			continue
		}
		k, v, ok := parseKV(f.b)
		if !ok {
			return "", false
		}
		if str(k) == "service.name" {
			if v.typ == pcommon.ValueTypeStr {
				return str(v.b), true
			}
			return "", true
		}
	}
	return "", true
}

// keyMemo holds the attributes of the last log record of a request, in
// order, while their keys were plain and distinct. The records of one
// instrumentation mostly repeat their keys in the same order, and many of
// their values: while a record's keys are the memo's, each is known to need
// no escaping and to repeat none before it, and is written without those
// checks (they were a fifth of the time spent on attributes); an attribute
// whose bytes are the memo's is written as it was. Everything it refers to
// is the request's (its bytes, its documents), which outlive the memo.
type keyMemo struct {
	e []memoEntry
	n int // the entries in use
}

type memoEntry struct {
	key string
	// name is a flat attribute's member name as written, with its
	// leading comma and colon, and over whether it goes to the overflow
	// (flatAttrs).
	name []byte
	over bool
	// wire is the attribute's field and out its output (`"key":value`),
	// when written with nothing to fix; nil otherwise.
	wire, out []byte
}

// maxMemoKeys bounds the memo.
const maxMemoKeys = 64

// add makes k the key of entry n.
func (m *keyMemo) add(k string) *memoEntry {
	if m.n < len(m.e) {
		// Its name's buffer is kept (and so are the entries after it,
		// for theirs).
		m.e[m.n] = memoEntry{key: k, name: m.e[m.n].name}
	} else {
		m.e = append(m.e, memoEntry{key: k})
	}
	m.n++
	return &m.e[m.n-1]
}

// clear forgets the memo's entries, keeping their names' buffers: what
// they point into (a request's bytes and documents) is not the memo's to
// keep.
func (m *keyMemo) clear() {
	m.e = m.e[:cap(m.e)]
	for i := range m.e {
		m.e[i] = memoEntry{name: m.e[i].name[:0]}
	}
	m.n = 0
}

// remember keeps the attribute's field and output for the next record,
// when its value was written with nothing to fix.
func (e *memoEntry) remember(wire, out []byte, clean bool) {
	e.wire, e.out = nil, nil
	if clean {
		e.wire, e.out = wire, out
	}
}

// memoWalk is one map's walk along a keyMemo: while its keys are the
// memo's, in order, it follows the memo; from the first that is not, it
// teaches the memo its keys.
type memoWalk struct {
	m       *keyMemo
	matched int  // the memo's entries followed so far; -1: not following
	learn   bool // the keys after those go into the memo
}

func newMemoWalk(m *keyMemo) memoWalk {
	if m == nil {
		return memoWalk{matched: -1}
	}
	return memoWalk{m: m, learn: true}
}

// replay returns the memo's next entry when msg starts with the bytes of
// its attribute, whose output it holds.
func (w *memoWalk) replay(msg []byte) *memoEntry {
	if w.matched < 0 || w.matched >= w.m.n {
		return nil
	}
	e := &w.m.e[w.matched]
	if e.out == nil || len(msg) < len(e.wire) || string(msg[:len(e.wire)]) != string(e.wire) {
		return nil
	}
	w.matched++
	return e
}

// follow returns the memo's next entry when its key is k, which is then
// plain and not among the keys before it (the memo's too).
func (w *memoWalk) follow(k string) *memoEntry {
	if w.matched < 0 || w.matched >= w.m.n || k != w.m.e[w.matched].key {
		return nil
	}
	w.matched++
	return &w.m.e[w.matched-1]
}

// leave stops following: the keys followed go into ks, to be checked
// against, and stay the memo's first.
func (w *memoWalk) leave(ks *keySet) {
	if w.matched >= 0 {
		w.stop(ks)
	}
}

func (w *memoWalk) stop(ks *keySet) {
	for i := range w.matched {
		ks.seen(w.m.e[i].key)
	}
	w.m.n = w.matched
	w.matched = -1
}

// note returns a new memo entry for key k while the memo learns: until a
// key that is not raw (needing a repair or escapes) or one too many.
func (w *memoWalk) note(k string, raw bool) *memoEntry {
	if !w.learn {
		return nil
	}
	if raw && w.m.n < maxMemoKeys {
		return w.m.add(k)
	}
	w.learn = false
	return nil
}
