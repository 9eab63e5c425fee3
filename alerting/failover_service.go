package alerting

import (
	"context"
	"errors"
	"fmt"
	"slices"

	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/kafka"
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
// none, and a tombstone forgets its key.
func readLatest(ctx context.Context, topic string, base []kgo.Opt) (map[string][]byte, error) {
	out, err := kafka.ReadLatest(ctx, topic, kafka.ClientOpts(base...))
	if errors.Is(err, kafka.ErrNoTopic) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alerting: %w", err)
	}
	return out, nil
}
