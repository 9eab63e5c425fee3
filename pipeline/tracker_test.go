package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestTrackerWatermark(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offsets []int64 // added in this order
		done    []int   // indexes into offsets, finished in this order
		want    int64   // committable offset, -1 for none
	}{
		{"nothing done", []int64{0, 1, 2}, nil, -1},
		{"in order", []int64{0, 1, 2}, []int{0, 1, 2}, 3},
		{"prefix", []int64{0, 1, 2}, []int{0, 1}, 2},
		{"out of order, gap at head", []int64{0, 1, 2}, []int{2, 1}, -1},
		{"out of order, then head", []int64{0, 1, 2}, []int{2, 1, 0}, 3},
		{"hole in the middle", []int64{0, 1, 2, 3}, []int{0, 3, 1}, 2},
		{"offset gaps (compaction, txn markers)", []int64{5, 9, 20}, []int{0, 1}, 10},
		{"all done with gaps", []int64{5, 9, 20}, []int{2, 0, 1}, 21},
		{"done twice is harmless", []int64{0, 1}, []int{0, 0}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker()
			var es []*entry
			for _, o := range tc.offsets {
				es = append(es, tr.add("t", 0, o, 7))
			}
			for _, i := range tc.done {
				tr.done(es[i])
			}
			got := tr.committable(nil)
			if tc.want < 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, kgo.EpochOffset{Epoch: 7, Offset: tc.want}, got["t"][0])
		})
	}
}

func TestTrackerCommitsOnlyAdvances(t *testing.T) {
	tr := newTracker()
	a := tr.add("t", 0, 0, 1)
	b := tr.add("t", 1, 0, 1)
	tr.done(a)
	got := tr.committable(nil)
	require.Equal(t, map[string]map[int32]kgo.EpochOffset{"t": {0: {Epoch: 1, Offset: 1}}}, got)
	tr.committed(got)
	require.Empty(t, tr.committable(nil), "nothing new since the last commit")
	tr.done(b)
	require.Equal(t, map[string]map[int32]kgo.EpochOffset{"t": {1: {Epoch: 1, Offset: 1}}}, tr.committable(nil))
	require.Empty(t, tr.committable(map[string][]int32{"t": {0}}), "filter by partition")
}

func TestTrackerRemoveIgnoresLateCompletions(t *testing.T) {
	tr := newTracker()
	a := tr.add("t", 0, 0, 1)
	b := tr.add("t", 0, 1, 1)
	require.Equal(t, 2, tr.pending("t", 0))
	tr.remove(map[string][]int32{"t": {0}})
	tr.done(a)
	tr.done(b)
	require.Empty(t, tr.committable(nil))
	// Reassigned later: a fresh partition state.
	c := tr.add("t", 0, 1, 2)
	tr.done(c)
	require.Equal(t, kgo.EpochOffset{Epoch: 2, Offset: 2}, tr.committable(nil)["t"][0])
}
