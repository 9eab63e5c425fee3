package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/internal/events"
)

// Notifier is what the engine needs from Slack; *slack.Client implements it
// in every mode.
type Notifier interface {
	// Post posts a message (a reply when ThreadTS is set), retrying until it
	// is posted, fails permanently, or ctx ends.
	Post(ctx context.Context, m slack.Message) (slack.Ref, error)
	// Update replaces a posted message's content.
	Update(ctx context.Context, ref slack.Ref, m slack.Message) error
	// Threads reports whether replies thread and updates work.
	Threads() bool
}

// Outcomes of one consumed event, the outcome label of
// vigil_alerting_events_consumed_total.
const (
	outcomeApplied = "applied"
	outcomeStale   = "stale"
	outcomeInvalid = "invalid"
	outcomeIgnored = "ignored"
)

// Engine turns health and failover events into incidents and Slack
// messages. Its methods are safe for concurrent use; they run one at a time,
// so that the messages of one target are posted in order.
//
// Every change is written to the Store before the event's offset is
// committed, and a post is preceded by a write of its key (Pending): after a
// crash, the redelivered event derives the same key and the post first
// looks for a message with it. An event whose generation is not above the
// last applied for its target is dropped.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	store  Store
	slack  Notifier
	render render
	now    func() time.Time

	mu     sync.Mutex
	states map[string]*targetState
	storms map[string]*storm
	sil    silences
}

// NewEngine builds an engine that keeps its state in store and posts
// through n; reg (may be nil) receives its metrics. Call Restore before
// anything else. Service builds one; tests and tools may drive one directly.
func NewEngine(cfg Config, store Store, n Notifier, log *slog.Logger, reg prometheus.Registerer) *Engine {
	return newEngine(cfg, log, newMetrics(reg), store, n)
}

func newEngine(cfg Config, log *slog.Logger, m *metrics, store Store, n Notifier) *Engine {
	return &Engine{
		cfg: cfg, log: log, m: m, store: store, slack: n,
		render: render{links: cfg.Links},
		now:    time.Now,
		states: map[string]*targetState{},
		storms: map[string]*storm{},
		sil:    silences{m: map[string]Silence{}},
	}
}

