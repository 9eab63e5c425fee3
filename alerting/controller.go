package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"

	"github.com/vigil-dev/vigil/alerting/failover"
	"github.com/vigil-dev/vigil/internal/events"
)

// Publisher puts an event on vigil.failover and returns once the brokers
// have acknowledged it.
type Publisher func(ctx context.Context, e ce.Event) error

// failoverPrefix keys a target's failover state in the Store.
const failoverPrefix = "failover/"

// historyLen is how many decisions and outcomes a target remembers for
// `vigil failover status`.
const historyLen = 10

// Step is one decision or outcome in a target's history.
type Step struct {
	// Type is the CloudEvents type, e.g. dev.vigil.failover.requested.v1.
	Type string `json:"type"`
	events.Failover
}

// TargetStatus is what the failover API reports of one target.
type TargetStatus struct {
	Target   string `json:"target"`
	Standby  string `json:"standby"`
	Failback string `json:"failback"`
	// Active is the side serving: primary or standby.
	Active string `json:"active"`
	// Pending is the type of the request in flight, "" when none.
	Pending string `json:"pending,omitempty"`
	// Generation is the last decision's generation.
	Generation    uint64        `json:"generation"`
	PrimaryHealth events.Status `json:"primaryHealth,omitempty"`
	StandbyHealth events.Status `json:"standbyHealth,omitempty"`
	BlockedUntil  time.Time     `json:"blockedUntil,omitzero"`
	Acked         bool          `json:"acked,omitempty"`
	// Blocked reports the block is in force now (not over, not acked).
	Blocked bool `json:"blocked,omitempty"`
	// Held says why a due switch is not requested (standby_not_healthy,
	// blocked), "" when none is held.
	Held string `json:"held,omitempty"`
	// Last holds the latest decisions and outcomes, oldest first.
	Last []Step `json:"last,omitempty"`
}

// failoverRecord is a target's persisted failover state.
type failoverRecord struct {
	State   failover.State `json:"state"`
	History []Step         `json:"history,omitempty"`
}

// ctrlTarget is one target's machine and history.
type ctrlTarget struct {
	m       *failover.Machine
	history []Step
	held    string // last Held reason logged, so each is logged once
}

// Controller drives the failover state machine of every configured target:
// it is fed health events and the executor's outcomes, ticks the clock,
// publishes the machines' decisions and persists their state. Its methods
// are safe for concurrent use.
//
// A decision is published before the state that records it is written; a
// crash in between is repaired at start by Sync with the latest event on
// vigil.failover, so a decision is never published twice with different
// generations. When publishing or writing fails the target's state is put
// back as it was, and the input is applied again later (redelivery or the
// next tick).
type Controller struct {
	log    *slog.Logger
	m      *metrics
	store  Store
	pub    Publisher
	source string
	now    func() time.Time

	mu      sync.Mutex
	targets map[string]*ctrlTarget // by primary target
	order   []string
}

// newController builds a controller for cfg's policies that keeps its state
// in store and publishes through pub; Service gives it both at Run. Call
// Restore before anything else.
func newController(cfg failover.Config, log *slog.Logger, m *metrics, store Store, pub Publisher) *Controller {
	c := &Controller{log: log, m: m, store: store, pub: pub, source: cfg.Source, now: time.Now, targets: map[string]*ctrlTarget{}}
	for _, p := range cfg.Targets {
		c.targets[p.Target] = &ctrlTarget{m: failover.New(p, failover.State{})}
		c.order = append(c.order, p.Target)
	}
	return c
}

// Restore loads the persisted state of every target, then syncs it with
// latest, the latest event per target found on vigil.failover (nil when
// not read).
func (c *Controller) Restore(ctx context.Context, latest map[string][]byte) error {
	recs, err := c.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("alerting: load failover state: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, t := range c.targets {
		if b, ok := recs[failoverPrefix+name]; ok {
			var rec failoverRecord
			if err := json.Unmarshal(b, &rec); err != nil {
				c.log.Warn("ignoring unreadable failover state", "target", name, "err", err)
			} else {
				t.m, t.history = failover.New(t.m.Policy(), rec.State), rec.History
			}
		}
		b, ok := latest[name]
		if !ok {
			continue
		}
		var e ce.Event
		if err := json.Unmarshal(b, &e); err != nil {
			c.log.Warn("ignoring an unreadable event on the failover topic", "target", name, "err", err)
			continue
		}
		f, err := events.Data[events.Failover](e)
		if err != nil {
			c.log.Warn("ignoring an unreadable event on the failover topic", "target", name, "err", err)
			continue
		}
		if t.m.Sync(e.Type(), f) {
			c.log.Info("failover state synced with the failover topic", "target", name, "type", e.Type(), "generation", f.Generation)
			t.remember(Step{Type: e.Type(), Failover: f})
			if err := c.persist(ctx, name, t); err != nil {
				return err
			}
		}
	}
	for name, t := range c.targets {
		c.setGauge(name, t)
	}
	return nil
}

