package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoTopic is what ReadCompacted returns (wrapped) for a topic that does
// not exist. Callers that start before the topic is created read it as
// "no records yet".
var ErrNoTopic = errors.New("topic does not exist")

// ReadOption changes how ReadCompacted reads.
type ReadOption func(*reader)

type reader struct {
	base []kgo.Opt
	cl   *kgo.Client
	log  *slog.Logger
}

// ClientOpts has ReadCompacted build its own clients from base (seed
// brokers, credentials, dialer) and close them when it returns.
func ClientOpts(base ...kgo.Opt) ReadOption {
	return func(r *reader) { r.base = base }
}

// Polling has ReadCompacted read by polling cl, a client that already
// consumes the topic from its start with kgo.FetchIsolationLevel(
// kgo.ReadCommitted()) and kgo.KeepControlRecords(). cl stays open and
// positioned after what was read, so its owner goes on consuming live
// without reading anything twice.
func Polling(cl *kgo.Client) ReadOption {
	return func(r *reader) { r.cl = cl }
}

// Log has ReadCompacted log each fetch error it retries.
func Log(l *slog.Logger) ReadOption {
	return func(r *reader) { r.log = l }
}

// ReadCompacted hands fn every committed data record of topic, partition by
// partition in offset order, from each partition's start to its last stable
// offset as listed when the read begins: on a compacted topic keyed by
// target, the latest record of each key. Records of aborted transactions
// are never read, and an open transaction (a fenced writer's) cannot hold
// the read up, because the end is the last stable offset. Records the last
// fetches bring from beyond that end are handed over too: they are newer.
//
// Control records are read (and not handed over) so that a partition
// ending in a commit marker is known to be read to its end. A retriable
// fetch error (a leader moving, a broker restarting) is retried, and logged
// with Log; any other fails the read. A missing topic is ErrNoTopic.
func ReadCompacted(ctx context.Context, topic string, fn func(*kgo.Record), opts ...ReadOption) error {
	var r reader
	for _, o := range opts {
		o(&r)
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	lister := r.cl
	if lister == nil {
		cl, err := kgo.NewClient(r.base...)
		if err != nil {
			return fmt.Errorf("kafka: read %s: %w", topic, err)
		}
		defer cl.Close()
		lister = cl
	}
	want, from, err := stableEnds(ctx, kadm.NewClient(lister), topic)
	if err != nil || len(want) == 0 {
		return err
	}
	cl := r.cl
	if cl == nil {
		c, err := kgo.NewClient(append(slices.Clip(r.base),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.KeepControlRecords(),
		)...)
		if err != nil {
			return fmt.Errorf("kafka: read %s: %w", topic, err)
		}
		defer c.Close()
		cl = c
	}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kafka: read %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if kerr.IsRetriable(err) {
				r.log.Warn("fetch error; retrying", "topic", t, "partition", p, "err", err)
				return
			}
			ferr = errors.Join(ferr, err)
		})
		if ferr != nil {
			return fmt.Errorf("kafka: read %s: %w", topic, ferr)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Topic != topic {
				return
			}
			if end, ok := want[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(want, rec.Partition)
			}
			if !rec.Attrs.IsControl() {
				fn(rec)
			}
		})
	}
	return nil
}

// stableEnds lists, for each partition of topic that holds records, the
// last stable offset reading must reach and the log start offset to read
// from.
func stableEnds(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int64, map[int32]kgo.Offset, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, listErr(topic, "start", err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, listErr(topic, "end", err)
	}
	want := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > st.Offset {
			want[o.Partition] = o.Offset
			from[o.Partition] = kgo.NewOffset().At(st.Offset)
		}
	})
	return want, from, nil
}

func listErr(topic, which string, err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("kafka: %s: %w", topic, ErrNoTopic)
	}
	return fmt.Errorf("kafka: %s offsets of %s: %w", which, topic, err)
}

// ReadLatest is ReadCompacted folded into each key's latest value: a
// tombstone (nil value) forgets its key.
func ReadLatest(ctx context.Context, topic string, opts ...ReadOption) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := ReadCompacted(ctx, topic, func(r *kgo.Record) {
		if r.Value == nil {
			delete(out, string(r.Key))
			return
		}
		out[string(r.Key)] = r.Value
	}, opts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}
