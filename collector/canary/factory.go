package canary

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/receiver"
)

// The component types, as named in a collector configuration.
var (
	receiverType    = component.MustNewType("vigil_canary")
	partitionerType = component.MustNewType("vigil_canary_partitioner")
)

// NewReceiverFactory returns the vigil_canary receiver's factory.
func NewReceiverFactory() receiver.Factory {
	return receiver.NewFactory(receiverType,
		func() component.Config { return defaultConfig() },
		receiver.WithLogs(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Logs) (receiver.Logs, error) {
			return newEmitter(set, cfg, next, nil), nil
		}, component.StabilityLevelDevelopment),
		receiver.WithTraces(func(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
			return newEmitter(set, cfg, nil, next), nil
		}, component.StabilityLevelDevelopment),
	)
}

func newEmitter(set receiver.Settings, cfg component.Config, logs consumer.Logs, traces consumer.Traces) *emitter {
	return &emitter{cfg: cfg.(*Config), log: set.Logger, logs: logs, traces: traces, client: &http.Client{Timeout: 5 * time.Second}}
}

// NewPartitionerFactory returns the vigil_canary_partitioner extension's
// factory.
func NewPartitionerFactory() extension.Factory {
	return extension.NewFactory(partitionerType,
		func() component.Config { return &PartitionerConfig{} },
		func(context.Context, extension.Settings, component.Config) (extension.Extension, error) {
			return newPartitioner(), nil
		}, component.StabilityLevelDevelopment)
}
