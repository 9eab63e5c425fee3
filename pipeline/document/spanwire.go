package document

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file renders span documents from the wire bytes of an OTLP
// ExportTraceServiceRequest (trace.proto's field numbers), as log.go does
// for logs, with the same reader (wire.go) and the same rules for values,
// keys, timestamps and long values. FuzzSpansOTLP holds it to the
// pdata-based renderer it replaced (span_oracle_test.go).

// SpansOTLP builds a document for every span of b, an OTLP
// ExportTraceServiceRequest in protobuf (the collector's otlp_proto
// encoding). A span that cannot be indexed is reported in errs (each
// wrapping ErrInvalidSpan) and left out; everything else that is wrong with
// a span is repaired and recorded in its vigil.sanitized field. err is
// pdata's, for bytes that are not such a request, or ErrTooDeep.
func SpansOTLP(b []byte, opt Options) (spans []*Span, errs []error, err error) {
	spans, errs, err = spansWire(b, opt)
	if err == nil || err == ErrTooDeep {
		return spans, errs, err
	}
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		return nil, nil, err
	}
	return spansOf(td, opt)
}

// Spans builds the documents of td (decoded from otlp_json, say) exactly as
// SpansOTLP does from its protobuf encoding. A request that cannot be
// rendered at all (ErrTooDeep) is the one error in errs.
func Spans(td ptrace.Traces, opt Options) (spans []*Span, errs []error) {
	spans, errs, err := spansOf(td, opt)
	if err != nil {
		return nil, []error{err}
	}
	return spans, errs
}

func spansOf(td ptrace.Traces, opt Options) ([]*Span, []error, error) {
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		return nil, nil, fmt.Errorf("document: encode spans: %w", err)
	}
	spans, errs, err := spansWire(b, opt)
	if errors.Is(err, errGiveUp) {
		// pdata's encoder writes only what the wire reader takes
		// (FuzzSpansOTLP), so this is a bug; the record goes to the DLQ.
		return nil, nil, fmt.Errorf("document: %d spans that pdata encodes unreadably: %w", td.SpanCount(), err)
	}
	return spans, errs, err
}

// spansWire renders b's documents from its wire form; err is errGiveUp or
// ErrTooDeep.
func spansWire(b []byte, opt Options) ([]*Span, []error, error) {
	// ResourceSpans and ScopeSpans number their fields as ResourceLogs
	// and ScopeLogs do.
	n, ok := countRecords(b)
	if !ok {
		return nil, nil, errGiveUp
	}
	w := spanWriters.Get().(*spanWriter)
	defer w.release()
	w.docs, w.left, w.opt = make([]Span, 0, n), n, opt
	w.a.chunk = opt.Chunk
	w.known = opt.SpanFields
	if opt.Facts != nil {
		w.factsOut = *opt.Facts
	}
	if w.known == nil {
		w.known = knownSpanAttributes
	}
	for len(b) > 0 {
		f, m := next(b)
		b = b[m:]
		if !w.resourceSpans(f.b) {
			if w.tooDeep {
				return nil, nil, ErrTooDeep
			}
			return nil, nil, errGiveUp
		}
	}
	if opt.Facts != nil {
		*opt.Facts = w.factsOut // only now: a request given up on adds none
	}
	spans := make([]*Span, len(w.docs))
	for i := range w.docs {
		spans[i] = &w.docs[i]
	}
	return spans, w.errs, nil
}

// spanWriters keeps spanWriters, whose buffers (the resource's and the
// scope's members, the overflow, the memo's names) are a request's
// scratch: growing them anew for every request was a tenth of its
// allocations. Nothing a request returns points into them; release drops
// what points into the request (its bytes, its documents).
var spanWriters = sync.Pool{New: func() any { return new(spanWriter) }}

// release clears w of the request and gives it back to spanWriters.
func (w *spanWriter) release() {
	*w = spanWriter{
		svcMember: w.svcMember[:0], resFlat: w.resFlat[:0], scopeFlat: w.scopeFlat[:0],
		fx: w.fx, sink: attrSink{over: w.sink.over[:0], full: w.sink.full[:0]},
		memo: w.memo, times: w.times,
	}
	w.fx.resetTo(nil)
	w.memo.clear()
	spanWriters.Put(w)
}

