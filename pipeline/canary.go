package pipeline

import (
	"encoding/json"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/pipeline/canary"
)

// canaryOf tells which heartbeat segment the record counts in (nil when
// canary tracking is off or the record names no collector) and whether it
// is a collector heartbeat (isHB), which is never indexed as user data. hb
// is the heartbeat whose document goes to the canary index: nil for one
// seen before (the collector wrote it twice after a produce error), which is
// only counted. A partition handed over again starts afresh (Forget): its
// heartbeats read again are indexed again, a 409 against their document.
func (s *Service) canaryOf(kr *kgo.Record, signal, enc string, now time.Time) (seg *canary.Segment, hb *canary.Heartbeat, isHB bool) {
	var instance string
	for _, h := range kr.Headers {
		switch h.Key {
		case events.HeaderCollector:
			instance = string(h.Value)
		case events.HeaderCanary:
			isHB = true
		}
	}
	data := func() (*canary.Segment, *canary.Heartbeat, bool) {
		if s.canaries == nil || instance == "" {
			return nil, nil, false
		}
		return s.canaries.Record(canary.Key{Instance: instance, Topic: kr.Topic, Partition: kr.Partition}), nil, false
	}
	if !isHB {
		return data()
	}
	h, err := canary.Parse(signal == signalSpans, enc == EncodingJSON, kr.Value)
	if err != nil {
		// Marked by the collector yet unreadable: indexed as user data
		// rather than dropped.
		s.log.Warn("record marked as heartbeat cannot be read as one; indexed as data", "topic", kr.Topic, "partition", kr.Partition, "offset", kr.Offset, "err", err)
		return data()
	}
	// The partition it arrived in is the one that counts: it is where the
	// collector's records it accounts for are.
	h.Topic, h.Partition = kr.Topic, kr.Partition
	if s.canaries == nil {
		return nil, &h, true
	}
	seg, dup := s.canaries.Heartbeat(h, now)
	if dup {
		return seg, nil, true
	}
	return seg, &h, true
}

// heartbeatDocs sends the heartbeat's document, and those of the windows it
// lets close, to the canary index, on the heartbeat's record: freshness is
// measured when they are indexed, and the record is committed only then.
func (s *Service) heartbeatDocs(r *record, now time.Time) {
	index := s.cfg.Indices.Canary
	id, doc := r.hb.Doc(r.kr.Offset)
	if b, err := json.Marshal(doc); err == nil {
		// "index" with the sequence number as external version: the
		// latest heartbeat replaces the one before (a heartbeat read again
		// is a 409, which counts as indexed).
		action, _ := json.Marshal(map[string]any{"index": map[string]any{"_index": index, "_id": id, "version": r.hb.Seq, "version_type": "external"}})
		line := append(append(append(action, '\n'), b...), '\n')
		r.hold()
		s.emit(&item{rec: r, kind: kindCanary, index: index, id: id, doc: b, line: line})
	}
	if s.canaries == nil {
		return
	}
	for _, w := range s.canaries.Close(now) {
		id, doc := w.Doc()
		b, err := json.Marshal(doc)
		if err != nil { // maps of strings and numbers: cannot happen
			r.failed(failure{errType: "internal_error", reason: err.Error(), index: index, last: now})
			continue
		}
		r.hold()
		s.emit(&item{rec: r, kind: kindCanary, index: index, id: id, doc: b})
	}
}

// canaryFinished counts a finished record in its heartbeat segment, and a
// heartbeat's freshness once its document is indexed.
func (s *Service) canaryFinished(r *record, indexed bool) {
	if r.seg != nil {
		r.seg.Done()
		r.seg = nil
	}
	if r.hb != nil && indexed && s.canaries != nil {
		s.canaries.Indexed(*r.hb, time.Now())
	}
}
