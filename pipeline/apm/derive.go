package apm

import (
	"sort"
	"time"
)

// unknown is Data Prepper's remote service and operation of a client span
// whose server span is not (yet) seen; such a span yields nothing.
const unknown = "unknown"

// evaluation derives one window's details and series.
type evaluation struct {
	ts        time.Time
	partition string
	seen      map[string]NodeOperationDetail
	sums      map[string]*sumState
	hists     map[string]*histState
}

type sumState struct {
	labels               []Label
	request, errs, fault float64
}

type histState struct {
	labels    []Label
	durations []float64
}

func newEvaluation(ts time.Time, partition string) *evaluation {
	return &evaluation{ts: ts, partition: partition, seen: map[string]NodeOperationDetail{}, sums: map[string]*sumState{}, hists: map[string]*histState{}}
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
	byID := make(map[string]*Span, len(lookup))
	children := map[string][]*Span{}
	for i := range lookup {
		s := &lookup[i]
		if _, dup := byID[s.SpanID]; dup {
			continue // a record delivered twice
		}
		byID[s.SpanID] = s
		if s.ParentSpanID != "" {
			children[s.ParentSpanID] = append(children[s.ParentSpanID], s)
		}
	}
	done := map[string]bool{}
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
func (e *evaluation) remoteOf(c *Span, byID map[string]*Span, children map[string][]*Span) remote {
	r := remote{service: unknown, operation: unknown, environment: DefaultEnvironment}
	var callee *Span
	for _, ch := range children[c.SpanID] {
		if ch.Kind == kindServer && ch.Service != c.Service && (callee == nil || ch.SpanID < callee.SpanID) {
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
func hasClientDescendant(s *Span, children map[string][]*Span) bool {
	queue := []*Span{s}
	visited := map[string]bool{s.SpanID: true}
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
	var srcOp *Operation
	if r.hasParent {
		srcOp = newOp(r.parentOp)
	}
	e.add(newDetail(newNode(c.Environment, c.Service), newNode(r.environment, r.service), srcOp, newOp(r.operation), e.ts))
	if !r.hasParent {
		return
	}
	e.observe(c, []Label{
		{"environment", c.Environment}, {"service", c.Service}, {"operation", r.parentOp},
		{"remoteEnvironment", r.environment}, {"remoteService", r.service}, {"remoteOperation", r.operation},
	})
}

func (e *evaluation) server(s *Span, callsOut bool) {
	e.observe(s, []Label{{"environment", s.Environment}, {"service", s.Service}, {"operation", s.Operation}})
	if !callsOut {
		e.add(newDetail(newNode(s.Environment, s.Service), nil, newOp(s.Operation), nil, e.ts))
	}
}

func (e *evaluation) add(d NodeOperationDetail) {
	e.seen[d.key()] = d
}

// observe counts the span into its series.
func (e *evaluation) observe(s *Span, labels []Label) {
	labels = append(labels, Label{"namespace", "span_derived"}, Label{PartitionLabel, e.partition})
	sort.Slice(labels, func(i, j int) bool { return labels[i].Name < labels[j].Name })
	k := labelKey(labels)
	st := e.sums[k]
	if st == nil {
		st = &sumState{labels: labels}
		e.sums[k] = st
	}
	st.request++
	st.errs += float64(s.Error)
	st.fault += float64(s.Fault)
	if s.DurationNanos > 0 {
		h := e.hists[k]
		if h == nil {
			h = &histState{labels: labels}
			e.hists[k] = h
		}
		h.durations = append(h.durations, float64(s.DurationNanos)/1e9)
	}
}

// details returns the window's distinct details in a stable order.
func (e *evaluation) details() []NodeOperationDetail {
	keys := make([]string, 0, len(e.seen))
	for k := range e.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]NodeOperationDetail, len(keys))
	for i, k := range keys {
		out[i] = e.seen[k]
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
