package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/alerting/statetopic"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/events"
)

// Service is the alerting component. Replicas elect one active replica
// through consumer group vigil-alerting (the owner of partition 0 of
// vigil.alerting.leader); only it reads vigil.health (and vigil.failover)
// and drives an Engine. Its state writes are transactions under a shared
// transactional ID, so that a replica taking over fences the previous one.
type Service struct {
	cfg    Config
	log    *slog.Logger
	m      *metrics
	sc     *slack.Client
	engine *Engine
	ctrl   *Controller // nil without failover targets
	// ready: started (topics ensured). active: this replica is the active
	// one and its state is loaded, so the silences API may serve. standby:
	// in the election group without the leader partition. Readiness is
	// ready and (active or standby): a replica becoming active is not ready
	// until its state is loaded, and a standby is, so that rolling updates
	// go on.
	ready   atomic.Bool
	active  atomic.Bool
	standby atomic.Bool
	store   Store
	kopts   []kgo.Opt // connection options, then WithKafkaOptions
	source  string
	watch   *heartbeatWatch // nil when detector_heartbeat_timeout is 0
}

// Option adjusts a Service.
type Option func(*Service)

// WithStore keeps state in st instead of the state topic. Such a service
// runs active at once, without election or fencing (tests, tools).
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
	kopts = append(kopts, cfg.Kafka.Watch(log))
	host, _ := os.Hostname()
	s := &Service{cfg: cfg, log: log, m: newMetrics(deps.Registerer), sc: sc, kopts: kopts, source: fmt.Sprintf("vigil-alerting/%s/%d", host, os.Getpid())}
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
			if !s.ready.Load() || !(s.active.Load() || s.standby.Load()) {
				return errors.New("alerting state not loaded yet, and not a standby in the election")
			}
			return nil
		})
		if cfg.API.Token.IsSet() {
			tok, err := cfg.API.Token.Resolve()
			if err != nil {
				return nil, fmt.Errorf("alerting: api.token: %w", err)
			}
			(&api{e: s.engine, c: s.ctrl, token: []byte(tok), ready: &s.active}).mount(deps.Admin)
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

// Active reports whether this replica is the active one.
func (s *Service) Active() bool { return s.active.Load() }

// Run resolves the Slack channels, then takes part in the election until
// ctx ends: while active it loads the state and consumes. The record in
// hand when ctx ends is finished (its Slack messages sent) within
// drain_timeout. It returns nil on a clean stop, an error for a
// configuration Slack refuses (a channel name no channel has).
func (s *Service) Run(ctx context.Context) error {
	if err := s.resolveChannels(ctx); err != nil {
		return startErr(ctx, err)
	}
	if s.store != nil {
		s.ready.Store(true)
		return s.runActive(ctx, ctx, s.store)
	}
	defer s.standby.Store(false)
	if s.cfg.Kafka.CreateStateTopic {
		if err := s.retryStart(ctx, "ensure topics", func() error { return s.ensureTopics(ctx) }); err != nil {
			return startErr(ctx, err)
		}
	}
	s.ready.Store(true)
	backoff := time.Second
	for ctx.Err() == nil {
		err := s.member(ctx)
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("left the alerting election; rejoining", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
	s.log.Info("alerting stopped")
	return nil
}

// resolveChannels resolves the routes' Slack channels, retrying until Slack
// answers. A channel Slack does not know is a configuration error, returned
// with the keys that name it.
func (s *Service) resolveChannels(ctx context.Context) error {
	channels := []string{s.cfg.DefaultRoute.Channel}
	paths := []string{"default_route.channel"}
	for i, r := range s.cfg.Routes {
		channels = append(channels, r.Channel)
		paths = append(paths, fmt.Sprintf("routes[%d].channel", i))
	}
	var unresolved error
	err := s.retryStart(ctx, "resolve slack channels", func() error {
		err := s.sc.ResolveChannels(ctx, channels)
		if errors.Is(err, slack.ErrUnresolved) {
			unresolved = err // configuration: retrying cannot help
			return nil
		}
		return err
	})
	if err == nil && unresolved != nil {
		// Name the configuration keys that hold the channels at fault.
		var at []string
		for i, ch := range channels {
			if strings.Contains(unresolved.Error(), fmt.Sprintf("%q", strings.TrimPrefix(ch, "#"))) {
				at = append(at, paths[i])
			}
		}
		if len(at) > 0 {
			unresolved = fmt.Errorf("%s: %w", strings.Join(at, ", "), unresolved)
		}
		err = unresolved
	}
	return err
}

// ensureTopics creates the state topic and the leader topic when missing.
func (s *Service) ensureTopics(ctx context.Context) error {
	st, err := statetopic.New(s.cfg.Kafka.StateTopic, s.kopts...)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Ensure(ctx); err != nil {
		return err
	}
	lt, err := statetopic.New(s.cfg.Kafka.LeaderTopic, s.kopts...)
	if err != nil {
		return err
	}
	defer lt.Close()
	return lt.Ensure(ctx)
}

// member is one membership of the election group. Group membership is kept
// only for the one-partition leader topic, with a short session timeout, so
// that a SIGKILLed active replica is replaced (or, alone, gets its turn
// back after a restart) within session_timeout; the data topics are read by
// direct partition assignment from their start, where the compacted health
// topic holds each target's latest event and generations drop what the
// state already has. A consumer group on the data topics instead would keep
// a restarted replica waiting for the dead member's 45s default session.
// It returns when ctx ends or a term fails (fenced, or the state cannot be
// written), so that Run rejoins with a fresh client.
func (s *Service) member(ctx context.Context) error {
	mctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	leaderTopic := s.cfg.Kafka.LeaderTopic
	owns := func(m map[string][]int32) bool { return slices.Contains(m[leaderTopic], 0) }
	var (
		mu  sync.Mutex
		cur *term
	)
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		if cur != nil {
			return
		}
		t := newTerm(mctx)
		cur = t
		s.log.Info("became the active alerting replica", "source", s.source)
		go func() {
			defer close(t.done)
			err := s.runTerm(t.ctx, t.work)
			if err != nil && t.ctx.Err() == nil {
				fail(fmt.Errorf("active term: %w", err))
			}
		}()
	}
	stop := func(drain bool) {
		mu.Lock()
		t := cur
		cur = nil
		mu.Unlock()
		if t == nil {
			return
		}
		t.end(drain, s.cfg.DrainTimeout)
		s.log.Info("no longer the active alerting replica", "drained", drain)
	}
	cl, err := kgo.NewClient(append(slices.Clip(s.kopts),
		kgo.ConsumerGroup(s.cfg.Kafka.Group),
		kgo.ConsumeTopics(leaderTopic),
		kgo.SessionTimeout(s.cfg.Kafka.SessionTimeout),
		kgo.HeartbeatInterval(s.cfg.Kafka.SessionTimeout/10),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns(m) {
				start()
			}
		}),
		// Revoked in a rebalance: the other replica starts only after this
		// returns, so the term ends first, without drain (its record is
		// redelivered to the next active replica).
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns(m) {
				stop(false)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns(m) {
				stop(false)
			}
		}),
	)...)
	if err != nil {
		return fmt.Errorf("alerting: group client: %w", err)
	}
	s.log.Info("alerting joining the election", "group", s.cfg.Kafka.Group, "leader_topic", leaderTopic, "session_timeout", s.cfg.Kafka.SessionTimeout)
	// Standby is being in the group (a generation) without a term.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-mctx.Done():
				s.standby.Store(false)
				return
			case <-tick.C:
			}
			_, gen := cl.GroupMetadata()
			mu.Lock()
			owner := cur != nil
			mu.Unlock()
			if was := s.standby.Swap(gen > 0 && !owner); !was && gen > 0 && !owner {
				s.log.Info("alerting standing by: another replica is active")
			}
		}
	}()
	defer func() { <-watchDone }()
	for mctx.Err() == nil {
		// Records on the leader topic are fencing markers; only the
		// assignment matters.
		cl.PollFetches(mctx)
	}
	// On a clean stop the active replica finishes the record in hand
	// before it leaves the group; a failed term stops at once.
	stop(ctx.Err() != nil)
	cl.Close()
	return context.Cause(mctx)
}

