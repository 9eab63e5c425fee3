package canary

import (
	"errors"
	"fmt"
	"time"
)

// Config is the vigil_canary receiver's configuration.
type Config struct {
	// Topic is the Kafka topic the pipeline's exporter writes; it must be
	// the exporter's topic. Required.
	Topic string `mapstructure:"topic"`
	// Instance names this collector in heartbeats; it must equal the
	// vigil-collector record header the exporters set
	// (record_headers), so the pipeline can tell whose records it counts.
	// Required.
	Instance string `mapstructure:"instance"`
	// Interval between heartbeats. Default 10s.
	Interval time.Duration `mapstructure:"interval"`
	// TelemetryURL is the collector's own Prometheus endpoint
	// (service::telemetry::metrics), read for the exporters' acknowledged
	// record counts. Default http://127.0.0.1:8888/metrics.
	TelemetryURL string `mapstructure:"telemetry_url"`
}

// Validate reports every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("topic: must be set"))
	}
	if c.Instance == "" {
		errs = append(errs, errors.New("instance: must be set"))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval: must be > 0 (got %s)", c.Interval))
	}
	if c.TelemetryURL == "" {
		errs = append(errs, errors.New("telemetry_url: must be set"))
	}
	return errors.Join(errs...)
}

func defaultConfig() *Config {
	return &Config{Interval: 10 * time.Second, TelemetryURL: "http://127.0.0.1:8888/metrics"}
}

// PartitionerConfig is the vigil_canary_partitioner extension's
// configuration: it has no settings.
type PartitionerConfig struct{}
