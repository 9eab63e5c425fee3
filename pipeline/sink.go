package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-dev/vigil/pipeline/dlq"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// bulkClient is what the sink needs of OpenSearch; a standby cluster can be
// swapped in behind it.
type bulkClient interface {
	Bulk(ctx context.Context, body [][]byte, n int) ([]opensearch.ItemResult, error)
}

// sink batches documents into bulk requests (by bytes, count and linger),
// sends at most Concurrency at once, retries what can be retried and reports
// every document's fate through done and failed.
type sink struct {
	cfg    BulkConfig
	retry  RetryConfig
	client bulkClient
	m      *metrics
	log    *slog.Logger

	// done is called for documents that are in the index (dup: they
	// already were), a run of one record's of one kind at a time; failed
	// once per document that must be dead-lettered.
	done   func(run []*item, dup bool)
	failed func(it *item, errType, reason string, status int)

	mu       sync.Mutex
	cur      []*item
	curBytes int
	curStart time.Time
	ready    [][]*item

	wake   chan struct{}
	sem    chan struct{}
	bodies *freeList
	wg     sync.WaitGroup
	// active counts bulks being sent (including their retries).
	active atomic.Int32
	// switched, when set, returns a channel closed at the next switch of
	// the sink to the other cluster: a whole-request retry waits for it or
	// its backoff, whichever comes first.
	switched func() <-chan struct{}
	// down is set while whole bulk requests fail (cluster unreachable):
	// the consumer pauses fetching meanwhile.
	down atomic.Bool
	// yield, when set, holds back the next bulk while it returns true:
	// the priority lane's sink has documents to send or in flight, and
	// OpenSearch's write threads should go to them (priorityLane).
	yield func() bool
}

func newSink(cfg BulkConfig, retry RetryConfig, client bulkClient, m *metrics, log *slog.Logger) *sink {
	return &sink{
		cfg: cfg, retry: retry, client: client, m: m, log: log,
		wake: make(chan struct{}, 1),
		sem:  make(chan struct{}, cfg.Concurrency),
		// One: it holds the lines of documents not rendered in place
		// (spans, service map), heap under the soft memory limit.
		bodies: newFreeList(1),
	}
}

// maxYield bounds how long a bulk waits for the priority lane's (sink.yield).
const maxYield = time.Second

// actionOverhead approximates the bulk action line's size.
const actionOverhead = 64

// add queues a document, sealing the current batch when it is full.
func (s *sink) add(it *item) {
	s.mu.Lock()
	sealed := s.addLocked(it)
	s.mu.Unlock()
	if sealed {
		s.poke()
	}
}

// addAll queues a record's documents, under one lock.
func (s *sink) addAll(items []item) {
	sealed := false
	s.mu.Lock()
	for i := range items {
		sealed = s.addLocked(&items[i]) || sealed
	}
	s.mu.Unlock()
	if sealed {
		s.poke()
	}
}

// addLocked queues it and reports whether a batch was sealed.
func (s *sink) addLocked(it *item) (sealed bool) {
	n := it.size()
	if len(s.cur) > 0 && s.curBytes+n > s.cfg.MaxBytes {
		s.sealLocked()
		sealed = true
	}
	if len(s.cur) == 0 {
		s.curStart = time.Now()
	}
	s.cur = append(s.cur, it)
	s.curBytes += n
	if len(s.cur) >= s.cfg.MaxDocs || s.curBytes >= s.cfg.MaxBytes {
		s.sealLocked()
		sealed = true
	}
	return sealed
}

func (s *sink) sealLocked() {
	if len(s.cur) == 0 {
		return
	}
	s.ready = append(s.ready, s.cur)
	s.cur, s.curBytes = nil, 0
}

func (s *sink) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// idle reports whether the sink holds no document at all.
func (s *sink) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cur) == 0 && len(s.ready) == 0 && s.active.Load() == 0
}

// flush seals the current batch at once (revoke, shutdown, a full
// in-flight budget).
func (s *sink) flush() {
	s.mu.Lock()
	sealed := len(s.cur) > 0
	s.sealLocked()
	s.mu.Unlock()
	if sealed {
		s.poke()
	}
}

