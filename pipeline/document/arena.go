package document

import (
	"strings"
	"unsafe"
)

// arena hands out the document buffers of one request from a few large
// chunks instead of one growing allocation per document. The documents of
// one request live exactly as long as each other (until their Kafka record
// is finished), so sharing chunks holds no memory longer, and it saves the
// pipeline hundreds of allocations, growth copies and zeroings per record.
type arena struct {
	buf   []byte
	chunk func(n int) []byte // Options.Chunk
	// used and docs measure the documents kept so far, to size the next
	// chunk by their average rather than by the (generous) estimate.
	used, docs int
}

// maxChunk bounds one chunk; a chunk is sized for the documents left in the
// request (so a one-record request gets a one-document chunk).
const maxChunk = 1 << 20

// firstDocs is how many documents the first chunk is sized for by the
// estimate, before there is an average.
const firstDocs = 8

// tail returns an empty slice with room for need bytes, to append one
// document to; left is how many documents the request still has.
//
// The first chunk is sized by the estimate for at most firstDocs
// documents (a small request's all), and the next by the documents'
// average for all the rest but the last, which gets the estimate: chunks
// sized by the estimate for every document were an eighth (spans) to a
// half (logs) larger than the documents, and allocating (and so
// collecting) the bytes of a request's documents was more of their cost
// than writing them.
func (a *arena) tail(need, left int) []byte {
	if cap(a.buf)-len(a.buf) < need {
		n := need * min(max(left, 1), firstDocs)
		if a.docs > 0 {
			per := a.used / a.docs
			n = max(need, min((per+per/64)*max(left-1, 0)+need, maxChunk))
		}
		if a.chunk != nil {
			a.buf = a.chunk(n)[:0]
		} else {
			a.buf = newChunk(n)
		}
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// keep takes a document built by appending to the last tail: if it fitted
// there, the arena moves past it (if it outgrew it, append gave it its own
// array and the tail stays free). Its capacity is cut to its length, so that
// nothing appended to it later can overwrite a neighbour.
func (a *arena) keep(doc []byte) []byte {
	rest := a.buf[len(a.buf):cap(a.buf)]
	if len(doc) > 0 && len(rest) >= len(doc) && unsafe.SliceData(doc) == unsafe.SliceData(rest) {
		a.buf = a.buf[:len(a.buf)+len(doc)]
	}
	a.used += len(doc)
	a.docs++
	return doc[:len(doc):len(doc)]
}

// newChunk returns an empty buffer with room for n bytes, not zeroed:
// every byte of it a document is made of is written before it is read,
// and zeroing a request's chunks first was a tenth of its documents'
// cost. strings.Builder is the one public way to such memory (its Grow
// does not zero); its String shares the builder's buffer, which the
// buffer returned here is then, as long as a second String is the same
// (otherwise the builder copies, and the chunk is made the usual way).
func newChunk(n int) []byte {
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0)
	s := sb.String()
	sb.WriteByte(0)
	if unsafe.StringData(sb.String()) != unsafe.StringData(s) {
		return make([]byte, 0, n)
	}
	return unsafe.Slice(unsafe.StringData(s), sb.Cap())[:0]
}
