package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/pipeline/canary"
	"github.com/vigil-dev/vigil/pipeline/dlq"
	"github.com/vigil-dev/vigil/pipeline/document"
)

// pollWait bounds one poll so that the loop regularly expires trace windows
// and re-evaluates backpressure even when no records come.
const pollWait = 100 * time.Millisecond

// consume is the poll loop. It runs until ctx ends.
//
// Records are taken into the pipeline (handled) only while the in-flight
// bytes are under max_in_flight_bytes; the rest of a poll waits in backlog
// and no new poll is made until the backlog is empty and fetching is not
// paused, so the budget holds however large one poll is.
func (s *Service) consume(ctx context.Context) {
	for ctx.Err() == nil {
		s.backpressure()
		polled := false
		switch {
		case len(s.backlog) == 0 && !s.paused:
			polled = true
			pctx, cancel := context.WithTimeout(ctx, pollWait)
			fetches := s.cl.PollRecords(pctx, s.pollBudget())
			cancel()
			if fetches.IsClientClosed() {
				return
			}
			s.warnFetchErrors(fetches)
			fetches.EachPartition(func(p kgo.FetchTopicPartition) {
				s.fair.observe(p)
				if n := len(p.Records); n > 0 {
					lag := p.HighWatermark - p.Records[n-1].Offset - 1
					s.m.lag.WithLabelValues(p.Topic, fmt.Sprint(p.Partition)).Set(float64(max(lag, 0)))
				}
			})
			var lag int64
			for _, l := range s.fair.lag {
				lag += l
			}
			s.m.laneLag.WithLabelValues(laneNormal).Set(float64(lag))
			s.mu.Lock()
			s.backlog = append(s.backlog, fetches.Records()...)
			s.mu.Unlock()
		case s.blocked() || len(s.backlog) == 0:
			// Paused: no poll, which would drop what the client has
			// buffered of the paused topics, to be fetched and
			// decompressed again after resuming (in make bench, every
			// other batch was).
			sleep(ctx, backlogWait)
		case s.prioWaiting():
			sleep(ctx, time.Millisecond) // the priority lane goes first
		}
		now := time.Now()
		s.mu.Lock()
		n := 0
		// Strict precedence (priorityLane): nothing is taken in while
		// the priority lane has records to take in.
		for n < len(s.backlog) && !s.blocked() && !s.prioWaiting() {
			s.handle(s.backlog[n], now)
			n++
		}
		clear(s.backlog[:n])
		s.backlog = s.backlog[n:]
		if len(s.backlog) == 0 {
			s.backlog = nil
		}
		if s.blocked() {
			// Nothing joins the current bulk until in-flight bytes are
			// freed, and they are freed only as bulks complete: waiting
			// out the linger would stall the pipeline (draining a
			// backlog, it did so for most of every linger).
			s.sink.flush()
		}
		var out emission
		s.traces.expire(now, &out)
		if s.blocked() && s.traces.held > 0 && s.sink.idle() {
			// The budget is full, the sink has nothing to finish, and
			// spans wait for roots in records that cannot be taken in
			// until the budget frees: waiting out the window would only
			// stall. Let the oldest quarter go without their group.
			s.traces.releaseOldest(max(1, s.traces.held/4), &out)
			s.m.forcedReleases.Inc()
		}
		s.emitTraces(&out)
		s.m.heldSpans.Set(float64(s.traces.held))
		if s.apm != nil {
			s.apm.tick(now)
		}
		s.mu.Unlock()
		if polled {
			s.cl.AllowRebalance()
		}
	}
}

// warnFetchErrors logs a poll's fetch errors, with attrs, but for the
// poll's own deadline or cancellation.
func (s *Service) warnFetchErrors(fetches kgo.Fetches, attrs ...any) {
	fetches.EachError(func(topic string, part int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		s.log.Warn("fetch failed", append(attrs[:len(attrs):len(attrs)], "topic", topic, "partition", part, "err", err)...)
	})
}

