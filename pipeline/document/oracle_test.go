package document

import (
	"encoding/base64"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The pdata-based renderers' value rules, kept as the oracle the wire
// renderers (wire.go, flat.go) are held to.

// appendScalar writes an attribute value the way Data Prepper does for span,
// resource, event and link attributes: strings, numbers and booleans as
// themselves, bytes as base64, and arrays and maps as a JSON string, so that
// every attribute is a single scalar that a keyword mapping accepts.
func appendScalar(b []byte, v pcommon.Value, fx *fixes, field string) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendString(b, v.Str(), fx, field)
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(b, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		return appendFloat(b, v.Double())
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeBytes:
		return appendString(b, base64.StdEncoding.EncodeToString(v.Bytes().AsRaw()), nil, "")
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		inner := appendValue(nil, v, fx, field, 0)
		return appendString(b, string(inner), nil, "")
	default:
		return append(b, "null"...)
	}
}

// appendValue writes v as structured JSON (maps as objects, arrays as arrays),
// as used for log attributes, resource and body.
func appendValue(b []byte, v pcommon.Value, fx *fixes, field string, depth int) []byte {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		if depth == maxDepth {
			fx.add(field, "nesting deeper than 8 levels written as a string")
			return appendString(b, string(appendValue(nil, v, nil, field, maxDepth+1)), nil, "")
		}
		return appendMap(b, v.Map(), fx, field, depth+1, false)
	case pcommon.ValueTypeSlice:
		if depth == maxDepth {
			fx.add(field, "nesting deeper than 8 levels written as a string")
			return appendString(b, string(appendValue(nil, v, nil, field, maxDepth+1)), nil, "")
		}
		s := v.Slice()
		b = append(b, '[')
		for i := 0; i < s.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, s.At(i), fx, field, depth+1)
		}
		return append(b, ']')
	default:
		return appendScalar(b, v, fx, field)
	}
}

// appendMap writes m as a JSON object. With atKeys, dots in keys become "@"
// (Data Prepper's convention). Empty keys, which no mapping accepts, become
// "_empty"; duplicate keys keep the first value.
func appendMap(b []byte, m pcommon.Map, fx *fixes, field string, depth int, atKeys bool) []byte {
	b = append(b, '{')
	ks := keySet{at: atKeys}
	first := true
	for k, v := range m.All() {
		k = sanitizeKey(k, fx, field)
		if ks.seen(k) {
			fx.add(field, "duplicate attribute key dropped")
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendKey(b, "", k, atKeys)
		b = append(b, ':')
		b = appendValue(b, v, fx, field, depth)
	}
	return append(b, '}')
}

// timeString renders ns as RFC 3339 with up to nine fraction digits, the
// form Data Prepper writes and date_nanos parses (timeText's reference).
func timeString(ns uint64) string {
	return time.Unix(0, int64(ns)).UTC().Format(time.RFC3339Nano)
}

// appendTime writes member k, the time ns (for the oracles).
func appendTime(o *obj, k string, ns uint64) {
	o.key(k)
	o.b = appendSecond(o.b, int64(ns/1e9))
	o.b = appendFraction(o.b, ns%1e9)
}