// term is one turn as the active replica. ctx ends to stop consuming;
// work ends to abandon the record in hand (at once when the turn is lost,
// after drain_timeout on a clean stop).
type term struct {
	ctx, work       context.Context
	cancel, abandon context.CancelFunc
	done            chan struct{}
}

func newTerm(parent context.Context) *term {
	t := &term{done: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(parent)
	t.work, t.abandon = context.WithCancel(context.WithoutCancel(parent))
	return t
}

// end stops the term and waits for it; drain lets the record in hand finish
// within drainTimeout.
func (t *term) end(drain bool, drainTimeout time.Duration) {
	t.cancel()
	if !drain {
		t.abandon()
	} else {
		stop := time.AfterFunc(drainTimeout, t.abandon)
		defer stop.Stop()
	}
	<-t.done
	t.abandon()
}

// runTerm fences the previous active replica and runs active until ctx
// ends or a write is refused.
func (s *Service) runTerm(ctx, work context.Context) error {
	st, err := statetopic.NewFenced(s.cfg.Kafka.StateTopic, s.cfg.Kafka.TransactionalID, max(2*s.cfg.Kafka.SessionTimeout, 10*time.Second), s.kopts...)
	if err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	defer st.Close()
	// The first transaction initialises the producer under the shared
	// transactional ID: the epoch bump aborts the previous active
	// replica's open write and refuses its later ones, before the state is
	// loaded below.
	marker, _ := json.Marshal(map[string]any{"active": s.source, "at": time.Now().UTC()})
	if err := st.Fence(ctx, leaderKey, marker); err != nil {
		return fmt.Errorf("alerting: fence: %w", err)
	}
	return s.runActive(ctx, work, st)
}

// leaderKey is the state record the active replica writes when it takes
// over; Restore ignores it.
const leaderKey = "leader/alerting"

// runActive loads the state from st and consumes until ctx ends. work
// bounds the record in hand: Run's own store passes ctx itself, and then
// the record in hand gets drain_timeout after ctx ends.
func (s *Service) runActive(ctx, work context.Context, st Store) error {
	base := s.kopts
	s.engine.store = st
	if s.ctrl != nil {
		s.ctrl.store = st
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
	s.active.Store(true)
	s.m.active.Set(1)
	defer func() { s.active.Store(false); s.m.active.Set(0) }()
	s.log.Info("alerting active", "source", s.source)

	cl, topics, err := s.consumer(base)
	if err != nil {
		return err
	}
	defer cl.Close()

	// work outlives ctx by drain_timeout so the record in hand is finished.
	if work == ctx {
		var stopDrain func()
		work, stopDrain = s.drainable(ctx)
		defer stopDrain()
	}
	tickErr, stopTicks := s.startTicks(ctx, work)
	defer stopTicks()
	s.log.Info("alerting consuming", "topics", topics)
	return s.consume(ctx, work, cl, tickErr)
}

// consumer is the client of the health (and failover) topics: direct
// assignment (no group), every partition from its start. The health topic
// is compacted, so this is each target's latest event plus the
// uncompacted head; generations drop what the state has.
func (s *Service) consumer(base []kgo.Opt) (*kgo.Client, []string, error) {
	topics := []string{s.cfg.Kafka.HealthTopic}
	if s.cfg.Kafka.FailoverTopic != "" {
		topics = append(topics, s.cfg.Kafka.FailoverTopic)
	}
	cl, err := kgo.NewClient(append(slices.Clip(base),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Only committed events: the detector publishes in transactions.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMinAge(time.Second),
	)...)
	if err != nil {
		return nil, nil, fmt.Errorf("alerting: kafka: %w", err)
	}
	return cl, topics, nil
}

// drainable is a work context that outlives ctx by drain_timeout, so that
// the record in hand is finished; stop releases it.
func (s *Service) drainable(ctx context.Context) (work context.Context, stop func()) {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(s.cfg.DrainTimeout, cancelWork)
		<-work.Done()
		t.Stop()
	})
	return work, func() {
		stopDrain()
		cancelWork()
	}
}

