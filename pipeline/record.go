package pipeline

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/pipeline/canary"
	"github.com/vigil-dev/vigil/pipeline/dlq"
)

// Signals, as used in metric labels.
const (
	signalLogs  = "logs"
	signalSpans = "spans"
)

// Document kinds, as used in metric labels.
const (
	kindLog        = "log"
	kindSpan       = "span"
	kindServiceMap = "service_map"
	kindCanary     = "canary"
)

// record follows one Kafka record until every document built from it is
// indexed or the record is dead-lettered. pending counts the references
// still out: the handler's own while it builds documents, one per document in
// the sink, one per span waiting for its trace's root. When it drops to zero
// the record is finished.
type record struct {
	s      *Service
	kr     *kgo.Record
	e      *entry
	signal string

	pending  atomic.Int32
	size     atomic.Int64  // bytes accounted in Service.inFlight
	share    *atomic.Int64 // and in its topic's Service.inFlightBy (nil in tests)
	released atomic.Bool   // size has been given back

	// lane is the priority lane when the record came from its topic (nil:
	// the normal topics); its bytes count against the lane's budget
	// instead of Service.inFlight.
	lane *priorityLane

	mu   sync.Mutex
	fail *dlq.Entry // first failure; nil while everything is fine

	// seg is the heartbeat segment the record counts in, hb the heartbeat
	// it holds (pipeline/canary); nil when not tracked.
	seg *canary.Segment
	hb  *canary.Heartbeat

	// chunks hold the record's documents, for Service.reuse once they are
	// indexed (as does kr.Value, of a log record).
	chunks [][]byte
}

func (r *record) hold() { r.pending.Add(1) }

func (r *record) release() { r.releaseN(1) }

// releaseN drops n references.
func (r *record) releaseN(n int32) {
	if r.pending.Add(-n) == 0 {
		r.s.finish(r)
	}
}

// account adds n bytes to the record's (and the pipeline's) in-flight size.
func (r *record) account(n int) {
	r.size.Add(int64(n))
	r.budget().Add(int64(n))
	if r.share != nil {
		r.share.Add(int64(n))
	}
}

// budget is the in-flight counter of the record's lane.
func (r *record) budget() *atomic.Int64 {
	if r.lane != nil {
		return &r.lane.inFlight
	}
	return &r.s.inFlight
}

// giveBack returns the record's bytes to the in-flight budget, once.
func (r *record) giveBack() {
	if r.released.CompareAndSwap(false, true) {
		r.budget().Add(-r.size.Load())
		if r.share != nil {
			r.share.Add(-r.size.Load())
		}
	}
}

// failure is one reason to dead-letter a record: a document the sink
// gave up on, or the record itself (undecodable, invalid).
type failure struct {
	errType string
	reason  string
	status  int    // HTTP status of a rejected document; 0 otherwise
	index   string // the target index; "" when none was chosen
	// attempts is how often it was tried (at least 1); first and last
	// are the first and latest failure's times (first zero: last).
	attempts    int
	first, last time.Time
}

// failed records a reason to dead-letter the record. The first failure
// describes the record; later ones only count.
func (r *record) failed(f failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		r.fail.FailedDocuments++
		r.fail.LastFailure = f.last
		return
	}
	if f.first.IsZero() {
		f.first = f.last
	}
	r.fail = &dlq.Entry{
		SourceTopic:     r.kr.Topic,
		SourcePartition: r.kr.Partition,
		SourceOffset:    r.kr.Offset,
		SourceTimestamp: r.kr.Timestamp,
		ErrorType:       f.errType,
		Reason:          f.reason,
		HTTPStatus:      f.status,
		TargetIndex:     f.index,
		Attempts:        max(f.attempts, 1),
		FailedDocuments: 1,
		FirstFailure:    f.first,
		LastFailure:     f.last,
	}
}

// failedEntry is the record's DLQ entry; nil while nothing failed.
func (r *record) failedEntry() *dlq.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fail
}

// itemsDone is the sink's report of indexed documents, all of one record
// and kind.
func (s *Service) itemsDone(run []*item, dup bool) {
	it, n := run[0], len(run)
	if c, ok := s.m.indexedDocs[it.kind]; ok && !dup {
		c.Add(float64(n))
	} else {
		outcome := "indexed"
		if dup {
			outcome = "duplicate"
		}
		s.m.documents.WithLabelValues(it.kind, outcome).Add(float64(n))
	}
	it.rec.e.p.inSink.Add(-int64(n))
	it.rec.releaseN(int32(n))
}

