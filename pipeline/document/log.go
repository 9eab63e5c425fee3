package document

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unsafe"

	"github.com/zeebo/xxh3"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"
)

// Log is one log document in the SS4O logs schema.
type Log struct {
	// ID is derived from the document's content (see IDs in doc.go).
	ID string
	// Body is the JSON document.
	Body []byte
	// Timestamp is the event time used for @timestamp, Unix nanoseconds.
	Timestamp uint64
	// Line is Options.Head (holding ID), Body and a newline; nil without
	// a Head. ID then shares its bytes.
	Line []byte
	// Stream is what Options.Route chose for the document's resource; nil
	// without a Route.
	Stream *Stream
	// idAt is where ID sits in Line.
	idAt int
}

// Stream is a log data stream chosen by Options.Route: its name, and the
// bulk action line its documents are rendered after (as Options.Head and
// HeadID).
type Stream struct {
	Index  string
	Head   []byte
	HeadID int
}

// IDLen is the length of every log document's ID.
const IDLen = 32

// LogsOTLP builds a document for every log record of b, an OTLP
// ExportLogsServiceRequest in protobuf (the collector's otlp_proto
// encoding). Nothing in a log record makes it unindexable: what is wrong is
// repaired and recorded in vigil.sanitized. The error is pdata's, for bytes
// that are not such a request.
func LogsOTLP(b []byte, opt Options) ([]Log, error) {
	docs, err := logsWire(b, opt)
	if err == nil {
		return docs, nil
	}
	if err == ErrTooDeep {
		return nil, err
	}
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
	if err != nil {
		return nil, err
	}
	return Logs(ld, opt)
}

// Logs builds the documents of ld (decoded from otlp_json, say) exactly as
// LogsOTLP does from its protobuf encoding. The error is ErrTooDeep.
func Logs(ld plog.Logs, opt Options) ([]Log, error) {
	b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return nil, fmt.Errorf("document: encode logs: %w", err)
	}
	docs, err := logsWire(b, opt)
	if errors.Is(err, errGiveUp) {
		// pdata's encoder writes only what the wire reader takes
		// (FuzzLogsOTLP), so this is a bug; the record goes to the DLQ.
		return nil, fmt.Errorf("document: %d log records that pdata encodes unreadably: %w", ld.LogRecordCount(), err)
	}
	return docs, err
}

// errGiveUp: b is not in the form pdata's encoder writes (see wire.go).
var errGiveUp = errors.New("document: not in pdata's encoding")

// logsWire renders b's documents from its wire form; the error is errGiveUp
// or ErrTooDeep.
func logsWire(b []byte, opt Options) ([]Log, error) {
	n, ok := countRecords(b)
	if !ok {
		return nil, errGiveUp
	}
	w := logWriter{out: make([]Log, 0, n), hashes: make([]xxh3.Uint128, 0, n), left: n, opt: opt}
	w.a.chunk = opt.Chunk
	for len(b) > 0 {
		f, m := next(b)
		b = b[m:]
		if !w.resourceLogs(f.b) {
			if w.tooDeep {
				return nil, ErrTooDeep
			}
			return nil, errGiveUp
		}
	}
	distinguishRepeats(w.out, w.hashes, opt)
	return w.out, nil
}

// countRecords checks the request's structure down to its log records or
// spans (each message's fields known, of their wire type, singular ones
// once) and counts them. ResourceLogs and ResourceSpans number their fields
// alike (resource, scope_*, schema_url), and so do ScopeLogs and ScopeSpans
// (scope, log_records or spans, schema_url).
func countRecords(req []byte) (int, bool) {
	n := 0
	for len(req) > 0 {
		f, m := next(req)
		if m == 0 || f.num != 1 || f.typ != protowire.BytesType {
			return 0, false
		}
		req = req[m:]
		var seen once
		for rl := f.b; len(rl) > 0; {
			f, m := next(rl)
			if m == 0 || f.typ != protowire.BytesType || f.num < 1 || f.num > 3 || (f.num != 2 && !seen.first(f.num)) {
				return 0, false
			}
			rl = rl[m:]
			if f.num == 1 && !validResource(f.b) {
				return 0, false
			}
			if f.num != 2 {
				continue
			}
			var seen once
			for sl := f.b; len(sl) > 0; {
				f, m := next(sl)
				if m == 0 || f.typ != protowire.BytesType || f.num < 1 || f.num > 3 || (f.num != 2 && !seen.first(f.num)) {
					return 0, false
				}
				sl = sl[m:]
				if f.num == 2 {
					n++
				}
			}
		}
	}
	return n, true
}

