package collector

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/otelcol"
)

// TestShippedKafkaExportersWaitForAllReplicas: the shipped gateway config
// produces with acks=all (required_acks -1). With it the Kafka exporter's
// franz-go producer also stays idempotent (it turns idempotence off only
// for acks 0 and 1), so a broker lost mid-write neither loses a record
// (min.insync.replicas copies have it) nor writes one twice when the
// producer retries (TestKafkaBrokerKilled in pipeline/e2e drills this on a
// three-broker cluster).
func TestShippedKafkaExportersWaitForAllReplicas(t *testing.T) {
	for _, file := range []string{"../configs/collector.yaml"} {
		t.Run(file, func(t *testing.T) {
			set := settings(Config{Config: []string{"file:" + file}})
			provider, err := otelcol.NewConfigProvider(set.ConfigProviderSettings)
			require.NoError(t, err)
			factories, err := Factories()
			require.NoError(t, err)
			cfg, err := provider.Get(context.Background(), factories)
			require.NoError(t, err)
			kafka := 0
			for id, c := range cfg.Exporters {
				kc, ok := c.(*kafkaexporter.Config)
				if !ok {
					continue
				}
				kafka++
				require.EqualValues(t, -1, kc.Producer.RequiredAcks, "%s: exporters::%s::producer::required_acks", file, id)
			}
			require.Equal(t, 3, kafka, "%s: Kafka exporters (logs, priority logs, traces)", file)
		})
	}
}