// spanWriter renders one request's span documents.
type spanWriter struct {
	wctx
	docs  []Span
	errs  []error
	left  int // spans not yet rendered, to size the arena
	a     arena
	opt   Options
	known map[string]struct{} // span attribute keys that are fields

	// Of the current resource: rendered once.
	service   string // a copy: trace state outlives the request
	svcMember []byte // the serviceName member, with its leading comma
	resFlat   []byte // the resource attributes as top-level members
	resFull   []byte // vigil.full's members for resFlat's cut values
	// Of the current scope: its members (name, version, attributes) and
	// the fixes every span under it records.
	scopeFlat []byte
	scopeFull []byte
	scopeFx   *fixes

	fx    fixes    // the span being rendered
	sink  attrSink // its span attributes' overflow and vigil.full
	memo  keyMemo  // the last span's attributes
	times timeText

	// Options.Facts' spans so far, and the current resource's facts.
	factsOut []SpanFacts
	resFacts *FactAttrs
}

func (w *spanWriter) resourceSpans(rs []byte) bool {
	res := fieldOf(rs, 1)
	service, ok := wServiceName(res)
	if !ok {
		return false
	}
	if service != w.service {
		w.service = string(service)
	}
	if !w.resourceFacts(res) {
		return false
	}
	resFx := &fixes{}
	w.svcMember = append(w.svcMember[:0], `,"serviceName":`...)
	if service == "" {
		w.svcMember = append(w.svcMember, "null"...)
	} else {
		w.svcMember = appendString(w.svcMember, service, resFx, "serviceName")
	}
	sink := attrSink{}
	if w.resFlat, ok = w.flatAttrs(w.resFlat[:0], attrsOf(res, 1, false), "resource.attributes.", resFx, "resource.attributes", &sink, nil); !ok {
		return false
	}
	w.resFull = sink.full
	for b := rs; len(b) > 0; {
		f, n := next(b)
		b = b[n:]
		if f.num == 2 && !w.scopeSpans(f.b, resFx) {
			return false
		}
	}
	return true
}

func (w *spanWriter) scopeSpans(ss []byte, resFx *fixes) bool {
	if !w.renderScope(fieldOf(ss, 1), resFx) {
		return false
	}
	for b := ss; len(b) > 0; {
		f, n := next(b)
		b = b[n:]
		if f.num == 2 && !w.span(f.b) {
			return false
		}
	}
	return true
}

// renderScope renders an InstrumentationScope as the members every span
// document under it has.
func (w *spanWriter) renderScope(scope []byte, resFx *fixes) bool {
	name, version, attrs, _, ok := parseScope(scope)
	if !ok {
		return false
	}
	w.scopeFx = resFx.clone()
	b := w.scopeFlat[:0]
	if len(name) > 0 {
		b = append(b, `,"instrumentationScope.name":`...)
		b = appendString(b, str(name), w.scopeFx, "instrumentationScope.name")
	}
	if len(version) > 0 {
		b = append(b, `,"instrumentationScope.version":`...)
		b = appendString(b, str(version), w.scopeFx, "instrumentationScope.version")
	}
	sink := attrSink{}
	if attrs {
		if b, ok = w.flatAttrs(b, attrsOf(scope, 3, false), "instrumentationScope.attributes.", w.scopeFx, "instrumentationScope.attributes", &sink, nil); !ok {
			return false
		}
	}
	w.scopeFlat, w.scopeFull = b, sink.full
	return true
}

// wspan is a Span's fields.
type wspan struct {
	traceID, spanID, parentID []byte
	traceState, name          []byte
	kind                      int32
	start, end                uint64
	dropAttrs, dropEvents     uint32
	dropLinks                 uint32
	statusCode                int32
	statusMsg                 []byte
	// attrs, events and links span their fields (and whatever other
	// fields lie between them) in the span's bytes; nil when none.
	attrs, events, links []byte
}

