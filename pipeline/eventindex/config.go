package eventindex

import (
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

// Config is the pipeline's events section.
type Config struct {
	// Enabled indexes the topics below. Default true.
	Enabled bool `yaml:"enabled"`
	// HealthTopic carries health transitions; empty skips it. Default
	// "vigil.health". Not a key of the events section: the pipeline sets it
	// from kafka.health_topic, the health topic's one name in every
	// component.
	HealthTopic string `yaml:"-"`
	// FailoverTopic carries failover decisions and outcomes; empty skips
	// it. Default "vigil.failover".
	FailoverTopic string `yaml:"failover_topic"`
	// DLQ indexes the headers of the records on the pipeline's DLQ topic
	// (kafka.dlq_topic). Default true.
	DLQ bool `yaml:"dlq"`
	// Group is the consumer group; it is separate from the pipeline's so
	// that these low-volume topics never wait behind the OTLP backlog.
	// Default "vigil-pipeline-events".
	Group string `yaml:"group"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Enabled: true, HealthTopic: events.HealthTopic, FailoverTopic: events.FailoverTopic, DLQ: true, Group: "vigil-pipeline-events"}
}

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	if !c.Enabled {
		return nil
	}
	if c.Group == "" {
		p.Addf("group", "must not be empty")
	}
	if c.HealthTopic != "" && c.HealthTopic == c.FailoverTopic {
		p.Addf("failover_topic", "must differ from kafka.health_topic (got %q)", c.FailoverTopic)
	}
	return p.Err()
}
