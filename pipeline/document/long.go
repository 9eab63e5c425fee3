package document

import (
	"bytes"
	"unicode/utf8"
)

// Long values. OpenSearch indexes a keyword (and every leaf of a
// flat_object) as one Lucene term, and refuses a whole document holding a
// term over 32766 bytes ("immense term"): an ordinary Java
// exception.stacktrace in a log attribute did that, and the record went to
// the DLQ, never searchable. So a string that an index would take as one
// term is indexed by its prefix, and the whole value is kept in the
// document's "vigil.full" object, which is mapped enabled: false (kept in
// _source, not indexed):
//
//   - log attributes, resource and instrumentationScope.attributes
//     (flat_object): when one of them holds a string longer than
//     MaxFlatValue bytes, each such string is cut to MaxFlatValue bytes in
//     place, and the whole object is written as vigil.full.attributes
//     (.resource, .instrumentationScope.attributes);
//   - span, resource and scope attributes of spans (keyword, ignore_above
//     1024, and the span.attributes.overflow flat_object): a string longer
//     than MaxKeywordValue bytes is cut to MaxKeywordValue bytes, so that
//     its prefix stays searchable, and the whole value is
//     vigil.full["span.attributes.<key>"] (the field's name in the
//     document; "span.attributes.overflow.<key>" for the overflow).
//
// Each cut is listed in vigil.sanitized. The log body is a text field
// (tokens of at most 255 characters) and is never cut. Sizes are counted in
// the JSON-escaped bytes of the value, which are never fewer than its UTF-8
// bytes nor its characters, and a cut never splits an escape or a UTF-8
// sequence; so a cut keyword value stays within ignore_above, and a cut
// flat_object value (at most 3 bytes per byte once invalid UTF-8 is
// replaced) leaves Lucene's limit 8 KB for its path, as flat_object
// indexes "path=value" too. Keys are never cut (two cut alike would repeat
// a key, which OpenSearch refuses). Event and link attributes of spans are
// keyword fields of nested documents, written whole: over ignore_above
// they are kept but not searchable, never refused.
const (
	// MaxFlatValue bounds a string in a log document's flat_object
	// fields (attributes, resource, scope attributes).
	MaxFlatValue = 8192
	// MaxKeywordValue bounds a span document's attribute strings: the
	// keyword mapping's ignore_above, beyond which a value would not be
	// searchable at all (the overflow is bounded alike, so that a span's
	// attributes behave alike wherever their keys go).
	MaxKeywordValue = 1024
)

// cutJSON appends to dst the JSON value v (rendered by this package) with
// every string value (not object keys) longer than limit escaped bytes cut
// to at most limit, and reports whether anything was cut. Keys are left
// whole: cutting two of them alike would make a repeated key, which
// OpenSearch refuses.
func cutJSON(dst, v []byte, limit int) ([]byte, bool) {
	cut := false
	for i := 0; i < len(v); {
		c := v[i]
		if c != '"' {
			dst = append(dst, c)
			i++
			continue
		}
		end := stringEnd(v, i+1) // index of the closing quote
		j := end + 1
		for j < len(v) && (v[j] == ' ' || v[j] == '\n') {
			j++
		}
		isKey := j < len(v) && v[j] == ':'
		body := v[i+1 : end]
		if !isKey && len(body) > limit {
			body = body[:cutPoint(body, limit)]
			cut = true
		}
		dst = append(dst, '"')
		dst = append(dst, body...)
		dst = append(dst, '"')
		i = end + 1
	}
	return dst, cut
}

// stringEnd returns the index of the quote closing the JSON string whose
// contents start at v[from].
func stringEnd(v []byte, from int) int {
	for i := from; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(v)
}

// cutPoint is the largest n <= limit at which the escaped JSON string
// contents s can be cut without splitting an escape sequence or a UTF-8
// sequence.
func cutPoint(s []byte, limit int) int {
	last := 0
	for i := 0; i < len(s); {
		n := 1
		switch c := s[i]; {
		case c == '\\':
			n = 2
			if i+1 < len(s) && s[i+1] == 'u' {
				n = 6
			}
		case c >= utf8.RuneSelf:
			_, n = utf8.DecodeRune(s[i:])
		}
		if i+n > limit {
			return last
		}
		i += n
		last = i
	}
	return last
}

// cutString appends the quoted JSON string q (as appendString writes it)
// cut to at most limit bytes of contents, when it is longer; ok reports a
// cut.
func cutString(dst, q []byte, limit int) (out []byte, ok bool) {
	if len(q) < 2 || q[0] != '"' || len(q)-2 <= limit {
		return append(dst, q...), false
	}
	body := q[1 : len(q)-1]
	dst = append(dst, '"')
	dst = append(dst, body[:cutPoint(body, limit)]...)
	return append(dst, '"'), true
}

// appendLogFull writes a log document's vigil.full member (with its
// leading comma) when any of its flat_object fields was cut: the whole
// objects, nil for the ones that were not.
func appendLogFull(b, attrs, res, scope []byte) []byte {
	if attrs == nil && res == nil && scope == nil {
		return b
	}
	b = append(b, `,"vigil.full":{`...)
	sep := ""
	for _, f := range [...]struct {
		name string
		v    []byte
	}{{"attributes", attrs}, {"resource", res}, {"instrumentationScope.attributes", scope}} {
		if f.v == nil {
			continue
		}
		b = append(b, sep...)
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `":`...)
		b = append(b, f.v...)
		sep = ","
	}
	return append(b, '}')
}

// cutFlat cuts the long strings of obj, the JSON of a flat_object field
// (written at b[from:]), in place: it returns b with the cut object at
// from, and the whole object (a copy) when anything was cut, nil
// otherwise. An object of at most MaxFlatValue bytes holds no long string
// and is returned as it is, at the cost of one comparison; a larger one
// is copied only when it holds one (longString).
func cutFlat(b []byte, from int, fx *fixes, field string) ([]byte, []byte) {
	if len(b)-from <= MaxFlatValue || !longString(b[from:], MaxFlatValue) {
		return b, nil
	}
	whole := append([]byte(nil), b[from:]...)
	out, cut := cutJSON(b[:from], whole, MaxFlatValue)
	if !cut {
		return out, nil // the same bytes
	}
	fx.add(field, "values longer than 8192 bytes indexed by their first 8192 bytes; whole in vigil.full")
	return out, whole
}

// longString reports whether the JSON v holds a string (key or value)
// longer than limit escaped bytes. It finds the quotes with IndexByte, so
// that a large object of short values (many attributes) costs little more
// than a pass over its bytes; a quote is escaped when an odd run of
// backslashes precedes it.
func longString(v []byte, limit int) bool {
	open := -1
	for i := 0; i < len(v); {
		j := bytes.IndexByte(v[i:], '"')
		if j < 0 {
			return false
		}
		q := i + j
		i = q + 1
		n := 0
		for k := q - 1; k >= 0 && v[k] == '\\'; k-- {
			n++
		}
		switch {
		case n%2 == 1: // inside a string
		case open < 0:
			open = q
		default:
			if q-open-1 > limit {
				return true
			}
			open = -1
		}
	}
	return false
}
