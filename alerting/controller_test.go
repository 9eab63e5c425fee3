package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/failover"
	"github.com/vigil-dev/vigil/internal/events"
)

// published records what a controller publishes; fail makes the next
// publishes fail.
type published struct {
	mu   sync.Mutex
	evs  []ce.Event
	fail int
}

func (p *published) publish(_ context.Context, e ce.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("broker unreachable")
	}
	p.evs = append(p.evs, e)
	return nil
}

// names returns what was published as "<short type>#<generation>".
func (p *published) names(t *testing.T) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.evs {
		f, err := events.Data[events.Failover](e)
		require.NoError(t, err)
		out = append(out, fmt.Sprintf("%s#%d", ShortType(e.Type()), f.Generation))
	}
	return strings.Join(out, " ")
}

// brokenStore fails every Put while fail is set.
type brokenStore struct {
	Store
	mu   sync.Mutex
	fail bool
}

func (s *brokenStore) set(fail bool) { s.mu.Lock(); defer s.mu.Unlock(); s.fail = fail }

func (s *brokenStore) Put(ctx context.Context, k string, v []byte) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("state topic unreachable")
	}
	return s.Store.Put(ctx, k, v)
}

func testPolicy(mut ...func(*failover.Policy)) failover.Policy {
	p := failover.Policy{Target: "db", Standby: "db-standby", CriticalFor: 5 * time.Minute, BlockFor: 10 * time.Minute, Failback: failover.FailbackAuto, Dwell: 10 * time.Minute}
	for _, f := range mut {
		f(&p)
	}
	return p
}

// ctl is a controller with its ticker running in a synctest bubble.
type ctl struct {
	t   *testing.T
	c   *Controller
	pub *published
	reg *prometheus.Registry
	log *lockedWriter
	gen map[string]uint64
}

func startCtl(t *testing.T, p failover.Policy, store Store, latest map[string][]byte) *ctl {
	t.Helper()
	cfg := failover.DefaultConfig()
	cfg.Targets = []failover.Policy{p}
	h := &ctl{t: t, pub: &published{}, reg: prometheus.NewRegistry(), log: &lockedWriter{w: &bytes.Buffer{}}, gen: map[string]uint64{}}
	log := slog.New(slog.NewTextHandler(h.log, nil))
	h.c = newController(cfg, log, newMetrics(h.reg), store, h.pub.publish)
	require.NoError(t, h.c.Restore(t.Context(), latest))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); h.c.RunTicks(ctx, ctx, cfg.TickInterval) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// health applies the next transition of target, since now.
func (h *ctl) health(target string, s events.Status) {
	h.t.Helper()
	h.gen[target]++
	require.NoError(h.t, h.c.Health(h.t.Context(), events.Health{Target: target, Status: s, Since: time.Now(), Reason: "test", Generation: h.gen[target]}))
}

func (h *ctl) outcome(typ string, gen uint64) {
	h.t.Helper()
	require.NoError(h.t, h.c.Outcome(h.t.Context(), typ, events.Failover{Target: "db", Generation: gen, At: time.Now(), Actor: "pipeline/test"}))
}

// wait lets d pass with the ticker running, then lets it settle.
func (h *ctl) wait(d time.Duration) { time.Sleep(d); synctest.Wait() }

func (h *ctl) status() TargetStatus { return h.c.Status()[0] }

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.w.String() }

func stepTypes(steps []Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = ShortType(s.Type)
	}
	return out
}

// healthyPairCtl makes both sides HEALTHY, then the primary CRITICAL.
func (h *ctl) primaryDown() {
	h.health("db-standby", events.Healthy)
	h.health("db", events.Healthy)
	h.health("db", events.Critical)
}