// blocked reports whether records may not be taken in now.
func (s *Service) blocked() bool {
	return s.inFlight.Load() >= s.cfg.MaxInFlightBytes || s.operatorPause.Load()
}

// prioWaiting reports whether the priority lane has records polled and
// room to take them in.
func (s *Service) prioWaiting() bool {
	return s.prio != nil && s.prio.waiting.Load()
}

// backlogWait is how long the loop waits for in-flight bytes to drain
// before looking again.
const backlogWait = 10 * time.Millisecond

// initialRecordCost is the guess of a record's in-flight cost before any
// record has been seen.
const initialRecordCost = 64 << 10

// pollBudget is how many records the next poll may take: as many as the
// in-flight budget has room for at the recent average cost per record (its
// value plus its documents), so that one poll cannot overshoot
// max_in_flight_bytes by a whole fetch's worth of documents.
func (s *Service) pollBudget() int {
	room := s.cfg.MaxInFlightBytes - s.inFlight.Load()
	n := int(float64(room) / s.avgCost)
	return max(1, min(n, s.cfg.Kafka.MaxPollRecords))
}

// backpressure pauses fetching while too many bytes are in flight or
// OpenSearch refuses whole bulks, and resumes once neither holds. Records
// already fetched stay buffered in the client meanwhile (bounded by the
// fetch size limits).
func (s *Service) backpressure() {
	over := s.inFlight.Load() >= s.cfg.MaxInFlightBytes || s.sink.down.Load() || s.operatorPause.Load()
	switch {
	case over && !s.paused:
		s.cl.PauseFetchTopics(s.cfg.topics()...)
		s.paused = true
		s.pausedNow.Store(true)
		s.m.paused.Set(1)
		s.log.Debug("fetching paused", "in_flight_bytes", s.inFlight.Load(), "opensearch_down", s.sink.down.Load())
	case !over && s.paused:
		var resume []string
		for _, t := range s.cfg.topics() {
			if i := s.fairIndex(t); i < 0 || !s.fair.paused[i] {
				resume = append(resume, t)
			}
		}
		s.cl.ResumeFetchTopics(resume...)
		s.paused = false
		s.pausedNow.Store(false)
		s.m.paused.Set(0)
		s.log.Debug("fetching resumed")
	}
	// Between the topics (fairShare).
	for i, t := range s.fair.topics {
		hog := s.fair.hog(i, s.inFlightBy[i].Load(), s.cfg.MaxInFlightBytes)
		switch {
		case hog && !s.fair.paused[i]:
			s.fair.paused[i] = true
			s.m.fairPaused.WithLabelValues(t).Set(1)
			if !s.paused {
				s.cl.PauseFetchTopics(t)
			}
		case !hog && s.fair.paused[i]:
			s.fair.paused[i] = false
			s.m.fairPaused.WithLabelValues(t).Set(0)
			if !s.paused {
				s.cl.ResumeFetchTopics(t)
			}
		}
	}
}

// fairIndex is topic's index in fairShare.topics (-1: not a data topic).
func (s *Service) fairIndex(topic string) int {
	for i, t := range s.fair.topics {
		if t == topic {
			return i
		}
	}
	return -1
}

// handle turns one record into documents. It never fails: what cannot be
// decoded or indexed is recorded on the record, which then goes to the DLQ.
func (s *Service) handle(kr *kgo.Record, now time.Time) {
	s.handleIn(kr, now, nil)
}

