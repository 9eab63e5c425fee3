package pipeline

import (
	"container/list"
	"time"

	"github.com/vigil-dev/vigil/pipeline/document"
)

// traceBuffer lends each span its trace's group (the root span's name and
// timing), holding spans that arrive before their root for up to the
// window, and pairs client and server spans across services for the service
// map. The collector partitions spans by trace id, so one trace's spans all
// come through one partition and so one pipeline instance: no state is
// shared between instances.
//
// Memory is bounded: at most maxTraces traces are remembered and at most
// maxHeld spans held; past either, the oldest trace's spans are released
// without a group. A held span keeps its record unfinished, so its offset
// is not committed until the span has been indexed; when a partition is
// revoked its held spans are dropped and the new owner reads them again.
//
// It is used by the consume loop only (under Service.mu).
type traceBuffer struct {
	window    time.Duration
	ttl       time.Duration
	maxTraces int
	maxHeld   int
	// maxHeldBytes bounds the held spans' size: held spans count against
	// the in-flight budget, and a budget full of spans waiting for roots
	// that cannot be fetched (the budget is full) would stall the pipeline
	// for a whole window.
	maxHeldBytes int
	serviceMap   bool

	traces    map[string]*traceState
	order     *list.List // *traceState, oldest first
	held      int
	heldBytes int
	// edgesSeen dedupes service-map relationships already sent; it is
	// cleared when it grows past maxEdgesSeen (a resend is only a 409).
	edgesSeen map[string]struct{}

	// repair asks for a trace group repair when a root arrives for a trace
	// whose spans may have been indexed without group: one that released
	// spans (ungrouped, the last maxTraces such traces, outliving the
	// trace's own state) or one that lasted longer than the window (so
	// that after a restart, with ungrouped forgotten, the root read again
	// still repairs).
	repair       bool
	ungrouped    map[string]struct{}
	ungroupedIDs []string // ring of ungrouped's keys, oldest at ungroupedAt
	ungroupedAt  int
}

const (
	maxSpanInfos  = 256
	maxEdgesSeen  = 10000
	maxPendEdges  = 256
	minTraceTTL   = 30 * time.Second
	ttlPerWindows = 3
)

type heldSpan struct {
	sp  *document.Span
	rec *record
}

type pendingEdge struct {
	client, server document.SpanInfo
	rec            *record
}

type traceState struct {
	id      string
	part    tp
	created time.Time
	elem    *list.Element
	group   *document.TraceGroup
	held    []heldSpan
	infos   map[string]document.SpanInfo
	edges   []pendingEdge
}

// emission is what the buffer releases for indexing. Each entry carries one
// reference on its record (taken when the span or edge entered the buffer).
type emission struct {
	spans   []heldSpanOut
	edges   []edgeOut
	repairs []repairOut
}

// repairOut asks for the trace's spans indexed without group to be given
// g; it holds a reference on the root's record until that is done.
type repairOut struct {
	traceID string
	g       document.TraceGroup
	rec     *record
}

type heldSpanOut struct {
	sp  *document.Span
	g   *document.TraceGroup
	rec *record
}

type edgeOut struct {
	rel document.Relationship
	rec *record // nil: no reference held (deduplicated away)
}

func newTraceBuffer(cfg TraceGroupConfig, maxHeldBytes int) *traceBuffer {
	ttl := max(cfg.Window*ttlPerWindows, minTraceTTL)
	return &traceBuffer{
		window: cfg.Window, ttl: ttl, maxTraces: cfg.MaxTraces, maxHeld: cfg.MaxHeldSpans, maxHeldBytes: maxHeldBytes, serviceMap: cfg.ServiceMap,
		traces: map[string]*traceState{}, order: list.New(), edgesSeen: map[string]struct{}{},
		repair: cfg.Repair && cfg.Window > 0, ungrouped: map[string]struct{}{},
	}
}

// add takes one span (and one reference on rec, which the caller took).
func (b *traceBuffer) add(sp *document.Span, rec *record, part tp, now time.Time, out *emission) {
	st := b.traces[sp.TraceID]
	if st == nil {
		st = &traceState{id: sp.TraceID, part: part, created: now}
		st.elem = b.order.PushBack(st)
		b.traces[sp.TraceID] = st
	}
	if sp.IsRoot() && st.group == nil {
		g := sp.Group()
		st.group = &g
		for _, h := range st.held {
			out.spans = append(out.spans, heldSpanOut{h.sp, st.group, h.rec})
		}
		b.unhold(st)
		for _, e := range st.edges {
			b.emitEdge(e.client, e.server, g.Name, e.rec, out)
		}
		st.edges = nil
		if b.mayBeUngrouped(sp) {
			rec.hold()
			out.repairs = append(out.repairs, repairOut{sp.TraceID, g, rec})
		}
	}
	if b.serviceMap {
		b.pair(st, sp, rec, out)
	}
	switch {
	case st.group != nil || b.window == 0:
		out.spans = append(out.spans, heldSpanOut{sp, st.group, rec})
	default:
		st.held = append(st.held, heldSpan{sp, rec})
		b.held++
		b.heldBytes += sp.Size()
	}
	b.enforceBounds(out)
}

// unhold forgets st's held spans (released or dropped by the caller).
func (b *traceBuffer) unhold(st *traceState) {
	for _, h := range st.held {
		b.heldBytes -= h.sp.Size()
	}
	b.held -= len(st.held)
	st.held = nil
}

