package failover

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/events"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// step is one input at t0+at and the decisions it must produce, written as
// "<type>#<generation>" (e.g. "failover.requested#1"), joined by spaces.
type step struct {
	at   time.Duration
	do   string // "p" or "s" (health of primary/standby), "tick", "completed", "failed", "fb-completed", "ack", "failback"
	st   events.Status
	gen  uint64
	want string
	err  string // for "failback"
}

func policy(mut ...func(*Policy)) Policy {
	p := Policy{Target: "db", Standby: "db-standby", CriticalFor: 5 * time.Minute, BlockFor: 30 * time.Minute, Failback: FailbackAuto, Dwell: 10 * time.Minute}
	for _, f := range mut {
		f(&p)
	}
	return p
}

func short(typ string) string {
	return strings.TrimSuffix(strings.TrimPrefix(typ, "dev.vigil."), ".v1")
}

func run(t *testing.T, p Policy, steps []step) *Machine {
	t.Helper()
	require.NoError(t, p.Validate())
	m := New(p, State{})
	for i, s := range steps {
		now := t0.Add(s.at)
		var (
			got []Decision
			err error
		)
		switch s.do {
		case "p", "s":
			target := p.Target
			if s.do == "s" {
				target = p.Standby
			}
			got = m.Health(events.Health{Target: target, Status: s.st, Since: now, Generation: s.gen}, now)
		case "tick":
			got = m.Tick(now)
		case "completed", "failed", "fb-completed":
			typ := map[string]string{"completed": events.FailoverCompletedType, "failed": events.FailoverFailedType, "fb-completed": events.FailbackCompletedType}[s.do]
			got = m.Outcome(typ, events.Failover{Target: p.Target, Generation: s.gen}, now)
		case "ack":
			m.Ack()
		case "failback":
			got, err = m.RequestFailback(now)
		default:
			t.Fatalf("step %d: unknown input %q", i, s.do)
		}
		if s.err != "" {
			require.ErrorIs(t, err, ErrNotPossible, "step %d", i)
			require.ErrorContains(t, err, s.err, "step %d", i)
		} else {
			require.NoError(t, err, "step %d", i)
		}
		var names []string
		for _, d := range got {
			names = append(names, fmt.Sprintf("%s#%d", short(d.Type), d.Data.Generation))
			require.Equal(t, now, d.Data.At)
			require.Equal(t, p.Target, d.Data.Target)
		}
		require.Equal(t, s.want, strings.Join(names, " "), "step %d (%s at %s)", i, s.do, s.at)
	}
	return m
}

// healthyPair makes both sides HEALTHY at t0.
var healthyPair = []step{{do: "p", st: events.Healthy, gen: 1}, {do: "s", st: events.Healthy, gen: 1}}

