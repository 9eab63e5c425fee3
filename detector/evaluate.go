package detector

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vigil-dev/vigil/internal/events"
)

// Querier is the part of the Prometheus HTTP API the detector uses;
// v1.NewAPI's result satisfies it.
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// evaluate runs one rule's query, bounded by timeout, and reduces its result
// to one value.
func evaluate(ctx context.Context, q Querier, r *compiledRule, timeout time.Duration, now time.Time) Observation {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, _, _, err := q.Query(qctx, r.expr, now, v1.WithTimeout(timeout))
	if err != nil {
		return Observation{Err: fmt.Errorf("query: %w", err)}
	}
	x, err := reduceValue(v, r)
	if err == ErrNoData && r.idle != "" && idle(qctx, q, r, timeout, now) {
		return Observation{Idle: true}
	}
	return Observation{Value: x, Err: err}
}

// idle tells whether the rule's idle query returns 0: no traffic, so no
// data from the rule's own query is expected. A failing or empty idle
// query is not idle: the rule's on_no_data decides then.
func idle(ctx context.Context, q Querier, r *compiledRule, timeout time.Duration, now time.Time) bool {
	v, _, _, err := q.Query(ctx, r.idle, now, v1.WithTimeout(timeout))
	if err != nil {
		return false
	}
	x, err := reduceValue(v, &compiledRule{reduce: ReduceMax})
	return err == nil && x == 0
}

// reduceValue turns a scalar or an instant vector into one value; several
// series reduce by the rule's Reduce, none is ErrNoData. NaN samples carry
// no information and are skipped.
func reduceValue(v model.Value, r *compiledRule) (float64, error) {
	switch v := v.(type) {
	case *model.Scalar:
		if math.IsNaN(float64(v.Value)) {
			return 0, ErrNoData
		}
		return float64(v.Value), nil
	case model.Vector:
		higher := r.reduce == ReduceMax
		if r.reduce == ReduceWorst || r.reduce == "" {
			higher = r.worseIsHigher()
		}
		found, best := false, 0.0
		for _, s := range v {
			x := float64(s.Value)
			if math.IsNaN(x) {
				continue
			}
			if !found || (higher && x > best) || (!higher && x < best) {
				best, found = x, true
			}
		}
		if !found {
			return 0, ErrNoData
		}
		return best, nil
	case nil:
		return 0, ErrNoData
	}
	return 0, fmt.Errorf("result is a %s, want an instant vector or a scalar", v.Type())
}

// worseIsHigher tells which way "worst" reduces: towards the critical
// condition's direction (else caution's); equality conditions take the max.
func (r *compiledRule) worseIsHigher() bool {
	for _, t := range []*Threshold{r.critical, r.caution} {
		if t != nil && t.direction() != 0 {
			return t.direction() > 0
		}
	}
	return true
}

// engine holds every target's state during one leadership term and feeds it
// evaluations and alerts. Transitions are handed to emit under the lock, so
// each target's transitions leave in generation order.
type engine struct {
	mu      sync.Mutex
	targets map[string]*TargetState
	allowed map[string]bool // targets webhooks may change
	emit    func(context.Context, Transition) error
	m       *metrics
	// added are rule slots of targets added while run is running (from
	// target templates); notify wakes run to schedule them.
	added  []*slot
	notify chan struct{}
}

func newEngine(cfg Config, restored map[string]Restored, emit func(context.Context, Transition) error, m *metrics) *engine {
	e := &engine{targets: map[string]*TargetState{}, allowed: map[string]bool{}, emit: emit, m: m, notify: make(chan struct{}, 1)}
	for _, t := range cfg.Targets {
		r := restored[t.Name]
		e.targets[t.Name] = NewTargetState(t, cfg.Defaults, r.Status, r.Generation)
		if m != nil {
			m.setStatus(t.Name, e.targets[t.Name].Status())
		}
		e.allowed[t.Name] = len(cfg.Webhooks.Targets) == 0
	}
	for _, n := range cfg.Webhooks.Targets {
		e.allowed[n] = true
	}
	return e
}

// addTarget adds a target expanded from a template, unless one of its name
// exists; run schedules its rules. It reports whether it was added.
func (e *engine) addTarget(t Target, cfg Config, r Restored) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.targets[t.Name]; ok {
		return false
	}
	st := NewTargetState(t, cfg.Defaults, r.Status, r.Generation)
	e.targets[t.Name] = st
	if e.m != nil {
		e.m.setStatus(t.Name, st.Status())
	}
	e.allowed[t.Name] = len(cfg.Webhooks.Targets) == 0
	now := time.Now()
	for i, rs := range st.rules {
		off := phase(t.Name, rs.rule.name, rs.rule.interval)
		e.added = append(e.added, &slot{target: t.Name, i: i, rule: rs.rule, offset: off, next: nextSlot(now, rs.rule.interval, off)})
	}
	select {
	case e.notify <- struct{}{}:
	default:
	}
	return true
}

// observe feeds one evaluation of a target's rule.
func (e *engine) observe(ctx context.Context, target string, rule int, now time.Time, o Observation) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tr, ok := e.targets[target].Observe(rule, now, o)
	if !ok {
		return nil
	}
	return e.emitLocked(ctx, tr)
}

// setExternal applies an alert to a target.
func (e *engine) setExternal(ctx context.Context, target, key string, x External, now time.Time) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	tr, ok := e.targets[target].SetExternal(key, x, now)
	if !ok {
		return false, nil
	}
	return true, e.emitLocked(ctx, tr)
}

func (e *engine) emitLocked(ctx context.Context, tr Transition) error {
	e.m.transitions.WithLabelValues(tr.Target, string(tr.To)).Inc()
	e.m.setStatus(tr.Target, tr.To)
	return e.emit(ctx, tr)
}

func resultLabel(o Observation) string {
	switch {
	case o.Err == nil:
		return "ok"
	case o.Err == ErrNoData:
		return "no_data"
	}
	return "error"
}

// statuses returns every target's status and generation (for tests and logs).
func (e *engine) statuses() map[string]Restored {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]Restored, len(e.targets))
	for n, t := range e.targets {
		out[n] = Restored{Status: t.status, Generation: t.generation}
	}
	return out
}

// Restored is a target's last published status and generation.
type Restored struct {
	Status     events.Status
	Generation uint64
}
