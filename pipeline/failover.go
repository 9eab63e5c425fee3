package pipeline

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

// executor carries out the failover controller's requests for the
// pipeline's own sink (docs/failover.md): on `failover requested` for its
// target it switches writing to the standby and publishes `failover
// completed` (or `failed`), on `failback requested` it switches back and
// publishes `failback completed`.
//
// It reads the failover topic without a consumer group, from its start at
// every start-up: the topic is compacted and keyed by target, so the latest
// event of the target tells the side that serves now, and every replica of
// the pipeline learns it on its own. Every replica acts on every request;
// each publishes the outcome with the same event id and generation, so the
// controller applies the first and drops the rest as stale.
type executor struct {
	s      *Service
	cfg    FailoverConfig
	target string
	actor  string
	log    *slog.Logger
	cl     *kgo.Client

	// lastGen is the generation of the last request acted upon or outcome
	// learnt at start (executor goroutine only).
	lastGen uint64
	// pending is a request found unanswered at the end of the topic at
	// start, executed first by run.
	pending *failoverEvent
}

type failoverEvent struct {
	typ  string
	data events.Failover
}

func newExecutor(s *Service, base []kgo.Opt) (*executor, error) {
	f := s.cfg.Failover
	cl, err := kgo.NewClient(append(slices.Clip(base),
		kgo.ConsumeTopics(f.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(30*time.Second),
	)...)
	if err != nil {
		return nil, fmt.Errorf("pipeline: failover kafka client: %w", err)
	}
	return &executor{s: s, cfg: f, target: s.cfg.target(), actor: s.cfg.actor(), log: s.log.With("failover_target", s.cfg.target()), cl: cl}, nil
}

func (x *executor) close() { x.cl.Close() }

// restore reads the failover topic to its last stable offset of now and
// returns the side that serves (primary when the target has no event yet).
// A request without an outcome at the end is kept as pending, for run.
func (x *executor) restore(ctx context.Context) (string, error) {
	topic := x.cfg.Topic
	var last *failoverEvent
	err := kafka.ReadCompacted(ctx, topic, func(r *kgo.Record) {
		if ev := x.decode(r); ev != nil {
			last = ev
		}
	}, kafka.Polling(x.cl))
	if errors.Is(err, kafka.ErrNoTopic) {
		x.log.Warn("failover topic does not exist yet; writing to the primary", "topic", topic)
		return sidePrimary, nil
	}
	if err != nil {
		return "", fmt.Errorf("pipeline: failover: %w", err)
	}
	if last == nil {
		return sidePrimary, nil
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
func (x *executor) decode(r *kgo.Record) *failoverEvent {
	if r.Attrs.IsControl() || r.Value == nil || string(r.Key) != x.target {
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
	if d.Target != x.target {
		return nil
	}
	return &failoverEvent{typ: e.Type(), data: d}
}

// handlePending carries out the request restore found unanswered, if any.
func (x *executor) handlePending(ctx context.Context) {
	if x.pending != nil {
		x.handle(ctx, x.pending)
		x.pending = nil
	}
}

// run acts on requests until ctx ends.
func (x *executor) run(ctx context.Context) {
	x.handlePending(ctx)
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
func (x *executor) handle(ctx context.Context, ev *failoverEvent) {
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
	err := x.s.switchTo(ctx, d.To)
	if ctx.Err() != nil {
		// Shutting down mid-switch: publish nothing; the request stays
		// the topic's latest event, so the next start carries it out.
		return
	}
	out := events.Failover{Target: x.target, From: d.From, To: d.To, At: time.Now().UTC(), Generation: d.Generation, Actor: x.actor}
	result := "completed"
	if err != nil {
		outType, result = events.FailoverFailedType, "failed"
		out.Error = err.Error()
		x.log.Error("failover switch failed", "generation", d.Generation, "to", d.To, "err", err)
	}
	x.s.m.switches.WithLabelValues(d.To, result).Inc()
	x.publish(ctx, outType, out)
}

// publish sends an outcome, retrying until Kafka takes it or ctx ends: the
// controller waits for it.
func (x *executor) publish(ctx context.Context, typ string, d events.Failover) {
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
		if !sleep(ctx, x.s.sink.backoff(attempt)) {
			return
		}
	}
}