// run dispatches sealed batches until ctx ends, then waits for the bulks in
// flight (which give up once ctx has ended).
func (s *sink) run(ctx context.Context) {
	tick := time.NewTicker(max(s.cfg.Linger/4, time.Millisecond))
	defer tick.Stop()
	defer s.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
		// A batch past its linger is sealed only when a bulk slot is free
		// for it: while every slot is busy (a slow cluster) it keeps
		// growing up to max_docs or max_bytes, so the cluster gets fewer,
		// fuller bulks instead of a queue of linger-sized ones, each
		// paying the per-request cost (a translog fsync among others)
		// that bounded throughput to concurrency x rate x linger per
		// bulk latency.
		s.mu.Lock()
		if len(s.cur) > 0 && len(s.ready) == 0 && len(s.sem) < cap(s.sem) && time.Since(s.curStart) >= s.cfg.Linger {
			s.sealLocked()
		}
		s.mu.Unlock()
		for {
			s.mu.Lock()
			if len(s.ready) == 0 {
				s.mu.Unlock()
				break
			}
			b := s.ready[0]
			s.ready[0] = nil
			s.ready = s.ready[1:]
			s.mu.Unlock()
			// At most maxYield per bulk: a priority bulk retried for
			// long (OpenSearch refusing its documents) slows the normal
			// lane, never stops it.
			for until := time.Now().Add(maxYield); s.yield != nil && s.yield() && time.Now().Before(until); {
				if !sleep(ctx, time.Millisecond) {
					return
				}
			}
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			s.wg.Add(1)
			s.active.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.poke() // a slot is free: a lingering batch may go
				defer func() { <-s.sem }()
				defer s.active.Add(-1)
				s.send(ctx, b)
			}()
		}
	}
}

func (s *sink) backoff(attempt int) time.Duration {
	d := s.retry.InitialBackoff << min(attempt, 20)
	if d <= 0 || d > s.retry.MaxBackoff {
		d = s.retry.MaxBackoff
	}
	// Full jitter keeps many pipelines from retrying in lockstep.
	return d/2 + rand.N(d/2+1)
}