// Prime applies latest, the latest record of each target on the health
// topic, without deciding: older health events consumed afterwards (a new
// consumer group reads the topic from its start) are then dropped by
// generation rather than acted upon. The next tick decides on the current
// state.
func (c *Controller) Prime(ctx context.Context, latest map[string][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, b := range latest {
		var e ce.Event
		if err := json.Unmarshal(b, &e); err != nil || e.Type() != events.HealthChangedType {
			continue
		}
		h, err := events.Data[events.Health](e)
		if err != nil || !h.Status.Valid() {
			continue
		}
		for _, name := range c.order {
			t := c.targets[name]
			if t.m.Observe(h, now) {
				if err := c.persist(ctx, name, t); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Health feeds a health event to the targets it concerns (as primary or
// standby) and publishes what they decide.
func (c *Controller) Health(ctx context.Context, h events.Health) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var errs []error
	for _, name := range c.order {
		t := c.targets[name]
		p := t.m.Policy()
		if h.Target != p.Target && h.Target != p.Standby {
			continue
		}
		errs = append(errs, c.step(ctx, name, t, func() []failover.Decision { return t.m.Health(h, now) }, now))
	}
	return errors.Join(errs...)
}

// Outcome applies a completed or failed event from the executor.
func (c *Controller) Outcome(ctx context.Context, typ string, f events.Failover) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[f.Target]
	if !ok {
		return nil
	}
	now := c.now()
	before := t.m.State()
	return c.step(ctx, f.Target, t, func() []failover.Decision {
		ds := t.m.Outcome(typ, f, now)
		if t.m.State() != before {
			t.remember(Step{Type: typ, Failover: f})
			c.log.Info("failover outcome applied", "target", f.Target, "type", typ, "generation", f.Generation, "actor", f.Actor)
		}
		return ds
	}, now)
}

// Tick decides on the time alone for every target. A target whose
// decision cannot be published is logged and tried again next tick.
func (c *Controller) Tick(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, name := range c.order {
		t := c.targets[name]
		if err := c.step(ctx, name, t, func() []failover.Decision { return t.m.Tick(now) }, now); err != nil && ctx.Err() == nil {
			c.log.Warn("failover tick failed; trying again next tick", "target", name, "err", err)
		}
	}
}

// RunTicks calls Tick every interval until ctx ends, giving Tick the
// context work (which may outlive ctx to let a tick finish).
func (c *Controller) RunTicks(ctx, work context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			c.Tick(work)
		}
	}
}

// ErrUnknownTarget is returned for a target without a failover policy.
var ErrUnknownTarget = errors.New("no failover policy for this target")

// Ack lifts the block in force on target until its next switch, and
// publishes a switch the block was holding back.
func (c *Controller) Ack(ctx context.Context, target string) (TargetStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[target]
	if !ok {
		return TargetStatus{}, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	now := c.now()
	err := c.step(ctx, target, t, func() []failover.Decision { t.m.Ack(); return t.m.Tick(now) }, now)
	if err == nil {
		c.log.Info("failover block acknowledged", "target", target)
	}
	return c.status(target, t, now), err
}

// Failback requests a failback of target now (see
// failover.Machine.RequestFailback); failover.ErrNotPossible says why not.
func (c *Controller) Failback(ctx context.Context, target string) (TargetStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[target]
	if !ok {
		return TargetStatus{}, fmt.Errorf("%w: %q", ErrUnknownTarget, target)
	}
	now := c.now()
	var reqErr error
	err := c.step(ctx, target, t, func() []failover.Decision {
		ds, err := t.m.RequestFailback(now)
		reqErr = err
		return ds
	}, now)
	if reqErr != nil {
		return c.status(target, t, now), reqErr
	}
	return c.status(target, t, now), err
}

// Status returns every target's status, in configuration order.
func (c *Controller) Status() []TargetStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make([]TargetStatus, 0, len(c.order))
	for _, name := range c.order {
		out = append(out, c.status(name, c.targets[name], now))
	}
	return out
}

func (c *Controller) status(name string, t *ctrlTarget, now time.Time) TargetStatus {
	p, st := t.m.Policy(), t.m.State()
	return TargetStatus{
		Target: name, Standby: p.Standby, Failback: p.Failback,
		Active: st.Active, Pending: st.Pending, Generation: st.Generation,
		PrimaryHealth: st.Primary.Status, StandbyHealth: st.Standby.Status,
		BlockedUntil: st.BlockedUntil, Acked: st.Acked, Held: t.m.Held(now),
		Blocked: !st.Acked && now.Before(st.BlockedUntil),
		Last:    slices.Clone(t.history),
	}
}

// step runs apply on t's machine, publishes its decisions, then persists
// the state when it changed; on an error t is put back as it was.
func (c *Controller) step(ctx context.Context, name string, t *ctrlTarget, apply func() []failover.Decision, now time.Time) error {
	before, hist := t.m.State(), slices.Clone(t.history)
	rollback := func() { t.m, t.history = failover.New(t.m.Policy(), before), hist }
	ds := apply()
	for _, d := range ds {
		e, err := d.CloudEvent(c.source)
		if err == nil {
			err = c.pub(ctx, e)
		}
		if err != nil {
			rollback()
			return fmt.Errorf("alerting: publish %s for %s: %w", d.Type, name, err)
		}
		t.remember(Step{Type: d.Type, Failover: d.Data})
		c.m.failoverDecisions.WithLabelValues(ShortType(d.Type)).Inc()
		c.log.Info("failover decision published", "target", name, "type", d.Type, "generation", d.Data.Generation, "reason", d.Data.Reason)
	}
	c.noteHeld(name, t, now)
	if t.m.State() == before && len(ds) == 0 && slices.Equal(hist, t.history) {
		return nil
	}
	if err := c.persist(ctx, name, t); err != nil {
		if len(ds) == 0 {
			rollback() // decisions are out: keep them in memory, Restore's Sync repairs the store
		}
		return err
	}
	c.setGauge(name, t)
	return nil
}

// noteHeld logs and counts a switch held back, once per reason in a row.
func (c *Controller) noteHeld(name string, t *ctrlTarget, now time.Time) {
	held := t.m.Held(now)
	if held == t.held {
		return
	}
	t.held = held
	if held == "" {
		return
	}
	c.m.failoverHeld.WithLabelValues(held).Inc()
	st := t.m.State()
	c.log.Warn("failover due but held back", "target", name, "reason", held,
		"primary", st.Primary.Status, "standby", st.Standby.Status, "blocked_until", st.BlockedUntil)
}

func (c *Controller) persist(ctx context.Context, name string, t *ctrlTarget) error {
	b, err := json.Marshal(failoverRecord{State: t.m.State(), History: t.history})
	if err != nil {
		return fmt.Errorf("alerting: encode failover state: %w", err)
	}
	if err := c.store.Put(ctx, failoverPrefix+name, b); err != nil {
		return fmt.Errorf("alerting: write failover state of %s: %w", name, err)
	}
	return nil
}

func (c *Controller) setGauge(name string, t *ctrlTarget) {
	v := 0.0
	if t.m.State().Active == failover.Standby {
		v = 1
	}
	c.m.failoverOnStandby.WithLabelValues(name).Set(v)
}

// remember appends s to the history, keeping the last historyLen.
func (t *ctrlTarget) remember(s Step) {
	t.history = append(t.history, s)
	if n := len(t.history); n > historyLen {
		t.history = slices.Clone(t.history[n-historyLen:])
	}
}

// ShortType turns dev.vigil.failover.requested.v1 into failover.requested.
func ShortType(typ string) string {
	return strings.TrimSuffix(strings.TrimPrefix(typ, "dev.vigil."), ".v1")
}