// Restore loads the state written by an earlier run; call it before any
// other method.
func (e *Engine) Restore(ctx context.Context) error {
	recs, err := e.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("alerting: load state: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// A replica that becomes active again starts from the store alone: the
	// other replica may have changed everything since.
	e.states, e.storms = map[string]*targetState{}, map[string]*storm{}
	e.sil.mu.Lock()
	e.sil.m = map[string]Silence{}
	e.sil.mu.Unlock()
	for k, v := range recs {
		switch {
		case strings.HasPrefix(k, targetPrefix):
			st, err := decodeTarget(v)
			if err != nil {
				e.log.Warn("ignoring unreadable state record", "key", k, "err", err)
				continue
			}
			e.states[st.Target] = st
		case strings.HasPrefix(k, stormPrefix):
			st, err := stormFromRecord(v)
			if err != nil {
				e.log.Warn("ignoring unreadable storm record", "key", k, "err", err)
				continue
			}
			e.storms[strings.TrimPrefix(k, stormPrefix)] = st
		case strings.HasPrefix(k, silencePrefix):
			var s Silence
			if err := json.Unmarshal(v, &s); err != nil {
				e.log.Warn("ignoring unreadable silence record", "key", k, "err", err)
				continue
			}
			e.sil.put(s)
		}
	}
	e.updateGauges()
	e.log.Info("alerting state restored", "targets", len(e.states), "open_incidents", e.openCount(), "silences", len(e.sil.m))
	return nil
}

// ApplyHealth applies one health transition and returns its outcome.
// Errors are the store's or ctx's: the event must be applied again.
func (e *Engine) ApplyHealth(ctx context.Context, h events.Health) (string, error) {
	if h.Target == "" || !h.Status.Valid() {
		return outcomeInvalid, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	prev := e.states[h.Target]
	if prev != nil && h.Generation <= prev.Generation {
		return outcomeStale, nil
	}
	if prev == nil {
		prev = &targetState{Target: h.Target}
	}
	next := prev.clone()
	next.Generation, next.Last, next.Pending, next.PendingAt = h.Generation, h, "", time.Time{}
	now := e.now()
	at := h.Since
	if at.IsZero() {
		at = now
	}
	mute := e.muted(h.Target, h.Labels, now)
	inc := next.Incident
	var err error
	switch {
	case inc == nil:
		route := e.cfg.route(h.Target, h.Labels)
		if !route.opens(h.Status) {
			break
		}
		inc = &incident{
			ID: fmt.Sprintf("%s#%d", h.Target, h.Generation), Route: route.Name, Channel: route.Channel,
			OpenedAt: at, Status: h.Status, Opening: h, LastNotified: now,
		}
		next.Incident = inc
		if mute != "" {
			inc.Muted = true
			e.m.suppressed.WithLabelValues(mute).Inc()
			break
		}
		err = e.open(ctx, prev, next, now)
	case h.Status == events.Healthy:
		err = e.resolve(ctx, prev, next, at)
		next.Incident = nil
	case h.Status != inc.Status:
		route := e.cfg.routeNamed(inc.Route)
		inc.Status = h.Status
		switch {
		case inc.Muted && mute == "" && route.opens(h.Status):
			inc.Muted, inc.Opening = false, h
			err = e.open(ctx, prev, next, now)
		case !inc.Posted:
		case mute != "":
			e.m.suppressed.WithLabelValues(mute).Inc()
		default:
			m := e.render.change(inc, h, route)
			m.Key = inc.ID + "/g" + strconv.FormatUint(h.Generation, 10)
			err = e.reply(ctx, prev, inc, m, "change", h.Since)
		}
	}
	if err != nil {
		return "", err
	}
	return outcomeApplied, e.commit(ctx, next)
}

// ApplyFailover posts a failover decision or outcome: in the incident's
// thread when one is open, else as a message of its own on the target's
// route.
func (e *Engine) ApplyFailover(ctx context.Context, typ string, f events.Failover) (string, error) {
	if f.Target == "" {
		return outcomeInvalid, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	prev := e.states[f.Target]
	// A request and its outcome share a generation: fence on the pair
	// (generation, step), so the outcome is posted after its request and
	// a redelivered one is not.
	step := failoverStep(typ)
	if prev != nil && (f.Generation < prev.FailoverGeneration ||
		f.Generation == prev.FailoverGeneration && step <= prev.FailoverStep) {
		return outcomeStale, nil
	}
	if prev == nil {
		prev = &targetState{Target: f.Target}
	}
	next := prev.clone()
	next.FailoverGeneration, next.FailoverStep, next.Pending, next.PendingAt = f.Generation, step, "", time.Time{}
	m := e.render.failover(typ, f)
	gen := "/failover/" + strconv.FormatUint(f.Generation, 10)
	if step > 1 {
		gen += "/" + ShortType(typ) // the outcome's key differs from its request's
	}
	var err error
	switch inc, mute := next.Incident, e.muted(f.Target, next.Last.Labels, e.now()); {
	case mute != "":
		e.m.suppressed.WithLabelValues(mute).Inc()
	case inc != nil && inc.Posted:
		m.Key = inc.ID + gen
		err = e.reply(ctx, prev, inc, m, "failover", f.At)
	default:
		m.Channel, m.Key = e.cfg.route(f.Target, next.Last.Labels).Channel, f.Target+gen
		_, _, err = e.post(ctx, prev, m, "failover", f.At)
	}
	if err != nil {
		return "", err
	}
	return outcomeApplied, e.commit(ctx, next)
}

// Tick does what is due by the clock: expire silences, open incidents whose
// mute ended, post reminders and bring storm summaries up to date.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, id := range e.sil.expired(now) {
		if err := e.store.Put(ctx, silencePrefix+id, nil); err != nil {
			return fmt.Errorf("alerting: expire silence: %w", err)
		}
		e.sil.remove(id)
	}
	if err := e.tickStorms(ctx, now); err != nil {
		return err
	}
	due := map[slack.Ref][]*targetState{}
	for _, t := range e.targets() {
		st := e.states[t]
		inc := st.Incident
		if inc == nil {
			continue
		}
		route := e.cfg.routeNamed(inc.Route)
		mute := e.muted(t, st.Last.Labels, now)
		switch {
		case mute != "":
		case inc.Muted && route.opens(inc.Status):
			next := st.clone()
			next.Incident.Muted = false
			if err := e.open(ctx, st, next, now); err != nil {
				return err
			}
			if err := e.commit(ctx, next); err != nil {
				return err
			}
		case inc.Posted && inc.Status == events.Critical && route.RepeatInterval > 0 && now.Sub(inc.LastNotified) >= route.RepeatInterval:
			thread := slack.Ref{Channel: inc.Channel, TS: inc.TS}
			if !e.slack.Threads() || thread.TS == "" {
				thread.TS = inc.ID // no threads: one reminder per incident
			}
			due[thread] = append(due[thread], st)
		}
	}
	threads := make([]slack.Ref, 0, len(due))
	for r := range due {
		threads = append(threads, r)
	}
	sort.Slice(threads, func(i, j int) bool { return threads[i].TS < threads[j].TS })
	for _, thread := range threads {
		sts := due[thread]
		owner := sts[0]
		incs := make([]*incident, len(sts))
		for i, st := range sts {
			incs[i] = st.Incident
		}
		m := e.render.reminder(incs, now)
		m.Key = owner.Incident.ID + "/reminder/" + strconv.Itoa(owner.Incident.Reminders+1)
		if err := e.reply(ctx, owner, owner.Incident, m, "reminder", time.Time{}); err != nil {
			return err
		}
		for _, st := range sts {
			next := st.clone()
			next.Pending, next.PendingAt = "", time.Time{}
			next.Incident.LastNotified = now
			next.Incident.Reminders++
			if err := e.commit(ctx, next); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunTicks calls Tick every interval until ctx ends, giving Tick the
// context work (which may outlive ctx to let a tick finish); it returns the
// first error of a tick that ctx's end did not cause.
func (e *Engine) RunTicks(ctx, work context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := e.Tick(work); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// open posts the parent of next's incident, or folds it into a storm.
func (e *Engine) open(ctx context.Context, prev, next *targetState, now time.Time) error {
	inc := next.Incident
	route := e.cfg.routeNamed(inc.Route)
	if e.admit(route.Channel, now) {
		if err := e.fold(ctx, prev, inc, route.Channel, now); err != nil {
			return err
		}
		return e.saveStorm(ctx, route.Channel)
	}
	m := e.render.parent(inc, route, time.Time{})
	m.Channel, m.Key = inc.Channel, inc.ID+"/open"
	ref, ok, err := e.post(ctx, prev, m, "open", inc.Opening.Since)
	if err != nil {
		return err
	}
	if e.cfg.Storm.Threshold > 0 {
		if err := e.saveStorm(ctx, route.Channel); err != nil {
			return err
		}
	}
	inc.Posted, inc.TS, inc.LastNotified = ok, ref.TS, now
	if ref.Channel != "" {
		inc.Channel = ref.Channel // Slack answers with the channel ID
	}
	return nil
}

// resolve closes next's incident: a reply saying how long it lasted and,
// with threads, the parent updated to show it resolved.
func (e *Engine) resolve(ctx context.Context, prev, next *targetState, at time.Time) error {
	inc := next.Incident
	if !inc.Posted {
		return nil // muted all along, or never deliverable: nothing to close
	}
	m := e.render.recovered(inc, at)
	m.Key = inc.ID + "/resolved"
	if err := e.reply(ctx, prev, inc, m, "recovered", next.Last.Since); err != nil {
		return err
	}
	if inc.Folded {
		return e.markStormDirty(ctx, inc.TS)
	}
	if !e.slack.Threads() {
		return nil
	}
	upd := e.render.parent(inc, e.cfg.routeNamed(inc.Route), at)
	upd.Key = inc.ID + "/open"
	if err := e.slack.Update(ctx, slack.Ref{Channel: inc.Channel, TS: inc.TS}, upd); err != nil {
		return e.undelivered(err, "resolved_update", inc.Channel, upd.Key)
	}
	e.m.notifications.WithLabelValues("resolved_update", "posted").Inc()
	return nil
}

// reply posts m in inc's thread (or, without threads, as its own message).
func (e *Engine) reply(ctx context.Context, owner *targetState, inc *incident, m slack.Message, kind string, since time.Time) error {
	m.Channel, m.ThreadTS = inc.Channel, inc.TS
	_, ok, err := e.post(ctx, owner, m, kind, since)
	if ok {
		inc.LastNotified = e.now()
	}
	return err
}

// post writes m.Key to owner's record as Pending, then posts. It reports
// ok=false, with a nil error, when Slack refused the message for good (an
// operator must act; it is logged and counted). The error is the store's or
// ctx's.
func (e *Engine) post(ctx context.Context, owner *targetState, m slack.Message, kind string, since time.Time) (slack.Ref, bool, error) {
	if owner.Pending == m.Key {
		m.MaybePostedSince = owner.PendingAt
	} else {
		mark := owner.clone()
		mark.Pending, mark.PendingAt = m.Key, e.now()
		if err := e.commit(ctx, mark); err != nil {
			return slack.Ref{}, false, err
		}
	}
	ref, err := e.slack.Post(ctx, m)
	if err != nil {
		return slack.Ref{}, false, e.undelivered(err, kind, m.Channel, m.Key)
	}
	e.m.notifications.WithLabelValues(kind, "posted").Inc()
	if !since.IsZero() {
		e.m.latency.Observe(e.now().Sub(since).Seconds())
	}
	return ref, true, nil
}

// undelivered logs and counts a permanent Slack error and returns nil for
// it; other errors (ctx) are returned.
func (e *Engine) undelivered(err error, kind, channel, key string) error {
	var pe *slack.PermanentError
	if err == nil {
		return nil
	}
	if errors.As(err, &pe) {
		e.m.notifications.WithLabelValues(kind, "failed").Inc()
		e.log.Error("slack refused a notification; it is dropped", "kind", kind, "channel", channel, "key", key, "err", err)
		return nil
	}
	return err
}

// commit persists st and makes it current.
func (e *Engine) commit(ctx context.Context, st *targetState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("alerting: encode state of %s: %w", st.Target, err)
	}
	if err := e.store.Put(ctx, targetPrefix+st.Target, b); err != nil {
		return fmt.Errorf("alerting: write state of %s: %w", st.Target, err)
	}
	e.states[st.Target] = st
	e.updateGauges()
	return nil
}

// muted returns "silence" or "maintenance" when the target is muted, else "".
func (e *Engine) muted(target string, labels map[string]string, now time.Time) string {
	if e.sil.matches(target, labels, now) {
		return "silence"
	}
	for _, w := range e.cfg.Maintenance {
		if w.Active(now, target, labels) {
			return "maintenance"
		}
	}
	return ""
}

func (e *Engine) targets() []string {
	out := make([]string, 0, len(e.states))
	for t := range e.states {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// lastStatus is the status of target's last applied health event, ""
// for a target never seen.
func (e *Engine) lastStatus(target string) events.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := e.states[target]; st != nil {
		return st.Last.Status
	}
	return ""
}

func (e *Engine) openCount() int {
	n := 0
	for _, st := range e.states {
		if st.Incident != nil {
			n++
		}
	}
	return n
}

func (e *Engine) updateGauges() { e.m.incidentsOpen.Set(float64(e.openCount())) }

// failoverStep orders the events of one failover generation: the request
// (1) before its outcome (2).
func failoverStep(typ string) int {
	switch typ {
	case events.FailoverRequestedType, events.FailbackRequestedType:
		return 1
	}
	return 2
}
