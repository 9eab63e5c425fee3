package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/events"
)

// fakeQuerier answers every query with one sample of its current value.
type fakeQuerier struct{ bits atomic.Uint64 }

func (f *fakeQuerier) set(v float64) { f.bits.Store(math.Float64bits(v)) }

func (f *fakeQuerier) Query(_ context.Context, _ string, ts time.Time, _ ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	v := math.Float64frombits(f.bits.Load())
	return model.Vector{{Metric: model.Metric{"job": "x"}, Value: model.SampleValue(v), Timestamp: model.TimeFromUnixNano(ts.UnixNano())}}, nil, nil, nil
}

// cutter dials Kafka and can cut every connection at once and refuse new
// ones: to the broker the process is gone, as after a crash or a partition.
type cutter struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cutter) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("cutter: connection refused")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) set(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, conn := range c.conns {
			conn.Close()
		}
		c.conns = nil
	}
}

func newCluster(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// createTopics creates cfg's topics as the service does.
func createTopics(t *testing.T, cfg Config) {
	t.Helper()
	s, err := New(cfg, component.Deps{})
	require.NoError(t, err)
	require.NoError(t, s.ensureTopics(context.Background()))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// uniqueName is a topic/group name no other test (or run) uses.
func uniqueName(t *testing.T, kind string) string {
	return fmt.Sprintf("vigil-test.%s.%s.%d", unsafeName.ReplaceAllString(t.Name(), "_"), kind, rand.Uint32())
}

// kafkaConfig is a detector watching one target "opensearch-primary" with
// one rule (caution > 0.5, critical > 0.9) evaluated every 100ms.
func kafkaConfig(t *testing.T, broker string, hold, recover time.Duration) Config {
	cfg := DefaultConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Kafka.HealthTopic = uniqueName(t, "health")
	cfg.Kafka.LeaderTopic = uniqueName(t, "leader")
	cfg.Kafka.Group = uniqueName(t, "group")
	cfg.Kafka.TransactionalID = uniqueName(t, "txn")
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.PublishTimeout = 3 * time.Second
	cfg.Targets = []Target{{Name: "opensearch-primary", Rules: []Rule{testRule("reachable", func(r *Rule) {
		r.Interval, r.For, r.RecoverFor = dur(100*time.Millisecond), dur(hold), dur(recover)
	})}}}
	return cfg
}

// instance is one running detector replica.
type instance struct {
	s      *Service
	q      *fakeQuerier
	cut    *cutter
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, cfg Config, name string, value float64) *instance {
	t.Helper()
	cfg.Instance = name
	s, err := New(cfg, component.Deps{Logger: testLogger(t).With("instance", name), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	in := &instance{s: s, q: &fakeQuerier{}, cut: &cutter{}, done: make(chan error, 1)}
	in.q.set(value)
	s.querier, s.dialer = in.q, in.cut.dial
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- s.Run(ctx) }()
	t.Cleanup(in.stop)
	return in
}

// stop ends the replica cleanly (idempotent).
func (in *instance) stop() {
	in.cancel()
	if in.done != nil {
		<-in.done
		in.done = nil
	}
}

// kill makes the replica vanish without a word to Kafka: no LeaveGroup, no
// drain, no further request.
func (in *instance) kill() {
	in.cut.set(true)
	in.stop()
}

func (in *instance) leader() bool { return testutil.ToFloat64(in.s.m.leader) == 1 }

func (in *instance) evaluations() float64 { return testutilEvaluations(in.s) }

func testutilEvaluations(s *Service) float64 {
	return testutil.ToFloat64(s.m.evaluations.WithLabelValues("ok"))
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("VIGIL_TEST_VERBOSE") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// pubEvent is a published health event, its source and time.
type pubEvent struct {
	events.Health
	Source string
	Time   time.Time
}

// published reads every committed health event of topic.
func published(t *testing.T, broker, topic string) []pubEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []pubEvent
	err := readCommitted(ctx, topic, testLogger(t), []kgo.Opt{kgo.SeedBrokers(broker)}, func(r *kgo.Record) {
		if string(r.Key) == events.HeartbeatKey {
			return // TestHeartbeats reads these
		}
		require.NoError(t, events.ValidateHealthChanged(r.Value))
		ev, err := events.Parse(r)
		require.NoError(t, err)
		h, err := events.Data[events.Health](ev)
		require.NoError(t, err)
		require.Equal(t, h.Target, string(r.Key))
		require.Equal(t, fmt.Sprintf("%s-%d", h.Target, h.Generation), ev.ID())
		out = append(out, pubEvent{h, ev.Source(), ev.Time()})
	})
	require.NoError(t, err)
	return out
}

func summary(hs []pubEvent) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s->%s#%d", h.PreviousStatus, h.Status, h.Generation))
	}
	return strings.Join(parts, " ")
}

// eventually polls cond every 50ms for up to a minute (generous: the
// machine may be loaded).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPublishAndRestore: a CRITICAL value is published once; a restarted
// detector restores it and re-publishes nothing, then publishes the recovery
// with the next generation.
func TestPublishAndRestore(t *testing.T) {
	broker := newCluster(t)
	cfg := kafkaConfig(t, broker, 300*time.Millisecond, 300*time.Millisecond)

	a := startInstance(t, cfg, "a", 1)
	eventually(t, "the CRITICAL event", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) == 1 })
	a.stop()
	require.Equal(t, 1.0, testutil.ToFloat64(a.s.m.transitions.WithLabelValues("opensearch-primary", "CRITICAL")))
	require.Equal(t, 1.0, testutil.ToFloat64(a.s.m.published))
	require.Zero(t, testutil.ToFloat64(a.s.m.leader), "a stopped leading")
	got := published(t, broker, cfg.Kafka.HealthTopic)
	require.Equal(t, "UNKNOWN->CRITICAL#1", summary(got))
	require.Equal(t, "reachable", got[0].Rule)
	require.Equal(t, 0.9, *got[0].Threshold)

	b := startInstance(t, cfg, "b", 1)
	eventually(t, "b to lead", b.leader)
	// Many evaluations past `for` later, still nothing new.
	start := b.evaluations()
	eventually(t, "30 evaluations", func() bool { return b.evaluations() >= start+30 })
	require.Equal(t, "UNKNOWN->CRITICAL#1", summary(published(t, broker, cfg.Kafka.HealthTopic)))

	b.q.set(0.1)
	eventually(t, "the recovery", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) == 2 })
	b.stop()
	got = published(t, broker, cfg.Kafka.HealthTopic)
	require.Equal(t, "UNKNOWN->CRITICAL#1 CRITICAL->HEALTHY#2", summary(got))
}