// validResource checks a Resource: attributes (their contents are checked
// as they are rendered), dropped_attributes_count and entity_refs, which
// documents do not carry but pdata reads.
func validResource(b []byte) bool {
	var seen once
	for len(b) > 0 {
		f, n := next(b)
		if n == 0 {
			return false
		}
		b = b[n:]
		switch {
		case f.num == 1 && f.typ == protowire.BytesType:
		case f.num == 2 && f.typ == protowire.VarintType && seen.first(2):
		case f.num == 3 && f.typ == protowire.BytesType:
			for e := f.b; len(e) > 0; {
				f, n := next(e)
				if n == 0 || f.num < 1 || f.num > 4 || f.typ != protowire.BytesType {
					return false
				}
				e = e[n:]
			}
		default:
			return false
		}
	}
	return true
}

// logWriter renders one request's documents.
type logWriter struct {
	wctx
	out    []Log
	hashes []xxh3.Uint128 // of out's documents
	left   int            // records not yet rendered, to size the arena
	a      arena
	opt    Options

	// Of the current resource and scope: rendered once, with the fixes
	// that every document under them records.
	service   string
	schemaURL string
	resJSON   []byte // nil when the resource has no attributes
	scopeJSON []byte
	// resFull and scopeFull are the whole resource and scope attributes
	// when long values were cut from resJSON and scopeJSON (long.go).
	resFull, scopeFull []byte
	fx                 *fixes
	// svcMember is the serviceName member (with its leading comma),
	// tail the members from resource to schemaUrl: the same in every
	// document under them.
	svcMember, tail []byte
	// docFx is the fixes of the document being rendered.
	docFx fixes
	// head and headID are the current resource's (Options.Route) or
	// Options'; stream is the Route's choice.
	head   []byte
	headID int
	stream *Stream

	// memo holds the last record's attributes (keyMemo).
	memo keyMemo

	times timeText
}

func (w *logWriter) resourceLogs(rl []byte) bool {
	res := fieldOf(rl, 1)
	w.schemaURL = str(fieldOf(rl, 3))
	var ok bool
	if w.service, ok = wServiceName(res); !ok {
		return false
	}
	w.head, w.headID, w.stream = w.opt.Head, w.opt.HeadID, nil
	if w.opt.Route != nil {
		ds, ns := wRouteAttrs(res, &w.opt.RouteKeys)
		w.stream = w.opt.Route(ds, ns)
		w.head, w.headID = w.stream.Head, w.stream.HeadID
	}
	resFx := &fixes{}
	w.svcMember = w.svcMember[:0]
	if w.service != "" {
		w.svcMember = append(w.svcMember, `,"serviceName":`...)
		w.svcMember = appendString(w.svcMember, w.service, resFx, "serviceName")
	}
	w.resJSON = nil
	if hasField(res, 1) {
		if w.resJSON, ok = w.appendMap(nil, attrsOf(res, 1, false), mapOut{fx: resFx, field: "resource"}, 0, nil); !ok {
			return false
		}
	}
	w.resJSON, w.resFull = cutFlat(w.resJSON, 0, resFx, "resource")
	for b := rl; len(b) > 0; {
		f, n := next(b)
		b = b[n:]
		if f.num == 2 && !w.scopeLogs(f.b, resFx) {
			return false
		}
	}
	return true
}

// fieldOf is the value of the singular field num of msg (already
// checked), nil when it is absent.
func fieldOf(msg []byte, num protowire.Number) []byte {
	var v []byte
	for len(msg) > 0 {
		f, n := next(msg)
		msg = msg[n:]
		if f.num == num {
			v = f.b
		}
	}
	return v
}

