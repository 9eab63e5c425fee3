package apm

import (
	"bytes"
	"sort"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// unknown is Data Prepper's remote service and operation of a client span
// whose server span is not (yet) seen; such a span yields nothing.
const unknown = "unknown"

// evaluation derives one window's details and series.
type evaluation struct {
	ts        time.Time
	partition string
	seen      map[detailKey]NodeOperationDetail
	states    map[seriesKey]*seriesState
}

// detailKey identifies a NodeOperationDetail within a window (all of a
// window's share its timestamp): Data Prepper deduplicates equal details.
type detailKey struct {
	srcEnv, srcName, dstEnv, dstName, srcOp, dstOp string
	hasDst, hasSrcOp                               bool
}

// seriesKey identifies a series within a window, without building its
// labels for every span.
type seriesKey struct {
	env, service, op, remoteEnv, remoteService, remoteOp string
	client                                               bool
}

// seriesState is one label set's counts and durations.
type seriesState struct {
	labels               []Label
	key                  string // labelKey(labels), for a stable order
	request, errs, fault float64
	durations            []float64
}

func newEvaluation(ts time.Time, partition string) *evaluation {
	return &evaluation{ts: ts, partition: partition, seen: map[detailKey]NodeOperationDetail{}, states: map[seriesKey]*seriesState{}}
}

// remote is what a client span learns from the server span it called and
// from the server span of its own service it runs under.
type remote struct {
	service, operation, environment string
	parentOp                        string
	hasParent                       bool
}

// trace derives what the processing spans (this window's spans of one
// trace) contribute; lookup also holds the trace's spans of the windows
// before and after.
func (e *evaluation) trace(processing, lookup []Span) {
	byID := make(map[pcommon.SpanID]*Span, len(lookup))
	children := map[pcommon.SpanID][]*Span{}
	for i := range lookup {
		s := &lookup[i]
		if _, dup := byID[s.SpanID]; dup {
			continue // a record delivered twice
		}
		byID[s.SpanID] = s
		if !s.ParentSpanID.IsEmpty() {
			children[s.ParentSpanID] = append(children[s.ParentSpanID], s)
		}
	}
	done := make(map[pcommon.SpanID]bool, len(processing))
	for i := range processing {
		s := &processing[i]
		if done[s.SpanID] {
			continue
		}
		done[s.SpanID] = true
		switch s.Kind {
		case kindClient:
			e.client(s, e.remoteOf(s, byID, children))
		case kindServer:
			e.server(s, hasClientDescendant(s, children))
		}
	}
}

// remoteOf finds the client span's callee (its first SERVER child in
// another service, by span id) and the operation of the SERVER span of its
// own service it runs under (the nearest one up a chain of same-service
// spans).
func (e *evaluation) remoteOf(c *Span, byID map[pcommon.SpanID]*Span, children map[pcommon.SpanID][]*Span) remote {
	r := remote{service: unknown, operation: unknown, environment: DefaultEnvironment}
	var callee *Span
	for _, ch := range children[c.SpanID] {
		if ch.Kind == kindServer && ch.Service != c.Service && (callee == nil || bytes.Compare(ch.SpanID[:], callee.SpanID[:]) < 0) {
			callee = ch
		}
	}
	if callee != nil {
		r.service, r.operation, r.environment = callee.Service, callee.Operation, callee.Environment
	}
	for p, n := byID[c.ParentSpanID], 0; p != nil && p.Service == c.Service && n < len(byID); p, n = byID[p.ParentSpanID], n+1 {
		if p.Kind == kindServer {
			r.parentOp, r.hasParent = p.Operation, true
			break
		}
	}
	return r
}

// hasClientDescendant reports whether a CLIENT span of the server span's
// service descends from it through spans of that service.
func hasClientDescendant(s *Span, children map[pcommon.SpanID][]*Span) bool {
	queue := []*Span{s}
	visited := map[pcommon.SpanID]bool{s.SpanID: true}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, ch := range children[cur.SpanID] {
			if visited[ch.SpanID] || ch.Service != s.Service {
				continue
			}
			visited[ch.SpanID] = true
			if ch.Kind == kindClient {
				return true
			}
			queue = append(queue, ch)
		}
	}
	return false
}

func (e *evaluation) client(c *Span, r remote) {
	if r.service == unknown {
		return
	}
	k := detailKey{srcEnv: c.Environment, srcName: c.Service, dstEnv: r.environment, dstName: r.service, srcOp: r.parentOp, dstOp: r.operation, hasDst: true, hasSrcOp: r.hasParent}
	if _, ok := e.seen[k]; !ok {
		var srcOp *Operation
		if r.hasParent {
			srcOp = newOp(r.parentOp)
		}
		e.seen[k] = newDetail(newNode(c.Environment, c.Service), newNode(r.environment, r.service), srcOp, newOp(r.operation), e.ts)
	}
	if !r.hasParent {
		return
	}
	e.observe(c, seriesKey{env: c.Environment, service: c.Service, op: r.parentOp, remoteEnv: r.environment, remoteService: r.service, remoteOp: r.operation, client: true})
}

func (e *evaluation) server(s *Span, callsOut bool) {
	e.observe(s, seriesKey{env: s.Environment, service: s.Service, op: s.Operation})
	if callsOut {
		return
	}
	k := detailKey{srcEnv: s.Environment, srcName: s.Service, srcOp: s.Operation, hasSrcOp: true}
	if _, ok := e.seen[k]; !ok {
		e.seen[k] = newDetail(newNode(s.Environment, s.Service), nil, newOp(s.Operation), nil, e.ts)
	}
}

// observe counts the span into its series.
func (e *evaluation) observe(s *Span, k seriesKey) {
	st := e.states[k]
	if st == nil {
		st = &seriesState{labels: k.labels(e.partition)}
		st.key = labelKey(st.labels)
		e.states[k] = st
	}
	st.request++
	st.errs += float64(s.Error)
	st.fault += float64(s.Fault)
	if s.DurationNanos > 0 {
		st.durations = append(st.durations, float64(s.DurationNanos)/1e9)
	}
}

// labels are the series' labels (without __name__), sorted by name.
func (k seriesKey) labels(partition string) []Label {
	ls := []Label{{"environment", k.env}, {"service", k.service}, {"operation", k.op}, {"namespace", "span_derived"}, {PartitionLabel, partition}}
	if k.client {
		ls = append(ls, Label{"remoteEnvironment", k.remoteEnv}, Label{"remoteService", k.remoteService}, Label{"remoteOperation", k.remoteOp})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// details returns the window's distinct details in a stable order.
func (e *evaluation) details() []NodeOperationDetail {
	out := make([]NodeOperationDetail, 0, len(e.seen))
	keys := make([]string, 0, len(e.seen))
	byKey := map[string]NodeOperationDetail{}
	for _, d := range e.seen {
		k := d.key()
		keys = append(keys, k)
		byKey[k] = d
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

func labelKey(ls []Label) string {
	n := 0
	for _, l := range ls {
		n += len(l.Name) + len(l.Value) + 2
	}
	b := make([]byte, 0, n)
	for _, l := range ls {
		b = append(b, l.Name...)
		b = append(b, 0)
		b = append(b, l.Value...)
		b = append(b, 0)
	}
	return string(b)
}
