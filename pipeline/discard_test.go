package pipeline

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/component"
)

// TestDiscardSink runs the pipeline against kfake with the discard sink and
// OpenSearch at a closed port: every document counts as indexed, the
// offsets of every record are committed, and the bulk bodies were rendered
// (and gzipped when configured) before being dropped.
func TestDiscardSink(t *testing.T) {
	for _, tc := range []struct {
		name string
		gzip bool
	}{{"plain", false}, {"gzip", true}} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "otlp_logs", "otlp_spans", "vigil.dlq"))
			require.NoError(t, err)
			defer kc.Close()
			prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			require.NoError(t, err)
			defer prod.Close()

			cfg := DefaultConfig()
			cfg.Kafka.Brokers = kc.ListenAddrs()
			cfg.OpenSearch.Addresses = []string{"http://127.0.0.1:1"}
			cfg.OpenSearch.Gzip = tc.gzip
			cfg.Sink = SinkDiscard
			cfg.CommitInterval = 50 * time.Millisecond
			cfg.Bulk.MaxDocs = 30 // several bulks
			cfg.Bulk.Linger = 20 * time.Millisecond
			reg := prometheus.NewRegistry()
			admin := &fakeAdmin{checks: map[string]func() error{}}
			s, err := New(cfg, component.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, Admin: admin})
			require.NoError(t, err)

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			const perRecord, records = 20, 10
			for i := range records {
				require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: "otlp_logs", Partition: int32(i % 2), Value: logsPayload(perRecord, "discard")}).FirstErr())
			}
			eventually(t, "every record to count as indexed", func() bool {
				return metricValue(t, reg, "vigil_pipeline_records_total", "signal", "logs", "outcome", "indexed") == records
			})
			require.NoError(t, admin.checks["pipeline"](), "the discard sink is ready without OpenSearch")
			cancel()
			require.NoError(t, <-done)

			require.Equal(t, float64(records*perRecord), metricValue(t, reg, "vigil_pipeline_documents_total", "kind", "log", "outcome", "indexed"))
			body := metricValue(t, reg, "vigil_pipeline_bulk_size_bytes")
			wire := metricValue(t, reg, "vigil_pipeline_discarded_bytes_total")
			require.Greater(t, body, float64(records*perRecord*100), "bulk bodies hold every document")
			if tc.gzip {
				require.Greater(t, wire, 0.0)
				require.Less(t, wire, body/3, "gzipped bodies are dropped")
			} else {
				require.Equal(t, body, wire)
			}

			adm := kadm.NewClient(prod)
			ends, err := adm.ListEndOffsets(context.Background(), "otlp_logs")
			require.NoError(t, err)
			offs, err := adm.FetchOffsets(context.Background(), cfg.Kafka.Group)
			require.NoError(t, err)
			ends.Each(func(e kadm.ListedOffset) {
				o, ok := offs.Lookup(e.Topic, e.Partition)
				require.True(t, ok, "partition %d committed", e.Partition)
				require.Equal(t, e.Offset, o.At, "partition %d committed to its end", e.Partition)
			})
		})
	}
}

// TestPausedFetchesKept: with a budget that keeps fetching paused most of
// the time, every batch is fetched (and decompressed) once. A poll while
// paused made the client drop what it had buffered of the paused topics,
// to fetch it again after resuming: in make bench, every other batch.
func TestPausedFetchesKept(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "otlp_logs", "otlp_spans", "vigil.dlq"))
	require.NoError(t, err)
	defer kc.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	require.NoError(t, err)
	defer prod.Close()
	const perRecord, records = 100, 60
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := 0
	for i := range records {
		v := logsPayload(perRecord, "paused")
		produced += len(v)
		require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: "otlp_logs", Partition: int32(i % 2), Value: v}).FirstErr())
	}

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = kc.ListenAddrs()
	cfg.OpenSearch.Addresses = []string{"http://127.0.0.1:1"}
	cfg.Sink = SinkDiscard
	cfg.CommitInterval = 50 * time.Millisecond
	cfg.Bulk.MaxBytes = 64 << 10
	cfg.Bulk.Linger = 20 * time.Millisecond
	cfg.MaxInFlightBytes = 128 << 10 // two or three records' documents
	reg := prometheus.NewRegistry()
	s, err := New(cfg, component.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, Admin: &fakeAdmin{checks: map[string]func() error{}}})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	paused := false
	eventually(t, "every record to count as indexed", func() bool {
		paused = paused || metricValue(t, reg, "vigil_pipeline_paused") == 1
		return metricValue(t, reg, "vigil_pipeline_records_total", "signal", "logs", "outcome", "indexed") == records
	})
	// The client's metrics go with it: read them first.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	cancel()
	require.NoError(t, <-done)

	require.True(t, paused, "fetching was paused")
	fetched := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "vigil_pipeline_kafka_fetch_bytes_total" { // uncompressed
			for _, m := range mf.GetMetric() {
				fetched += m.GetCounter().GetValue()
			}
		}
	}
	// Batches hold the values and a few dozen bytes per record.
	require.GreaterOrEqual(t, fetched, float64(produced))
	require.Less(t, fetched, 1.05*float64(produced), "bytes fetched from Kafka, for %d bytes of records", produced)
}