// startTicks starts the engine's ticks and, when on, the watch's and the
// failover controller's, until ctx ends; stop ends them and waits. The
// engine's error (its state cannot be written) arrives on tickErr.
func (s *Service) startTicks(ctx, work context.Context) (tickErr <-chan error, stop func()) {
	errc := make(chan error, 1)
	tickDone := make(chan struct{}, 2)
	tickCtx, stopTicks := context.WithCancel(ctx)
	go func() {
		defer func() { tickDone <- struct{}{} }()
		if err := s.engine.RunTicks(tickCtx, work, s.cfg.TickInterval); err != nil {
			errc <- err
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
	return errc, func() {
		stopTicks()
		for range tickers {
			<-tickDone
		}
	}
}

// consume applies the records of cl until ctx ends (nil), a record cannot
// be applied or a tick fails.
func (s *Service) consume(ctx, work context.Context, cl *kgo.Client, tickErr <-chan error) error {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			s.log.Warn("kafka fetch error", "topic", t, "partition", p, "err", err)
		})
		var herr error
		fs.EachRecord(func(r *kgo.Record) {
			if herr != nil || ctx.Err() != nil {
				return
			}
			herr = s.handle(work, r)
		})
		if herr != nil {
			if ctx.Err() != nil {
				return nil // stopped while Slack or the store was waited on; read again next term
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