// retryWait waits d before a whole-request retry, or less if the sink
// switches clusters meanwhile (sw is closed; taken before the request, so
// a switch during the request counts); ok is false when ctx ended.
func (s *sink) retryWait(ctx context.Context, d time.Duration, sw <-chan struct{}) (ok, switched bool) {
	if sw == nil {
		return sleep(ctx, d), false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, false
	case <-t.C:
		return true, false
	case <-sw:
		return true, true
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// send delivers items, retrying until each is indexed or dead-lettered, or
// ctx ends (then the rest are abandoned unfinished, so their offsets are
// never committed and they are read again after restart).
func (s *sink) send(ctx context.Context, items []*item) {
	reqAttempt := 0
	for len(items) > 0 {
		res, sw, err := s.post(ctx, items)
		if errors.Is(err, errSwitched) {
			s.log.Info("bulk request re-sent after the sink switched clusters", "documents", len(items))
			reqAttempt = 0
			continue
		}
		if err != nil {
			var ok bool
			if items, reqAttempt, ok = s.requestFailed(ctx, items, err, reqAttempt, sw); !ok {
				return
			}
			continue
		}
		if s.down.Swap(false) {
			s.log.Info("bulk requests succeed again", "after_attempts", reqAttempt+1)
		}
		reqAttempt = 0
		items = s.results(items, res)
		if len(items) > 0 && !s.retryBackoff(ctx, items) {
			return
		}
	}
}

// post sends items as one bulk request and measures it. sw is the switch
// channel taken before the request (nil without a standby).
func (s *sink) post(ctx context.Context, items []*item) (res []opensearch.ItemResult, sw <-chan struct{}, err error) {
	body, lines := s.body(items)
	if s.switched != nil {
		sw = s.switched()
	}
	start := time.Now()
	res, err = s.client.Bulk(ctx, body, len(items))
	s.m.bulkDuration.Observe(time.Since(start).Seconds())
	size := 0
	for _, b := range body {
		size += len(b)
	}
	s.m.bulkBytes.Observe(float64(size))
	if lines != nil {
		s.bodies.put(lines)
	}
	return res, sw, err
}

// requestFailed handles a bulk request that failed as a whole: a 413
// halves the request (a lone document too large is dead-lettered), anything
// else is retried after a backoff with fetching paused. It returns the
// items still to send and the next request attempt; ok is false when send
// is done (ctx ended, or nothing is left).
func (s *sink) requestFailed(ctx context.Context, items []*item, err error, reqAttempt int, sw <-chan struct{}) (rest []*item, nextAttempt int, ok bool) {
	var be *opensearch.BulkError
	if !errors.As(err, &be) {
		be = &opensearch.BulkError{Err: err}
	}
	if be.Status == 413 {
		s.m.bulkFailures.WithLabelValues("too_large").Inc()
		if len(items) == 1 {
			s.failed(items[0], "request_too_large", "the document alone exceeds the cluster's http.max_content_length", 413)
			return nil, reqAttempt, false
		}
		h := len(items) / 2
		s.send(ctx, items[:h])
		return items[h:], reqAttempt, true
	}
	reason := "unreachable"
	if be.Status != 0 {
		reason = "http_" + strconv.Itoa(be.Status)
	}
	s.m.bulkFailures.WithLabelValues(reason).Inc()
	s.down.Store(true)
	if reqAttempt == 0 || reqAttempt%10 == 0 {
		s.log.Warn("bulk request failed; retrying, fetching paused", "err", err, "attempt", reqAttempt+1, "documents", len(items))
	}
	waited, switched := s.retryWait(ctx, s.backoff(reqAttempt), sw)
	if !waited {
		return nil, reqAttempt, false
	}
	reqAttempt++
	if switched {
		reqAttempt = 0
	}
	return items, reqAttempt, true
}

// results reports each item's result (indexed, dead-lettered) and returns
// the items to retry.
func (s *sink) results(items []*item, res []opensearch.ItemResult) (retry []*item) {
	now := time.Now()
	// from starts a run of indexed items of one record and kind,
	// reported at once: per item, the bookkeeping was a tenth of
	// what the pipeline spends on a log document outside building it.
	from, fromDup := -1, false
	for i, r := range res {
		it := items[i]
		if from >= 0 && (r.Class != opensearch.Done || it.rec != items[from].rec || it.kind != items[from].kind || (r.Status == 409) != fromDup) {
			s.done(items[from:i], fromDup)
			from = -1
		}
		switch r.Class {
		case opensearch.Done:
			if from < 0 {
				from, fromDup = i, r.Status == 409
			}
		case opensearch.Retry:
			it.attempts++
			if it.first.IsZero() {
				it.first = now
			}
			if it.attempts > s.retry.MaxItemRetries {
				it.index = rejectedBy(it.index, r)
				s.failed(it, dlq.ErrorTypeRetriesExhausted, r.ErrType+": "+r.Reason, r.Status)
				continue
			}
			s.m.documents.WithLabelValues(it.kind, "retried").Inc()
			retry = append(retry, it)
		default:
			it.attempts++
			if it.first.IsZero() {
				it.first = now
			}
			it.index = rejectedBy(it.index, r)
			s.failed(it, r.ErrType, r.Reason, r.Status)
		}
	}
	if from >= 0 {
		s.done(items[from:], fromDup)
	}
	return retry
}

// retryBackoff waits before retrying items, as long as the most tried of
// them asks for; false when ctx ended.
func (s *sink) retryBackoff(ctx context.Context, items []*item) bool {
	worst := 0
	for _, it := range items {
		worst = max(worst, it.attempts)
	}
	return sleep(ctx, s.backoff(worst-1))
}

// body is the bulk body for items, in pieces: a log document's line as it
// was rendered (item.line), the others' lines written into lines, a
// buffer to give back to s.bodies once the request is over. Copying every
// document into one body was a tenth of the pipeline's CPU.
func (s *sink) body(items []*item) (body [][]byte, lines []byte) {
	size := 0
	for _, it := range items {
		if it.line == nil {
			size += it.size()
		}
	}
	if size > 0 {
		lines = s.bodies.get(size)
	}
	body = make([][]byte, len(items))
	var at []int // where each written line starts, and the end
	for _, it := range items {
		if it.line == nil {
			at = append(at, len(lines))
			lines = opensearch.AppendCreate(lines, it.index, it.id, it.doc)
		}
	}
	at = append(at, len(lines))
	// Sliced once all are written: lines may have grown.
	k := 0
	for i, it := range items {
		if it.line != nil {
			body[i] = it.line
			continue
		}
		body[i] = lines[at[k]:at[k+1]:at[k+1]]
		k++
	}
	return body, lines
}

// rejectedBy is the index to name in a dead-lettered document's DLQ
// headers: the concrete index whose mapping or state refused it (behind the
// span alias or the logs data stream that one changes on every rollover),
// which is what an operator fixing a mapping conflict needs to know.
func rejectedBy(target string, r opensearch.ItemResult) string {
	if r.Index != "" {
		return r.Index
	}
	return target
}
