package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFairShare(t *testing.T) {
	const budget = 800
	part := func(topic string, p int32, hwm int64, offsets ...int64) kgo.FetchTopicPartition {
		fp := kgo.FetchTopicPartition{Topic: topic}
		fp.Partition, fp.HighWatermark = p, hwm
		for _, o := range offsets {
			fp.Records = append(fp.Records, &kgo.Record{Topic: topic, Partition: p, Offset: o})
		}
		return fp
	}
	tests := []struct {
		name      string
		committed map[string]map[int32]kgo.EpochOffset
		atEnd     bool
		polls     []kgo.FetchTopicPartition
		logs      int64 // logs' bytes in flight
		wantHog   bool  // logs paused for the spans' sake
	}{
		{name: "spans never named", logs: budget},
		{name: "under half the budget", polls: []kgo.FetchTopicPartition{part("spans", 0, 100, 8)}, logs: 399},
		{
			name:  "spans fetched to the end",
			polls: []kgo.FetchTopicPartition{part("spans", 0, 10, 8, 9)},
			logs:  budget,
		},
		{
			name:    "spans behind",
			polls:   []kgo.FetchTopicPartition{part("spans", 0, 100, 8, 9)},
			logs:    400,
			wantHog: true,
		},
		{
			name:      "spans named without records, committed at the end",
			committed: map[string]map[int32]kgo.EpochOffset{"spans": {0: {Offset: 50}}},
			polls:     []kgo.FetchTopicPartition{part("spans", 0, 50)},
			logs:      budget,
		},
		{
			name:      "spans named without records, committed behind",
			committed: map[string]map[int32]kgo.EpochOffset{"spans": {0: {Offset: 40}}},
			polls:     []kgo.FetchTopicPartition{part("spans", 0, 50)},
			logs:      400,
			wantHog:   true,
		},
		{
			name:    "spans named without records, nothing committed, earliest",
			polls:   []kgo.FetchTopicPartition{part("spans", 0, 50)},
			logs:    400,
			wantHog: true,
		},
		{
			name:  "spans named without records, nothing committed, latest",
			atEnd: true,
			polls: []kgo.FetchTopicPartition{part("spans", 0, 50)},
			logs:  400,
		},
		{
			name:  "an error entry is no partition",
			polls: []kgo.FetchTopicPartition{part("spans", 0, 10, 9), {Topic: "", FetchPartition: kgo.FetchPartition{Partition: -1, Err: errEmpty}}},
			logs:  budget,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFairShare("logs", "spans")
			f.atEnd = tt.atEnd
			if tt.committed != nil {
				f.committed = func() map[string]map[int32]kgo.EpochOffset { return tt.committed }
			}
			for _, p := range tt.polls {
				f.observe(p)
			}
			require.Equal(t, tt.wantHog, f.hog(0, tt.logs, budget))
			require.False(t, f.hog(1, 0, budget), "spans hold nothing")
		})
	}
	// A paused topic stays paused down to three eighths of the budget.
	f := newFairShare("logs", "spans")
	f.observe(part("spans", 0, 100, 8))
	f.paused[0] = true
	require.True(t, f.hog(0, 300, budget))
	require.False(t, f.hog(0, 299, budget))
}
