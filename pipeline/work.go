package pipeline

import (
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

// failed records a reason to dead-letter the record. The first failure
// describes the record; later ones only count.
func (r *record) failed(errType, reason string, status int, index string, attempts int, first, last time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		r.fail.FailedDocuments++
		r.fail.LastFailure = last
		return
	}
	if first.IsZero() {
		first = last
	}
	r.fail = &dlq.Entry{
		SourceTopic:     r.kr.Topic,
		SourcePartition: r.kr.Partition,
		SourceOffset:    r.kr.Offset,
		SourceTimestamp: r.kr.Timestamp,
		ErrorType:       errType,
		Reason:          reason,
		HTTPStatus:      status,
		TargetIndex:     index,
		Attempts:        attempts,
		FailedDocuments: 1,
		FirstFailure:    first,
		LastFailure:     last,
	}
}

func (r *record) failure() *dlq.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fail
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
