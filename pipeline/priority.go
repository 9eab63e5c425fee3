package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Lanes, as used in metric labels.
const (
	laneNormal   = "normal"
	lanePriority = "priority"
)

// priorityLane consumes the collector's topic of ERROR-and-above log
// records (kafka.priority) beside the normal topics, so that while those
// lag an error is indexed within moments rather than after the backlog.
// Everything that could make it wait behind the backlog is its own: its
// Kafka client and consumer group (no shared fetch buffers, polls or
// rebalances), its in-flight budget (priority.max_in_flight_bytes), its
// backlog and its sink (bulks of its own, sent beside the normal ones).
// What it shares is what makes the result the same as through the normal
// topic: the document builder (same index, same content-hash ids), the
// tracker (offsets committed only over finished records, through the
// lane's own client), the DLQ and the active OpenSearch side.
//
// Strict precedence: while the lane has records polled and room to take
// them in, the normal loop takes in none (Service.consume), so the CPU goes
// to the errors first. A lane at its own budget does not hold the normal
// topics back: a storm of errors is bounded by that budget, not by
// stopping everything else.
type priorityLane struct {
	topic string
	cl    *kgo.Client
	kopt  []kgo.Opt
	sink  *sink

	inFlight atomic.Int64
	// waiting is set while polled records wait to be taken in and the
	// lane has room for them: the normal loop yields meanwhile.
	waiting atomic.Bool

	// mu serialises the lane's handling with its rebalance callbacks.
	mu      sync.Mutex
	backlog []*kgo.Record
	paused  bool    // lane loop only
	avgCost float64 // lane loop only
	// lag is the lane's records behind the high watermark, per partition
	// (lane loop only).
	lag map[int32]int64

	// refreshIn are the indices the lane wrote to since their last
	// refresh; refreshNow wakes the refresher (refreshLoop).
	refreshMu  sync.Mutex
	refreshIn  map[string]bool
	refreshNow chan struct{}
}

// refreshEvery bounds the lane's refreshes: at most one per index this
// often, however many errors come.
const refreshEvery = 500 * time.Millisecond

// toRefresh asks for index to be refreshed: its documents from the lane
// are in it.
func (l *priorityLane) toRefresh(index string) {
	l.refreshMu.Lock()
	l.refreshIn[index] = true
	l.refreshMu.Unlock()
	select {
	case l.refreshNow <- struct{}{}:
	default:
	}
}

// refreshLoop refreshes the indices the lane wrote to, at most every
// refreshEvery: an error is searchable once its bulk is answered rather
// than at the index's next scheduled refresh, which under a heavy
// indexing load came seconds later (make bench, "Priority lane"). Errors
// are few, so the extra small segments are too; a storm of them costs at
// most two refreshes a second.
func (s *Service) refreshLoop(ctx context.Context, l *priorityLane) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.refreshNow:
		}
		l.refreshMu.Lock()
		idx := make([]string, 0, len(l.refreshIn))
		for i := range l.refreshIn {
			idx = append(idx, i)
		}
		clear(l.refreshIn)
		l.refreshMu.Unlock()
		for _, i := range idx {
			if res, err := s.sides.activeClient().Do(ctx, "POST", "/"+i+"/_refresh", nil); err != nil || res.Status != 200 {
				s.log.Debug("refreshing after the priority lane's bulk failed; the index's own refresh will do", "index", i, "err", err)
			}
		}
		if !sleep(ctx, refreshEvery) {
			return
		}
	}
}

// newPriorityLane builds the lane (no I/O); kopts are the connection and
// client options shared with the normal consumer.
func (s *Service) newPriorityLane(kopts []kgo.Opt) *priorityLane {
	cfg := s.cfg
	l := &priorityLane{topic: cfg.Kafka.Priority.Topic, avgCost: initialRecordCost, lag: map[int32]int64{}}
	bulk := cfg.Bulk
	bulk.Linger, bulk.Concurrency = cfg.Priority.Linger, cfg.Priority.Concurrency
	l.sink = newSink(bulk, cfg.Retry, s.sink.client, s.m, s.log)
	l.sink.switched = s.sink.switched
	l.sink.done = func(run []*item, dup bool) {
		// The collector's heartbeats pass through the lane too; their
		// index needs no refresh ahead of its own.
		if run[0].kind == kindLog {
			l.toRefresh(run[0].index)
		}
		s.itemsDone(run, dup)
	}
	l.sink.failed = s.itemFailed
	l.refreshNow = make(chan struct{}, 1)
	l.refreshIn = map[string]bool{}
	l.kopt = append(append([]kgo.Opt(nil), kopts...), groupOpts(cfg.Kafka, cfg.priorityGroup(), []string{l.topic}, s.onPriorityRevoked, s.onPriorityLost)...)
	l.kopt = append(l.kopt,
		// Errors are few: answer a fetch at once rather than wait for
		// fetch_max_wait's worth of them.
		kgo.FetchMaxWait(min(cfg.Kafka.FetchMaxWait, 50*time.Millisecond)),
		kgo.MaxConcurrentFetches(1),
	)
	return l
}