// parseScope reads an InstrumentationScope's fields; attrs: it has
// attributes (field 3).
func parseScope(scope []byte) (name, version []byte, attrs bool, dropped uint32, ok bool) {
	var seen once
	for b := scope; len(b) > 0; {
		f, n := next(b)
		if n == 0 {
			return nil, nil, false, 0, false
		}
		b = b[n:]
		switch {
		case f.num == 1 && f.typ == protowire.BytesType && seen.first(1):
			name = f.b
		case f.num == 2 && f.typ == protowire.BytesType && seen.first(2):
			version = f.b
		case f.num == 3 && f.typ == protowire.BytesType:
			attrs = true
		case f.num == 4 && f.typ == protowire.VarintType && seen.first(4):
			dropped = uint32(f.u)
		default:
			return nil, nil, false, 0, false
		}
	}
	return name, version, attrs, dropped, true
}

// hasField reports whether msg (already checked) holds field num.
func hasField(msg []byte, num protowire.Number) bool {
	for len(msg) > 0 {
		f, n := next(msg)
		msg = msg[n:]
		if f.num == num {
			return true
		}
	}
	return false
}

func (w *logWriter) scopeLogs(sl []byte, resFx *fixes) bool {
	scope := fieldOf(sl, 1)
	w.fx = resFx.clone()
	var ok bool
	if w.scopeJSON, ok = w.renderScope(scope, w.fx); !ok {
		return false
	}
	w.tail = w.tail[:0]
	if w.resJSON != nil {
		w.tail = append(w.tail, `,"resource":`...)
		w.tail = append(w.tail, w.resJSON...)
	}
	w.tail = append(w.tail, `,"instrumentationScope":`...)
	w.tail = append(w.tail, w.scopeJSON...)
	if w.schemaURL != "" {
		w.tail = append(w.tail, `,"schemaUrl":`...)
		w.tail = appendString(w.tail, w.schemaURL, w.fx, "schemaUrl")
	}
	for b := sl; len(b) > 0; {
		f, n := next(b)
		b = b[n:]
		if f.num != 2 {
			continue
		}
		head := w.head
		dst := w.a.tail(len(head)+512+len(f.b)*3/2+len(w.svcMember)+len(w.tail), w.left)
		dst = append(dst, head...)
		d, ok := w.log(dst, f.b)
		if !ok {
			return false
		}
		var h xxh3.Uint128
		if head == nil {
			d.Body = w.a.keep(d.Body)
			h = xxh3.Hash128(d.Body)
			d.ID = hexID(h)
		} else {
			line := w.a.keep(append(d.Body, '\n'))
			d.Line, d.Body = line, line[len(head):len(line)-1:len(line)-1]
			h = xxh3.Hash128(d.Body)
			d.ID = putID(line, w.headID, h)
			d.idAt = w.headID
		}
		d.Stream = w.stream
		w.out = append(w.out, d)
		w.hashes = append(w.hashes, h)
		w.left--
	}
	return true
}

// renderScope renders an InstrumentationScope as the document's
// instrumentationScope object.
func (w *logWriter) renderScope(scope []byte, fx *fixes) ([]byte, bool) {
	name, version, attrs, dropped, ok := parseScope(scope)
	if !ok {
		return nil, false
	}
	sc := newObj(nil, fx)
	sc.str("name", str(name))
	sc.str("version", str(version))
	w.scopeFull = nil
	if attrs {
		sc.key("attributes")
		from := len(sc.b)
		if sc.b, ok = w.appendMap(sc.b, attrsOf(scope, 3, false), mapOut{fx: fx, field: "instrumentationScope.attributes"}, 0, nil); !ok {
			return nil, false
		}
		sc.b, w.scopeFull = cutFlat(sc.b, from, fx, "instrumentationScope.attributes")
	}
	sc.uint("droppedAttributesCount", uint64(dropped))
	return sc.close(), true
}

// wlog is a LogRecord's fields.
type wlog struct {
	time, observed uint64
	severity       int32
	severityText   []byte
	body           []byte
	attrs          bool
	// attrFrom and attrTo span the attributes' fields (and whatever
	// other fields lie between them), for appendMap to read.
	attrFrom, attrTo int
	dropped          uint32
	flags            uint32
	traceID          []byte
	spanID           []byte
	eventName        []byte
}