// parseSpan reads a Span's fields. (Its results, unlike a pointer's
// target, are known to be on the stack: writing them needs no GC write
// barrier.)
func parseSpan(rec []byte) (s wspan, ok bool) {
	var seen once
	var r [3]span3 // attributes, events, links
	for b := rec; len(b) > 0; {
		at := len(rec) - len(b)
		// Runs of attributes, events or links, most of a span's fields,
		// are skipped inline, as pdata writes them (next is not inlined).
		if t := b[0]; t == 9<<3|byte(protowire.BytesType) || t == 11<<3|byte(protowire.BytesType) || t == 13<<3|byte(protowire.BytesType) {
			rest := b
			for len(rest) >= 2 && rest[0] == t && rest[1] < 0x80 && int(rest[1])+2 <= len(rest) {
				rest = rest[2+int(rest[1]):]
			}
			if len(rest) < len(b) {
				b = rest
				r[(t>>3-9)/2].add(at, len(rec)-len(b))
				continue
			}
		}
		f, n := next(b)
		if n == 0 {
			return s, false
		}
		b = b[n:]
		switch f.num {
		case 9, 11, 13:
			if f.typ != protowire.BytesType {
				return s, false
			}
			r[(f.num-9)/2].add(at, len(rec)-len(b))
			continue
		}
		if !seen.first(f.num) {
			return s, false
		}
		switch {
		case f.num == 1 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 16):
			s.traceID = f.b
		case f.num == 2 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 8):
			s.spanID = f.b
		case f.num == 3 && f.typ == protowire.BytesType:
			s.traceState = f.b
		case f.num == 4 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 8):
			s.parentID = f.b
		case f.num == 5 && f.typ == protowire.BytesType:
			s.name = f.b
		case f.num == 6 && f.typ == protowire.VarintType:
			s.kind = int32(f.u)
		case f.num == 7 && f.typ == protowire.Fixed64Type:
			s.start = f.u
		case f.num == 8 && f.typ == protowire.Fixed64Type:
			s.end = f.u
		case f.num == 10 && f.typ == protowire.VarintType:
			s.dropAttrs = uint32(f.u)
		case f.num == 12 && f.typ == protowire.VarintType:
			s.dropEvents = uint32(f.u)
		case f.num == 14 && f.typ == protowire.VarintType:
			s.dropLinks = uint32(f.u)
		case f.num == 15 && f.typ == protowire.BytesType:
			if s.statusMsg, s.statusCode, ok = parseStatus(f.b); !ok {
				return s, false
			}
		case f.num == 16 && f.typ == protowire.Fixed32Type:
		default:
			return s, false
		}
	}
	s.attrs, s.events, s.links = r[0].of(rec), r[1].of(rec), r[2].of(rec)
	return s, true
}

// span3 is where a repeated field's occurrences lie in a message: from
// the first's start to the last's end.
type span3 struct{ from, to int }

func (r *span3) add(from, to int) {
	if r.to == 0 {
		r.from = from
	}
	r.to = to
}

func (r span3) of(msg []byte) []byte {
	if r.to == 0 {
		return nil
	}
	return msg[r.from:r.to]
}

func parseStatus(b []byte) (msg []byte, code int32, ok bool) {
	var seen once
	for len(b) > 0 {
		f, n := next(b)
		if n == 0 || !seen.first(f.num) {
			return nil, 0, false
		}
		b = b[n:]
		switch {
		case f.num == 2 && f.typ == protowire.BytesType:
			msg = f.b
		case f.num == 3 && f.typ == protowire.VarintType:
			code = int32(f.u)
		default:
			return nil, 0, false
		}
	}
	return msg, code, true
}

// spanRoom is the room left after a span's body for Render to write the
// trace group members into: enough for a name of about 100 bytes.
const spanRoom = 224

