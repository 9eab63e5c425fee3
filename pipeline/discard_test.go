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
