package detector

import (
	"container/heap"
	"context"
	"hash/fnv"
	"sync"
	"time"
)

// workerIdle is how long an evaluation worker waits for work before it
// exits; the pool grows to the concurrency the rules need and shrinks back.
const workerIdle = time.Minute

// slot is one rule's place in the schedule.
type slot struct {
	target string
	i      int
	rule   *compiledRule
	offset time.Duration
	// next is when the rule is due.
	next time.Time
	// err is what the last evaluation's emit returned (ctx ended).
	err error
}

// schedule is a min-heap of slots by due time.
type schedule []*slot

func (s schedule) Len() int           { return len(s) }
func (s schedule) Less(i, j int) bool { return s[i].next.Before(s[j].next) }
func (s schedule) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)        { *s = append(*s, x.(*slot)) }
func (s *schedule) Pop() any {
	old := *s
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	return x
}

// run evaluates every rule at its interval until ctx ends. A failing or
// slow Prometheus only produces error observations (see on_error).
//
// One scheduler hands due rules to a pool of workers instead of each rule
// owning a goroutine: with 1,000 rules, 1,000 mostly idle goroutines have
// their stacks shrunk by every GC and regrown by every query (a sizeable
// share of the CPU), and every GC scans them all. The pool grows without a
// bound, so a hung Prometheus delays no rule's evaluation beyond its own
// query timeout. A rule is never evaluated twice at once: it goes back into
// the schedule when its evaluation ends.
func (e *engine) run(ctx context.Context, q Querier, timeout time.Duration) error {
	var due schedule
	now := time.Now()
	e.mu.Lock()
	for name, t := range e.targets {
		for i, rs := range t.rules {
			off := phase(name, rs.rule.name, rs.rule.interval)
			due = append(due, &slot{target: name, i: i, rule: rs.rule, offset: off, next: nextSlot(now, rs.rule.interval, off)})
		}
	}
	e.added = nil // already in due
	e.mu.Unlock()
	heap.Init(&due)

	jobs := make(chan *slot)
	// Room for every rule, so that a worker never waits to report.
	done := make(chan *slot, len(due))
	var wg sync.WaitGroup
	defer func() {
		close(jobs)
		wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if len(due) > 0 {
			timer.Reset(time.Until(due[0].next))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.notify:
			e.mu.Lock()
			for _, s := range e.added {
				heap.Push(&due, s)
			}
			e.added = nil
			e.mu.Unlock()
		case s := <-done:
			if s.err != nil {
				return s.err
			}
			// An evaluation that overran its interval skips the slots it
			// missed, as a ticker drops ticks.
			s.next = s.next.Add(s.rule.interval)
			if now := time.Now(); s.next.Before(now) {
				s.next = nextSlot(now, s.rule.interval, s.offset)
			}
			heap.Push(&due, s)
		case <-timer.C:
			now := time.Now()
			for len(due) > 0 && !due[0].next.After(now) {
				s := heap.Pop(&due).(*slot)
				select {
				case jobs <- s: // an idle worker took it
				default:
					wg.Add(1)
					go e.worker(ctx, q, timeout, s, jobs, done, &wg)
				}
			}
		}
	}
}

// worker evaluates s, then whatever it is handed next, until jobs closes or
// it has been idle for workerIdle.
func (e *engine) worker(ctx context.Context, q Querier, timeout time.Duration, s *slot, jobs <-chan *slot, done chan<- *slot, wg *sync.WaitGroup) {
	defer wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		s.err = e.evaluateRule(ctx, q, s, timeout)
		done <- s
		idle.Reset(workerIdle)
		var ok bool
		select {
		case s, ok = <-jobs:
			if !ok {
				return
			}
		case <-idle.C:
			return
		}
	}
}

// evaluateRule runs one evaluation of s's rule and feeds it to its target.
// The evaluation is at its slot's time, for the query and for the rule's
// state, as Prometheus evaluates rules at their scheduled timestamp: how
// long a condition has held is then a whole number of intervals, whatever
// the queries' latencies.
func (e *engine) evaluateRule(ctx context.Context, q Querier, s *slot, timeout time.Duration) error {
	start := time.Now()
	o := evaluate(ctx, q, s.rule, timeout, s.next)
	if ctx.Err() != nil {
		return nil // a cancelled query says nothing about the target
	}
	e.m.evalDuration.Observe(time.Since(start).Seconds())
	e.m.evaluations.WithLabelValues(resultLabel(o)).Inc()
	return e.observe(ctx, s.target, s.i, s.next, o)
}

// phase is where in its interval a rule is evaluated: a hash of the target
// and rule names, as Prometheus offsets its rule groups, rounded down to a
// multiple of phaseStep. 1,000 rules at 15s then make ~7 queries every
// 100ms rather than 1,000 at once every 15s, which would queue behind
// Prometheus' query concurrency limit (20 by default) and open a connection
// per query. Being a function of the names and the wall clock, it is the
// same on every replica and after restarts.
func phase(target, rule string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = h.Write([]byte(target))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(rule))
	p := time.Duration(h.Sum64() % uint64(interval))
	if interval >= 10*phaseStep {
		p -= p % phaseStep
	}
	return p
}

// phaseStep batches the rules whose phases are close: waking the process
// for every single rule (67 times a second for 1,000 rules at 15s) cost
// three times the CPU of waking it every 100ms for a handful (measured with
// scripts/bench.d/30-detector.sh's rules). Intervals under ten steps are
// not rounded.
const phaseStep = 100 * time.Millisecond

// nextSlot is the first time at or after now that is offset past a
// multiple of interval (counted from the Unix epoch).
func nextSlot(now time.Time, interval, offset time.Duration) time.Time {
	into := time.Duration((now.UnixNano() - int64(offset)) % int64(interval))
	if into < 0 {
		into += interval
	}
	if into == 0 {
		return now
	}
	return now.Add(interval - into)
}