// spanKinds are the kinds' names, as Data Prepper writes them.
var spanKinds = [...]string{
	ptrace.SpanKindUnspecified: "SPAN_KIND_UNSPECIFIED",
	ptrace.SpanKindInternal:    "SPAN_KIND_INTERNAL",
	ptrace.SpanKindServer:      "SPAN_KIND_SERVER",
	ptrace.SpanKindClient:      "SPAN_KIND_CLIENT",
	ptrace.SpanKindProducer:    "SPAN_KIND_PRODUCER",
	ptrace.SpanKindConsumer:    "SPAN_KIND_CONSUMER",
}

// span renders one Span. A span without trace id or span id is rendered
// all the same (its bytes are checked as pdata would check them) and then
// reported instead of kept.
func (w *spanWriter) span(rec []byte) bool {
	s, ok := parseSpan(rec)
	if !ok || !w.facts(&s) {
		return false
	}
	fx := &w.fx
	fx.resetTo(w.scopeFx)
	s.repair(w.opt, fx)
	// A close guess of the document's size: the arena is sized by it (a
	// document that outgrows it is copied once).
	dst := w.a.tail(512+spanRoom+len(rec)*3/2+len(w.scopeFlat)+len(w.resFlat), w.left)
	w.left--
	b := w.head(dst, &s, fx)
	if b, ok = w.attributes(b, &s, fx); !ok {
		return false
	}
	if b, ok = w.events(b, s.events, s.start, fx); !ok {
		return false
	}
	if b, ok = w.links(b, s.links, fx); !ok {
		return false
	}
	if w.sink.full = append(w.sink.full, w.resFull...); len(w.sink.full) > 0 {
		b = append(b, `,"vigil.full":{`...)
		b = append(b, w.sink.full[1:]...)
		b = append(b, '}')
	}
	o := obj{b: b, fix: fx}
	fx.appendTo(&o)
	b = o.b // Render closes it

	if unsafe.SliceData(b) != unsafe.SliceData(dst) {
		// The document outgrew the arena's tail and moved: the memo's
		// outputs of this span point into the tail, which the next
		// document overwrites.
		w.memo.n = 0
	}
	if zero(s.traceID) || zero(s.spanID) {
		// Not kept: its tail is the next document's.
		w.memo.n = 0
		w.errs = append(w.errs, fmt.Errorf("%w: span %q has an empty trace id or span id", ErrInvalidSpan, toValidUTF8(string(s.name))))
		return true
	}
	w.keep(b, &s)
	return true
}

// repair replaces an unknown kind and impossible times, and records each
// fix.
func (s *wspan) repair(opt Options, fx *fixes) {
	if s.kind < 0 || int(s.kind) >= len(spanKinds) {
		fx.add("kind", "unknown span kind "+strconv.Itoa(int(s.kind))+" written as SPAN_KIND_UNSPECIFIED")
		s.kind = int32(ptrace.SpanKindUnspecified)
	}
	if !opt.validTime(s.start) {
		fx.add("startTime", "missing or beyond the future limit; set to the Kafka record time")
		s.start = opt.recordNanos()
	}
	if !opt.validTime(s.end) || s.end < s.start {
		fx.add("endTime", "missing, beyond the future limit or before startTime; set to startTime")
		s.end = s.start
	}
}

// Where head writes the ids' hex in a document.
const (
	traceIDAt  = len(`{"traceId":"`)
	spanIDAt   = traceIDAt + 32 + len(`","spanId":"`)
	parentIDAt = spanIDAt + 16 + len(`","parentSpanId":"`)
)