// blocked reports whether the lane may not take records in now.
func (l *priorityLane) blocked(s *Service) bool {
	return l.inFlight.Load() >= s.cfg.Priority.MaxInFlightBytes || s.operatorPause.Load()
}

// consumePriority is the lane's poll loop (Service.consume without the
// spans' and the topics' fairness concerns). It runs until ctx ends.
func (s *Service) consumePriority(ctx context.Context, l *priorityLane) {
	for ctx.Err() == nil {
		over := l.blocked(s) || l.sink.down.Load()
		switch {
		case over && !l.paused:
			l.cl.PauseFetchTopics(l.topic)
			l.paused = true
		case !over && l.paused:
			l.cl.ResumeFetchTopics(l.topic)
			l.paused = false
		}
		polled := false
		switch {
		case len(l.backlog) == 0 && !l.paused:
			polled = true
			pctx, cancel := context.WithTimeout(ctx, pollWait)
			room := s.cfg.Priority.MaxInFlightBytes - l.inFlight.Load()
			fetches := l.cl.PollRecords(pctx, max(1, min(int(float64(room)/l.avgCost), s.cfg.Kafka.MaxPollRecords)))
			cancel()
			if fetches.IsClientClosed() {
				return
			}
			s.warnFetchErrors(fetches, "lane", lanePriority)
			fetches.EachPartition(func(p kgo.FetchTopicPartition) {
				if p.Err != nil {
					return
				}
				if n := len(p.Records); n > 0 {
					lag := max(p.HighWatermark-p.Records[n-1].Offset-1, 0)
					l.lag[p.Partition] = lag
					s.m.lag.WithLabelValues(p.Topic, fmt.Sprint(p.Partition)).Set(float64(lag))
				} else if _, seen := l.lag[p.Partition]; seen {
					// Nothing new: caught up with what it had.
					l.lag[p.Partition] = 0
				}
			})
			l.mu.Lock()
			l.backlog = append(l.backlog, fetches.Records()...)
			l.mu.Unlock()
		case l.paused || len(l.backlog) == 0:
			sleep(ctx, backlogWait)
		}
		var lag int64
		for _, v := range l.lag {
			lag += v
		}
		s.m.laneLag.WithLabelValues(lanePriority).Set(float64(lag))
		now := time.Now()
		l.mu.Lock()
		l.waiting.Store(len(l.backlog) > 0 && !l.blocked(s))
		n := 0
		for n < len(l.backlog) && !l.blocked(s) {
			s.handleIn(l.backlog[n], now, l)
			n++
		}
		clear(l.backlog[:n])
		l.backlog = l.backlog[n:]
		if len(l.backlog) == 0 {
			l.backlog = nil
		}
		l.waiting.Store(false)
		l.mu.Unlock()
		if n > 0 {
			// Its bulk goes now, not after the linger: the lane's
			// point is time to searchable, and its records are few.
			l.sink.flush()
		}
		if polled {
			l.cl.AllowRebalance()
		}
	}
}

// onPriorityRevoked is onRevoked for the lane's partitions.
func (s *Service) onPriorityRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	l := s.prio
	l.mu.Lock()
	l.dropBacklog(revoked)
	l.mu.Unlock()
	l.sink.flush()
	s.drainRevoked(ctx, revoked)
}

// onPriorityLost forgets the lane's lost partitions.
func (s *Service) onPriorityLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	l := s.prio
	l.mu.Lock()
	l.dropBacklog(lost)
	l.mu.Unlock()
	s.forget(lost)
}

func (l *priorityLane) dropBacklog(parts map[string][]int32) {
	l.backlog = withoutPartitions(l.backlog, parts)
}

// laneOf names a record's lane for metrics.
func laneOf(r *record) string {
	if r.lane != nil {
		return lanePriority
	}
	return laneNormal
}
