package document

import (
	"encoding/hex"
	"strconv"

	"github.com/zeebo/xxh3"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// oracleLogs is the log document builder from before the wire decoder
// (wire.go, log.go), kept as the reference the fuzz test compares the
// wire path against: it reads pdata, OTLP's reference decoder.
func oracleLogs(ld plog.Logs, opt Options) []Log {
	left := ld.LogRecordCount()
	out := make([]Log, 0, left)
	var a arena
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource()
		service := serviceName(res.Attributes())
		// The resource is the same for every record under it: render it
		// once (fixes are recorded per document below).
		resFx := &fixes{}
		resJSON := appendMap(nil, res.Attributes(), resFx, "resource", 0, false)
		resJSON, resFull := cutFlat(resJSON, 0, resFx, "resource")
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				dst := a.tail(oracleEstimate(lr, len(resJSON)), left)
				d := oracleBuildLog(dst, lr, sl.Scope(), rl.SchemaUrl(), service, res, resJSON, resFull, resFx, opt)
				d.Body = a.keep(d.Body)
				out = append(out, d)
				left--
			}
		}
	}
	oracleDistinguishRepeats(out)
	return out
}

// estimateLog is a generous guess of lr's document size, so that it is
// rendered without growing its buffer.
func oracleEstimate(lr plog.LogRecord, resJSON int) int {
	n := 512 + resJSON + lr.Attributes().Len()*48
	if lr.Body().Type() == pcommon.ValueTypeStr {
		n += len(lr.Body().Str()) * 9 / 8
	}
	return n
}

func oracleBuildLog(dst []byte, lr plog.LogRecord, scope pcommon.InstrumentationScope, schemaURL, service string, res pcommon.Resource, resJSON, resFull []byte, resFx *fixes, opt Options) Log {
	fx := resFx.clone()
	ts := uint64(lr.Timestamp())
	observed := uint64(lr.ObservedTimestamp())
	if observed != 0 && !opt.validTime(observed) {
		fx.add("observedTimestamp", "beyond the future limit; dropped")
		observed = 0
	}
	if !opt.validTime(ts) {
		if observed != 0 {
			fx.add("@timestamp", "missing or beyond the future limit; set to observedTimestamp")
			ts = observed
		} else {
			fx.add("@timestamp", "missing or beyond the future limit; set to the Kafka record time")
			ts = opt.recordNanos()
		}
	}

	o := newObj(dst, fx)
	appendTime(&o, "@timestamp", ts)
	appendTime(&o, "time", ts)
	if observed != 0 {
		appendTime(&o, "observedTimestamp", observed)
	}
	if tid := lr.TraceID(); !tid.IsEmpty() {
		o.hex("traceId", tid[:])
	}
	if sid := lr.SpanID(); !sid.IsEmpty() {
		o.hex("spanId", sid[:])
	}
	if service != "" {
		o.str("serviceName", service)
	}
	o.key("severity")
	sev := newObj(o.b, fx)
	if t := lr.SeverityText(); t != "" {
		sev.str("text", t)
	}
	sev.int("number", int64(lr.SeverityNumber()))
	o.b = sev.close()
	o.uint("flags", uint64(lr.Flags()))
	if n := lr.EventName(); n != "" {
		o.key("event")
		ev := newObj(o.b, fx)
		ev.str("name", n)
		o.b = ev.close()
	}
	o.key("body")
	body := lr.Body()
	switch body.Type() {
	case pcommon.ValueTypeStr:
		o.b = appendString(o.b, body.Str(), fx, "body")
	case pcommon.ValueTypeEmpty:
		o.b = append(o.b, `""`...)
	default:
		// body is text: structured bodies are kept as their JSON.
		o.b = appendString(o.b, string(appendValue(nil, body, fx, "body", 0)), nil, "")
	}
	var attrsFull, scopeFull []byte
	if lr.Attributes().Len() > 0 {
		o.key("attributes")
		from := len(o.b)
		o.b = appendMap(o.b, lr.Attributes(), fx, "attributes", 0, false)
		o.b, attrsFull = cutFlat(o.b, from, fx, "attributes")
	}
	if res.Attributes().Len() > 0 {
		o.key("resource")
		o.b = append(o.b, resJSON...)
	}
	o.key("instrumentationScope")
	sc := newObj(o.b, fx)
	sc.str("name", scope.Name())
	sc.str("version", scope.Version())
	if scope.Attributes().Len() > 0 {
		sc.key("attributes")
		from := len(sc.b)
		sc.b = appendMap(sc.b, scope.Attributes(), fx, "instrumentationScope.attributes", 0, false)
		sc.b, scopeFull = cutFlat(sc.b, from, fx, "instrumentationScope.attributes")
	}
	sc.uint("droppedAttributesCount", uint64(scope.DroppedAttributesCount()))
	o.b = sc.close()
	if schemaURL != "" {
		o.str("schemaUrl", schemaURL)
	}
	o.uint("droppedAttributesCount", uint64(lr.DroppedAttributesCount()))
	o.b = appendLogFull(o.b, attrsFull, resFull, scopeFull)
	fx.appendTo(&o)
	doc := o.close()
	return Log{ID: contentID(doc), Body: doc, Timestamp: ts}
}

// oracleDistinguishRepeats is distinguishRepeats as it was first written,
// over the ids.
func oracleDistinguishRepeats(logs []Log) {
	seen := make(map[string]int, len(logs))
	for i := range logs {
		n := seen[logs[i].ID]
		seen[logs[i].ID] = n + 1
		if n > 0 {
			logs[i].ID = hexID(xxh3.HashString128(logs[i].ID + "#" + strconv.Itoa(n)))
		}
	}
}

// contentID is a document's id computed from its bytes.
func contentID(doc []byte) string { return hexID(xxh3.Hash128(doc)) }

// hex writes v as a lowercase hex string (trace and span ids, as their
// String methods do, without the intermediate string).
func (o *obj) hex(k string, v []byte) {
	o.key(k)
	o.b = append(o.b, '"')
	o.b = hex.AppendEncode(o.b, v)
	o.b = append(o.b, '"')
}
