package document

import "time"

// Options are the inputs to document building that do not come from the
// OTLP payload.
type Options struct {
	// Now is the wall clock, used to recognise timestamps in the far future.
	Now time.Time
	// MaxFutureSkew is how far ahead of Now a timestamp may be before it is
	// treated as wrong. Zero means 24h.
	MaxFutureSkew time.Duration
	// RecordTime is the Kafka record's timestamp: the fallback for a
	// missing or impossible event time.
	RecordTime time.Time
	// Chunk, if set, gives the empty buffers (of at least n bytes) that
	// log and span documents are written into, so that the caller can
	// reuse them once it is done with the documents (for a Span, once it
	// is rendered and the rendering used: its strings, which a trace's
	// state may keep longer, are not in them). Nil: they are allocated.
	Chunk func(n int) []byte
	// Head, if set, is written before every log document, which is then
	// followed by a newline (Log.Line), and the document's id is written
	// into it at HeadID (IDLen bytes): with opensearch.CreateHead, each
	// document is rendered as its whole line pair in a bulk request, to
	// be sent from where it is, with no copy and no id allocated.
	Head   []byte
	HeadID int
	// Route, if set, picks each resource's log data stream, whose Head and
	// HeadID then replace Options': it is given the string values of the
	// resource's RouteKeys attributes (dataset, namespace; of each list
	// the first key present wins; "" when none is). It is called once per
	// resource, not per record; what it returns is the documents' Stream.
	Route     func(dataset, namespace string) *Stream
	RouteKeys [2][]string
	// SpanFields are the span attribute keys written as fields of their
	// own (SpanFields); the others go into span.attributes.overflow.
	// Nil: the known ones (known.go).
	SpanFields map[string]struct{}
	// Facts, if set, gets SpansOTLP's SpanFacts appended, one for every
	// span of the request (those reported in errs included), in order:
	// what the APM derivation reads, from the same pass.
	Facts *[]SpanFacts
}

// maxDateNanos is the last instant OpenSearch's date_nanos type can hold
// (2262-04-11T23:47:16.854775807Z).
const maxDateNanos = uint64(1<<63 - 1)

// validTime reports whether ns is a usable event time: non-zero and not
// beyond Now+MaxFutureSkew.
func (o Options) validTime(ns uint64) bool {
	if ns == 0 || ns > maxDateNanos {
		return false
	}
	skew := o.MaxFutureSkew
	if skew <= 0 {
		skew = 24 * time.Hour
	}
	if o.Now.IsZero() {
		return true
	}
	limit := o.Now.Add(skew).UnixNano()
	return int64(ns) <= limit
}

func (o Options) recordNanos() uint64 {
	if o.RecordTime.IsZero() || o.RecordTime.UnixNano() <= 0 {
		if o.Now.IsZero() {
			return 0
		}
		return uint64(o.Now.UnixNano())
	}
	return uint64(o.RecordTime.UnixNano())
}
