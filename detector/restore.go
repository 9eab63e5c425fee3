package detector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
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
// start to the last stable offsets as they are when it begins.
func readCommitted(ctx context.Context, topic string, log *slog.Logger, opts []kgo.Opt, fn func(*kgo.Record)) error {
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer adm.Close()
	ac := kadm.NewClient(adm)
	starts, err := ac.ListStartOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := ac.ListCommittedOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return nil
		}
		return fmt.Errorf("list end offsets: %w", err)
	}
	// want holds, per partition, the offset reading must reach.
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > start.Offset {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	partitions := map[int32]kgo.Offset{}
	for p := range want {
		partitions[p] = kgo.NewOffset().AtStart()
	}
	// Control records are kept so that the commit marker ending the log
	// counts as reached: it is the last offset below the end.
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: partitions}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, e := range fs.Errors() {
			log.Warn("fetch error; retrying", "topic", e.Topic, "partition", e.Partition, "err", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if !r.Attrs.IsControl() {
				fn(r)
			}
		})
	}
	return nil
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
