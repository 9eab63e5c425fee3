package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestPriorityLaneSameDocuments: a record read from the priority topic is
// indexed into the logs data stream with the ids the logs topic would give
// it (the same record through the logs topic afterwards only meets
// duplicates), counts as the priority lane's, and its offset is committed
// in the lane's own group, not in the normal one.
func TestPriorityLaneSameDocuments(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Kafka.Priority.Topic = e.prefix + "_priority"
	_, err := kadm.NewClient(e.prod).CreateTopics(t.Context(), 2, 1, nil, cfg.Kafka.Priority.Topic)
	require.NoError(t, err)
	rec := logsPayload(10, "error")
	e.produce(cfg.Kafka.Priority.Topic, 1, rec)

	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	eventually(t, "10 logs", func() bool { return e.count(cfg.Indices.LogsDataStream, "") == 10 })
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_lane_records_total", "lane", "priority", "outcome", "indexed"))
	require.Equal(t, 0.0, metricValue(t, reg, "vigil_pipeline_lane_records_total", "lane", "normal", "outcome", "indexed"))

	// The same record through the logs topic: same index, same ids.
	e.produce(cfg.Kafka.Logs.Topic, 0, rec)
	eventually(t, "the logs topic's copy", func() bool {
		return metricValue(t, reg, "vigil_pipeline_lane_records_total", "lane", "normal", "outcome", "indexed") == 1
	})
	require.Equal(t, 10.0, metricValue(t, reg, "vigil_pipeline_documents_total", "kind", "log", "outcome", "duplicate"))
	require.NoError(t, stop())
	require.Equal(t, 10, e.count(cfg.Indices.LogsDataStream, ""))

	adm := kadm.NewClient(e.prod)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lane, err := adm.FetchOffsets(ctx, cfg.priorityGroup())
	require.NoError(t, err)
	o, ok := lane.Lookup(cfg.Kafka.Priority.Topic, 1)
	require.True(t, ok, "the lane's group committed the priority topic")
	require.EqualValues(t, 1, o.At)
	normal, err := adm.FetchOffsets(ctx, cfg.Kafka.Group)
	require.NoError(t, err)
	_, ok = normal.Lookup(cfg.Kafka.Priority.Topic, 1)
	require.False(t, ok, "the normal group commits no priority offsets")
	o, ok = normal.Lookup(cfg.Kafka.Logs.Topic, 0)
	require.True(t, ok)
	require.EqualValues(t, 1, o.At)
}
