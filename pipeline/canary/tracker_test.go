package canary

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// step is one thing the pipeline reads from a partition: n records of the
// collector, or (n == 0) a heartbeat with seq and acked.
type step struct {
	n          int
	seq, acked int64
	run        string
}

func TestTrackerWindows(t *testing.T) {
	const window = 10 * time.Second
	t0 := time.Unix(1_000_000, 0) // a multiple of the window
	hb := func(seq, acked int64) step { return step{seq: seq, acked: acked} }
	recs := func(n int) step { return step{n: n} }
	tests := []struct {
		name  string
		steps []step
		// Summed over closed windows: the segments after the first
		// comparable one (which only sets the carry), but for the last
		// one (its window closes after a later heartbeat).
		lost     int64
		gaps     int64
		produced int64
		consumed int64
	}{
		{
			// Heartbeat k carries the records acknowledged before it,
			// and each heartbeat record itself counts as one.
			name:     "no loss",
			steps:    []step{recs(3), hb(1, 10), recs(4), hb(2, 15), recs(2), hb(3, 18), recs(5), hb(4, 24), recs(1), hb(5, 26)},
			produced: 3 + 6, consumed: 3 + 6,
		},
		{
			// 2 records written before heartbeat 3 were acknowledged only
			// after it was emitted: segment 2-3 has a surplus of 2 that
			// covers segment 3-4's apparent shortfall.
			name:     "in flight at a heartbeat is not loss",
			steps:    []step{hb(1, 0), recs(4), hb(2, 5), recs(5), hb(3, 9), recs(1), hb(4, 13), recs(3), hb(5, 17)},
			produced: 4 + 4, consumed: 6 + 2,
		},
		{
			name:     "records deleted",
			steps:    []step{hb(1, 0), recs(4), hb(2, 5), recs(4), hb(3, 10), recs(1), hb(4, 110), recs(9), hb(5, 120)},
			produced: 5 + 100, consumed: 5 + 2, lost: 98,
		},
		{
			// Heartbeats 3 and 4 and the records around them vanished.
			name:     "heartbeats missing",
			steps:    []step{hb(1, 0), recs(4), hb(2, 5), recs(4), hb(3, 10), recs(2), hb(6, 60), recs(1), hb(7, 62)},
			produced: 5 + 50, consumed: 5 + 3, lost: 47, gaps: 2,
		},
		{
			name:     "a heartbeat delivered twice counts as a record",
			steps:    []step{hb(1, 0), recs(4), hb(2, 5), recs(4), hb(3, 10), hb(3, 10), recs(3), hb(4, 15), recs(4), hb(5, 20)},
			produced: 5 + 5, consumed: 5 + 5,
		},
		{
			// A restarted collector counts from zero: the segment across
			// the restart is a new baseline, not a loss.
			name:     "collector restart",
			steps:    []step{hb(1, 0), recs(4), hb(2, 5), recs(4), hb(3, 10), recs(2), {seq: 1, acked: 0, run: "b"}, recs(4), {seq: 2, acked: 5, run: "b"}, recs(4), {seq: 3, acked: 10, run: "b"}, recs(4), {seq: 4, acked: 15, run: "b"}},
			produced: 5 + 5, consumed: 5 + 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tr := New(Config{Enabled: true, Window: window, IdleAfter: time.Hour}, "p1", slog.New(slog.DiscardHandler), reg)
			now := t0
			var closed []Window
			for _, st := range tt.steps {
				if st.n > 0 {
					for range st.n {
						tr.Record(Key{"c1", "logs", 0}).Done()
					}
					continue
				}
				run := st.run
				if run == "" {
					run = "a"
				}
				// One heartbeat per window: each segment judged is one window.
				now = now.Add(window)
				seg, _ := tr.Heartbeat(Heartbeat{Instance: "c1", Run: run, Topic: "logs", Partition: 0, Seq: st.seq, Acked: st.acked, Emitted: now}, now)
				seg.Done()
				closed = append(closed, tr.Close(now.Add(time.Second))...)
			}
			var lost, gaps, produced, consumed int64
			for _, w := range closed {
				lost += w.Lost
				gaps += w.Gaps
				produced += w.Produced
				consumed += w.Consumed
			}
			require.Equal(t, tt.lost, lost, "lost")
			require.Equal(t, tt.gaps, gaps, "gaps")
			require.Equal(t, tt.produced, produced, "produced")
			require.Equal(t, tt.consumed, consumed, "consumed")
			require.Equal(t, float64(tt.lost), testutil.ToFloat64(tr.m.lostTotal.WithLabelValues("logs")))
		})
	}
}