// TestLeaderFailover: two replicas; the leader is killed while a transition
// is pending; the survivor takes over and publishes it exactly once.
func TestLeaderFailover(t *testing.T) {
	broker := newCluster(t)
	testFailover(t, kafkaConfig(t, broker, 3*time.Second, 3*time.Second))
}

func testFailover(t *testing.T, cfg Config) {
	broker := cfg.Kafka.Brokers[0]

	a := startInstance(t, cfg, "a", 1)
	eventually(t, "a to lead", a.leader)
	b := startInstance(t, cfg, "b", 1)
	eventually(t, "a to evaluate", func() bool { return a.evaluations() >= 1 })
	require.True(t, a.leader())
	require.Empty(t, published(t, broker, cfg.Kafka.HealthTopic), "the transition is still pending")

	killed := time.Now()
	a.kill()
	eventually(t, "b to lead", b.leader)
	t.Logf("b led %s after a was killed", time.Since(killed).Round(time.Millisecond))
	eventually(t, "the CRITICAL event", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) >= 1 })
	t.Logf("event published %s after a was killed", time.Since(killed).Round(time.Millisecond))
	start := b.evaluations()
	eventually(t, "30 more evaluations", func() bool { return b.evaluations() >= start+30 })
	got := published(t, broker, cfg.Kafka.HealthTopic)
	require.Equal(t, "UNKNOWN->CRITICAL#1", summary(got))
	require.Equal(t, "vigil-detector/b", got[0].Source, "the survivor published it")
}

