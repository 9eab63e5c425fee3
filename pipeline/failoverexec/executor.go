// Package failoverexec carries out the failover controller's requests for
// the pipeline's own sink (docs/failover.md): on `failover requested` for
// its target it switches writing to the standby and publishes `failover
// completed` (or `failed`), on `failback requested` it switches back and
// publishes `failback completed`. The switch itself is the pipeline's
// (Deps.SwitchTo); this package owns the failover topic: what a request
// is, which ones to act on, and the outcomes.
//
// It reads the failover topic without a consumer group, from its start at
// every start-up: the topic is compacted and keyed by target, so the latest
// event of the target tells the side that serves now, and every replica of
// the pipeline learns it on its own. Every replica acts on every request;
// each publishes the outcome with the same event id and generation, so the
// controller applies the first and drops the rest as stale.
package failoverexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/kafka"
)

// The sides, as failover events name them.
const (
	Primary = "primary"
	Standby = "standby"
)

// Config is what the executor needs of the pipeline's failover section.
type Config struct {
	// Topic is the failover topic.
	Topic string
	// Target is the name the pipeline answers to (data.target, record key).
	Target string
	// Source is the CloudEvents source of the outcomes.
	Source string
	// Actor names this replica in outcomes (data.actor).
	Actor string
}

// Deps are the pipeline's parts the executor drives.
type Deps struct {
	// SwitchTo moves writing to side (Primary or Standby); an error is
	// published as `failover failed`.
	SwitchTo func(ctx context.Context, side string) error
	// Switched, if set, counts a switch by side and result ("completed",
	// "failed").
	Switched func(side, result string)
	// Wait waits before retry attempt n (from 0) of publishing an
	// outcome; false when ctx ended.
	Wait func(ctx context.Context, attempt int) bool
	Log  *slog.Logger
}

// Executor acts on the failover requests for one target.
type Executor struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	cl   *kgo.Client

	// lastGen is the generation of the last request acted upon or outcome
	// learnt at start (executor goroutine only).
	lastGen uint64
	// pending is a request found unanswered at the end of the topic at
	// start, executed first by Run.
	pending *failoverEvent
}

type failoverEvent struct {
	typ  string
	data events.Failover
}