// head writes the span's own members, from traceId to the scope's.
func (w *spanWriter) head(b []byte, s *wspan, fx *fixes) []byte {
	b = append(b, `{"traceId":"`...)
	b = hex.AppendEncode(b, s.traceID)
	b = append(b, `","spanId":"`...)
	b = hex.AppendEncode(b, s.spanID)
	b = append(b, `","parentSpanId":"`...)
	if !zero(s.parentID) {
		b = hex.AppendEncode(b, s.parentID)
	}
	b = append(b, `","traceState":`...)
	b = appendString(b, str(s.traceState), fx, "traceState")
	b = append(b, `,"name":`...)
	b = appendString(b, str(s.name), fx, "name")
	b = append(b, `,"kind":"`...)
	b = append(b, spanKinds[s.kind]...)
	b = append(b, `","startTime":`...)
	b = w.times.append(b, s.start)
	b = append(b, `,"endTime":`...)
	b = w.times.append(b, s.end)
	b = append(b, `,"durationInNanos":`...)
	b = strconv.AppendUint(b, s.end-s.start, 10)
	b = append(b, w.svcMember...)
	b = append(b, `,"status.code":`...)
	b = strconv.AppendInt(b, int64(s.statusCode), 10)
	if len(s.statusMsg) > 0 {
		b = append(b, `,"status.message":`...)
		b = appendString(b, str(s.statusMsg), fx, "status.message")
	}
	b = append(b, `,"droppedAttributesCount":`...)
	b = strconv.AppendUint(b, uint64(s.dropAttrs), 10)
	b = append(b, `,"droppedEventsCount":`...)
	b = strconv.AppendUint(b, uint64(s.dropEvents), 10)
	b = append(b, `,"droppedLinksCount":`...)
	b = strconv.AppendUint(b, uint64(s.dropLinks), 10)
	return append(b, w.scopeFlat...)
}

// attributes writes the span's attributes as fields, the overflow, and
// the resource's; w.sink.full is then the scope's and the span's long
// values.
func (w *spanWriter) attributes(b []byte, s *wspan, fx *fixes) ([]byte, bool) {
	sink := &w.sink
	sink.known, sink.over, sink.full = w.known, sink.over[:0], append(sink.full[:0], w.scopeFull...)
	if len(s.attrs) > 0 {
		var ok bool
		if b, ok = w.flatAttrs(b, attrsOf(s.attrs, 9, false), "span.attributes.", fx, "span.attributes", sink, &w.memo); !ok {
			return b, false
		}
	}
	if len(sink.over) > 0 {
		b = append(b, `,"`+overflowField+`":{`...)
		b = append(b, sink.over[1:]...)
		b = append(b, '}')
	}
	return append(b, w.resFlat...), true
}

// keep keeps the document b of s in the arena and adds its Span.
func (w *spanWriter) keep(b []byte, s *wspan) {
	if cap(b)-len(b) >= spanRoom {
		// Room for Render to write the trace group into.
		b = w.a.keep(b[:len(b)+spanRoom])[:len(b)]
	} else {
		b = w.a.keep(b)
	}
	// The strings a span lends the trace buffer, which remembers them
	// longer than the request: their own allocation, not the request's.
	// The ids' hex is the document's (head).
	strs := make([]byte, 0, 64+len(s.name))
	strs = append(strs, b[traceIDAt:traceIDAt+32]...)
	strs = append(strs, b[spanIDAt:spanIDAt+16]...)
	if !zero(s.parentID) {
		strs = append(strs, b[parentIDAt:parentIDAt+16]...)
	}
	strs = append(strs, s.name...)
	sp := Span{
		TraceID:     unsafe.String(&strs[0], 32),
		SpanID:      unsafe.String(&strs[32], 16),
		ServiceName: w.service,
		Kind:        spanKinds[s.kind],
		Start:       s.start,
		End:         s.end,
		StatusCode:  s.statusCode,
		body:        b,
	}
	if !zero(s.parentID) {
		sp.ParentSpanID = unsafe.String(&strs[48], 16)
	}
	if len(s.name) > 0 {
		sp.Name = unsafe.String(&strs[len(strs)-len(s.name)], len(s.name))
	}
	w.docs = append(w.docs, sp)
}