// handleIn is handle for a lane: nil for the normal topics, else the
// priority lane, whose records (logs) count against its own budget and
// whose documents go to its own sink.
func (s *Service) handleIn(kr *kgo.Record, now time.Time, lane *priorityLane) {
	signal, enc := signalLogs, s.cfg.Kafka.Logs.Encoding
	avgCost, sk := &s.avgCost, s.sink
	switch {
	case lane != nil:
		enc = s.cfg.Kafka.Priority.Encoding
		avgCost, sk = &lane.avgCost, lane.sink
	case kr.Topic == s.cfg.Kafka.Spans.Topic:
		signal, enc = signalSpans, s.cfg.Kafka.Spans.Encoding
	}
	// Read before a span record's headers are dropped below.
	seg, hb, isHB := s.canaryOf(kr, signal, enc, now)
	if signal == signalSpans {
		kr = ownSpanRecord(kr)
	}
	r := s.newRecord(kr, signal, lane, seg, hb)
	defer r.release()
	defer func() {
		// Exponentially weighted: adapts to the topics' record sizes.
		*avgCost = 0.8**avgCost + 0.2*float64(r.size.Load())
	}()
	defer func() {
		// pdata is robust against hostile input, but a pipeline that
		// crashes on one record would crash on it again after restart.
		if p := recover(); p != nil {
			s.log.Error("building documents panicked; record goes to the DLQ", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "panic", p)
			r.failed(failure{errType: "internal_error", reason: fmt.Sprint(p), last: time.Now()})
		}
	}()
	if isHB {
		if hb != nil {
			s.heartbeatDocs(r, now)
		}
		return
	}
	if s.empty(kr, signal) {
		return
	}
	opt := document.Options{Now: now, MaxFutureSkew: s.cfg.MaxFutureSkew, RecordTime: kr.Timestamp, SpanFields: s.spanFields}
	switch signal {
	case signalLogs:
		s.logDocs(r, enc, opt, sk)
	case signalSpans:
		s.spanDocs(r, enc, opt)
	}
}

// ownSpanRecord is a span record's own copy, its fetched one recycled.
//
// The value is kept until the record is finished (for the DLQ). It
// points into the buffer its batch was decompressed into
// (fetchBuffers), which goes back to the pool once every record of
// the batch is recycled. A log record is recycled when it is finished
// (Service.reuse): its documents are copies, and copying the value
// instead cost as much again in memory bandwidth and allocations. The
// rest of its batch's buffer, uncounted, is held as long as it is: the
// batches' records (collector requests) are finished in order, so
// that is mostly at most a batch per partition. A span record is copied and
// recycled at once: its spans, held for their trace's root, can keep
// it much longer. (Recycle zeroes *kr, so the record is copied too.)
func ownSpanRecord(kr *kgo.Record) *kgo.Record {
	own := *kr
	own.Value = bytes.Clone(kr.Value)
	own.Key = bytes.Clone(kr.Key)
	own.Headers = nil
	own.Context = nil
	kr.Recycle()
	return &own
}

// newRecord starts following kr: tracked for its offset's commit, its
// bytes counted in flight, and held by the handler.
func (s *Service) newRecord(kr *kgo.Record, signal string, lane *priorityLane, seg *canary.Segment, hb *canary.Heartbeat) *record {
	r := &record{s: s, kr: kr, signal: signal, share: &s.inFlightBy[0], seg: seg, hb: hb, lane: lane}
	switch {
	case lane != nil:
		r.share = nil // not one of the topics fairShare weighs
	case signal == signalSpans:
		r.share = &s.inFlightBy[1]
	}
	r.e = s.tracker.add(kr.Topic, kr.Partition, kr.Offset, kr.LeaderEpoch)
	r.e.rec = r
	r.account(len(kr.Value) + len(kr.Key))
	r.hold()
	return r
}

// empty reports (and counts) a record with no data.
//
// Not what the collector writes (it never sends an empty request), but
// nothing to index either: finished, so that its offset is committed, and
// counted rather than dead-lettered (replaying it could not help) or
// skipped unseen.
func (s *Service) empty(kr *kgo.Record, signal string) bool {
	if len(kr.Value) != 0 {
		return false
	}
	reason := emptyZeroLength
	if kr.Value == nil {
		reason = emptyNull
	}
	s.m.emptyRecords.WithLabelValues(signal, reason).Inc()
	s.log.Debug("record holds no data; nothing to index", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "reason", reason)
	return true
}

// minKeptChunk is the smallest span document chunk kept for reuse.
const minKeptChunk = 8 << 10