func TestControllerAutoFailback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startCtl(t, testPolicy(), NewMemStore(), nil)
		h.primaryDown()
		h.wait(4 * time.Minute)
		require.Empty(t, h.pub.names(t), "critical_for has not passed")
		h.wait(2 * time.Minute)
		require.Equal(t, "failover.requested#1", h.pub.names(t), "the ticker alone fires it, no new health event")
		require.Equal(t, events.FailoverRequestedType, h.status().Pending)
		h.wait(time.Hour)
		require.Equal(t, "failover.requested#1", h.pub.names(t), "nothing more while in flight")

		h.outcome(events.FailoverCompletedType, 1)
		require.Equal(t, failover.Standby, h.status().Active)
		require.InDelta(t, 1, testutil.ToFloat64(h.c.m.failoverOnStandby.WithLabelValues("db")), 0)
		h.health("db", events.Healthy)
		h.wait(9 * time.Minute)
		require.Equal(t, "failover.requested#1", h.pub.names(t), "dwell has not passed")
		h.wait(2 * time.Minute)
		require.Equal(t, "failover.requested#1 failback.requested#2", h.pub.names(t))
		h.outcome(events.FailbackCompletedType, 2)
		st := h.status()
		require.Equal(t, failover.Primary, st.Active)
		require.Empty(t, st.Pending)
		require.Equal(t, []string{"failover.requested", "failover.completed", "failback.requested", "failback.completed"}, stepTypes(st.Last))
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.m.failoverDecisions.WithLabelValues("failback.requested")))
	})
}

func TestControllerManualFailback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startCtl(t, testPolicy(func(p *failover.Policy) { p.Failback, p.Dwell = failover.FailbackManual, 0 }), NewMemStore(), nil)
		h.primaryDown()
		h.wait(6 * time.Minute)
		h.outcome(events.FailoverCompletedType, 1)
		h.health("db", events.Healthy)
		h.wait(2 * time.Hour)
		require.Equal(t, "failover.requested#1", h.pub.names(t), "manual: no failback by itself")
		st, err := h.c.Failback(t.Context(), "db")
		require.NoError(t, err)
		require.Equal(t, events.FailbackRequestedType, st.Pending)
		require.Equal(t, "failover.requested#1 failback.requested#2", h.pub.names(t))
		_, err = h.c.Failback(t.Context(), "db")
		require.ErrorIs(t, err, failover.ErrNotPossible)
		_, err = h.c.Failback(t.Context(), "nope")
		require.ErrorIs(t, err, ErrUnknownTarget)
	})
}

func TestControllerBlockUntilAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startCtl(t, testPolicy(func(p *failover.Policy) { p.BlockFor = time.Hour }), NewMemStore(), nil)
		h.primaryDown()
		h.wait(6 * time.Minute)
		h.outcome(events.FailoverFailedType, 1)
		h.wait(30 * time.Minute)
		require.Equal(t, "failover.requested#1", h.pub.names(t), "a failed attempt blocks a second automatic one")
		require.Equal(t, failover.HeldBlocked, h.status().Held)
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.m.failoverHeld.WithLabelValues(failover.HeldBlocked)), "counted once, not per tick")
		st, err := h.c.Ack(t.Context(), "db")
		require.NoError(t, err)
		require.Equal(t, "failover.requested#1 failover.requested#2", h.pub.names(t), "the ack releases the held switch at once")
		require.Equal(t, events.FailoverRequestedType, st.Pending)
	})
}

func TestControllerNeverOnUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startCtl(t, testPolicy(), NewMemStore(), nil)
		h.health("db-standby", events.Healthy)
		h.health("db", events.Critical)
		h.wait(4 * time.Minute)
		h.health("db", events.Unknown)
		h.wait(3 * time.Hour)
		require.Empty(t, h.pub.names(t))
		require.Empty(t, h.status().Held)
	})
}

func TestControllerStandbyNotHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startCtl(t, testPolicy(), NewMemStore(), nil)
		h.health("db-standby", events.Caution)
		h.health("db", events.Critical)
		h.wait(time.Hour)
		require.Empty(t, h.pub.names(t))
		require.Equal(t, failover.HeldStandbyNotHealthy, h.status().Held)
		require.Equal(t, 1.0, testutil.ToFloat64(h.c.m.failoverHeld.WithLabelValues(failover.HeldStandbyNotHealthy)))
		require.Equal(t, 1, strings.Count(h.log.String(), "reason=standby_not_healthy"), "logged once")
		h.health("db-standby", events.Healthy)
		require.Equal(t, "failover.requested#1", h.pub.names(t))
	})
}