// events renders a span's events (the Event fields in evs) as the events
// member; an event without a valid time gets the span's start.
func (w *spanWriter) events(b, evs []byte, start uint64, fx *fixes) ([]byte, bool) {
	return w.nested(append(b, `,"events":[`...), evs, 11, func(b, ev []byte) ([]byte, bool) {
		var t uint64
		var name []byte
		var dropped uint32
		var attrs span3
		var seen once
		for e := ev; len(e) > 0; {
			f, n := next(e)
			if n == 0 {
				return b, false
			}
			at := len(ev) - len(e)
			e = e[n:]
			switch {
			case f.num == 1 && f.typ == protowire.Fixed64Type && seen.first(1):
				t = f.u
			case f.num == 2 && f.typ == protowire.BytesType && seen.first(2):
				name = f.b
			case f.num == 3 && f.typ == protowire.BytesType:
				attrs.add(at, at+n)
			case f.num == 4 && f.typ == protowire.VarintType && seen.first(4):
				dropped = uint32(f.u)
			default:
				return b, false
			}
		}
		b = append(b, `{"name":`...)
		b = appendString(b, str(name), fx, "name")
		b = append(b, `,"time":`...)
		if !w.opt.validTime(t) {
			fx.add("events.time", "missing or beyond the future limit; set to startTime")
			t = start
		}
		b = w.times.append(b, t)
		return w.closeNested(b, attrs.of(ev), 3, "events.attributes", dropped, fx)
	})
}

// links renders a span's links (the Link fields in lns) as the links
// member.
func (w *spanWriter) links(b, lns []byte, fx *fixes) ([]byte, bool) {
	return w.nested(append(b, `,"links":[`...), lns, 13, func(b, ln []byte) ([]byte, bool) {
		var traceID, spanID, state []byte
		var dropped uint32
		var attrs span3
		var seen once
		for l := ln; len(l) > 0; {
			f, n := next(l)
			if n == 0 {
				return b, false
			}
			at := len(ln) - len(l)
			l = l[n:]
			if f.num != 4 && !seen.first(f.num) {
				return b, false
			}
			switch {
			case f.num == 1 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 16):
				traceID = f.b
			case f.num == 2 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 8):
				spanID = f.b
			case f.num == 3 && f.typ == protowire.BytesType:
				state = f.b
			case f.num == 4 && f.typ == protowire.BytesType:
				attrs.add(at, at+n)
			case f.num == 5 && f.typ == protowire.VarintType:
				dropped = uint32(f.u)
			case f.num == 6 && f.typ == protowire.Fixed32Type:
			default:
				return b, false
			}
		}
		// An all-zero id is empty, as pdata's String writes it.
		b = append(b, `{"traceId":"`...)
		if !zero(traceID) {
			b = hex.AppendEncode(b, traceID)
		}
		b = append(b, `","spanId":"`...)
		if !zero(spanID) {
			b = hex.AppendEncode(b, spanID)
		}
		b = append(b, `","traceState":`...)
		b = appendString(b, str(state), fx, "traceState")
		return w.closeNested(b, attrs.of(ln), 4, "links.attributes", dropped, fx)
	})
}

// nested writes each field num of msg (a span's events or links) with
// one, separated by commas, and closes the array one opened.
func (w *spanWriter) nested(b, msg []byte, num protowire.Number, one func(b, m []byte) ([]byte, bool)) ([]byte, bool) {
	first := true
	for len(msg) > 0 {
		f, n := next(msg)
		msg = msg[n:]
		if f.num != num {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		var ok bool
		if b, ok = one(b, f.b); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// closeNested ends an event's or link's object: its attributes (the fields
// num of attrs, which spans them and whatever lies between them; nil when
// there are none), dots in keys as "@", and droppedAttributesCount.
func (w *spanWriter) closeNested(b, attrs []byte, num protowire.Number, field string, dropped uint32, fx *fixes) ([]byte, bool) {
	b = append(b, `,"attributes":`...)
	if attrs != nil {
		var ok bool
		if b, ok = w.appendMap(b, attrsOf(attrs, num, false), mapOut{fx: fx, field: field, atKeys: true}, 0, nil); !ok {
			return b, false
		}
	} else {
		b = append(b, '{', '}')
	}
	b = append(b, `,"droppedAttributesCount":`...)
	b = strconv.AppendUint(b, uint64(dropped), 10)
	return append(b, '}'), true
}