// itemFailed is the sink's report of a document that must be dead-lettered.
func (s *Service) itemFailed(it *item, errType, reason string, status int) {
	if errType == "" {
		errType = fmt.Sprintf("http_%d", status)
	}
	s.m.documents.WithLabelValues(it.kind, "dead_lettered").Inc()
	s.log.Warn("document rejected; its record goes to the DLQ", "kind", it.kind, "index", it.index, "status", status, "error_type", errType, "reason", truncate(reason, 300))
	it.rec.failed(failure{errType: errType, reason: reason, status: status, index: it.index, attempts: it.attempts, first: it.first, last: time.Now()})
	it.rec.e.p.inSink.Add(-1)
	it.rec.release()
}

// finish is called once a record has no references left.
func (s *Service) finish(r *record) {
	f := r.failedEntry()
	s.canaryFinished(r, f == nil)
	if f == nil {
		s.m.records.WithLabelValues(r.signal, "indexed").Inc()
		age := time.Since(r.kr.Timestamp).Seconds()
		s.m.latency.WithLabelValues(r.signal).Observe(age)
		s.m.laneLatency.WithLabelValues(laneOf(r)).Observe(age)
		s.m.laneRecords.WithLabelValues(laneOf(r), "indexed").Inc()
		s.tracker.done(r.e)
		r.giveBack()
		s.reuse(r)
		return
	}
	if s.cfg.DryRun {
		s.log.Info("dry run: record would go to the DLQ", "topic", r.kr.Topic, "partition", r.kr.Partition, "offset", r.kr.Offset, "error_type", f.ErrorType, "reason", truncate(f.Reason, 300))
		s.m.records.WithLabelValues(r.signal, "dead_lettered").Inc()
		s.tracker.done(r.e)
		r.giveBack()
		return
	}
	r.e.p.inSink.Add(1)
	s.deadLetter(r, *f, 0)
}

// reuse gives the buffers of an indexed record, no longer referenced by
// anything (its documents are in OpenSearch, and nothing else reads its
// value), to the next records: its chunks, and a log record's value,
// still in the buffer its batch was decompressed into (recycled, the
// buffer goes back to fetchBuffers once all of its batch's records are).
// A dead-lettered record's are left to the garbage collector: its value is
// on its way to the DLQ. A span record's value is its own copy (handle).
func (s *Service) reuse(r *record) {
	chunks := s.chunks
	if r.signal == signalSpans {
		chunks = s.spanChunks
	}
	for _, c := range r.chunks {
		chunks.put(c)
	}
	r.chunks = nil
	if r.signal == signalLogs {
		r.kr.Recycle() // nothing reads r.kr once the record is finished
	}
}

// deadLetter produces the record to the DLQ, retrying until it is there (or
// the pipeline stops, leaving the record uncommitted).
func (s *Service) deadLetter(r *record, f dlq.Entry, attempt int) {
	dr := dlq.Record(s.cfg.Kafka.DLQTopic, f, r.kr.Key, r.kr.Value)
	s.cl.Produce(s.sinkCtx, dr, func(_ *kgo.Record, err error) {
		if err != nil {
			if s.sinkCtx.Err() != nil {
				return
			}
			s.log.Warn("producing to the DLQ failed; retrying", "topic", s.cfg.Kafka.DLQTopic, "err", err)
			time.AfterFunc(s.sink.backoff(attempt), func() { s.deadLetter(r, f, attempt+1) })
			return
		}
		s.m.records.WithLabelValues(r.signal, "dead_lettered").Inc()
		s.m.laneRecords.WithLabelValues(laneOf(r), "dead_lettered").Inc()
		r.e.p.inSink.Add(-1)
		s.tracker.done(r.e)
		r.giveBack()
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// item is one document on its way into OpenSearch.
type item struct {
	rec   *record
	kind  string
	index string
	id    string
	doc   []byte
	// line, if set, is the document's whole bulk line pair (action,
	// document, newline) with doc and id in it (document.Log.Line).
	line []byte
	// attempts counts item failures; first is the first one's time.
	attempts int
	first    time.Time
}

// size is the item's share of a bulk body.
func (it *item) size() int {
	if it.line != nil {
		return len(it.line)
	}
	return len(it.doc) + len(it.index) + len(it.id) + actionOverhead
}

// cost is what an item holds in flight. cap, not len: the slack of a grown
// buffer is memory held too. (A line is in a chunk, counted as its
// documents.)
func (it *item) cost() int {
	if it.line != nil {
		return len(it.line) + itemOverhead
	}
	return cap(it.doc) + len(it.id) + len(it.index) + itemOverhead
}