// logDocs builds a log record's documents and hands them to sk.
func (s *Service) logDocs(r *record, enc string, opt document.Options, sk *sink) {
	kr, now := r.kr, opt.Now
	opt.Head, opt.HeadID = s.logHead, s.logHeadID
	if s.router != nil {
		opt.Route, opt.RouteKeys = s.route, s.router.keys
	}
	opt.Chunk = func(n int) []byte {
		b := s.chunks.get(n)
		r.chunks = append(r.chunks, b)
		return b
	}
	docs, err := logDocuments(enc, kr.Value, opt)
	if err != nil {
		s.undecodable(kr, err)
		r.failed(failure{errType: dlq.ErrorTypeDecode, reason: err.Error(), last: now})
		return
	}
	// The record's items, in one allocation (they live as long as
	// it does), handed over at once (see emit).
	items := make([]item, len(docs))
	size := 0
	for i, d := range docs {
		index := s.cfg.Indices.LogsDataStream
		if d.Stream != nil {
			index = d.Stream.Index
		}
		items[i] = item{rec: r, kind: kindLog, index: index, id: d.ID, doc: d.Body, line: d.Line}
		size += items[i].cost()
	}
	if s.router != nil {
		s.router.counted(docs)
	}
	r.pending.Add(int32(len(items)))
	r.account(size)
	r.e.p.inSink.Add(int64(len(items)))
	sk.addAll(items)
}

// spanDocs builds a span record's documents (and feeds APM); each span
// waits in the trace buffer for its trace's root.
func (s *Service) spanDocs(r *record, enc string, opt document.Options) {
	kr, now := r.kr, opt.Now
	if s.apm != nil {
		s.apm.want(&opt)
	}
	// The documents are written into chunks of s.spanChunks, as a log
	// record's are into s.chunks, which go back to it when the record is
	// finished (Service.reuse). No document is then in a chunk that is
	// reused:
	// every span holds a reference on its record until its document is
	// indexed, held for its root in the trace buffer included (a span
	// dropped with its partition leaves its record unfinished, never
	// reused), and what the trace buffer keeps longer than the record
	// (trace ids, names, groups) is in the spans' own allocations, not in
	// the chunks (document.Span). A span may be held for the trace group
	// window, so a kept chunk is taken only when it fits (a large one held
	// that long would be memory the budget does not count); the smallest
	// (a record of one span) are allocated, and not kept.
	opt.Chunk = func(n int) []byte {
		if n < minKeptChunk {
			return make([]byte, 0, n)
		}
		b := s.spanChunks.getFit(n)
		r.chunks = append(r.chunks, b)
		return b
	}
	spans, errs, err := spanDocuments(enc, kr.Value, opt)
	if err != nil {
		s.undecodable(kr, err)
		r.failed(failure{errType: dlq.ErrorTypeDecode, reason: err.Error(), last: now})
		return
	}
	if s.apm != nil && !s.apm.addFacts(tp{kr.Topic, kr.Partition}, kr.Timestamp, now) {
		// An array or a map where the APM derivation reads a string: it
		// decodes the record once more.
		td, err := decodeTraces(enc, kr.Value)
		if err != nil {
			s.undecodable(kr, err)
			r.failed(failure{errType: dlq.ErrorTypeDecode, reason: err.Error(), last: now})
			return
		}
		s.apm.add(tp{kr.Topic, kr.Partition}, kr.Timestamp, now, td)
	}
	for _, err := range errs {
		r.failed(failure{errType: dlq.ErrorTypeInvalidSpan, reason: err.Error(), index: s.cfg.Indices.SpanAlias, last: now})
	}
	var out emission
	p := tp{kr.Topic, kr.Partition}
	for _, sp := range spans {
		r.hold()
		// Counted while held; the rendered document is counted again
		// when sent (an overestimate until the record finishes).
		r.account(sp.Size())
		s.traces.add(sp, r, p, now, &out)
	}
	s.emitTraces(&out)
}

