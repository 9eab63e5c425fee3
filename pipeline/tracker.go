package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tracker holds, per partition, the records taken from Kafka that are not yet
// finished (indexed or dead-lettered), and computes the offset that may be
// committed: the offset of the oldest unfinished record, or one past the
// newest record when all are finished. Records finish in any order (bulks run
// concurrently, spans wait for their trace's root); the committed offset only
// ever covers a contiguous run of finished records, so a crash re-reads every
// record not yet safely in OpenSearch and nothing else.
type tracker struct {
	mu    sync.Mutex
	parts map[tp]*partition
}

type tp struct {
	topic     string
	partition int32
}

type partition struct {
	// entries are the unfinished-or-not-yet-trimmed records in offset order.
	entries []*entry
	// next is the committable position; committed is what was last handed
	// out by committable.
	next, committed kgo.EpochOffset
	removed         bool
	// inSink counts this partition's documents handed to the bulk sink (and
	// DLQ produces) not yet finished: what a revoke waits for.
	inSink atomic.Int64
}

// entry is one record's slot in its partition.
type entry struct {
	p      *partition
	offset int64
	epoch  int32
	done   bool
	// rec is the pipeline's record (nil in tests).
	rec *record
}

func newTracker() *tracker { return &tracker{parts: map[tp]*partition{}} }

// add registers a record taken from Kafka. Records of one partition must be
// added in offset order (which is how Kafka delivers them).
func (t *tracker) add(topic string, part int32, offset int64, epoch int32) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := tp{topic, part}
	p := t.parts[k]
	if p == nil {
		p = &partition{next: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: kgo.EpochOffset{Epoch: -1, Offset: -1}}
		t.parts[k] = p
	}
	e := &entry{p: p, offset: offset, epoch: epoch}
	p.entries = append(p.entries, e)
	return e
}

// done marks a record finished and advances its partition's watermark over
// every leading finished record. Done on a record of a removed partition
// (revoked while the record was in flight) is ignored. Safe to call twice.
func (t *tracker) done(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.done || e.p.removed {
		return
	}
	e.done = true
	p := e.p
	i := 0
	for i < len(p.entries) && p.entries[i].done {
		p.next = kgo.EpochOffset{Epoch: p.entries[i].epoch, Offset: p.entries[i].offset + 1}
		i++
	}
	if i > 0 {
		clear(p.entries[:i])
		p.entries = p.entries[i:]
	}
}

// committable returns the offsets that advanced since the last call, for
// the given topic-partitions (all when only is nil).
func (t *tracker) committable(only map[string][]int32) map[string]map[int32]kgo.EpochOffset {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[int32]kgo.EpochOffset{}
	for k, p := range t.parts {
		if only != nil && !contains(only[k.topic], k.partition) {
			continue
		}
		if p.next.Offset < 0 || p.next == p.committed {
			continue
		}
		if out[k.topic] == nil {
			out[k.topic] = map[int32]kgo.EpochOffset{}
		}
		out[k.topic][k.partition] = p.next
	}
	return out
}

// committed records that offsets were committed, so that they are not
// committed again.
func (t *tracker) committed(offsets map[string]map[int32]kgo.EpochOffset) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, ps := range offsets {
		for part, eo := range ps {
			if p := t.parts[tp{topic, part}]; p != nil && !p.removed {
				p.committed = eo
			}
		}
	}
}

// pending returns how many unfinished records a partition holds.
func (t *tracker) pending(topic string, part int32) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.parts[tp{topic, part}]
	if p == nil {
		return 0
	}
	n := 0
	for _, e := range p.entries {
		if !e.done {
			n++
		}
	}
	return n
}

// remove forgets partitions (revoked or lost) and returns their unfinished
// entries; late completions of their records are ignored from now on.
func (t *tracker) remove(parts map[string][]int32) []*entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*entry
	for topic, ps := range parts {
		for _, part := range ps {
			k := tp{topic, part}
			if p := t.parts[k]; p != nil {
				p.removed = true
				delete(t.parts, k)
				for _, e := range p.entries {
					if !e.done {
						out = append(out, e)
					}
				}
			}
		}
	}
	return out
}

// inSink reports whether any of the partitions (all when nil) has documents
// in the sink.
func (t *tracker) inSink(parts map[string][]int32) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, p := range t.parts {
		if parts != nil && !contains(parts[k.topic], k.partition) {
			continue
		}
		if p.inSink.Load() > 0 {
			return true
		}
	}
	return false
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
