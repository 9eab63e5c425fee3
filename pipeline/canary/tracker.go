package canary

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the pipeline's canary tracking (pipeline.canary).
type Config struct {
	// Enabled turns heartbeat tracking on. Heartbeat records are never
	// indexed as user data either way. Default true.
	Enabled bool `yaml:"enabled"`
	// Window is the accounting window. Default 5m.
	Window time.Duration `yaml:"window"`
	// IdleAfter: a collector partition not heard from for this long no
	// longer holds windows open (a collector that was stopped). Default 2m.
	IdleAfter time.Duration `yaml:"idle_after"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Enabled: true, Window: 5 * time.Minute, IdleAfter: 2 * time.Minute}
}

// Window is one closed window of one topic, as a document and metrics.
type Window struct {
	Topic      string
	Start, End time.Time
	// Produced is what the collectors handed to Kafka (their exporters'
	// acknowledged records), Consumed what this pipeline indexed or
	// dead-lettered of it, Lost the difference left after the carry.
	Produced, Consumed, Lost int64
	// Gaps counts heartbeats missing from the sequences.
	Gaps int64
	// Segments is the number of (collector, partition) segments judged.
	Segments int
	// Pipeline names the replica (its host name): each counts its own
	// partitions.
	Pipeline string
	ClosedAt time.Time
}

// Doc is the window's document in the canary index.
func (w Window) Doc() (id string, doc map[string]any) {
	id = fmt.Sprintf("win/%s/%d/%s/%d", w.Topic, w.Start.Unix(), w.Pipeline, w.ClosedAt.UnixNano())
	return id, map[string]any{
		"@timestamp": w.Start.UTC().Format(time.RFC3339Nano),
		"kind":       "window",
		"topic":      w.Topic,
		"window_end": w.End.UTC().Format(time.RFC3339Nano),
		"produced":   w.Produced,
		"consumed":   w.Consumed,
		"lost":       w.Lost,
		"gaps":       w.Gaps,
		"segments":   w.Segments,
		"pipeline":   w.Pipeline,
		"closed_at":  w.ClosedAt.UTC().Format(time.RFC3339Nano),
	}
}

// Tracker follows heartbeats and the records between them. Safe for
// concurrent use: records are added in offset order by the consumer and
// finished by the sink.
type Tracker struct {
	cfg      Config
	pipeline string
	log      *slog.Logger
	m        *metrics

	mu      sync.Mutex
	keys    map[Key]*keyState
	windows map[string]map[int64]*Window // topic, window start (unix)
}

type keyState struct {
	cur      *Segment   // open: records since the last heartbeat
	closed   []*Segment // waiting for their records, judged in order
	last     *Heartbeat
	seen     time.Time // when the last heartbeat was read
	passed   time.Time // emit time of the last judged segment's closing heartbeat
	carry    int64
	hasCarry bool
}

// Segment is one collector's records in one partition between two of its
// heartbeats.
type Segment struct {
	t          *Tracker
	ks         *keyState // its owner; gone from Tracker.keys once forgotten
	key        Key
	start, end *Heartbeat
	pending    int64
	consumed   int64
}

// New returns a Tracker; pipeline names this pipeline in window documents.
func New(cfg Config, pipeline string, log *slog.Logger, reg prometheus.Registerer) *Tracker {
	return &Tracker{cfg: cfg, pipeline: pipeline, log: log, m: newMetrics(reg), keys: map[Key]*keyState{}, windows: map[string]map[int64]*Window{}}
}

// Validate reports every problem (paths relative to canary).
func (c Config) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be > 0 (got %s)", c.Window))
	}
	if c.IdleAfter <= 0 {
		errs = append(errs, fmt.Errorf("idle_after: must be > 0 (got %s)", c.IdleAfter))
	}
	return errors.Join(errs...)
}

func (t *Tracker) state(k Key) *keyState {
	ks := t.keys[k]
	if ks == nil {
		ks = &keyState{}
		ks.cur = &Segment{t: t, ks: ks, key: k}
		t.keys[k] = ks
	}
	return ks
}

// Record counts a record of the collector instance (header vigil-collector)
// read from topic/partition; Done must be called once it is finished.
func (t *Tracker) Record(k Key) *Segment {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.state(k).cur
	s.pending++
	return s
}

// Heartbeat takes a heartbeat read from the given partition. It closes the
// heartbeat's segment and opens the next, which holds the heartbeat's own
// record (Done on the returned segment once it is finished). dup is true
// for a heartbeat seen before (delivered twice): it counts as a record.
func (t *Tracker) Heartbeat(h Heartbeat, now time.Time) (s *Segment, dup bool) {
	t.m.heartbeats.WithLabelValues(h.Topic).Inc()
	k := Key{h.Instance, h.Topic, h.Partition}
	t.mu.Lock()
	defer t.mu.Unlock()
	ks := t.state(k)
	ks.seen = now
	if ks.last != nil && ks.last.Run == h.Run && h.Seq <= ks.last.Seq {
		t.m.duplicates.WithLabelValues(h.Topic).Inc()
		ks.cur.pending++
		return ks.cur, true
	}
	old := ks.cur
	old.end = &h
	ks.closed = append(ks.closed, old)
	ks.last = &h
	ks.cur = &Segment{t: t, ks: ks, key: k, start: &h, pending: 1}
	t.judge(ks)
	return ks.cur, false
}

// Done marks one record of the segment finished (indexed or dead-lettered).
func (s *Segment) Done() {
	t := s.t
	t.mu.Lock()
	defer t.mu.Unlock()
	s.pending--
	s.consumed++
	if s.end != nil && t.keys[s.key] == s.ks {
		t.judge(s.ks)
	}
}

// Forget drops what is known of the partitions (revoked or lost): their
// unfinished records will not be finished here, and the next owner starts
// its own baselines. A later assignment of the same partitions starts anew.
func (t *Tracker) Forget(parts map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.keys {
		for _, p := range parts[k.Topic] {
			if p == k.Partition {
				delete(t.keys, k)
			}
		}
	}
}

// judge judges the key's closed segments in order while the oldest is
// complete.
func (t *Tracker) judge(ks *keyState) {
	for len(ks.closed) > 0 && ks.closed[0].pending == 0 {
		s := ks.closed[0]
		ks.closed = ks.closed[1:]
		t.judgeOne(ks, s)
	}
}

func (t *Tracker) judgeOne(ks *keyState, s *Segment) {
	st, en := s.start, s.end
	ks.passed = en.Emitted
	if st == nil || st.Run != en.Run || st.Acked < 0 || en.Acked < 0 {
		// A baseline: nothing to compare with.
		ks.hasCarry = false
		return
	}
	var gaps int64
	if en.Seq > st.Seq+1 {
		gaps = en.Seq - st.Seq - 1
		t.m.gaps.WithLabelValues(en.Topic).Add(float64(gaps))
		t.log.Error("heartbeats missing: records were lost between the collector and the pipeline", "collector", en.Instance, "topic", en.Topic, "partition", en.Partition, "after_seq", st.Seq, "missing", gaps)
	}
	produced := en.Acked - st.Acked
	if !ks.hasCarry {
		ks.carry, ks.hasCarry = max(0, s.consumed-produced), true
		if gaps == 0 {
			return // the first comparable segment only sets the carry
		}
	}
	lost := max(0, produced-s.consumed-ks.carry)
	ks.carry = max(0, s.consumed+ks.carry-produced)
	w := t.window(en.Topic, en.Emitted)
	w.Produced += produced
	w.Consumed += s.consumed
	w.Lost += lost
	w.Gaps += gaps
	w.Segments++
}

func (t *Tracker) window(topic string, at time.Time) *Window {
	start := at.Truncate(t.cfg.Window)
	ws := t.windows[topic]
	if ws == nil {
		ws = map[int64]*Window{}
		t.windows[topic] = ws
	}
	w := ws[start.Unix()]
	if w == nil {
		w = &Window{Topic: topic, Start: start, End: start.Add(t.cfg.Window), Pipeline: t.pipeline}
		ws[start.Unix()] = w
	}
	return w
}

// Close closes every window that every active collector partition of its
// topic has been judged past, and returns them, oldest first.
func (t *Tracker) Close(now time.Time) []Window {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Window
	for topic, ws := range t.windows {
		starts := make([]int64, 0, len(ws))
		for s := range ws {
			starts = append(starts, s)
		}
		sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
		for _, s := range starts {
			w := ws[s]
			if !t.passed(topic, w.End, now) {
				break
			}
			delete(ws, s)
			w.ClosedAt = now
			out = append(out, *w)
			t.m.closed(*w)
			if w.Lost > 0 {
				t.log.Error("records lost", "topic", topic, "window_start", w.Start, "window_end", w.End, "produced", w.Produced, "consumed", w.Consumed, "lost", w.Lost, "heartbeat_gaps", w.Gaps)
			}
		}
	}
	return out
}

func (t *Tracker) passed(topic string, end, now time.Time) bool {
	for k, ks := range t.keys {
		if k.Topic != topic || now.Sub(ks.seen) > t.cfg.IdleAfter {
			continue
		}
		if ks.passed.Before(end) {
			return false
		}
	}
	return true
}

// Indexed observes a heartbeat's freshness: from its emit time to its
// document being indexed.
func (t *Tracker) Indexed(h Heartbeat, now time.Time) {
	t.m.freshness.WithLabelValues(h.Topic).Observe(now.Sub(h.Emitted).Seconds())
}
