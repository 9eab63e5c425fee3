package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-dev/vigil/pipeline/failoverexec"
)

// restoreSide learns the active side from the failover topic before
// anything is written, retrying while Kafka does not answer. It returns an
// error only when ctx ends.
func (s *Service) restoreSide(ctx context.Context) (*failoverexec.Executor, error) {
	f := s.cfg.Failover
	cfg := failoverexec.Config{Topic: f.Topic, Target: s.cfg.target(), Source: f.Source, Actor: s.cfg.actor()}
	deps := failoverexec.Deps{
		SwitchTo: s.switchTo,
		Switched: func(side, result string) { s.m.switches.WithLabelValues(side, result).Inc() },
		Wait:     func(ctx context.Context, attempt int) bool { return sleep(ctx, s.sink.backoff(attempt)) },
		Log:      s.log,
	}
	for attempt := 0; ; attempt++ {
		x, err := failoverexec.New(cfg, s.execOpts, deps)
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		side, err := x.Restore(rctx)
		cancel()
		if err == nil {
			i, err := sideIndex(side)
			if err != nil {
				s.log.Warn("the failover topic names an unknown side; writing to the primary", "err", err)
				i = 0
			}
			s.sides.set(i)
			s.setActiveMetric(i)
			s.log.Info("failover state restored", "target", x.Target(), "active", s.sides.clients[i].Name(), "side", sideName(i), "generation", x.Generation(), "pending", x.Pending())
			return x, nil
		}
		x.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Warn("reading the failover topic failed; retrying", "err", err, "attempt", attempt+1)
		if !sleep(ctx, s.sink.backoff(attempt)) {
			return nil, ctx.Err()
		}
	}
}

// switchTo moves writing to side (primary or standby): the new side must
// answer and get the templates first (within failover.switch_timeout), then
// finished offsets are committed, so that a crash right after the switch
// re-reads as little as possible, and the sink's next requests go to the
// new side while the ones waiting on the old side are re-sent. Documents
// already indexed stay where they are.
func (s *Service) switchTo(ctx context.Context, side string) error {
	i, err := sideIndex(side)
	if err != nil {
		return err
	}
	if i >= len(s.sides.clients) {
		return fmt.Errorf("no %s cluster configured", side)
	}
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	c := s.sides.clients[i]
	if cur, _, _ := s.sides.current(); cur == i {
		s.log.Info("already writing to the requested side", "side", side, "cluster", c.Name())
		return nil
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Failover.SwitchTimeout)
	defer cancel()
	if err := s.awaitHealthy(sctx, i); err != nil {
		return err
	}
	if s.cfg.Indices.InstallTemplates && !s.cfg.DryRun {
		if err := s.installOn(sctx, c); err != nil {
			return err
		}
	}
	if s.consuming.Load() {
		s.commit(sctx, nil)
	}
	s.sides.set(i)
	s.osUp.Store(s.up[i].Load())
	s.setActiveMetric(i)
	s.installed.Store(true)
	s.log.Info("sink switched", "side", side, "cluster", c.Name(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// awaitHealthy waits until cluster i answers its health with green or yellow.
func (s *Service) awaitHealthy(ctx context.Context, i int) error {
	c := s.sides.clients[i]
	for attempt := 0; ; attempt++ {
		status, err := c.Health(ctx)
		if err == nil && (status == "green" || status == "yellow") {
			s.up[i].Store(true)
			return nil
		}
		if err == nil {
			err = fmt.Errorf("cluster health is %s", status)
		}
		if ctx.Err() != nil || !sleep(ctx, s.sink.backoff(attempt)) {
			return fmt.Errorf("pipeline: %s not ready within %s: %w", c.Name(), s.cfg.Failover.SwitchTimeout, errors.Join(err, ctx.Err()))
		}
	}
}

// setActiveMetric sets vigil_pipeline_opensearch_active: 1 for the cluster
// that receives writes, 0 for the other.
func (s *Service) setActiveMetric(active int) {
	for i, c := range s.sides.clients {
		v := 0.0
		if i == active {
			v = 1
		}
		s.m.active.WithLabelValues(c.Name(), sideName(i)).Set(v)
	}
}
