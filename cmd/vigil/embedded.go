package main

import (
	"fmt"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigil-dev/vigil/internal/config"
)

// embeddedKafkaConfig runs franz-go's kfake, a Kafka-protocol broker, inside
// `vigil all`, so a laptop or a demo needs no Kafka of its own. It is one
// in-process broker: no replication, and with DataDir unset the data lives in
// memory only. Production points the components at a real cluster instead.
type embeddedKafkaConfig struct {
	// Enabled starts the broker before the components and stops it after
	// they have drained. Default false.
	Enabled bool `yaml:"enabled"`
	// ListenAddress is where the broker listens; the components' brokers
	// must name it. Default 127.0.0.1:9092.
	ListenAddress string `yaml:"listen_address"`
	// DataDir keeps the log on disk across restarts; empty keeps it in memory.
	DataDir string `yaml:"data_dir"`
	// DefaultPartitions for topics created on first use. Default 3.
	DefaultPartitions int `yaml:"default_partitions"`
}

func defaultEmbeddedKafka() embeddedKafkaConfig {
	return embeddedKafkaConfig{ListenAddress: "127.0.0.1:9092", DefaultPartitions: 3}
}

// Validate reports every problem.
func (c embeddedKafkaConfig) Validate() error {
	var p config.Problems
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		p.Addf("listen_address", "must be host:port (got %q)", c.ListenAddress)
	}
	if c.DefaultPartitions < 1 {
		p.Addf("default_partitions", "must be >= 1 (got %d)", c.DefaultPartitions)
	}
	return p.Err()
}

// start binds the broker; the caller closes it once every component has
// stopped, since draining components still commit offsets and flush.
func (c embeddedKafkaConfig) start() (*kfake.Cluster, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(c.DefaultPartitions),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, c.ListenAddress) }),
		// Large enough for the pipeline's dead-lettered records.
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "33554432"}),
	}
	if c.DataDir != "" {
		if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded kafka: %w", err)
		}
		opts = append(opts, kfake.DataDir(c.DataDir))
	}
	cl, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: listen %s: %w", c.ListenAddress, err)
	}
	return cl, nil
}
