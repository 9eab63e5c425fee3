package document

import (
	"errors"
	"strconv"
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
	out = appendGroup(append(out, ','), g)
	return append(out, '}')
}

// noGroup is the trace group members of a span whose root has not been
// seen, as Data Prepper writes them.
const noGroup = `"traceGroup":null,"traceGroupFields":{"endTime":null,"durationInNanos":null,"statusCode":null}`

// appendGroup writes the trace group members, traceGroup and
// traceGroupFields, of g (nil: unknown): Render's last members, and an
// update's (UpdateDoc).
func appendGroup(b []byte, g *TraceGroup) []byte {
	if g == nil {
		return append(b, noGroup...)
	}
	b = append(b, `"traceGroup":`...)
	b = appendString(b, g.Name, nil, "")
	b = append(b, `,"traceGroupFields":{"endTime":`...)
	b = appendSecond(b, int64(g.EndTime/1e9))
	b = appendFraction(b, g.EndTime%1e9)
	b = append(b, `,"durationInNanos":`...)
	b = strconv.AppendInt(b, g.DurationInNanos, 10)
	b = append(b, `,"statusCode":`...)
	b = strconv.AppendInt(b, int64(g.StatusCode), 10)
	return append(b, '}')
}