// TestControllerRestart: a restarted controller takes its generations from
// the store, publishes nothing again, and continues the sequence.
func TestControllerRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := NewMemStore()
		h := startCtl(t, testPolicy(), store, nil)
		h.primaryDown()
		h.wait(6 * time.Minute)
		require.Equal(t, "failover.requested#1", h.pub.names(t))

		h2 := startCtl(t, testPolicy(), store, nil)
		h2.gen = h.gen
		h2.wait(time.Hour)
		require.Empty(t, h2.pub.names(t), "the request in flight is not published again")
		require.Equal(t, uint64(1), h2.status().Generation)
		h2.outcome(events.FailoverCompletedType, 1)
		h2.health("db", events.Healthy)
		h2.wait(11 * time.Minute)
		require.Equal(t, "failback.requested#2", h2.pub.names(t))
	})
}

// TestControllerUnpersistedDecision: a decision published but not written
// to the store (a crash in between) is recovered from the failover topic at
// start: in flight with its generation, not published again.
func TestControllerUnpersistedDecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &brokenStore{Store: NewMemStore()}
		h := startCtl(t, testPolicy(), store, nil)
		h.primaryDown()
		store.set(true)
		h.wait(6 * time.Minute)
		require.Equal(t, "failover.requested#1", h.pub.names(t))
		store.set(false)

		raw, err := json.Marshal(h.pub.evs[0])
		require.NoError(t, err)
		h2 := startCtl(t, testPolicy(), store, map[string][]byte{"db": raw})
		h2.wait(time.Hour)
		require.Empty(t, h2.pub.names(t))
		st := h2.status()
		require.Equal(t, events.FailoverRequestedType, st.Pending)
		require.Equal(t, uint64(1), st.Generation)

		// The executor's outcome, also seen on the topic, settles it.
		done, err := events.New("x", "pipeline", events.FailoverCompletedType, "db", time.Now(), events.Failover{Target: "db", From: "primary", To: "standby", At: time.Now(), Generation: 1})
		require.NoError(t, err)
		raw, err = json.Marshal(done)
		require.NoError(t, err)
		h3 := startCtl(t, testPolicy(), store, map[string][]byte{"db": raw})
		require.Equal(t, failover.Standby, h3.status().Active)
		require.Empty(t, h3.status().Pending)
	})
}

// TestControllerPublishFails: a decision that cannot be published is not
// recorded, and the next tick publishes it with the same generation.
func TestControllerPublishFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startCtl(t, testPolicy(), NewMemStore(), nil)
		h.primaryDown()
		h.pub.mu.Lock()
		h.pub.fail = 3
		h.pub.mu.Unlock()
		h.wait(5*time.Minute + 30*time.Second)
		require.Equal(t, "failover.requested#1", h.pub.names(t))
		require.Contains(t, h.log.String(), "failover tick failed")
	})
}

// TestFailoverStepsInSlack: a request and its outcome share a generation;
// both are posted, in order, and a redelivered one is dropped.
func TestFailoverStepsInSlack(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	f := events.Failover{Target: "db-1", From: "primary", To: "standby", Generation: 1, At: base}
	for _, tc := range []struct{ typ, want string }{
		{events.FailoverRequestedType, outcomeApplied},
		{events.FailoverCompletedType, outcomeApplied},
		{events.FailoverRequestedType, outcomeStale},
		{events.FailoverCompletedType, outcomeStale},
	} {
		out, err := h.eng.ApplyFailover(t.Context(), tc.typ, f)
		require.NoError(t, err)
		require.Equal(t, tc.want, out, tc.typ)
	}
	posts := h.srv.Posts()
	require.Len(t, posts, 2)
	require.Contains(t, posts[0].Text, "Failover requested")
	require.Contains(t, posts[1].Text, "Failover completed")
	require.Equal(t, []string{"db-1/failover/1", "db-1/failover/1/failover.completed"}, keys(posts))
}
