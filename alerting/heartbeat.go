package alerting

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/events"
)

// DetectorTarget is the target of the incident alerting opens itself when
// the detector goes silent: no heartbeat and no health event for
// detector_heartbeat_timeout. A dead detector cannot report itself.
const DetectorTarget = "vigil-detector"

// heartbeatWatch notices a silent detector. Every heartbeat or health event
// read is a sign of life; a silence longer than timeout turns the
// DetectorTarget CRITICAL, and the next sign of life HEALTHY again.
type heartbeatWatch struct {
	timeout time.Duration
	log     *slog.Logger
	apply   func(context.Context, events.Health) (string, error)
	// status is the DetectorTarget's status in the engine's restored state:
	// an incident left open by an earlier run is resolved by the next sign
	// of life. Nil counts as HEALTHY.
	status func() events.Status

	mu     sync.Mutex
	last   time.Time // last sign of life (or the watch's start)
	silent bool
	gen    uint64
}

// heard records a sign of life at now.
func (w *heartbeatWatch) heard(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.After(w.last) {
		w.last = now
	}
}

// start begins a grace period of one timeout at now, unless a restored
// incident says the detector was already silent: then only a real sign of
// life resolves it.
func (w *heartbeatWatch) start(now time.Time) {
	if w.status != nil && w.status() == events.Critical {
		w.mu.Lock()
		w.silent = true
		w.mu.Unlock()
		return
	}
	w.heard(now)
}

// check compares the silence with the timeout at now and applies a
// transition when the detector went silent or came back.
func (w *heartbeatWatch) check(ctx context.Context, now time.Time) error {
	w.mu.Lock()
	silence := now.Sub(w.last)
	var h events.Health
	switch {
	case !w.silent && silence > w.timeout:
		h = events.Health{Status: events.Critical, PreviousStatus: events.Healthy, Since: w.last.Add(w.timeout),
			Reason: fmt.Sprintf("no heartbeat or health event from the detector for %s (limit %s)", silence.Round(time.Second), w.timeout)}
	case w.silent && silence <= w.timeout:
		h = events.Health{Status: events.Healthy, PreviousStatus: events.Critical, Since: w.last,
			Reason: "the detector's heartbeats resumed"}
	default:
		w.mu.Unlock()
		return nil
	}
	// The generation only grows, across restarts too: the engine drops an
	// event whose generation is not above the last one of the target.
	w.gen = max(w.gen+1, uint64(now.UnixMilli()))
	h.Target, h.Generation = DetectorTarget, w.gen
	h.Labels = map[string]string{"component": "detector"}
	h.Annotations = map[string]string{
		"summary":     "The detector is silent: health is not being evaluated, so nothing else can alert.",
		"runbook_url": "https://github.com/vigil-dev/vigil/blob/main/docs/operations.md#detector-silent",
	}
	w.mu.Unlock()
	if _, err := w.apply(ctx, h); err != nil {
		return fmt.Errorf("detector heartbeat watch: %w", err)
	}
	w.mu.Lock()
	w.silent = h.Status == events.Critical
	w.mu.Unlock()
	if h.Status == events.Critical {
		w.log.Error("the detector is silent; incident opened", "target", DetectorTarget, "silence", silence.Round(time.Second), "limit", w.timeout)
	} else {
		w.log.Info("the detector is heard from again; incident resolved", "target", DetectorTarget)
	}
	return nil
}

// run checks every interval until ctx ends; work carries the Slack calls
// (it outlives ctx by the drain bound).
func (w *heartbeatWatch) run(ctx, work context.Context, interval time.Duration) {
	w.start(time.Now())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := w.check(work, now); err != nil {
				w.log.Warn("retrying at the next tick", "err", err)
			}
		}
	}
}
