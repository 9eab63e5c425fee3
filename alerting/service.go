package alerting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/alerting/statetopic"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/events"
)

// Service is the alerting component: it consumes vigil.health (and
// vigil.failover) in consumer group vigil-alerting and drives an Engine.
type Service struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	engine *Engine
	ctrl   *Controller // nil without failover targets
	ready  atomic.Bool
	store  Store
	kopts  []kgo.Opt       // connection options, then WithKafkaOptions
	watch  *heartbeatWatch // nil when detector_heartbeat_timeout is 0
}

// Option adjusts a Service.
type Option func(*Service)

// WithStore keeps state in st instead of the state topic.
func WithStore(st Store) Option { return func(s *Service) { s.store = st } }

// WithKafkaOptions adds franz-go options to every Kafka client (TLS, SASL,
// tests' timeouts).
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(s *Service) { s.kopts = append(s.kopts, opts...) }
}

// New builds the service: it resolves the Slack and Kafka credentials, mounts the
// silences API on deps.Admin when api.token is set, and does no network I/O.
func New(cfg Config, deps component.Deps, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sc, err := slack.New(cfg.Slack, log, deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("alerting: %w", err)
	}
	kopts, err := cfg.Kafka.Opts()
	if err != nil {
		return nil, fmt.Errorf("alerting: kafka: %w", err)
	}
	s := &Service{cfg: cfg, log: log, m: newMetrics(deps.Registerer), kopts: kopts}
	for _, o := range opts {
		o(s)
	}
	s.engine = newEngine(cfg, log, s.m, s.store, sc)
	if cfg.DetectorHeartbeatTimeout > 0 {
		s.watch = &heartbeatWatch{timeout: cfg.DetectorHeartbeatTimeout, log: log, apply: s.engine.ApplyHealth,
			status: func() events.Status { return s.engine.lastStatus(DetectorTarget) }}
	}
	if cfg.Failover.Enabled() {
		s.ctrl = newController(cfg.Failover, log, s.m, s.store, nil)
	}
	if deps.Admin != nil {
		deps.Admin.AddCheck("alerting", func() error {
			if !s.ready.Load() {
				return errors.New("alerting state not loaded yet")
			}
			return nil
		})
		if cfg.API.Token.IsSet() {
			tok, err := cfg.API.Token.Resolve()
			if err != nil {
				return nil, fmt.Errorf("alerting: api.token: %w", err)
			}
			(&api{e: s.engine, c: s.ctrl, token: []byte(tok), ready: &s.ready}).mount(deps.Admin)
		} else {
			log.Info("silences and failover APIs not mounted: api.token is not set")
		}
	}
	log.Info("alerting configured", "slack_mode", sc.Mode(), "routes", len(cfg.Routes), "maintenance_windows", len(cfg.Maintenance), "failover_targets", len(cfg.Failover.Targets))
	return s, nil
}

// Engine returns the service's engine (for tests and tools).
func (s *Service) Engine() *Engine { return s.engine }

// Controller returns the failover controller, nil without failover targets.
func (s *Service) Controller() *Controller { return s.ctrl }

