package apm

import (
	"strconv"
	"unicode/utf16"
)

// Dashboards deduplicates the application map on nodeConnectionHash and
// operationConnectionHash, the decimal strings of Java's Objects.hash over
// Data Prepper's model objects. They are reproduced here bit for bit, so
// documents from Vigil and from Data Prepper for the same edge carry the
// same hashes and deduplicate together.

// javaString is java.lang.String.hashCode: over UTF-16 code units.
func javaString(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			a, b := utf16.EncodeRune(r)
			h = 31*h + int32(a)
			h = 31*h + int32(b)
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// javaHash is java.util.Objects.hash (Arrays.hashCode) over element hashes.
func javaHash(hs ...int32) int32 {
	h := int32(1)
	for _, x := range hs {
		h = 31*h + x
	}
	return h
}

// javaMap is java.util.Map.hashCode of a map of strings: the sum of
// key.hashCode() ^ value.hashCode() over its entries.
func javaMap(m map[string]string) int32 {
	var h int32
	for k, v := range m {
		h += javaString(k) ^ javaString(v)
	}
	return h
}

func (n *Node) javaHash() int32 {
	if n == nil {
		return 0
	}
	ka := javaHash(javaString(n.KeyAttributes.Environment), javaString(n.KeyAttributes.Name))
	return javaHash(javaString(n.Type), ka, javaMap(n.GroupByAttributes))
}

func opName(o *Operation) (int32, bool) {
	if o == nil {
		return 0, false
	}
	return javaString(o.Name), true
}

// connectionHashes returns nodeConnectionHash and operationConnectionHash
// ("" when neither operation is known, which Data Prepper writes as null).
func connectionHashes(src, dst *Node, srcOp, dstOp *Operation) (node, op string) {
	sh, th := src.javaHash(), dst.javaHash()
	node = strconv.Itoa(int(javaHash(sh, th)))
	so, sok := opName(srcOp)
	to, tok := opName(dstOp)
	if sok || tok {
		op = strconv.Itoa(int(javaHash(sh, th, so, to)))
	}
	return node, op
}