func (r *wlog) parse(rec []byte) bool {
	var seen once
	for b := rec; len(b) > 0; {
		// Attributes, most of a record's fields, are skipped inline
		// (appendMap reads them); next is not inlined.
		at := len(rec) - len(b)
		if b[0] == 6<<3|byte(protowire.BytesType) {
			// A run of them, as pdata writes them.
			rest := b
			for len(rest) >= 2 && rest[0] == 6<<3|byte(protowire.BytesType) && rest[1] < 0x80 && int(rest[1])+2 <= len(rest) {
				rest = rest[2+int(rest[1]):]
			}
			if len(rest) < len(b) {
				b = rest
				r.attr(at, len(rec)-len(b))
				continue
			}
		}
		f, n := next(b)
		if n == 0 {
			return false
		}
		b = b[n:]
		if f.num == 6 && f.typ == protowire.BytesType {
			r.attr(at, len(rec)-len(b))
		}
		if f.num != 6 && !seen.first(f.num) {
			return false
		}
		switch {
		case f.num == 1 && f.typ == protowire.Fixed64Type:
			r.time = f.u
		case f.num == 11 && f.typ == protowire.Fixed64Type:
			r.observed = f.u
		case f.num == 2 && f.typ == protowire.VarintType:
			r.severity = int32(f.u)
		case f.num == 3 && f.typ == protowire.BytesType:
			r.severityText = f.b
		case f.num == 5 && f.typ == protowire.BytesType:
			r.body = f.b
		case f.num == 6 && f.typ == protowire.BytesType:
		case f.num == 7 && f.typ == protowire.VarintType:
			r.dropped = uint32(f.u)
		case f.num == 8 && f.typ == protowire.Fixed32Type:
			r.flags = uint32(f.u)
		case f.num == 9 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 16):
			r.traceID = f.b
		case f.num == 10 && f.typ == protowire.BytesType && (len(f.b) == 0 || len(f.b) == 8):
			r.spanID = f.b
		case f.num == 12 && f.typ == protowire.BytesType:
			r.eventName = f.b
		default:
			return false
		}
	}
	return true
}

// attr notes an attribute field at rec[from:to].
func (r *wlog) attr(from, to int) {
	if !r.attrs {
		r.attrs, r.attrFrom = true, from
	}
	r.attrTo = to
}

// zero reports an all-zero (pdata: empty) id.
func zero(id []byte) bool {
	for _, c := range id {
		if c != 0 {
			return false
		}
	}
	return true
}

// log renders one LogRecord onto dst; Body is dst and the document, and
// the id is left to the caller.
func (w *logWriter) log(dst []byte, rec []byte) (Log, bool) {
	var r wlog
	if !r.parse(rec) {
		return Log{}, false
	}
	body, ok := parseAny(r.body)
	if !ok {
		return Log{}, false
	}
	opt := w.opt
	fx := &w.docFx
	fx.resetTo(w.fx)
	ts, observed := r.time, r.observed
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

	// The members' names are written with their punctuation, in one
	// piece each: every document has them, in this order.
	b := append(dst, `{"@timestamp":`...)
	mark := len(b)
	b = w.times.append(b, ts)
	end := len(b)
	b = append(b, `,"time":`...)
	b = append(b, b[mark:end]...) // the same text
	if observed != 0 {
		b = append(b, `,"observedTimestamp":`...)
		b = w.times.append(b, observed)
	}
	if len(r.traceID) > 0 && !zero(r.traceID) {
		b = append(b, `,"traceId":"`...)
		b = hex.AppendEncode(b, r.traceID)
		b = append(b, '"')
	}
	if len(r.spanID) > 0 && !zero(r.spanID) {
		b = append(b, `,"spanId":"`...)
		b = hex.AppendEncode(b, r.spanID)
		b = append(b, '"')
	}
	b = append(b, w.svcMember...)
	b = append(b, `,"severity":{`...)
	if len(r.severityText) > 0 {
		b = append(b, `"text":`...)
		b = appendString(b, str(r.severityText), fx, "text")
		b = append(b, ',')
	}
	b = append(b, `"number":`...)
	b = strconv.AppendInt(b, int64(r.severity), 10)
	b = append(b, `},"flags":`...)
	b = strconv.AppendUint(b, uint64(r.flags), 10)
	if len(r.eventName) > 0 {
		b = append(b, `,"event":{"name":`...)
		b = appendString(b, str(r.eventName), fx, "name")
		b = append(b, '}')
	}
	b = append(b, `,"body":`...)
	switch body.typ {
	case pcommon.ValueTypeStr:
		b = appendString(b, str(body.b), fx, "body")
	case pcommon.ValueTypeEmpty:
		b = append(b, `""`...)
	default:
		// body is text: structured bodies are kept as their JSON.
		inner, ok := w.appendValue(nil, body, fx, "body", 0)
		if !ok {
			return Log{}, false
		}
		b = appendString(b, str(inner), nil, "")
	}
	var attrsFull []byte
	if r.attrs {
		b = append(b, `,"attributes":`...)
		from := len(b)
		if b, ok = w.appendMap(b, attrsOf(rec[r.attrFrom:r.attrTo], 6, false), mapOut{fx: fx, field: "attributes"}, 0, &w.memo); !ok {
			return Log{}, false
		}
		if b, attrsFull = cutFlat(b, from, fx, "attributes"); attrsFull != nil {
			// The memo's outputs point into the bytes just rewritten.
			w.memo.n = 0
		}
	}
	b = append(b, w.tail...)
	b = append(b, `,"droppedAttributesCount":`...)
	b = strconv.AppendUint(b, uint64(r.dropped), 10)
	b = appendLogFull(b, attrsFull, w.resFull, w.scopeFull)
	if unsafe.SliceData(b) != unsafe.SliceData(dst) {
		// The document outgrew the arena's tail (vigil.full can double
		// it) and moved: the memo's outputs of this record point into
		// the tail, which the next document overwrites.
		w.memo.n = 0
	}
	o := obj{b: b, fix: fx}
	fx.appendTo(&o)
	return Log{Body: o.close(), Timestamp: ts}, true
}