func TestFailover(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Policy
		steps  []step
		active string
	}{
		{
			name:   "critical for critical_for with a healthy standby fails over",
			policy: policy(),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 5 * time.Minute, do: "tick"},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
				step{at: 7 * time.Minute, do: "tick"}, // in flight: nothing more
				step{at: 8 * time.Minute, do: "completed", gen: 1},
			),
			active: Standby,
		},
		{
			name:   "unknown never triggers and breaks the streak",
			policy: policy(),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 4 * time.Minute, do: "p", st: events.Unknown, gen: 3},
				step{at: 30 * time.Minute, do: "tick"},
				step{at: 31 * time.Minute, do: "p", st: events.Critical, gen: 4},
				step{at: 35 * time.Minute, do: "tick"},
				step{at: 36 * time.Minute, do: "tick", want: "failover.requested#1"},
			),
			active: Primary,
		},
		{
			name:   "standby not healthy: no failover until it is",
			policy: policy(),
			steps: []step{
				{do: "p", st: events.Critical, gen: 1},
				{do: "s", st: events.Caution, gen: 1},
				{at: time.Hour, do: "tick"},
				{at: time.Hour, do: "s", st: events.Unknown, gen: 2},
				{at: 2 * time.Hour, do: "s", st: events.Healthy, gen: 3, want: "failover.requested#1"},
			},
			active: Primary,
		},
		{
			name:   "stale health is dropped",
			policy: policy(),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 5},
				step{at: 2 * time.Minute, do: "p", st: events.Healthy, gen: 4},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
			),
			active: Primary,
		},
		{
			name:   "failed attempt blocks, then retries after block_for",
			policy: policy(),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
				step{at: 7 * time.Minute, do: "completed", gen: 9}, // stale generation
				step{at: 7 * time.Minute, do: "failed", gen: 1},
				step{at: 36 * time.Minute, do: "tick"},
				step{at: 37 * time.Minute, do: "tick", want: "failover.requested#2"},
			),
			active: Primary,
		},
		{
			name:   "ack lifts the block",
			policy: policy(),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
				step{at: 7 * time.Minute, do: "failed", gen: 1},
				step{at: 8 * time.Minute, do: "tick"},
				step{at: 9 * time.Minute, do: "ack"},
				step{at: 9 * time.Minute, do: "tick", want: "failover.requested#2"},
			),
			active: Primary,
		},
		{
			name:   "auto failback after dwell, once the block is over",
			policy: policy(),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
				step{at: 7 * time.Minute, do: "completed", gen: 1},
				step{at: 8 * time.Minute, do: "p", st: events.Healthy, gen: 3},
				step{at: 20 * time.Minute, do: "tick"}, // dwell passed, still blocked until 37m
				step{at: 37 * time.Minute, do: "tick", want: "failback.requested#2"},
				step{at: 38 * time.Minute, do: "fb-completed", gen: 2},
				step{at: 39 * time.Minute, do: "tick"},
			),
			active: Primary,
		},
		{
			name:   "auto failback waits for a full dwell of HEALTHY",
			policy: policy(func(p *Policy) { p.BlockFor = 0 }),
			steps: append(healthyPair,
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
				step{at: 7 * time.Minute, do: "completed", gen: 1},
				step{at: 8 * time.Minute, do: "p", st: events.Healthy, gen: 3},
				step{at: 12 * time.Minute, do: "p", st: events.Caution, gen: 4},
				step{at: 13 * time.Minute, do: "p", st: events.Healthy, gen: 5},
				step{at: 22 * time.Minute, do: "tick"},
				step{at: 23 * time.Minute, do: "tick", want: "failback.requested#2"},
			),
			active: Standby,
		},
		{
			name:   "manual failback only on request, primary healthy",
			policy: policy(func(p *Policy) { p.Failback = FailbackManual; p.Dwell = 0 }),
			steps: append(healthyPair,
				step{at: 10 * time.Second, do: "failback", err: "served by its primary"},
				step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
				step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
				step{at: 6 * time.Minute, do: "failback", err: "in flight"},
				step{at: 7 * time.Minute, do: "completed", gen: 1},
				step{at: 8 * time.Minute, do: "failback", err: "primary is CRITICAL"},
				step{at: 9 * time.Minute, do: "p", st: events.Healthy, gen: 3},
				step{at: 5 * time.Hour, do: "tick"},
				step{at: 5 * time.Hour, do: "failback", want: "failback.requested#2"}, // no block for an operator
				step{at: 5*time.Hour + time.Minute, do: "fb-completed", gen: 2},
			),
			active: Primary,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := run(t, tc.policy, tc.steps)
			require.Equal(t, tc.active, m.State().Active)
		})
	}
}

func TestDecisionEvent(t *testing.T) {
	p := policy()
	m := New(p, State{})
	m.Health(events.Health{Target: "db-standby", Status: events.Healthy, Generation: 1}, t0)
	m.Health(events.Health{Target: "db", Status: events.Critical, Since: t0, Generation: 41}, t0)
	ds := m.Tick(t0.Add(5 * time.Minute))
	require.Len(t, ds, 1)
	d := ds[0].Data
	require.Equal(t, events.Failover{Target: "db", From: Primary, To: Standby, Reason: "primary CRITICAL for 5m0s; standby HEALTHY", At: t0.Add(5 * time.Minute), Generation: 1, HealthGeneration: 41}, d)
	ev, err := ds[0].CloudEvent("vigil/alerting")
	require.NoError(t, err)
	require.Equal(t, events.FailoverRequestedType, ev.Type())
	require.Equal(t, "db", ev.Subject())
	require.Equal(t, "db/1/"+events.FailoverRequestedType, ev.ID())
	back, err := events.Data[events.Failover](ev)
	require.NoError(t, err)
	require.Equal(t, d, back)

	// The state survives a round trip through JSON (the controller persists it).
	b, err := json.Marshal(m.State())
	require.NoError(t, err)
	var st State
	require.NoError(t, json.Unmarshal(b, &st))
	m2 := New(p, st)
	require.Empty(t, m2.Tick(t0.Add(time.Hour)), "still in flight after a restart")
	require.Len(t, m2.Outcome(events.FailoverCompletedType, events.Failover{Target: "db", Generation: 1}, t0.Add(time.Hour)), 0)
	require.Equal(t, Standby, m2.State().Active)
}

