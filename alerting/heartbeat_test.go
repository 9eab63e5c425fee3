package alerting

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/events"
)

// TestHeartbeatWatch: silence past the timeout opens CRITICAL once, a sign
// of life resolves it once, and generations only grow.
func TestHeartbeatWatch(t *testing.T) {
	var got []events.Health
	w := &heartbeatWatch{timeout: 5 * time.Second, log: slog.New(slog.DiscardHandler),
		apply: func(_ context.Context, h events.Health) (string, error) {
			got = append(got, h)
			return outcomeApplied, nil
		}}
	t0 := time.Unix(1_700_000_000, 0)
	w.heard(t0)
	steps := []struct {
		heard  bool
		at     time.Duration
		status events.Status // "" = no transition
	}{
		{at: 4 * time.Second},
		{at: 5 * time.Second},
		{at: 6 * time.Second, status: events.Critical},
		{at: 20 * time.Second},
		{heard: true, at: 21 * time.Second},
		{at: 22 * time.Second, status: events.Healthy},
		{at: 25 * time.Second},
		{at: 27 * time.Second, status: events.Critical},
	}
	for _, s := range steps {
		n := len(got)
		if s.heard {
			w.heard(t0.Add(s.at))
			continue
		}
		require.NoError(t, w.check(context.Background(), t0.Add(s.at)))
		if s.status == "" {
			require.Len(t, got, n, "at %s", s.at)
			continue
		}
		require.Len(t, got, n+1, "at %s", s.at)
		h := got[n]
		require.Equal(t, s.status, h.Status, "at %s", s.at)
		require.Equal(t, DetectorTarget, h.Target)
		if n > 0 {
			require.Greater(t, h.Generation, got[n-1].Generation)
		}
	}
	require.Contains(t, got[0].Reason, "no heartbeat or health event from the detector for 6s")
	require.Equal(t, t0.Add(5*time.Second), got[0].Since)
}

// TestHeartbeatWatchRestoredIncident: an incident for the silent detector
// restored from an earlier run stays open through the start and is
// resolved by the next sign of life.
func TestHeartbeatWatchRestoredIncident(t *testing.T) {
	var got []events.Health
	w := &heartbeatWatch{timeout: 5 * time.Second, log: slog.New(slog.DiscardHandler),
		apply: func(_ context.Context, h events.Health) (string, error) {
			got = append(got, h)
			return outcomeApplied, nil
		},
		status: func() events.Status { return events.Critical }}
	t0 := time.Unix(1_700_000_000, 0)
	w.start(t0)
	require.NoError(t, w.check(context.Background(), t0.Add(time.Second)))
	require.Empty(t, got, "still silent: the start is no sign of life")
	w.heard(t0.Add(2 * time.Second))
	require.NoError(t, w.check(context.Background(), t0.Add(3*time.Second)))
	require.Len(t, got, 1)
	require.Equal(t, events.Healthy, got[0].Status)
}
