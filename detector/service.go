package detector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/kafka"
)

// drainTimeout bounds publishing what is queued on a clean stop.
const drainTimeout = 5 * time.Second

// Service is the running detector.
type Service struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	source  string
	querier Querier
	// promTransport carries the queries; its idle connections are closed
	// when Run returns.
	promTransport *http.Transport
	token         string
	// dialer, when set, makes every Kafka connection (tests cut them to
	// simulate a crash).
	dialer func(ctx context.Context, network, host string) (net.Conn, error)
	// kafkaOpts are the connection's options, credentials already read.
	kafkaOpts []kgo.Opt
	// now is the clock of webhook-driven transitions.
	now func() time.Time

	mu   sync.Mutex
	term *term
}

// term is one leadership term: from gaining partition 0 of the leader topic
// to losing it.
type term struct {
	cancel context.CancelFunc
	done   chan struct{}
	// group is the election client, to confirm leadership with.
	group *kgo.Client
	mu    sync.Mutex
	eng   *engine
	drain context.Context
}

func (t *term) engine() *engine {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eng
}

// New builds the detector; it does no network I/O. With webhooks enabled it
// mounts them on deps.Admin.
func New(cfg Config, deps component.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	// Keep enough idle connections for the rules that share a slot (the
	// default keeps 2 per host and opens a new connection beyond that). An
	// instant query's answer is a few hundred bytes: gzip costs the
	// detector more CPU than it saves on the wire.
	rt := api.DefaultRoundTripper.(*http.Transport).Clone()
	rt.MaxIdleConnsPerHost = 16
	rt.DisableCompression = true
	pc, err := api.NewClient(api.Config{Address: cfg.Prometheus.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("detector: prometheus client: %w", err)
	}
	instance := cfg.Instance
	if instance == "" {
		if instance, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("detector: hostname: %w", err)
		}
	}
	kopts, err := cfg.Kafka.Opts()
	if err != nil {
		return nil, fmt.Errorf("detector: %w", err)
	}
	kopts = append(kopts, cfg.Kafka.Watch(log))
	s := &Service{cfg: cfg, log: log, m: m, source: "vigil-detector/" + instance, querier: v1.NewAPI(pc), promTransport: rt, now: time.Now, kafkaOpts: kopts}
	if cfg.Webhooks.Enabled {
		if s.token, err = cfg.Webhooks.Token.Resolve(); err != nil {
			return nil, fmt.Errorf("detector: webhooks.token: %w", err)
		}
		if deps.Admin == nil {
			return nil, errors.New("detector: webhooks enabled but no admin server to mount them on")
		}
		deps.Admin.Handle("POST /api/v1/alerts/alertmanager", s.webhook(sourceAlertmanager))
		deps.Admin.Handle("POST /api/v1/alerts/grafana", s.webhook(sourceGrafana))
	}
	return s, nil
}