// TestFencing: once a second producer has initialised the shared
// transactional.id, the first one's writes are rejected and never visible.
func TestFencing(t *testing.T) {
	broker := newCluster(t)
	cfg := kafkaConfig(t, broker, 0, 0)
	createTopics(t, cfg)
	m, err := newMetrics(nil)
	require.NoError(t, err)
	newPub := func() *publisher {
		return &publisher{opts: []kgo.Opt{kgo.SeedBrokers(broker), kgo.TransactionalID(cfg.Kafka.TransactionalID)}, timeout: 5 * time.Second, log: testLogger(t), m: m}
	}
	rec := func(gen uint64) *kgo.Record {
		_, r, err := Event("test", Transition{Target: "kafka", From: events.Unknown, To: events.Healthy, At: t0, Since: t0, Reason: "r", Generation: gen})
		require.NoError(t, err)
		r.Topic = cfg.Kafka.HealthTopic
		return r
	}
	ctx := context.Background()
	old, cur := newPub(), newPub()
	defer old.close()
	defer cur.close()
	require.NoError(t, old.publish(ctx, rec(1)))
	require.NoError(t, cur.publish(ctx, rec(2)))
	err = old.publish(ctx, rec(3))
	require.ErrorIs(t, err, errFenced)
	require.NoError(t, cur.publish(ctx, rec(4)))
	var gens []uint64
	for _, h := range published(t, broker, cfg.Kafka.HealthTopic) {
		gens = append(gens, h.Generation)
	}
	require.Equal(t, []uint64{1, 2, 4}, gens)
}

// TestQueueSurvivesKafkaOutage: transitions queued while Kafka is
// unreachable are all published, in order, once it is back.
func TestQueueSurvivesKafkaOutage(t *testing.T) {
	broker := newCluster(t)
	cfg := kafkaConfig(t, broker, 0, 0)
	createTopics(t, cfg)
	m, err := newMetrics(nil)
	require.NoError(t, err)
	cut := &cutter{}
	p := &publisher{opts: []kgo.Opt{kgo.SeedBrokers(broker), kgo.Dialer(cut.dial), kgo.TransactionalID(cfg.Kafka.TransactionalID)}, timeout: 500 * time.Millisecond, log: testLogger(t), m: m}
	q := make(chan Transition, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := p.runQueue(ctx, q, cfg.Kafka.HealthTopic, "test", func() context.Context { return nil })
		p.close()
		done <- err
	}()
	t.Cleanup(func() { cancel(); <-done })

	statuses := []events.Status{events.Healthy, events.Critical, events.Caution, events.Healthy, events.Unknown, events.Healthy}
	send := func(i int) {
		q <- Transition{Target: "kafka", From: statuses[i], To: statuses[i+1], At: t0, Since: t0, Reason: "r", Generation: uint64(i + 1)}
	}
	send(0)
	eventually(t, "the first event", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) == 1 })
	cut.set(true)
	for i := 1; i < len(statuses)-1; i++ {
		send(i)
	}
	eventually(t, "failed attempts", func() bool { return testutil.ToFloat64(m.publishErrors) >= 2 })
	cut.set(false)
	eventually(t, "every event", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) >= len(statuses)-1 })
	require.Equal(t, "HEALTHY->CRITICAL#1 CRITICAL->CAUTION#2 CAUTION->HEALTHY#3 HEALTHY->UNKNOWN#4 UNKNOWN->HEALTHY#5",
		summary(published(t, broker, cfg.Kafka.HealthTopic)))
}

// TestPartitionedLeaderDoesNotFence: a leader cut off from Kafka with a
// transition due loses the group to the other replica; when the network
// heals it must not fence the new leader nor publish its stale transition.
func TestPartitionedLeaderDoesNotFence(t *testing.T) {
	broker := newCluster(t)
	cfg := kafkaConfig(t, broker, 0, 0)
	a := startInstance(t, cfg, "a", 1)
	eventually(t, "a's CRITICAL event", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) == 1 })
	b := startInstance(t, cfg, "b", 1)

	a.cut.set(true)
	a.q.set(0.1) // a decides CRITICAL->HEALTHY#2 but cannot publish it
	eventually(t, "b to lead", b.leader)
	a.cut.set(false)
	eventually(t, "a to step down", func() bool { return !a.leader() })
	require.NoError(t, b.s.checkLeader(context.Background(), b.s.currentTerm().group))

	b.q.set(0.5) // b's own transition must go through unfenced
	eventually(t, "b's event", func() bool { return len(published(t, broker, cfg.Kafka.HealthTopic)) >= 2 })
	start := b.evaluations()
	eventually(t, "30 more evaluations", func() bool { return b.evaluations() >= start+30 })
	got := published(t, broker, cfg.Kafka.HealthTopic)
	require.Equal(t, "UNKNOWN->CRITICAL#1 CRITICAL->HEALTHY#2", summary(got))
	require.Equal(t, "vigil-detector/b", got[1].Source)
	require.Zero(t, testutil.ToFloat64(b.s.m.publishErrors), "b was never fenced")
}

