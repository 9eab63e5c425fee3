package alerting

import (
	"context"
	"errors"
	"fmt"
	"slices"

	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
)

// startController gives the controller its store and a producer on the
// failover topic, and restores its state: the persisted one, synced with
// the latest event of each target on the failover topic, then primed with
// the latest health of each target. The returned func closes the producer.
func (s *Service) startController(ctx context.Context, base []kgo.Opt) (func(), error) {
	topic := s.cfg.Kafka.FailoverTopic
	latest, err := readLatest(ctx, topic, base)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(slices.Clip(base),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("alerting: kafka producer: %w", err)
	}
	s.ctrl.store = s.engine.store
	s.ctrl.pub = func(ctx context.Context, e ce.Event) error {
		r, err := events.Record(topic, e)
		if err != nil {
			return err
		}
		return cl.ProduceSync(ctx, r).FirstErr()
	}
	if err := s.ctrl.Restore(ctx, latest); err != nil {
		cl.Close()
		return nil, err
	}
	health, err := readLatest(ctx, s.cfg.Kafka.HealthTopic, base)
	if err == nil {
		err = s.ctrl.Prime(ctx, health)
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	s.log.Info("failover controller started", "targets", len(s.ctrl.order), "topic", topic)
	return cl.Close, nil
}

// readLatest returns the latest record value per key (target) on topic,
// read from its start to its last stable offset of now; a missing topic has
// none. Records of aborted transactions are skipped; control records are
// kept (and ignored) so that a partition ending in a commit marker is known
// to be read to its end.
func readLatest(ctx context.Context, topic string, base []kgo.Opt) (map[string][]byte, error) {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return nil, fmt.Errorf("alerting: kafka: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alerting: start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("alerting: end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > st.Offset {
			want[o.Partition], from[o.Partition] = o.Offset, kgo.NewOffset().At(st.Offset)
		}
	})
	out := map[string][]byte{}
	if len(want) == 0 {
		return out, nil
	}
	rd, err := kgo.NewClient(append(slices.Clip(base),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return nil, fmt.Errorf("alerting: kafka: %w", err)
	}
	defer rd.Close()
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("alerting: read %s: %w", topic, err)
		}
		if err := fs.Err(); err != nil {
			return nil, fmt.Errorf("alerting: read %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case r.Attrs.IsControl():
			case r.Value == nil:
				delete(out, string(r.Key))
			default:
				out[string(r.Key)] = r.Value
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}
