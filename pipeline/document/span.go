package document

import (
	"errors"
)

// Span is one span document before its trace group is known. Render
// produces the final JSON once the trace group has been resolved (or given
// up on).
type Span struct {
	TraceID      string
	SpanID       string
	ParentSpanID string
	Name         string
	ServiceName  string
	Kind         string
	// Start and End are Unix nanoseconds after sanitising.
	Start, End uint64
	StatusCode int32

	// body holds every member except the trace group ones, starting with
	// '{' and not closed. Its capacity beyond is the room for the first
	// Render's members.
	body     []byte
	rendered bool
}

// TraceGroup is what a trace's root span lends to every span of the trace:
// the fields Dashboards' Trace Analytics groups and filters traces by.
type TraceGroup struct {
	Name            string
	EndTime         uint64
	DurationInNanos int64
	StatusCode      int32
}

// ErrInvalidSpan marks a span that cannot be indexed at all: without a trace
// id and span id it can neither be joined into a trace nor given a stable
// document id.
var ErrInvalidSpan = errors.New("invalid span")

// ID is the document id: trace id and span id in hex, so that redelivery
// and DLQ replay of the same span never create a second document.
func (s *Span) ID() string { return s.TraceID + "-" + s.SpanID }

// IsRoot reports whether the span starts its trace (no parent).
func (s *Span) IsRoot() bool { return s.ParentSpanID == "" }

// Group is the trace group this span defines when it is the root.
func (s *Span) Group() TraceGroup {
	return TraceGroup{Name: s.Name, EndTime: s.End, DurationInNanos: int64(s.End - s.Start), StatusCode: s.StatusCode}
}

// Size is an estimate of the rendered document's size in bytes.
func (s *Span) Size() int { return len(s.body) + 160 + len(s.Name) }

// Render returns the span's JSON document. With g nil, traceGroup and
// traceGroupFields are null, as Data Prepper writes a child span whose root
// has not been seen.
//
// The first rendering is written after the body, in the room left for it,
// which saves a copy of the body; later ones (the pipeline renders a span
// once, but nothing depends on that) are copies. A span is not rendered
// by two goroutines at once.
func (s *Span) Render(g *TraceGroup) []byte {
	var out []byte
	if !s.rendered && cap(s.body) > len(s.body) {
		out = s.body
	} else {
		out = append(make([]byte, 0, s.Size()), s.body...)
	}
	s.rendered = true
	o := obj{b: out, first: false}
	if g == nil {
		o.raw("traceGroup", []byte("null"))
		o.raw("traceGroupFields", []byte(`{"endTime":null,"durationInNanos":null,"statusCode":null}`))
		return o.close()
	}
	o.str("traceGroup", g.Name)
	o.key("traceGroupFields")
	f := newObj(o.b, nil)
	appendTime(&f, "endTime", g.EndTime)
	f.int("durationInNanos", g.DurationInNanos)
	f.int("statusCode", int64(g.StatusCode))
	o.b = f.close()
	return o.close()
}