func (s *Service) undecodable(kr *kgo.Record, err error) {
	s.log.Warn("record cannot be decoded; it goes to the DLQ", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "bytes", len(kr.Value), "err", err)
}

// emitTraces sends what the trace buffer released. Each entry carries one
// reference on its record, which the sink's item now holds.
func (s *Service) emitTraces(out *emission) {
	for _, e := range out.spans {
		s.emit(&item{rec: e.rec, kind: kindSpan, index: s.cfg.Indices.SpanAlias, id: e.sp.ID(), doc: e.sp.Render(e.g)})
	}
	for _, e := range out.edges {
		if e.rel.ServiceName == "" { // deduplicated: nothing to send
			e.rec.release()
			continue
		}
		s.emit(&item{rec: e.rec, kind: kindServiceMap, index: s.cfg.Indices.ServiceMap, id: e.rel.ID(), doc: e.rel.Render()})
	}
	for _, r := range out.repairs {
		if s.repairs == nil {
			r.rec.release()
			continue
		}
		s.repairs.add(r, time.Now())
	}
	out.spans, out.edges, out.repairs = nil, nil, nil
}

// itemOverhead approximates an item's own size and the sink's slot for it.
const itemOverhead = 128

// emit hands a document to the sink, with the reference on its record that
// the caller took.
func (s *Service) emit(it *item) {
	it.rec.account(it.cost())
	it.rec.e.p.inSink.Add(1)
	s.sink.add(it)
}

// The reasons of vigil_pipeline_empty_records_total.
const (
	emptyNull       = "null"  // no value: a Kafka tombstone
	emptyZeroLength = "empty" // a value of zero bytes
)

// errEmpty marks a payload that decoded to nothing: a non-empty record
// that holds no data is not what the collector writes.
var errEmpty = errors.New("decoded to an empty request")

// logDocuments decodes a logs record and builds its documents: protobuf
// straight from the wire (document.LogsOTLP), JSON through pdata.
func logDocuments(enc string, b []byte, opt document.Options) ([]document.Log, error) {
	var docs []document.Log
	if enc == EncodingJSON {
		ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
		if err != nil {
			return nil, fmt.Errorf("%s logs: %w", enc, err)
		}
		if docs, err = document.Logs(ld, opt); err != nil {
			return nil, fmt.Errorf("%s logs: %w", enc, err)
		}
	} else {
		var err error
		if docs, err = document.LogsOTLP(b, opt); err != nil {
			return nil, fmt.Errorf("%s logs: %w", enc, err)
		}
	}
	if len(docs) == 0 && len(b) > 0 {
		return nil, fmt.Errorf("%s logs: %w", enc, errEmpty)
	}
	return docs, nil
}

// spanDocuments builds the documents of a spans record: from its wire
// bytes (otlp_proto), or from its protobuf encoding (otlp_json). errs are
// the spans that cannot be indexed; err is for a record that cannot be
// decoded.
// decodeTraces is the record's traces as pdata.
func decodeTraces(enc string, b []byte) (ptrace.Traces, error) {
	var u ptrace.Unmarshaler = &ptrace.ProtoUnmarshaler{}
	if enc == EncodingJSON {
		u = &ptrace.JSONUnmarshaler{}
	}
	td, err := u.UnmarshalTraces(b)
	if err != nil {
		return td, fmt.Errorf("%s spans: %w", enc, err)
	}
	return td, nil
}

func spanDocuments(enc string, b []byte, opt document.Options) ([]*document.Span, []error, error) {
	raw := b
	if enc == EncodingJSON {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%s spans: %w", enc, err)
		}
		if raw, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(td); err != nil {
			return nil, nil, fmt.Errorf("%s spans: %w", enc, err)
		}
	}
	spans, errs, err := document.SpansOTLP(raw, opt)
	if err != nil {
		return nil, nil, fmt.Errorf("%s spans: %w", enc, err)
	}
	if len(spans)+len(errs) == 0 && len(b) > 0 {
		return nil, nil, fmt.Errorf("%s spans: %w", enc, errEmpty)
	}
	return spans, errs, nil
}