// Run joins the leader election and, while leader, evaluates and publishes.
// It blocks until ctx ends and returns nil then, after publishing what is
// queued (bounded by a few seconds). Kafka or Prometheus being down is
// retried, never fatal.
func (s *Service) Run(ctx context.Context) error {
	s.log.Info("detector starting", "source", s.source, "targets", len(s.cfg.Targets), "topic", s.cfg.Kafka.HealthTopic)
	backoff := time.Second
	// Doubles while topics cannot be created (wrong credentials, say), so
	// a failure that lasts is retried, and logged, calmly.
	topicBackoff := time.Second
	for ctx.Err() == nil {
		if s.cfg.Kafka.CreateTopics {
			if err := s.ensureTopics(ctx); err != nil {
				s.log.Warn("creating topics failed; retrying", "err", err, "backoff", topicBackoff)
				sleep(ctx, topicBackoff)
				topicBackoff = min(2*topicBackoff, 30*time.Second)
				continue
			}
			topicBackoff = time.Second
		}
		err := s.member(ctx)
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("left the leader election; rejoining", "err", err, "backoff", backoff)
		sleep(ctx, backoff)
	}
	s.promTransport.CloseIdleConnections()
	s.log.Info("detector stopped")
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (s *Service) clientOpts() []kgo.Opt {
	o := append([]kgo.Opt(nil), s.kafkaOpts...)
	if s.dialer != nil {
		o = append(o, kgo.Dialer(s.dialer))
	}
	return o
}

// ensureTopics creates the health topic (compacted: one latest event per
// target) and the single-partition leader topic when they are missing.
func (s *Service) ensureTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(s.clientOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	compact := func() map[string]string { return map[string]string{"cleanup.policy": "compact"} }
	_, err = kafka.EnsureTopics(ctx, kadm.NewClient(cl), []kafka.Topic{
		{Name: s.cfg.Kafka.HealthTopic, Partitions: s.cfg.Kafka.TopicPartitions, ReplicationFactor: -1, Configs: compact()},
		{Name: s.cfg.Kafka.LeaderTopic, Partitions: 1, ReplicationFactor: -1, Configs: compact()},
	}, kafka.CreateMissing)
	return err
}

// member is one membership of the election group: it returns when ctx ends
// or a term fails (fenced), so that Run rejoins with a fresh client.
func (s *Service) member(ctx context.Context) error {
	mctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	leaderTopic := s.cfg.Kafka.LeaderTopic
	owns := func(m map[string][]int32) bool {
		for _, p := range m[leaderTopic] {
			if p == 0 {
				return true
			}
		}
		return false
	}
	cl, err := kgo.NewClient(append(s.clientOpts(),
		kgo.ConsumerGroup(s.cfg.Kafka.Group),
		kgo.ConsumeTopics(leaderTopic),
		kgo.SessionTimeout(s.cfg.Kafka.SessionTimeout),
		kgo.HeartbeatInterval(s.cfg.Kafka.SessionTimeout/10),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			if owns(m) {
				s.startTerm(mctx, fail, cl)
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns(m) {
				s.stopTerm(false)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if owns(m) {
				s.stopTerm(false)
			}
		}),
	)...)
	if err != nil {
		return fmt.Errorf("group client: %w", err)
	}
	for mctx.Err() == nil {
		// Records on the leader topic are the leaders' fencing markers; only
		// the assignment matters.
		cl.PollFetches(mctx)
	}
	// On a clean stop the leader publishes what is queued before it leaves
	// the group; a failed term stops at once.
	s.stopTerm(ctx.Err() != nil)
	cl.Close()
	return context.Cause(mctx)
}

// startTerm begins a leadership term without blocking the group callback.
func (s *Service) startTerm(mctx context.Context, fail context.CancelCauseFunc, group *kgo.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.term != nil {
		return
	}
	tctx, cancel := context.WithCancel(mctx)
	t := &term{cancel: cancel, done: make(chan struct{}), group: group}
	s.term = t
	s.m.leader.Set(1)
	s.log.Info("became the leader")
	go func() {
		defer close(t.done)
		if err := s.runTerm(tctx, t); err != nil && tctx.Err() == nil {
			fail(fmt.Errorf("leadership term: %w", err))
		}
	}()
}

// stopTerm ends the current term, if any, and waits for it. drain publishes
// what is queued first (clean stop); otherwise publishing stops at once
// (leadership lost: another replica may already lead).
func (s *Service) stopTerm(drain bool) {
	s.mu.Lock()
	t := s.term
	s.term = nil
	s.mu.Unlock()
	if t == nil {
		return
	}
	if drain {
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		defer cancel()
		t.mu.Lock()
		t.drain = dctx
		t.mu.Unlock()
	}
	t.cancel()
	select {
	case <-t.done:
	case <-time.After(drainTimeout + 5*time.Second):
		s.log.Error("leadership term did not stop in time")
	}
	s.m.leader.Set(0)
	s.log.Info("leadership ended", "drained", drain)
}

// runTerm fences the previous leader, restores every target's state and
// evaluates and publishes until ctx ends or it is fenced.
func (s *Service) runTerm(ctx context.Context, t *term) error {
	pub := &publisher{
		opts: append(s.clientOpts(),
			kgo.TransactionalID(s.cfg.Kafka.TransactionalID),
			kgo.TransactionTimeout(max(s.cfg.Kafka.PublishTimeout*2, 10*time.Second)),
		),
		timeout: s.cfg.Kafka.PublishTimeout, log: s.log, m: s.m,
		heartbeat: s.cfg.HeartbeatInterval, targets: len(s.cfg.Targets),
		stillLeader: func(ctx context.Context) error { return s.checkLeader(ctx, t.group) },
	}
	defer pub.close()
	// The first transaction initialises the producer ID under the shared
	// transactional.id: the epoch bump fences the previous leader and aborts
	// its open transaction, so nothing of it lands after the restore below.
	marker, _ := json.Marshal(map[string]any{"leader": s.source, "at": time.Now().UTC()})
	if err := pub.publish(ctx, &kgo.Record{Topic: s.cfg.Kafka.LeaderTopic, Key: []byte("leader"), Value: marker}); err != nil {
		return fmt.Errorf("fence: %w", err)
	}
	restored, err := Restore(ctx, s.cfg.Kafka.HealthTopic, s.log, s.clientOpts()...)
	if err != nil {
		return err
	}
	s.log.Info("state restored", "targets", len(restored))
	q := make(chan Transition, s.cfg.QueueSize)
	emit := func(ctx context.Context, tr Transition) error {
		select {
		case q <- tr:
			s.m.queueLength.Inc()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	eng := newEngine(s.cfg, restored, emit, s.m)
	t.mu.Lock()
	t.eng = eng
	t.mu.Unlock()

	rctx, stopRules := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// run fails only when ctx ends while it hands a transition over.
	wg.Go(func() { _ = eng.run(rctx, s.querier, s.cfg.Prometheus.QueryTimeout) })
	wg.Go(func() { discoverLoop(rctx, s.cfg, eng, restored, s.querier, s.log) })
	drain := func() context.Context {
		t.mu.Lock()
		defer t.mu.Unlock()
		return t.drain
	}
	err = pub.runQueue(ctx, q, s.cfg.Kafka.HealthTopic, s.source, drain)
	stopRules()
	wg.Wait()
	s.m.queueLength.Set(0)
	return err
}

// currentTerm is the running leadership term, nil when not the leader.
func (s *Service) currentTerm() *term {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term
}

// engine returns the current term's engine, or nil when not the leader.
func (s *Service) engine() *engine {
	if t := s.currentTerm(); t != nil {
		return t.engine()
	}
	return nil
}

// errNotLeader means the group coordinator no longer lists this member as
// the owner of the leader partition.
var errNotLeader = fmt.Errorf("%w: no longer the leader partition's owner", errFenced)

// checkLeader asks the group coordinator whether this member still owns
// partition 0 of the leader topic.
func (s *Service) checkLeader(ctx context.Context, group *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Kafka.PublishTimeout)
	defer cancel()
	member, _ := group.GroupMetadata()
	described, err := kadm.NewClient(group).DescribeGroups(ctx, s.cfg.Kafka.Group)
	if err != nil {
		return fmt.Errorf("describe group: %w", err)
	}
	g, ok := described[s.cfg.Kafka.Group]
	if !ok || g.Err != nil {
		return fmt.Errorf("describe group: %v", g.Err)
	}
	for _, m := range g.Members {
		if m.MemberID != member {
			continue
		}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range a.Topics {
				if tp.Topic == s.cfg.Kafka.LeaderTopic && slices.Contains(tp.Partitions, 0) {
					return nil
				}
			}
		}
	}
	return errNotLeader
}
