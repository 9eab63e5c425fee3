// Package statetopic is a small key-value store on a compacted Kafka topic:
// every write is a record keyed by its key, a nil value is a tombstone, and
// loading reads the topic from its start up to the end offsets taken when
// the load began, so the latest value of each key wins. Alerting keeps its
// incidents and silences in one (vigil.alerting.state), which survives
// restarts and moves with the process.
package statetopic

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/kafka"
)

// Store reads and writes one topic. It is safe for concurrent use.
type Store struct {
	topic string
	opts  []kgo.Opt
	cl    *kgo.Client
	// txn is set for a fenced store: every Put is a transaction, one at a
	// time (a producer has a single open transaction).
	txn sync.Mutex
	tx  bool
}

// New builds a store on topic; opts name the brokers and any client
// settings. It makes no network calls.
func New(topic string, opts ...kgo.Opt) (*Store, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("statetopic: %w", err)
	}
	return &Store{topic: topic, opts: opts, cl: cl}, nil
}

// NewFenced builds a store whose writes are transactions under
// transactionalID. Replicas that take turns writing one topic share the ID:
// the first write of a new holder (Fence) bumps the producer epoch, which
// aborts the previous holder's open transaction and makes its every later
// write fail with a fencing error, so a replica that lost its turn cannot
// overwrite the state of the one that took over.
func NewFenced(topic, transactionalID string, txnTimeout time.Duration, opts ...kgo.Opt) (*Store, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.TransactionalID(transactionalID),
		kgo.TransactionTimeout(txnTimeout),
	)...)
	if err != nil {
		return nil, fmt.Errorf("statetopic: %w", err)
	}
	return &Store{topic: topic, opts: opts, cl: cl, tx: true}, nil
}

// Fence takes the store's turn: it writes value under key in a transaction,
// which initialises the producer and fences the previous holder of the
// transactional ID. Only for a store built by NewFenced.
func (s *Store) Fence(ctx context.Context, key string, value []byte) error {
	if !s.tx {
		return errors.New("statetopic: fence needs a store built by NewFenced")
	}
	return s.Put(ctx, key, value)
}

// IsFenced reports whether err says another holder of the transactional ID
// has taken over.
func IsFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// Close releases the client; safe to call twice.
func (s *Store) Close() { s.cl.Close() }

// Ensure creates the topic when it is missing: one partition (the state is
// small and read whole), the broker's replication factor, and
// cleanup.policy=compact.
func (s *Store) Ensure(ctx context.Context) error {
	_, err := kafka.EnsureTopics(ctx, kadm.NewClient(s.cl), []kafka.Topic{
		{Name: s.topic, Partitions: 1, ReplicationFactor: -1, Configs: map[string]string{"cleanup.policy": "compact"}},
	}, kafka.CreateMissing)
	if err != nil {
		return fmt.Errorf("statetopic: %w", err)
	}
	return nil
}

// Load returns every key's latest value, tombstoned keys left out. Only
// committed writes count: a fenced writer's transaction still open cannot
// hold loading up, and its records are never read.
func (s *Store) Load(ctx context.Context) (map[string][]byte, error) {
	out, err := kafka.ReadLatest(ctx, s.topic, kafka.ClientOpts(s.opts...))
	if err != nil {
		return nil, fmt.Errorf("statetopic: load %s: %w", s.topic, err)
	}
	return out, nil
}

// Put writes value under key and waits for the brokers to acknowledge it; a
// nil value deletes the key. In a fenced store it is one transaction.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	r := &kgo.Record{Topic: s.topic, Key: []byte(key), Value: value}
	if !s.tx {
		if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			return fmt.Errorf("statetopic: write %s: %w", key, err)
		}
		return nil
	}
	s.txn.Lock()
	defer s.txn.Unlock()
	if err := s.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("statetopic: write %s: begin transaction: %w", key, err)
	}
	perr := s.cl.ProduceSync(ctx, r).FirstErr()
	commit := kgo.TryCommit
	if perr != nil {
		commit = kgo.TryAbort
	}
	// The end runs on its own context: a transaction left open would hold
	// the topic's last stable offset (and every Load) until it times out.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	eerr := s.cl.EndTransaction(ectx, commit)
	if err := errors.Join(perr, eerr); err != nil {
		return fmt.Errorf("statetopic: write %s: %w", key, err)
	}
	return nil
}
