package document

import (
	"fmt"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var oracleSpanKinds = map[ptrace.SpanKind]string{
	ptrace.SpanKindUnspecified: "SPAN_KIND_UNSPECIFIED",
	ptrace.SpanKindInternal:    "SPAN_KIND_INTERNAL",
	ptrace.SpanKindServer:      "SPAN_KIND_SERVER",
	ptrace.SpanKindClient:      "SPAN_KIND_CLIENT",
	ptrace.SpanKindProducer:    "SPAN_KIND_PRODUCER",
	ptrace.SpanKindConsumer:    "SPAN_KIND_CONSUMER",
}

// oracleSpans is the span document builder from before the wire reader
// (spanwire.go), kept as the reference FuzzSpansOTLP and
// TestSpansWireMatchesOracle compare the wire path against: it reads pdata,
// OTLP's reference decoder.
func oracleSpans(td ptrace.Traces, opt Options) (spans []*Span, errs []error) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		service := serviceName(res)
		// Rendered once per resource; its fixes are copied into each span.
		resFx := &fixes{}
		var resSink attrSink
		resAttrs := flatAttrs(nil, "resource.attributes.", res, resFx, "resource.attributes", &resSink)
		// One sink for the spans: its buffers are copied into each
		// document, so they are reused.
		var sink attrSink
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				sp, err := oracleBuildSpan(ss.Spans().At(k), ss.Scope(), service, resAttrs, resSink.full, resFx, opt, &sink)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				spans = append(spans, sp)
			}
		}
	}
	return spans, errs
}

func oracleBuildSpan(sp ptrace.Span, scope pcommon.InstrumentationScope, service string, resAttrs, resFull []byte, resFx *fixes, opt Options, sink *attrSink) (*Span, error) {
	if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
		return nil, fmt.Errorf("%w: span %q has an empty trace id or span id", ErrInvalidSpan, toValidUTF8(sp.Name()))
	}
	fx := resFx.clone()
	s := &Span{
		TraceID:     sp.TraceID().String(),
		SpanID:      sp.SpanID().String(),
		Name:        sp.Name(),
		ServiceName: service,
		Kind:        oracleSpanKinds[sp.Kind()],
		StatusCode:  int32(sp.Status().Code()),
	}
	if !sp.ParentSpanID().IsEmpty() {
		s.ParentSpanID = sp.ParentSpanID().String()
	}
	if s.Kind == "" {
		s.Kind = "SPAN_KIND_UNSPECIFIED"
		fx.add("kind", "unknown span kind "+strconv.Itoa(int(sp.Kind()))+" written as SPAN_KIND_UNSPECIFIED")
	}
	s.Start, s.End = uint64(sp.StartTimestamp()), uint64(sp.EndTimestamp())
	if !opt.validTime(s.Start) {
		fx.add("startTime", "missing or beyond the future limit; set to the Kafka record time")
		s.Start = opt.recordNanos()
	}
	if !opt.validTime(s.End) || s.End < s.Start {
		fx.add("endTime", "missing, beyond the future limit or before startTime; set to startTime")
		s.End = s.Start
	}

	o := newObj(make([]byte, 0, 1024+len(resAttrs)), fx)
	o.str("traceId", s.TraceID)
	o.str("spanId", s.SpanID)
	o.str("parentSpanId", s.ParentSpanID)
	o.str("traceState", sp.TraceState().AsRaw())
	o.str("name", s.Name)
	o.str("kind", s.Kind)
	appendTime(&o, "startTime", s.Start)
	appendTime(&o, "endTime", s.End)
	o.uint("durationInNanos", s.End-s.Start)
	o.strOrNull("serviceName", service)
	o.int("status.code", int64(s.StatusCode))
	if msg := sp.Status().Message(); msg != "" {
		o.str("status.message", msg)
	}
	o.uint("droppedAttributesCount", uint64(sp.DroppedAttributesCount()))
	o.uint("droppedEventsCount", uint64(sp.DroppedEventsCount()))
	o.uint("droppedLinksCount", uint64(sp.DroppedLinksCount()))
	if name := scope.Name(); name != "" {
		o.str("instrumentationScope.name", name)
	}
	if v := scope.Version(); v != "" {
		o.str("instrumentationScope.version", v)
	}
	sink.known, sink.over, sink.full = nil, sink.over[:0], sink.full[:0]
	o.b = flatAttrs(o.b, "instrumentationScope.attributes.", scope.Attributes(), fx, "instrumentationScope.attributes", sink)
	sink.known = opt.SpanFields
	if sink.known == nil {
		sink.known = knownSpanAttributes
	}
	o.b = flatAttrs(o.b, "span.attributes.", sp.Attributes(), fx, "span.attributes", sink)
	if len(sink.over) > 0 {
		o.key(overflowField)
		o.b = append(o.b, '{')
		o.b = append(o.b, sink.over[1:]...)
		o.b = append(o.b, '}')
	}
	o.b = append(o.b, resAttrs...)

	o.key("events")
	o.b = append(o.b, '[')
	for i := 0; i < sp.Events().Len(); i++ {
		ev := sp.Events().At(i)
		if i > 0 {
			o.b = append(o.b, ',')
		}
		e := newObj(o.b, fx)
		e.str("name", ev.Name())
		if t := uint64(ev.Timestamp()); opt.validTime(t) {
			appendTime(&e, "time", t)
		} else {
			fx.add("events.time", "missing or beyond the future limit; set to startTime")
			appendTime(&e, "time", s.Start)
		}
		e.key("attributes")
		e.b = appendMap(e.b, ev.Attributes(), fx, "events.attributes", 0, true)
		e.uint("droppedAttributesCount", uint64(ev.DroppedAttributesCount()))
		o.b = e.close()
	}
	o.b = append(o.b, ']')

	o.key("links")
	o.b = append(o.b, '[')
	for i := 0; i < sp.Links().Len(); i++ {
		ln := sp.Links().At(i)
		if i > 0 {
			o.b = append(o.b, ',')
		}
		l := newObj(o.b, fx)
		l.str("traceId", ln.TraceID().String())
		l.str("spanId", ln.SpanID().String())
		l.str("traceState", ln.TraceState().AsRaw())
		l.key("attributes")
		l.b = appendMap(l.b, ln.Attributes(), fx, "links.attributes", 0, true)
		l.uint("droppedAttributesCount", uint64(ln.DroppedAttributesCount()))
		o.b = l.close()
	}
	o.b = append(o.b, ']')
	if sink.full = append(sink.full, resFull...); len(sink.full) > 0 {
		o.key("vigil.full")
		o.b = append(o.b, '{')
		o.b = append(o.b, sink.full[1:]...)
		o.b = append(o.b, '}')
	}
	fx.appendTo(&o)
	s.body = o.b
	return s, nil
}