// pair records the span's service-map view and emits (or, until the trace
// group is known, queues) any client->server edge it completes.
func (b *traceBuffer) pair(st *traceState, sp *document.Span, rec *record, out *emission) {
	info := sp.Info()
	// Only client and server spans can form an edge: remembering the
	// rest would cost memory for every trace kept.
	if info.Kind != "SPAN_KIND_CLIENT" && info.Kind != "SPAN_KIND_SERVER" {
		return
	}
	if st.infos == nil {
		st.infos = make(map[string]document.SpanInfo, 4)
	}
	if len(st.infos) < maxSpanInfos {
		st.infos[info.SpanID] = info
	}
	try := func(client, server document.SpanInfo) {
		if document.Edge(client, server, "") == nil {
			return
		}
		if st.group != nil {
			rec.hold()
			b.emitEdge(client, server, st.group.Name, rec, out)
			return
		}
		if len(st.edges) < maxPendEdges {
			rec.hold()
			st.edges = append(st.edges, pendingEdge{client, server, rec})
		}
	}
	if parent, ok := st.infos[info.ParentSpanID]; ok && info.ParentSpanID != "" {
		try(parent, info)
	}
	for _, child := range st.infos {
		if child.ParentSpanID == info.SpanID {
			try(info, child)
		}
	}
}

// emitEdge emits an edge's relationships not sent before; it consumes the one
// reference on rec the caller took, taking another per extra relationship.
func (b *traceBuffer) emitEdge(client, server document.SpanInfo, group string, rec *record, out *emission) {
	rels := document.Edge(client, server, group)
	var fresh []document.Relationship
	for _, r := range rels {
		if _, ok := b.edgesSeen[r.ID()]; ok {
			continue
		}
		if len(b.edgesSeen) >= maxEdgesSeen {
			clear(b.edgesSeen)
		}
		b.edgesSeen[r.ID()] = struct{}{}
		fresh = append(fresh, r)
	}
	if len(fresh) == 0 {
		out.edges = append(out.edges, edgeOut{rec: rec}) // hands the reference back
		return
	}
	for i, r := range fresh {
		if i > 0 {
			rec.hold()
		}
		out.edges = append(out.edges, edgeOut{rel: r, rec: rec})
	}
}

// mayBeUngrouped reports whether spans of root's trace may have been
// indexed without group before root came.
func (b *traceBuffer) mayBeUngrouped(root *document.Span) bool {
	if !b.repair {
		return false
	}
	if _, ok := b.ungrouped[root.TraceID]; ok {
		return true
	}
	return root.End > root.Start && time.Duration(root.End-root.Start) > b.window
}

// markUngrouped remembers that trace id released spans without group.
func (b *traceBuffer) markUngrouped(id string) {
	if !b.repair {
		return
	}
	if _, ok := b.ungrouped[id]; ok {
		return
	}
	if len(b.ungroupedIDs) < b.maxTraces {
		b.ungroupedIDs = append(b.ungroupedIDs, id)
	} else {
		delete(b.ungrouped, b.ungroupedIDs[b.ungroupedAt])
		b.ungroupedIDs[b.ungroupedAt] = id
		b.ungroupedAt = (b.ungroupedAt + 1) % len(b.ungroupedIDs)
	}
	b.ungrouped[id] = struct{}{}
}

// release lets a trace's held spans and queued edges go without a group.
func (b *traceBuffer) release(st *traceState, out *emission) {
	if len(st.held) > 0 {
		b.markUngrouped(st.id)
	}
	for _, h := range st.held {
		out.spans = append(out.spans, heldSpanOut{h.sp, nil, h.rec})
	}
	b.unhold(st)
	for _, e := range st.edges {
		b.emitEdge(e.client, e.server, "", e.rec, out)
	}
	st.edges = nil
}

func (b *traceBuffer) enforceBounds(out *emission) {
	for b.order.Len() > b.maxTraces || b.held > b.maxHeld || (b.maxHeldBytes > 0 && b.heldBytes > b.maxHeldBytes) {
		st := b.order.Front().Value.(*traceState)
		b.release(st, out)
		b.order.Remove(st.elem)
		delete(b.traces, st.id)
	}
}

// releaseOldest releases the oldest traces' held spans, at least n spans
// (or all), without a group.
func (b *traceBuffer) releaseOldest(n int, out *emission) {
	released := 0
	for e := b.order.Front(); e != nil && released < n && b.held > 0; e = e.Next() {
		st := e.Value.(*traceState)
		if len(st.held) == 0 && len(st.edges) == 0 {
			continue
		}
		released += len(st.held)
		b.release(st, out)
	}
}

// expire releases the spans of traces whose window has passed and forgets
// traces not seen for the TTL. Traces are ordered by creation, and a trace
// only ever holds spans from before its root arrived, so the scan stops at
// the first trace still inside its window.
func (b *traceBuffer) expire(now time.Time, out *emission) {
	for e := b.order.Front(); e != nil; {
		st := e.Value.(*traceState)
		next := e.Next()
		switch {
		case now.Sub(st.created) >= b.ttl:
			b.release(st, out)
			b.order.Remove(e)
			delete(b.traces, st.id)
		case now.Sub(st.created) >= b.window:
			if len(st.held) > 0 || len(st.edges) > 0 {
				b.release(st, out)
			}
		default:
			return
		}
		e = next
	}
}

// drop forgets the traces of the given partitions without releasing their
// held spans: their records stay unfinished and uncommitted, and whoever
// owns the partitions next reads them again, root span included.
func (b *traceBuffer) drop(parts map[string][]int32) {
	for e := b.order.Front(); e != nil; {
		st := e.Value.(*traceState)
		next := e.Next()
		if parts == nil || contains(parts[st.part.topic], st.part.partition) {
			b.unhold(st)
			b.order.Remove(e)
			delete(b.traces, st.id)
		}
		e = next
	}
}
