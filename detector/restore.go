package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/kafka"
)

// Restore reads topic from its beginning to its last stable offsets (only
// committed transactions) and returns every target's last status and
// generation: the state a new leader starts from, so that it re-publishes
// nothing. opts are the client options (seed brokers, dialer); a missing
// topic restores nothing.
func Restore(ctx context.Context, topic string, log *slog.Logger, opts ...kgo.Opt) (map[string]Restored, error) {
	out := map[string]Restored{}
	err := readCommitted(ctx, topic, log, opts, func(r *kgo.Record) { apply(out, r, log) })
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return out, nil
}

// readCommitted hands fn every committed data record of topic, from the
// start to the last stable offsets as they are when it begins; a missing
// topic has none. Fetch errors that pass are retried (and logged).
func readCommitted(ctx context.Context, topic string, log *slog.Logger, opts []kgo.Opt, fn func(*kgo.Record)) error {
	err := kafka.ReadCompacted(ctx, topic, fn, kafka.ClientOpts(opts...), kafka.Log(log))
	if errors.Is(err, kafka.ErrNoTopic) {
		return nil
	}
	return err
}

// apply folds one record into the restored state: the highest generation of
// a target wins, whatever order partitions were read in; a tombstone forgets
// the target.
func apply(out map[string]Restored, r *kgo.Record, log *slog.Logger) {
	if r.Value == nil {
		delete(out, string(r.Key))
		return
	}
	ev, err := events.Parse(r)
	if err != nil {
		log.Warn("restore: skipping a record that is not a CloudEvent", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	if ev.Type() != events.HealthChangedType {
		return
	}
	h, err := events.Data[events.Health](ev)
	if err != nil || !h.Status.Valid() || h.Target == "" {
		log.Warn("restore: skipping an invalid health event", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	if cur, ok := out[h.Target]; !ok || h.Generation > cur.Generation {
		out[h.Target] = Restored{Status: h.Status, Generation: h.Generation}
	}
}
