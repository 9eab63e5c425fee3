package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
)

// errFenced means a newer producer took the transactional.id over: another
// replica is the leader now, and this one must stop publishing.
var errFenced = errors.New("fenced by a newer leader")

// Event builds the CloudEvent of a transition. Its id, "<target>-<generation>",
// is unique per transition, and a retried publish of the same transition
// carries the same id, so consumers can deduplicate on it.
func Event(source string, tr Transition) ([]byte, *kgo.Record, error) {
	ev, err := events.New(tr.Target+"-"+strconv.FormatUint(tr.Generation, 10), source, events.HealthChangedType, tr.Target, tr.At, tr.Health())
	if err != nil {
		return nil, nil, err
	}
	rec, err := events.Record("", ev)
	if err != nil {
		return nil, nil, err
	}
	return rec.Value, rec, nil
}

// publisher writes records to Kafka, each in its own transaction under the
// one transactional.id, retrying with backoff until it succeeds, ctx ends or
// a newer leader fences it. It is used by one goroutine at a time.
type publisher struct {
	opts    []kgo.Opt
	timeout time.Duration
	log     *slog.Logger
	m       *metrics
	cl      *kgo.Client
	// stillLeader, when set, is asked before a client is made again after
	// one had to be dropped: a new client's InitProducerID fences whoever
	// holds the transactional.id, and a replica cut off from Kafka long
	// enough to lose the group must not fence the leader that replaced it.
	// An error wrapping errFenced ends the term.
	stillLeader func(context.Context) error
	inited      bool
	// heartbeat is the interval of the leader's heartbeats; 0 sends none.
	heartbeat time.Duration
	targets   int
}

// Heartbeat builds the CloudEvent of a heartbeat of the leader source.
func Heartbeat(source string, at time.Time, every time.Duration, targets int) (*kgo.Record, error) {
	instance := strings.TrimPrefix(source, "vigil-detector/")
	ev, err := events.New("heartbeat-"+instance+"-"+strconv.FormatInt(at.UnixMilli(), 10), source,
		events.DetectorHeartbeatType, events.HeartbeatKey, at,
		events.Heartbeat{Instance: instance, IntervalSeconds: every.Seconds(), Targets: targets})
	if err != nil {
		return nil, err
	}
	return events.Record("", ev) // keyed by its subject, HeartbeatKey
}

func (p *publisher) close() {
	if p.cl != nil {
		p.cl.Close()
		p.cl = nil
	}
}

