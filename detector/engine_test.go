package detector

import (
	"context"
	"errors"
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
// (fake) times.
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
			// Each evaluation takes the 2s timeout, so errors are observed
			// at 2s, 4s, ... and `for` (10s) has passed at 12s. The query
			// started at 28s answers first at 30s; the next, at once, sees
			// data, which must then hold for recover_for (30s): 60s.
			[]at{{12 * time.Second, events.Unknown}, {60 * time.Second, events.Healthy}}},
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
				start := time.Now()
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
				go func() { done <- eng.runRule(ctx, q, "kafka", 0, 2*time.Second) }()
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
