package collector

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestKafkaBrokers(t *testing.T) {
	t.Setenv("VIGIL_KAFKA_BROKERS", "10.0.0.1:9094")
	got := kafkaBrokers(Config{Config: []string{"../configs/collector.yaml"}})
	require.Equal(t, map[string][]string{"kafka/logs": {"10.0.0.1:9094"}, "kafka/logs_priority": {"10.0.0.1:9094"}, "kafka/traces": {"10.0.0.1:9094"}}, got)
}

// TestCalmKafkaLogs: a Kafka failure logged on every retry is written
// once at its level, then at Warn after 10 s, 20 s more, 40 s more...,
// without stack traces and with the exporter's brokers; other lines pass.
func TestCalmKafkaLogs(t *testing.T) {
	obs, logs := observer.New(zap.DebugLevel)
	now := time.Unix(0, 0)
	opt := calmKafkaLogs(func() map[string][]string { return map[string][]string{"kafka/logs": {"k1:9094", "k2:9094"}} })
	log := zap.New(obs, opt, zap.AddStacktrace(zap.ErrorLevel)).With(zap.String("otelcol.component.id", "kafka/logs"))
	// The state is the option's; reach it through the wrapped core.
	log.Core().(*calmCore).st.now = func() time.Time { return now }
	franz := log.Named("franz")
	for i := 0; i < 200; i++ { // one attempt a second for 200 s
		franz.Error("unable to initialize sasl", zap.String("broker", "seed_0"))
		log.Info("Exporting failed. Will retry the request after interval.")
		now = now.Add(time.Second)
	}
	var kafka []observer.LoggedEntry
	for _, e := range logs.All() {
		if e.LoggerName == "franz" {
			kafka = append(kafka, e)
		}
	}
	// At 0 s, then 10, 30, 70, 150 s.
	require.Len(t, kafka, 5)
	require.Equal(t, zapcore.ErrorLevel, kafka[0].Level)
	for i, e := range kafka {
		require.Empty(t, e.Stack, "no stack trace")
		require.Equal(t, "k1:9094,k2:9094", e.ContextMap()["brokers"])
		if i > 0 {
			require.Equal(t, zapcore.WarnLevel, e.Level)
		}
	}
	require.Equal(t, 200, logs.FilterMessage("Exporting failed. Will retry the request after interval.").Len(), "other lines untouched")
}
