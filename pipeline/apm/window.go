package apm

import (
	"sort"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Partition is a Kafka topic partition: the unit of ownership, of
// windowing and of the series' span_partition label.
type Partition struct {
	Topic     string
	Partition int32
}

// Label is the span_partition label value, "topic/partition".
func (p Partition) Label() string { return p.Topic + "/" + strconv.Itoa(int(p.Partition)) }

// Window is one evaluated window of one partition: what it adds to the
// application map and its RED samples, all stamped with Start.
type Window struct {
	Partition Partition
	Start     time.Time
	Details   []NodeOperationDetail
	Series    []Series
}

// Aggregator collects spans per partition into windows of Kafka record time
// and evaluates a window once the one after it is complete, so that a call
// whose spans straddle a window boundary still pairs (Data Prepper's
// previous/current/next windows). It is not safe for concurrent use.
type Aggregator struct {
	window time.Duration
	grace  time.Duration
	idle   time.Duration
	parts  map[Partition]*partState
	// held is the number of spans in all windows.
	held int
}

type partState struct {
	windows map[int64]map[pcommon.TraceID][]Span // window index -> trace -> spans
	counts  map[int64]int                        // window index -> spans
	// maxTime is the newest record time seen; lastSeen the wall time of
	// the last record (an idle partition's windows close by wall time).
	maxTime, lastSeen time.Time
	// done is the newest evaluated window index; a later record that
	// falls before it is counted in the oldest open window instead.
	done    int64
	started bool
}

// NewAggregator returns an aggregator with windows of window, closed grace
// after the next window's end in record time, or idle after the
// partition's last record in wall time.
func NewAggregator(window, grace, idle time.Duration) *Aggregator {
	return &Aggregator{window: window, grace: grace, idle: idle, parts: map[Partition]*partState{}}
}

func (a *Aggregator) index(t time.Time) int64 { return t.UnixNano() / int64(a.window) }

func (a *Aggregator) start(i int64) time.Time { return time.Unix(0, i*int64(a.window)).UTC() }

// Add takes the spans of one Kafka record of partition p.
func (a *Aggregator) Add(p Partition, recordTime, now time.Time, spans []Span) {
	st := a.parts[p]
	if st == nil {
		st = &partState{windows: map[int64]map[pcommon.TraceID][]Span{}, counts: map[int64]int{}}
		a.parts[p] = st
	}
	st.lastSeen = now
	if recordTime.After(st.maxTime) {
		st.maxTime = recordTime
	}
	if len(spans) == 0 {
		return
	}
	i := a.index(recordTime)
	if !st.started {
		st.started, st.done = true, i-1
	}
	if i <= st.done {
		i = st.done + 1
	}
	w := st.windows[i]
	if w == nil {
		w = map[pcommon.TraceID][]Span{}
		st.windows[i] = w
	}
	for _, s := range spans {
		w[s.TraceID] = append(w[s.TraceID], s)
	}
	st.counts[i] += len(spans)
	a.held += len(spans)
}

// Ready evaluates every window that has closed, oldest first.
func (a *Aggregator) Ready(now time.Time) []Window {
	var out []Window
	for p, st := range a.parts {
		idle := now.Sub(st.lastSeen) >= a.idle
		for _, i := range st.open() {
			closes := a.start(i + 2).Add(a.grace)
			if !idle && st.maxTime.Before(closes) {
				break
			}
			out = append(out, a.evaluate(p, st, i))
		}
		if idle && len(st.open()) == 0 {
			// Nothing more can pair with what is left; done is kept so
			// that a straggler never lands in an evaluated window.
			a.forget(st)
		}
	}
	sortWindows(out)
	return out
}

// Close evaluates every open window of the given partitions (all when
// parts is nil) and forgets them: on revoke and on shutdown, what was seen
// is counted now rather than lost.
func (a *Aggregator) Close(parts map[string][]int32) []Window {
	var out []Window
	for p, st := range a.parts {
		if parts != nil && !containsPart(parts[p.Topic], p.Partition) {
			continue
		}
		for _, i := range st.open() {
			out = append(out, a.evaluate(p, st, i))
		}
		a.forget(st)
		delete(a.parts, p)
	}
	sortWindows(out)
	return out
}

// Drop forgets the given partitions' windows without evaluating them: for
// partitions lost without a clean handover, whose records the next owner
// (perhaps this process again) reads anew.
func (a *Aggregator) Drop(parts map[string][]int32) {
	for p, st := range a.parts {
		if containsPart(parts[p.Topic], p.Partition) {
			a.forget(st)
			delete(a.parts, p)
		}
	}
}

// Shed evaluates the oldest open windows, whatever their partition, until
// at most limit spans are held: memory stays bounded when spans arrive
// faster than windows close (a call straddling a window shed early may then
// miss its pair).
func (a *Aggregator) Shed(limit int) []Window {
	var out []Window
	for a.held > limit {
		var oldest *partState
		var op Partition
		oi := int64(0)
		for p, st := range a.parts {
			if is := st.open(); len(is) > 0 && (oldest == nil || is[0] < oi) {
				oldest, op, oi = st, p, is[0]
			}
		}
		if oldest == nil {
			break
		}
		out = append(out, a.evaluate(op, oldest, oi))
		if len(oldest.open()) == 0 {
			a.forget(oldest) // nothing left to pair with
		}
	}
	sortWindows(out)
	return out
}

// forget drops every window of st.
func (a *Aggregator) forget(st *partState) {
	for i := range st.windows {
		a.held -= st.counts[i]
	}
	clear(st.windows)
	clear(st.counts)
}

// Spans is the number of spans held.
func (a *Aggregator) Spans() int { return a.held }

// open lists the window indices not yet evaluated, oldest first.
func (st *partState) open() []int64 {
	var is []int64
	for i := range st.windows {
		if i > st.done {
			is = append(is, i)
		}
	}
	sort.Slice(is, func(x, y int) bool { return is[x] < is[y] })
	return is
}

// evaluate derives window i, then forgets window i-1 (no longer needed for
// lookups).
func (a *Aggregator) evaluate(p Partition, st *partState, i int64) Window {
	ts := a.start(i)
	e := newEvaluation(ts, p.Label())
	for tid, spans := range st.windows[i] {
		lookup := make([]Span, 0, len(spans))
		lookup = append(lookup, st.windows[i-1][tid]...)
		lookup = append(lookup, spans...)
		lookup = append(lookup, st.windows[i+1][tid]...)
		e.trace(spans, lookup)
	}
	a.held -= st.counts[i-1]
	delete(st.windows, i-1)
	delete(st.counts, i-1)
	st.done = i
	return Window{Partition: p, Start: ts, Details: e.details(), Series: e.series()}
}

func sortWindows(ws []Window) {
	sort.SliceStable(ws, func(x, y int) bool { return ws[x].Start.Before(ws[y].Start) })
}

func containsPart(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