// publish commits rec, retrying until done. It returns nil, ctx's error, or
// errFenced.
func (p *publisher) publish(ctx context.Context, rec *kgo.Record) error {
	backoff := 100 * time.Millisecond
	for {
		err := p.attempt(ctx, rec)
		if err == nil {
			return nil
		}
		if errors.Is(err, errFenced) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.m.publishErrors.Inc()
		p.log.Warn("publish failed; retrying", "topic", rec.Topic, "key", string(rec.Key), "backoff", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// attempt runs one transaction. A failure whose outcome the client cannot
// recover from closes the client, so the next attempt starts with a fresh
// InitProducerID (which also aborts whatever this one left open).
func (p *publisher) attempt(ctx context.Context, rec *kgo.Record) error {
	if p.cl == nil {
		if p.inited && p.stillLeader != nil {
			if err := p.stillLeader(ctx); err != nil {
				return err
			}
		}
		cl, err := kgo.NewClient(p.opts...)
		if err != nil {
			return fmt.Errorf("producer: %w", err)
		}
		p.cl, p.inited = cl, true
	}
	if err := p.cl.BeginTransaction(); err != nil {
		p.close()
		return fenced(fmt.Errorf("begin transaction: %w", err))
	}
	pctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// kgo keeps the produce context in the record: each attempt gets a copy.
	r := *rec
	r.Context = nil
	done := make(chan error, 1)
	p.cl.Produce(pctx, &r, func(_ *kgo.Record, err error) { done <- err })
	var perr error
	select {
	case perr = <-done:
	case <-pctx.Done():
		// A record whose request went unanswered (a cut connection) cannot
		// fail without breaking the idempotent sequence, so kgo would wait
		// for it forever: close the client, which fails it, and let the
		// next attempt start over with a new producer epoch.
		p.close()
		<-done
		return fmt.Errorf("produce: no acknowledgement within %s", p.timeout)
	}
	// EndTransaction is not given ctx: cancelling it mid-request leaves the
	// outcome unknowable. It is bounded by the timeout instead.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	if perr == nil {
		err := p.cl.EndTransaction(ectx, kgo.TryCommit)
		if err == nil {
			return nil
		}
		perr = fmt.Errorf("commit: %w", err)
	} else {
		perr = fmt.Errorf("produce: %w", perr)
	}
	if isFenced(perr) {
		p.close()
		return fmt.Errorf("%w: %w", errFenced, perr)
	}
	if err := p.cl.AbortBufferedRecords(ectx); err != nil {
		p.close()
		return perr
	}
	if err := p.cl.EndTransaction(ectx, kgo.TryAbort); err != nil {
		p.close()
		if isFenced(err) {
			return fmt.Errorf("%w: %w", errFenced, err)
		}
	}
	return perr
}

func fenced(err error) error {
	if isFenced(err) {
		return fmt.Errorf("%w: %w", errFenced, err)
	}
	return err
}

func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// runQueue publishes the queue's transitions in order until ctx ends or the
// publisher is fenced. On a clean stop (drain set) what is left is published
// within the drain context's bound.
func (p *publisher) runQueue(ctx context.Context, q <-chan Transition, topic, source string, drain func() context.Context) error {
	send := func(ctx context.Context, tr Transition) error {
		_, rec, err := Event(source, tr)
		if err != nil {
			// A transition always makes a valid event; this is a bug, and
			// dropping the event beats blocking every later one.
			p.log.Error("dropping a transition that makes no valid event", "target", tr.Target, "err", err)
			return nil
		}
		rec.Topic = topic
		if err := p.publish(ctx, rec); err != nil {
			return err
		}
		p.m.published.Inc()
		p.m.queueLength.Dec()
		p.log.Info("health transition published", "target", tr.Target, "from", tr.From, "to", tr.To, "generation", tr.Generation, "rule", tr.Rule)
		return nil
	}
	// Heartbeats go through the same fenced transactions, the first at
	// once: a new leader is heard from without waiting an interval.
	var beat <-chan time.Time
	var timer *time.Timer
	if p.heartbeat > 0 {
		timer = time.NewTimer(0)
		defer timer.Stop()
		beat = timer.C
	}
	for {
		select {
		case at := <-beat:
			timer.Reset(p.heartbeat)
			rec, err := Heartbeat(source, at, p.heartbeat, p.targets)
			if err != nil {
				p.log.Error("dropping a heartbeat that makes no valid event", "err", err)
				continue
			}
			rec.Topic = topic
			if err := p.publish(ctx, rec); err != nil {
				if errors.Is(err, errFenced) {
					return err
				}
				if dctx := drain(); dctx != nil {
					return p.drain(dctx, Transition{}, q, send)
				}
				return nil
			}
			p.m.heartbeats.Inc()
		case tr := <-q:
			if err := send(ctx, tr); err != nil {
				if errors.Is(err, errFenced) {
					return err
				}
				if dctx := drain(); dctx != nil {
					return p.drain(dctx, tr, q, send)
				}
				return nil
			}
		case <-ctx.Done():
			if dctx := drain(); dctx != nil {
				return p.drain(dctx, Transition{}, q, send)
			}
			return nil
		}
	}
}

// drain publishes first (when set) and whatever is queued, within dctx.
func (p *publisher) drain(dctx context.Context, first Transition, q <-chan Transition, send func(context.Context, Transition) error) error {
	if first.Target != "" {
		if err := send(dctx, first); err != nil {
			return err
		}
	}
	for {
		select {
		case tr := <-q:
			if err := send(dctx, tr); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}