// TestPublisherAsksBeforeReinit: once a producer had to be dropped, a new
// one (whose InitProducerID would fence the current holder of the
// transactional.id) is made only after leadership is confirmed.
func TestPublisherAsksBeforeReinit(t *testing.T) {
	broker := newCluster(t)
	cfg := kafkaConfig(t, broker, 0, 0)
	createTopics(t, cfg)
	m, err := newMetrics(nil)
	require.NoError(t, err)
	cut := &cutter{}
	var asked atomic.Int32
	p := &publisher{
		opts: []kgo.Opt{kgo.SeedBrokers(broker), kgo.Dialer(cut.dial), kgo.TransactionalID(cfg.Kafka.TransactionalID)}, timeout: 300 * time.Millisecond, log: testLogger(t), m: m,
		stillLeader: func(context.Context) error { asked.Add(1); return errNotLeader },
	}
	defer p.close()
	_, rec, err := Event("test", Transition{Target: "kafka", From: events.Unknown, To: events.Healthy, At: t0, Since: t0, Reason: "r", Generation: 1})
	require.NoError(t, err)
	rec.Topic = cfg.Kafka.HealthTopic
	require.NoError(t, p.publish(context.Background(), rec))
	require.Zero(t, asked.Load(), "the term's first producer needs no confirmation")
	cut.set(true)
	err = p.publish(context.Background(), rec)
	require.ErrorIs(t, err, errFenced)
	require.Equal(t, int32(1), asked.Load())
}

// TestHeartbeats: the publisher sends a heartbeat at once and then every
// interval, keyed HeartbeatKey, with the leader's instance and interval,
// and health consumers' type switch skips them.
func TestHeartbeats(t *testing.T) {
	broker := newCluster(t)
	cfg := kafkaConfig(t, broker, 0, 0)
	createTopics(t, cfg)
	m, err := newMetrics(nil)
	require.NoError(t, err)
	p := &publisher{opts: []kgo.Opt{kgo.SeedBrokers(broker), kgo.TransactionalID(cfg.Kafka.TransactionalID)}, timeout: 3 * time.Second, log: testLogger(t), m: m,
		heartbeat: 200 * time.Millisecond, targets: 7}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := p.runQueue(ctx, make(chan Transition), cfg.Kafka.HealthTopic, "vigil-detector/a", func() context.Context { return nil })
		p.close()
		done <- err
	}()
	t.Cleanup(func() { cancel(); <-done })

	read := func() []events.Heartbeat {
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer rcancel()
		var out []events.Heartbeat
		require.NoError(t, readCommitted(rctx, cfg.Kafka.HealthTopic, testLogger(t), []kgo.Opt{kgo.SeedBrokers(broker)}, func(r *kgo.Record) {
			require.Equal(t, events.HeartbeatKey, string(r.Key))
			require.NoError(t, events.ValidateDetectorHeartbeat(r.Value))
			ev, err := events.Parse(r)
			require.NoError(t, err)
			require.Equal(t, events.DetectorHeartbeatType, ev.Type())
			require.Equal(t, "vigil-detector/a", ev.Source())
			h, err := events.Data[events.Heartbeat](ev)
			require.NoError(t, err)
			out = append(out, h)
		}))
		return out
	}
	eventually(t, "three heartbeats", func() bool { return len(read()) >= 3 })
	require.Equal(t, events.Heartbeat{Instance: "a", IntervalSeconds: 0.2, Targets: 7}, read()[0])
	require.Empty(t, published(t, broker, cfg.Kafka.HealthTopic), "a heartbeat is no health transition")
	restored := map[string]Restored{}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	require.NoError(t, readCommitted(rctx, cfg.Kafka.HealthTopic, testLogger(t), []kgo.Opt{kgo.SeedBrokers(broker)}, func(r *kgo.Record) {
		apply(restored, r, testLogger(t))
	}))
	require.Empty(t, restored, "restore skips heartbeats")
}