// flatAttrs appends each attribute as a top-level member named prefix+key
// (dots in the key written as "@"), with a leading comma, and returns b;
// with s.known, an attribute whose key is not known goes to s.over instead.
// Values are scalars (see appendScalar), so the keyword dynamic template
// accepts every one of them whatever type an earlier document used. A
// value longer than MaxKeywordValue bytes is written cut, and whole in
// s.full.
func flatAttrs(b []byte, prefix string, m pcommon.Map, fx *fixes, field string, s *attrSink) []byte {
	ks := keySet{at: true}
	for k, v := range m.All() {
		k = sanitizeKey(k, fx, field)
		if ks.seen(k) {
			fx.add(field, "duplicate attribute key dropped")
			continue
		}
		dst, name := &b, prefix
		if s.known != nil {
			if _, known := s.known[k]; !known {
				dst, name = &s.over, overflowField+"."
			}
		}
		*dst = append(*dst, ',')
		if dst == &b {
			*dst = appendKey(*dst, prefix, k, true)
		} else {
			*dst = appendKey(*dst, "", k, false)
		}
		*dst = append(*dst, ':')
		start := len(*dst)
		*dst = appendScalar(*dst, v, fx, field)
		if len(*dst)-start > MaxKeywordValue+2 && (*dst)[start] == '"' {
			whole := append([]byte(nil), (*dst)[start:]...)
			*dst, _ = cutString((*dst)[:start], whole, MaxKeywordValue)
			fx.add(field, "values longer than 1024 bytes indexed by their first 1024 bytes; whole in vigil.full")
			s.full = append(s.full, ',')
			s.full = appendKey(s.full, name, k, dst == &b)
			s.full = append(s.full, ':')
			s.full = append(s.full, whole...)
		}
	}
	return b
}

// serviceName is the resource's service.name, as Data Prepper reads it.
func serviceName(res pcommon.Map) string {
	if v, ok := res.Get("service.name"); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}