// A window stays open while a partition's records before its closing
// heartbeat are unfinished (the pipeline lags), and closes once they are.
func TestTrackerWaitsForLag(t *testing.T) {
	tr, beat := beatingTracker()
	t0 := time.Unix(1_000_000, 0)
	k := Key{"c1", "logs", 0}
	beat(1, 0, t0).Done()
	tr.Record(k).Done()
	beat(2, 2, t0.Add(10*time.Second)).Done()
	tr.Record(k).Done()
	beat(3, 4, t0.Add(20*time.Second)).Done()
	slow := tr.Record(k) // not yet indexed
	tr.Record(k).Done()
	beat(4, 7, t0.Add(30*time.Second)).Done()
	// The window of segment 2-3 ends when heartbeat 4's window starts:
	// it closes once a heartbeat emitted after its end is judged, and
	// segment 3-4 waits for the slow record.
	require.Empty(t, tr.Close(t0.Add(time.Hour)), "window closed while the pipeline had not caught up")
	slow.Done()
	ws := tr.Close(t0.Add(time.Hour))
	require.Len(t, ws, 1)
	require.Equal(t, t0.Add(20*time.Second), ws[0].Start)
	require.Equal(t, int64(0), ws[0].Lost)
	require.Equal(t, int64(2), ws[0].Consumed)
}

// A revoked partition's records that never finish here do not hold its
// topic's windows open, nor does a late one disturb a new assignment.
func TestTrackerForget(t *testing.T) {
	tr, beat := beatingTracker()
	t0 := time.Unix(1_000_000, 0)
	k := Key{"c1", "logs", 0}
	beat(1, 0, t0).Done()
	tr.Record(k).Done()
	beat(2, 2, t0.Add(10*time.Second)).Done()
	stuck := tr.Record(k)
	beat(3, 4, t0.Add(20*time.Second)).Done()
	tr.Forget(map[string][]int32{"logs": {0}})
	// Assigned again: new baselines, windows close without the stuck record.
	beat(4, 6, t0.Add(30*time.Second)).Done()
	tr.Record(k).Done()
	beat(5, 8, t0.Add(40*time.Second)).Done()
	tr.Record(k).Done()
	beat(6, 10, t0.Add(50*time.Second)).Done()
	stuck.Done() // finished after all: ignored
	tr.Record(k).Done()
	beat(7, 12, t0.Add(60*time.Second)).Done()
	ws := tr.Close(t0.Add(time.Hour))
	require.NotEmpty(t, ws)
	for _, w := range ws {
		require.Zero(t, w.Lost, "window %s", w.Start)
	}
}

// beatingTracker is a tracker of 10s windows and beat, which judges
// collector c1's heartbeat seq on partition 0 of logs, emitted and received
// at at, acked records produced before it.
func beatingTracker() (*Tracker, func(seq, acked int64, at time.Time) *Segment) {
	tr := New(Config{Enabled: true, Window: 10 * time.Second, IdleAfter: time.Hour}, "p1", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	return tr, func(seq, acked int64, at time.Time) *Segment {
		s, _ := tr.Heartbeat(Heartbeat{Instance: "c1", Run: "a", Topic: "logs", Seq: seq, Acked: acked, Emitted: at}, at)
		return s
	}
}
