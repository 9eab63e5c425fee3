package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/pipeline/dlq"
)

// ReplayOptions select what ReplayDLQ re-publishes (see dlq.ReplayOptions).
type ReplayOptions = dlq.ReplayOptions

func dlqSource(cfg Config) (dlq.Source, error) {
	opts, err := kafkaOpts(cfg.Kafka)
	return dlq.Source{Topic: cfg.Kafka.DLQTopic, ClientOpts: opts}, err
}

// ListDLQ writes a summary by error type of the DLQ records timestamped in
// [from, to) (zero times are open bounds), for `vigil dlq list`.
func ListDLQ(ctx context.Context, cfg Config, from, to time.Time, w io.Writer) error {
	src, err := dlqSource(cfg)
	if err != nil {
		return err
	}
	return withBrokers(cfg, dlq.List(ctx, src, from, to, w))
}

// withBrokers names the cluster in err: a refused password or certificate
// says why, not where.
func withBrokers(cfg Config, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kafka %s: %w", strings.Join(cfg.Kafka.Brokers, ","), err)
}

// ReplayDLQ re-publishes DLQ records to their source topics, for
// `vigil dlq replay`. Replaying twice is harmless: documents have
// deterministic ids and are written with bulk create.
func ReplayDLQ(ctx context.Context, cfg Config, opts ReplayOptions, w io.Writer) error {
	src, err := dlqSource(cfg)
	if err != nil {
		return err
	}
	return withBrokers(cfg, dlq.Replay(ctx, src, opts, w))
}
