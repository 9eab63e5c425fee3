package setup

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/kafka"
)

// Config is what `vigil setup` prepares.
type Config struct {
	// Kafka is the cluster whose topics are created.
	Kafka kafka.Conn `yaml:"kafka"`
	// Topics replaces the default topic list (see DefaultTopics) when set.
	Topics []Topic `yaml:"topics"`
	// Timeout bounds the whole run. Default 2m.
	Timeout time.Duration `yaml:"timeout"`
}

// Retention defaults.
const (
	day               = 24 * time.Hour
	otlpRetention     = 3 * day
	deadLetterRetains = 14 * day
)

// DefaultTopics are the topics Vigil's components use. The OTLP topics get
// enough partitions for a few pipeline replicas (replicas beyond the
// partition count idle); the event and state topics are compacted so they
// keep the latest record per key (target) for ever.
func DefaultTopics() []Topic {
	ms := func(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }
	compacted := map[string]string{"cleanup.policy": "compact"}
	return []Topic{
		{Name: "otlp_logs", Partitions: 6, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(otlpRetention)}},
		{Name: "otlp_spans", Partitions: 6, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(otlpRetention)}},
		{Name: "vigil.dlq", Partitions: 3, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(deadLetterRetains), "max.message.bytes": "33554432"}},
		{Name: "vigil.health", Partitions: 1, ReplicationFactor: -1, Configs: compacted},
		{Name: "vigil.failover", Partitions: 1, ReplicationFactor: -1, Configs: compacted},
		{Name: "vigil.alerting.state", Partitions: 1, ReplicationFactor: -1, Configs: compacted},
		// One partition: its owner in the detector's group is the leader.
		{Name: "vigil.detector.leader", Partitions: 1, ReplicationFactor: -1},
	}
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Kafka: kafka.DefaultConn("vigil-setup"), Topics: DefaultTopics(), Timeout: 2 * time.Minute}
}

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	p.Merge("kafka", c.Kafka.Validate())
	seen := map[string]bool{}
	for i, t := range c.Topics {
		path := fmt.Sprintf("topics[%d]", i)
		if t.Name == "" {
			p.Addf(path+".name", "must not be empty")
		}
		if seen[t.Name] {
			p.Addf(path+".name", "topic %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		if t.Partitions < 1 {
			p.Addf(path+".partitions", "must be >= 1 (got %d)", t.Partitions)
		}
		if t.ReplicationFactor == 0 || t.ReplicationFactor < -1 {
			p.Addf(path+".replication_factor", "must be >= 1, or -1 for the broker default (got %d)", t.ReplicationFactor)
		}
	}
	if c.Timeout <= 0 {
		p.Addf("timeout", "must be > 0 (got %s)", c.Timeout)
	}
	return p.Err()
}

// Run prepares everything and writes one line per change to w, ending with
// a summary line that says whether anything changed.
func Run(ctx context.Context, c Config, dryRun bool, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	opts, err := c.Kafka.Opts()
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("setup: kafka client: %w", err)
	}
	defer cl.Close()
	changes, err := EnsureTopics(ctx, kadm.NewClient(cl), c.Topics, dryRun)
	report(w, changes, dryRun)
	return err
}

func report(w io.Writer, changes []Change, dryRun bool) {
	changed := 0
	for _, ch := range changes {
		if ch.Action != "unchanged" {
			changed++
		}
		fmt.Fprintln(w, ch)
	}
	switch {
	case dryRun:
		fmt.Fprintf(w, "dry run: %d change(s) would be made\n", changed)
	case changed == 0:
		fmt.Fprintln(w, "nothing changed: everything was already set up")
	default:
		fmt.Fprintf(w, "%d change(s) made\n", changed)
	}
}
