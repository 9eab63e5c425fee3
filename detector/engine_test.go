package detector

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/events"
)

// scriptQuerier answers by the (fake) time elapsed since start.
type scriptQuerier struct {
	start  time.Time
	answer func(elapsed time.Duration) (model.Value, error)
}

func (q *scriptQuerier) Query(ctx context.Context, _ string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	v, err := q.answer(ts.Sub(q.start))
	if errors.Is(err, context.DeadlineExceeded) { // a hung Prometheus
		<-ctx.Done()
		return nil, nil, nil, ctx.Err()
	}
	return v, nil, nil, err
}

func vec(vs ...float64) model.Vector {
	out := model.Vector{}
	for i, v := range vs {
		out = append(out, &model.Sample{Metric: model.Metric{"i": model.LabelValue(rune('a' + i))}, Value: model.SampleValue(v)})
	}
	return out
}

// TestEngineTiming runs the real evaluation loop under synctest's fake
// clock: each case's transitions must happen at exactly the expected
// (fake) times after the rule's first evaluation.
func TestEngineTiming(t *testing.T) {
	type at struct {
		after time.Duration
		to    events.Status
	}
	tests := []struct {
		name   string
		mod    func(*Rule)
		answer func(time.Duration) (model.Value, error)
		want   []at
	}{
		{"critical after for, once", nil,
			func(time.Duration) (model.Value, error) { return vec(0.95), nil },
			[]at{{10 * time.Second, events.Critical}}},
		{"several series: the worst counts", nil,
			func(time.Duration) (model.Value, error) { return vec(0.1, 0.95, 0.6), nil },
			[]at{{10 * time.Second, events.Critical}}},
		{"reduce min", func(r *Rule) { r.Reduce = ReduceMin },
			func(time.Duration) (model.Value, error) { return vec(0.7, 0.95), nil },
			[]at{{10 * time.Second, events.Caution}}},
		{"flapping every 3s: nothing", nil,
			func(e time.Duration) (model.Value, error) {
				if (e/(3*time.Second))%2 == 0 {
					return vec(0.95), nil
				}
				return vec(0.1), nil
			}, nil},
		{"empty vector is no data", nil,
			func(time.Duration) (model.Value, error) { return vec(), nil },
			[]at{{10 * time.Second, events.Unknown}}},
		{"a hung Prometheus times out into errors, evaluation goes on", nil,
			func(e time.Duration) (model.Value, error) {
				if e < 30*time.Second {
					return nil, context.DeadlineExceeded
				}
				return vec(0.1), nil
			},
			// Each evaluation takes the 2s timeout, so they run at 0s, 2s,
			// 4s, ... and count at those times: `for` (10s) has passed at
			// the one at 10s. The one at 28s fails; the next, at 30s, sees
			// data, which must then hold for recover_for (30s): 60s.
			[]at{{10 * time.Second, events.Unknown}, {60 * time.Second, events.Healthy}}},
		{"scalar result", func(r *Rule) { r.Expr = "scalar(x)" },
			func(time.Duration) (model.Value, error) { return &model.Scalar{Value: 0.95}, nil },
			[]at{{10 * time.Second, events.Critical}}},
		{"a range vector is an error", nil,
			func(time.Duration) (model.Value, error) { return model.Matrix{}, nil },
			[]at{{10 * time.Second, events.Unknown}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := testRule("r", func(r *Rule) { r.Interval = dur(time.Second) })
				if tc.mod != nil {
					tc.mod(&r)
				}
				cfg := DefaultConfig()
				cfg.Targets = []Target{{Name: "kafka", Rules: []Rule{r}}}
				m, err := newMetrics(nil)
				require.NoError(t, err)
				// Times count from the rule's first evaluation, at its phase.
				start := nextSlot(time.Now(), time.Second, phase("kafka", "r", time.Second))
				var (
					mu  sync.Mutex
					got []at
				)
				emit := func(_ context.Context, tr Transition) error {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, at{tr.At.Sub(start), tr.To})
					return nil
				}
				eng := newEngine(cfg, map[string]Restored{"kafka": {events.Healthy, 1}}, emit, m)
				q := &scriptQuerier{start: start, answer: tc.answer}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- eng.run(ctx, q, 2*time.Second) }()
				time.Sleep(90 * time.Second)
				cancel()
				require.NoError(t, <-done)
				mu.Lock()
				defer mu.Unlock()
				require.Equal(t, tc.want, got)
				// The status gauge follows the last transition.
				final := events.Healthy
				if len(got) > 0 {
					final = got[len(got)-1].to
				}
				for _, st := range []events.Status{events.Healthy, events.Caution, events.Critical, events.Unknown} {
					want := 0.0
					if st == final {
						want = 1
					}
					require.Equal(t, want, testutil.ToFloat64(m.status.WithLabelValues("kafka", string(st))), "status gauge %s", st)
				}
			})
		})
	}
}