// New builds the executor over a client of the failover topic made from
// base (the connection options); it does no I/O.
func New(cfg Config, base []kgo.Opt, deps Deps) (*Executor, error) {
	cl, err := kgo.NewClient(append(slices.Clip(base),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(30*time.Second),
	)...)
	if err != nil {
		return nil, fmt.Errorf("pipeline: failover kafka client: %w", err)
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{cfg: cfg, deps: deps, log: log.With("failover_target", cfg.Target), cl: cl}, nil
}

// Close closes the executor's client.
func (x *Executor) Close() { x.cl.Close() }

// Target is the name the executor answers to.
func (x *Executor) Target() string { return x.cfg.Target }

// Generation is the generation of the last request acted upon, or of the
// outcome learnt at start.
func (x *Executor) Generation() uint64 { return x.lastGen }

// Pending reports whether Restore found a request without an outcome.
func (x *Executor) Pending() bool { return x.pending != nil }

// Restore reads the failover topic to its last stable offset of now and
// returns the side that serves (Primary when the target has no event yet).
// A request without an outcome at the end is kept as pending, for Run.
func (x *Executor) Restore(ctx context.Context) (string, error) {
	topic := x.cfg.Topic
	var last *failoverEvent
	err := kafka.ReadCompacted(ctx, topic, func(r *kgo.Record) {
		if ev := x.decode(r); ev != nil {
			last = ev
		}
	}, kafka.Polling(x.cl))
	if errors.Is(err, kafka.ErrNoTopic) {
		x.log.Warn("failover topic does not exist yet; writing to the primary", "topic", topic)
		return Primary, nil
	}
	if err != nil {
		return "", fmt.Errorf("pipeline: failover: %w", err)
	}
	if last == nil {
		return Primary, nil
	}
	d := last.data
	switch last.typ {
	case events.FailoverRequestedType, events.FailbackRequestedType:
		// Decided but not (known to be) carried out: the controller waits
		// for an outcome, so act on it once running. Until then write where
		// the request found writing.
		x.pending = last
		x.lastGen = d.Generation - 1
		return d.From, nil
	case events.FailoverFailedType:
		x.lastGen = d.Generation
		return d.From, nil
	default:
		x.lastGen = d.Generation
		return d.To, nil
	}
}

// decode returns the record's failover event if it is one for this
// pipeline's target; anything else is skipped (with a warning if it is not
// a valid failover event).
func (x *Executor) decode(r *kgo.Record) *failoverEvent {
	if r.Attrs.IsControl() || r.Value == nil || string(r.Key) != x.cfg.Target {
		return nil
	}
	e, err := events.Parse(r)
	if err != nil {
		x.log.Warn("skipping a record on the failover topic", "err", err)
		return nil
	}
	switch e.Type() {
	case events.FailoverRequestedType, events.FailoverCompletedType, events.FailoverFailedType,
		events.FailbackRequestedType, events.FailbackCompletedType:
	default:
		return nil
	}
	d, err := events.Data[events.Failover](e)
	if err != nil {
		x.log.Warn("skipping a record on the failover topic", "err", err)
		return nil
	}
	if d.Target != x.cfg.Target {
		return nil
	}
	return &failoverEvent{typ: e.Type(), data: d}
}

// HandlePending carries out the request Restore found unanswered, if any.
func (x *Executor) HandlePending(ctx context.Context) {
	if x.pending != nil {
		x.handle(ctx, x.pending)
		x.pending = nil
	}
}

// Run acts on requests until ctx ends.
func (x *Executor) Run(ctx context.Context) {
	x.HandlePending(ctx)
	for {
		fs := x.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, part int32, err error) {
			if !errors.Is(err, context.Canceled) {
				x.log.Warn("failover topic fetch failed", "topic", topic, "partition", part, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if ev := x.decode(r); ev != nil {
				x.handle(ctx, ev)
			}
		})
	}
}

// handle executes a request whose generation is above the last one acted
// upon; outcomes (this replica's own, other replicas') and stale requests
// change nothing.
func (x *Executor) handle(ctx context.Context, ev *failoverEvent) {
	d := ev.data
	var outType string
	switch ev.typ {
	case events.FailoverRequestedType:
		outType = events.FailoverCompletedType
	case events.FailbackRequestedType:
		outType = events.FailbackCompletedType
	default:
		return
	}
	if d.Generation <= x.lastGen {
		x.log.Info("ignoring a stale failover request", "type", ev.typ, "generation", d.Generation, "last", x.lastGen)
		return
	}
	x.lastGen = d.Generation
	x.log.Info("failover request received", "type", ev.typ, "generation", d.Generation, "from", d.From, "to", d.To, "reason", d.Reason)
	err := x.deps.SwitchTo(ctx, d.To)
	if ctx.Err() != nil {
		// Shutting down mid-switch: publish nothing; the request stays
		// the topic's latest event, so the next start carries it out.
		return
	}
	out := events.Failover{Target: x.cfg.Target, From: d.From, To: d.To, At: time.Now().UTC(), Generation: d.Generation, Actor: x.cfg.Actor}
	result := "completed"
	if err != nil {
		outType, result = events.FailoverFailedType, "failed"
		out.Error = err.Error()
		x.log.Error("failover switch failed", "generation", d.Generation, "to", d.To, "err", err)
	}
	if x.deps.Switched != nil {
		x.deps.Switched(d.To, result)
	}
	x.publish(ctx, outType, out)
}

// publish sends an outcome, retrying until Kafka takes it or ctx ends: the
// controller waits for it.
func (x *Executor) publish(ctx context.Context, typ string, d events.Failover) {
	id := fmt.Sprintf("%s/%d/%s", d.Target, d.Generation, typ)
	e, err := events.New(id, x.cfg.Source, typ, d.Target, d.At, d)
	var r *kgo.Record
	if err == nil {
		r, err = events.Record(x.cfg.Topic, e)
	}
	if err != nil {
		x.log.Error("cannot build the failover outcome", "type", typ, "err", err)
		return
	}
	for attempt := 0; ; attempt++ {
		err := x.cl.ProduceSync(ctx, r).FirstErr()
		if err == nil {
			x.log.Info("failover outcome published", "type", typ, "generation", d.Generation, "to", d.To)
			return
		}
		if ctx.Err() != nil {
			return
		}
		x.log.Warn("publishing the failover outcome failed; retrying", "type", typ, "generation", d.Generation, "err", err, "attempt", attempt+1)
		if !x.deps.Wait(ctx, attempt) {
			return
		}
	}
}
