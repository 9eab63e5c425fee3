package pipeline

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// fairShare keeps one topic's backlog from starving the other's. Drained
// together, the logs topic's large records filled the whole in-flight
// budget, and franz-go's fetches and polls handed out logs first: spans
// sat still until the logs backlog was through (pipeline/e2e
// TestFairDrain). So a topic that holds at least half of
// max_in_flight_bytes while the other topic has records waiting in Kafka
// is paused alone (PauseFetchTopics of that topic): polls go on, and
// bring the other topic's records into the room the first leaves. A topic
// alone at lag still gets the whole budget. Polling while one topic is
// paused drops what franz-go buffered of it, fetched again later: a cost
// paid only while both topics lag.
//
// It is used by the consume loop only.
type fairShare struct {
	topics [2]string
	// paused marks a topic paused for fairness (besides, or under, the
	// pause of all topics for backpressure).
	paused [2]bool
	// next is the offset after the last record fetched, per partition
	// (before any, the group's committed offset); lag is the records
	// behind the high watermark as of the last fetch that named the
	// partition.
	next map[tp]int64
	lag  map[tp]int64
	// committed returns the group's committed offsets
	// (kgo.Client.CommittedOffsets; nil in tests).
	committed func() map[string]map[int32]kgo.EpochOffset
	// atEnd: without a committed offset, consumption starts at the end
	// (kafka.reset_offset latest), not at the log start.
	atEnd bool
}

func newFairShare(logs, spans string) *fairShare {
	return &fairShare{topics: [2]string{logs, spans}, next: map[tp]int64{}, lag: map[tp]int64{}}
}

// observe takes the positions and high watermarks of a poll's partitions,
// those without records included (a fetch names them).
func (f *fairShare) observe(p kgo.FetchTopicPartition) {
	if p.Err != nil || (p.Topic != f.topics[0] && p.Topic != f.topics[1]) {
		return // e.g. the poll's own deadline, reported as a fetch error
	}
	k := tp{p.Topic, p.Partition}
	if n := len(p.Records); n > 0 {
		f.next[k] = p.Records[n-1].Offset + 1
	}
	next, ok := f.next[k]
	if !ok {
		// Named without records before any came: consumption starts
		// at the committed offset, else (reset to earliest) at the
		// log start.
		next = max(p.LogStartOffset, 0)
		if f.atEnd {
			next = p.HighWatermark
		}
		if f.committed != nil {
			if o, found := f.committed()[p.Topic][p.Partition]; found && o.Offset >= 0 {
				next = o.Offset
			}
		}
		f.next[k] = next
	}
	f.lag[k] = max(p.HighWatermark-next, 0)
}

// waiting reports whether topic i has records in Kafka not fetched yet, as
// far as the fetches so far tell (a fetch names every partition asked for,
// those with nothing to give included; a topic not named yet counts as
// not waiting, so that a topic nobody writes never holds the other back).
func (f *fairShare) waiting(i int) bool {
	for k, l := range f.lag {
		if k.topic == f.topics[i] && l > 0 {
			return true
		}
	}
	return false
}

// hog reports whether topic i should be paused for the other's sake: it
// holds half the budget (a paused one stays paused down to three eighths,
// so that it does not flap around the line) and the other is waiting.
func (f *fairShare) hog(i int, inFlight, budget int64) bool {
	line := budget / 2
	if f.paused[i] {
		line = budget * 3 / 8
	}
	return inFlight >= line && f.waiting(1-i)
}