// Run loads the state, then consumes until ctx ends. The record in hand when
// ctx ends is finished (its Slack messages sent) and committed within
// drain_timeout. It returns nil on a clean stop.
func (s *Service) Run(ctx context.Context) error {
	base := s.kopts
	if s.store == nil {
		st, err := statetopic.New(s.cfg.Kafka.StateTopic, base...)
		if err != nil {
			return fmt.Errorf("alerting: %w", err)
		}
		defer st.Close()
		if s.cfg.Kafka.CreateStateTopic {
			if err := s.retryStart(ctx, "ensure state topic", func() error { return st.Ensure(ctx) }); err != nil {
				return startErr(ctx, err)
			}
		}
		s.engine.store = st
	}
	if err := s.retryStart(ctx, "restore state", func() error { return s.engine.Restore(ctx) }); err != nil {
		return startErr(ctx, err)
	}
	if s.ctrl != nil {
		var stop func()
		err := s.retryStart(ctx, "start failover controller", func() error {
			var err error
			stop, err = s.startController(ctx, base)
			return err
		})
		if err != nil {
			return startErr(ctx, err)
		}
		defer stop()
	}
	s.ready.Store(true)

	topics := []string{s.cfg.Kafka.HealthTopic}
	if s.cfg.Kafka.FailoverTopic != "" {
		topics = append(topics, s.cfg.Kafka.FailoverTopic)
	}
	cl, err := kgo.NewClient(append(slices.Clip(base),
		kgo.ConsumerGroup(s.cfg.Kafka.Group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Health topics are compacted: from the start, a new group sees each
		// target's latest status, and generations drop what was applied.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return fmt.Errorf("alerting: kafka: %w", err)
	}
	defer cl.Close()
	defer cl.AllowRebalance() // Close leaves the group, which waits for polls to allow rebalancing

	// work outlives ctx by drain_timeout so the record in hand is finished.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(s.cfg.DrainTimeout, cancelWork)
		<-work.Done()
		t.Stop()
	})
	defer stopDrain()

	tickErr := make(chan error, 1)
	tickDone := make(chan struct{}, 2)
	tickCtx, stopTicks := context.WithCancel(ctx)
	go func() {
		defer func() { tickDone <- struct{}{} }()
		if err := s.engine.RunTicks(tickCtx, work, s.cfg.TickInterval); err != nil {
			tickErr <- err
		}
	}()
	tickers := 1
	if s.watch != nil {
		tickers++
		go func() {
			defer func() { tickDone <- struct{}{} }()
			s.watch.run(tickCtx, work, s.cfg.TickInterval)
		}()
	}
	if s.ctrl != nil {
		tickers++
		go func() {
			defer func() { tickDone <- struct{}{} }()
			s.ctrl.RunTicks(tickCtx, work, s.cfg.Failover.TickInterval)
		}()
	}
	defer func() {
		stopTicks()
		if ctx.Err() == nil {
			cancelWork() // failing, not stopping: no drain for a tick in progress
		}
		for range tickers {
			<-tickDone
		}
	}()

	s.log.Info("alerting consuming", "topics", topics, "group", s.cfg.Kafka.Group)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
		})
		var (
			done []*kgo.Record
			herr error
		)
		fs.EachRecord(func(r *kgo.Record) {
			if herr != nil || ctx.Err() != nil {
				return
			}
			if herr = s.handle(work, r); herr == nil {
				done = append(done, r)
			}
		})
		if len(done) > 0 {
			if err := cl.CommitRecords(work, done...); err != nil {
				s.log.Warn("kafka commit failed; the records will be seen again and dropped by generation", "err", err)
			}
		}
		cl.AllowRebalance()
		if herr != nil {
			if ctx.Err() != nil {
				return nil // stopped while Slack or the store was waited on; redelivered later
			}
			return herr
		}
		select {
		case err := <-tickErr:
			return err
		default:
		}
	}
}

// handle applies one record and counts it.
func (s *Service) handle(ctx context.Context, r *kgo.Record) error {
	typ, outcome, err := s.apply(ctx, r)
	if err != nil {
		return err
	}
	s.m.events.WithLabelValues(typ, outcome).Inc()
	return nil
}

func (s *Service) apply(ctx context.Context, r *kgo.Record) (typ, outcome string, err error) {
	ev, err := events.Parse(r)
	if err != nil {
		s.log.Warn("skipping a record that is not a valid CloudEvent", "err", err)
		return "other", outcomeInvalid, nil
	}
	switch ev.Type() {
	case events.DetectorHeartbeatType:
		if s.watch != nil {
			s.watch.heard(time.Now())
		}
		return "heartbeat", outcomeApplied, nil
	case events.HealthChangedType:
		if s.watch != nil {
			s.watch.heard(time.Now())
		}
		h, err := events.Data[events.Health](ev)
		if err != nil {
			s.log.Warn("skipping a health event with unreadable data", "err", err)
			return "health", outcomeInvalid, nil
		}
		o, err := s.engine.ApplyHealth(ctx, h)
		if err == nil && o != outcomeInvalid && s.ctrl != nil {
			err = s.ctrl.Health(ctx, h)
		}
		return "health", o, err
	case events.FailoverRequestedType, events.FailoverCompletedType, events.FailoverFailedType,
		events.FailbackRequestedType, events.FailbackCompletedType:
		f, err := events.Data[events.Failover](ev)
		if err != nil {
			s.log.Warn("skipping a failover event with unreadable data", "err", err)
			return "failover", outcomeInvalid, nil
		}
		o, err := s.engine.ApplyFailover(ctx, ev.Type(), f)
		if err == nil && s.ctrl != nil {
			err = s.ctrl.Outcome(ctx, ev.Type(), f)
		}
		return "failover", o, err
	}
	return "other", outcomeIgnored, nil
}

// retryStart runs a start-up step until it succeeds or ctx ends. Kafka may be
// unreachable, or a topic created a moment ago may not have a leader yet:
// giving up would stop the whole process over a passing condition.
func (s *Service) retryStart(ctx context.Context, step string, f func() error) error {
	backoff := 200 * time.Millisecond
	for {
		err := f()
		if err == nil || ctx.Err() != nil {
			return err
		}
		s.log.Warn("start-up step failed; retrying", "step", step, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// startErr is Run's result for a start-up that ended: nil when it was
// stopped (ctx ended), else the error.
func startErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