// TestSchedule: a rule is evaluated at its own phase of its interval, the
// same on every replica; phases of many rules spread over the interval; an
// overrunning evaluation skips the slots it missed.
func TestSchedule(t *testing.T) {
	const interval = 15 * time.Second
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) // a multiple of 15s

	tests := []struct {
		name   string
		now    time.Time
		offset time.Duration
		want   time.Time
	}{
		{"on a slot: now", t0.Add(4 * time.Second), 4 * time.Second, t0.Add(4 * time.Second)},
		{"before the phase", t0.Add(time.Second), 4 * time.Second, t0.Add(4 * time.Second)},
		{"past the phase: next interval", t0.Add(5 * time.Second), 4 * time.Second, t0.Add(19 * time.Second)},
		{"zero offset", t0.Add(time.Nanosecond), 0, t0.Add(interval)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, nextSlot(tc.now, interval, tc.offset))
		})
	}

	// 1,000 rules spread: no second of the interval holds more than three
	// times its fair share, and none is empty.
	perSecond := make([]int, 15)
	for i := range 1000 {
		p := phase("target-"+strconv.Itoa(i/10), "rule-"+strconv.Itoa(i%10), interval)
		require.Less(t, p, interval)
		require.Zero(t, p%phaseStep, "phases of a 15s interval are batched in %s steps", phaseStep)
		require.Equal(t, p, phase("target-"+strconv.Itoa(i/10), "rule-"+strconv.Itoa(i%10), interval), "deterministic")
		perSecond[p/time.Second]++
	}
	for s, n := range perSecond {
		require.Positive(t, n, "second %d", s)
		require.LessOrEqual(t, n, 3*1000/15, "second %d", s)
	}

	// The loop itself, under synctest: a query taking 2.5 intervals is
	// followed at the next free slot, never by a burst of missed ones.
	synctest.Test(t, func(t *testing.T) {
		r := testRule("r", func(r *Rule) { r.Interval = dur(time.Second) })
		cfg := DefaultConfig()
		cfg.Targets = []Target{{Name: "kafka", Rules: []Rule{r}}}
		m, err := newMetrics(nil)
		require.NoError(t, err)
		eng := newEngine(cfg, nil, func(context.Context, Transition) error { return nil }, m)
		var (
			mu    sync.Mutex
			times []time.Duration
		)
		first := nextSlot(time.Now(), time.Second, phase("kafka", "r", time.Second))
		q := &scriptQuerier{start: first, answer: func(e time.Duration) (model.Value, error) {
			mu.Lock()
			times = append(times, e)
			mu.Unlock()
			if e == 0 {
				time.Sleep(2500 * time.Millisecond)
			}
			return vec(0.1), nil
		}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- eng.run(ctx, q, 10*time.Second) }()
		time.Sleep(first.Sub(time.Now()) + 9*time.Second + 500*time.Millisecond)
		cancel()
		require.NoError(t, <-done)
		mu.Lock()
		defer mu.Unlock()
		s := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
		require.Equal(t, []time.Duration{0, s(3), s(4), s(5), s(6), s(7), s(8), s(9)}, times, "slots 1 and 2 were skipped")
	})
}

// recordingQuerier hangs every query until its timeout and records, per
// query, how many evaluations ran and the most that ran at once.
type recordingQuerier struct {
	mu       sync.Mutex
	inFlight map[string]int
	maxOnce  map[string]int
	count    map[string]int
}

func (q *recordingQuerier) Query(ctx context.Context, expr string, _ time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	q.mu.Lock()
	q.count[expr]++
	q.inFlight[expr]++
	q.maxOnce[expr] = max(q.maxOnce[expr], q.inFlight[expr])
	q.mu.Unlock()
	<-ctx.Done()
	q.mu.Lock()
	q.inFlight[expr]--
	q.mu.Unlock()
	return nil, nil, nil, ctx.Err()
}

// TestHungPrometheusManyRules: with every query hanging until its timeout,
// each of 200 rules is still evaluated once per timeout (the worker pool
// grows to what they need), never twice at once, and all go UNKNOWN after
// `for`.
func TestHungPrometheusManyRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		restored := map[string]Restored{}
		for i := range 20 {
			tg := Target{Name: "t" + strconv.Itoa(i)}
			for j := range 10 {
				tg.Rules = append(tg.Rules, testRule("r"+strconv.Itoa(j), func(r *Rule) {
					r.Interval = dur(time.Second)
					r.Expr = "x{t=\"" + tg.Name + "\",r=\"" + strconv.Itoa(j) + "\"}"
				}))
			}
			cfg.Targets = append(cfg.Targets, tg)
			restored[tg.Name] = Restored{events.Healthy, 1}
		}
		m, err := newMetrics(nil)
		require.NoError(t, err)
		var (
			mu      sync.Mutex
			unknown = map[string]time.Duration{}
		)
		start := time.Now()
		emit := func(_ context.Context, tr Transition) error {
			mu.Lock()
			defer mu.Unlock()
			unknown[tr.Target] = tr.At.Sub(start)
			return nil
		}
		eng := newEngine(cfg, restored, emit, m)
		q := &recordingQuerier{inFlight: map[string]int{}, maxOnce: map[string]int{}, count: map[string]int{}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- eng.run(ctx, q, 2*time.Second) }()
		time.Sleep(31 * time.Second)
		cancel()
		require.NoError(t, <-done)

		require.Len(t, q.count, 200)
		for expr, n := range q.count {
			// 31s, one 2s evaluation after another from the rule's phase.
			require.InDelta(t, 15, n, 1, "evaluations of %s", expr)
			require.Equal(t, 1, q.maxOnce[expr], "%s evaluated twice at once", expr)
		}
		require.Len(t, unknown, 20, "every target went UNKNOWN")
		for tg, at := range unknown {
			// Evaluations every 2s from the rule's phase (under 1s), each
			// an error at its slot: `for` (10s) has passed at the 6th.
			require.GreaterOrEqual(t, at, 10*time.Second, "%s", tg)
			require.Less(t, at, 11*time.Second, "%s", tg)
		}
	})
}