func TestPolicyValidate(t *testing.T) {
	err := Policy{Target: "a", Standby: "a", Failback: "sometimes", BlockFor: -1}.Validate()
	require.Error(t, err)
	for _, want := range []string{"standby: must be set and differ", "critical_for: must be > 0", "block_for: must be >= 0", "failback: must be auto or manual"} {
		require.Contains(t, err.Error(), want)
	}
	require.ErrorContains(t, Policy{Target: "a", Standby: "b", CriticalFor: time.Minute, Failback: FailbackAuto}.Validate(), "dwell: must be > 0")
	require.NoError(t, policy().Validate())
}

func TestHeld(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		at    time.Duration
		want  string
	}{
		{"nothing due", healthyPair, time.Hour, ""},
		{"critical, not long enough", append(healthyPair, step{at: time.Minute, do: "p", st: events.Critical, gen: 2}), 5 * time.Minute, ""},
		{"standby not healthy", []step{{do: "p", st: events.Critical, gen: 1}, {do: "s", st: events.Unknown, gen: 1}}, 5 * time.Minute, HeldStandbyNotHealthy},
		{"in flight", append(healthyPair, step{at: time.Minute, do: "p", st: events.Critical, gen: 2}, step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"}), time.Hour, ""},
		{"blocked after a failure", append(healthyPair,
			step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
			step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
			step{at: 7 * time.Minute, do: "failed", gen: 1}), 8 * time.Minute, HeldBlocked},
		{"failback blocked", append(healthyPair,
			step{at: time.Minute, do: "p", st: events.Critical, gen: 2},
			step{at: 6 * time.Minute, do: "tick", want: "failover.requested#1"},
			step{at: 7 * time.Minute, do: "completed", gen: 1},
			step{at: 8 * time.Minute, do: "p", st: events.Healthy, gen: 3}), 20 * time.Minute, HeldBlocked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := run(t, policy(), tc.steps)
			require.Equal(t, tc.want, m.Held(t0.Add(tc.at)))
		})
	}
}

func TestSync(t *testing.T) {
	p := policy()
	f := func(gen uint64) events.Failover { return events.Failover{Target: "db", Generation: gen, At: t0} }
	inFlight := State{Active: Primary, Generation: 3, Pending: events.FailoverRequestedType}
	for _, tc := range []struct {
		name    string
		st      State
		typ     string
		ev      events.Failover
		changed bool
		want    State
	}{
		{"unpersisted request", State{Generation: 2}, events.FailoverRequestedType, f(3), true, inFlight},
		{"request already known", inFlight, events.FailoverRequestedType, f(3), false, inFlight},
		{"outcome of the request in flight", inFlight, events.FailoverCompletedType, f(3), true,
			State{Active: Standby, Generation: 3, BlockedUntil: t0.Add(p.BlockFor)}},
		{"failure while down", inFlight, events.FailoverFailedType, f(3), true,
			State{Active: Primary, Generation: 3, BlockedUntil: t0.Add(p.BlockFor)}},
		{"older event", inFlight, events.FailoverCompletedType, f(2), false, inFlight},
		{"other target", State{Generation: 2}, events.FailoverRequestedType, events.Failover{Target: "web", Generation: 9}, false, State{Active: Primary, Generation: 2}},
		{"settled outcome again", State{Active: Standby, Generation: 3}, events.FailoverCompletedType, f(3), false, State{Active: Standby, Generation: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New(p, tc.st)
			require.Equal(t, tc.changed, m.Sync(tc.typ, tc.ev))
			require.Equal(t, tc.want, m.State())
			require.Empty(t, m.Tick(t0), "a synced state publishes nothing by itself")
		})
	}
}