// distinguishRepeats gives the n-th repeat of a byte-identical document
// within one request its own id (see IDs in doc.go): a client does not put
// one event into a request twice, so repeats inside a request are distinct
// events (a load generator or a coarse clock makes them), while a request
// sent again yields the same ids in the same order and is deduplicated.
// hashes are the documents' (their ids' in hex).
func distinguishRepeats(logs []Log, hashes []xxh3.Uint128, opt Options) {
	if len(logs) < 2 {
		return
	}
	// An open-addressed table of the first document of each hash: a map
	// per request was most of this function's time and allocations.
	t := repeatsPool.Get().(*repeats)
	defer repeatsPool.Put(t)
	size := 2
	for size < 2*len(hashes) {
		size <<= 1
	}
	if cap(t.first) < size {
		t.first, t.count = make([]int32, size), make([]int32, size)
	}
	t.first, t.count = t.first[:size], t.count[:size]
	clear(t.first)
	mask := uint64(size - 1)
	for i, h := range hashes {
		j := h.Lo & mask
		for t.first[j] != 0 && hashes[t.first[j]-1] != h {
			j = (j + 1) & mask
		}
		if t.first[j] == 0 {
			t.first[j], t.count[j] = int32(i+1), 1
			continue
		}
		n := t.count[j]
		t.count[j]++
		h := xxh3.HashString128(hexID(h) + "#" + strconv.Itoa(int(n)))
		if logs[i].Line != nil {
			logs[i].ID = putID(logs[i].Line, logs[i].idAt, h)
		} else {
			logs[i].ID = hexID(h)
		}
	}
}

// repeats is distinguishRepeats' table: first holds the index+1 of the
// first document with a hash (0: an empty slot), count how many so far.
type repeats struct{ first, count []int32 }

var repeatsPool = sync.Pool{New: func() any { return new(repeats) }}

// putID writes h in hex into line at at and returns it as a string that
// shares line's bytes.
func putID(line []byte, at int, h xxh3.Uint128) string {
	b := h.Bytes()
	id := line[at : at+IDLen]
	hex.Encode(id, b[:])
	return unsafe.String(&id[0], IDLen)
}

// hexID is an id: a document's 128-bit XXH3 hash in hex. Not SHA-256:
// that was 8% of the pipeline's CPU (docs/benchmarks.md), and an id needs
// no resistance to an attacker (see IDs in doc.go).
func hexID(h xxh3.Uint128) string {
	b := h.Bytes()
	return hex.EncodeToString(b[:])
}
