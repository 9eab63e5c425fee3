package pipeline

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/pipeline/dlq"
)

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
	now := time.Now()
	it.rec.failed(errType, reason, status, it.index, max(it.attempts, 1), it.first, now)
	it.rec.e.p.inSink.Add(-1)
	it.rec.release()
}

// finish is called once a record has no references left.
func (s *Service) finish(r *record) {
	f := r.failure()
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
	for _, c := range r.chunks {
		s.chunks.put(c)
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
