package pipeline

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/pipeline/eventindex"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// newEvents builds the indexer of vigil.health, vigil.failover and the DLQ
// headers (pipeline/eventindex), or nil when disabled or in a dry run.
func newEvents(cfg Config, kopts []kgo.Opt, osc func() *opensearch.Client, log *slog.Logger, reg prometheus.Registerer) (*eventindex.Indexer, error) {
	if cfg.DryRun {
		return nil, nil
	}
	return eventindex.New(cfg.events(), eventindex.Deps{
		Kafka: kopts, DLQTopic: cfg.Kafka.DLQTopic, OpenSearch: osc,
		EventsIndex: cfg.Indices.HealthEvents, DLQIndex: cfg.Indices.DLQ,
		Log: log, Registerer: reg,
	})
}

// runEvents starts the events indexer, if any; the returned func stops it
// and waits for it.
func (s *Service) runEvents(ctx context.Context) (stop func()) {
	if s.events == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.events.Run(ctx); err != nil {
			s.log.Error("indexing health events stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}
