package canary

import (
	"bytes"
	"context"
	"hash/fnv"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/component"

	"github.com/vigil-dev/vigil/internal/events"
)

// HeaderCanary marks a heartbeat record (internal/events).
const HeaderCanary = events.HeaderCanary

// routeKey is the resource attribute that carries the route marker.
const routeKey = "vigil.canary.route"

// routePrefix starts every route marker. It is not secret: a record whose
// bytes hold a marker is only routed and marked; the pipeline takes it for a
// heartbeat only if its resource carries the heartbeat attributes, which the
// shipped resource processor deletes from the data of OTLP clients
// (vigil.canary.*). Markers of earlier runs must be recognised too: their
// heartbeats wait in the persistent queue across a restart.
var routePrefix = []byte("vigil-canary:")

// route is the marker a heartbeat for partition p carries.
func route(p int) string { return string(routePrefix) + strconv.Itoa(p) + ";" }

// maxCanaryBytes bounds the records searched for a marker: a heartbeat is a
// few hundred bytes, user batches are larger and are not searched.
const maxCanaryBytes = 4096

// partitionOf returns the partition a record's route marker names, if any.
func partitionOf(v []byte) (int, bool) {
	if len(v) > maxCanaryBytes {
		return 0, false
	}
	i := bytes.Index(v, routePrefix)
	if i < 0 {
		return 0, false
	}
	rest := v[i+len(routePrefix):]
	j := bytes.IndexByte(rest, ';')
	if j < 0 {
		return 0, false
	}
	p, err := strconv.Atoi(string(rest[:j]))
	if err != nil || p < 0 {
		return 0, false
	}
	return p, true
}

// partitions remembers each topic's partition count, as franz-go reports it
// to the partitioner, for the receivers.
var partitions = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func partitionCount(topic string) int {
	partitions.Lock()
	defer partitions.Unlock()
	return max(partitions.n[topic], 1)
}

func notePartitions(topic string, n int) {
	partitions.Lock()
	partitions.n[topic] = n
	partitions.Unlock()
}

// partitioner is the vigil_canary_partitioner extension.
type partitioner struct{ inner kgo.Partitioner }

func newPartitioner() *partitioner {
	// The kafka exporter's default: Sarama-compatible FNV-1a key hash,
	// sticky for records without key.
	return &partitioner{inner: kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(func(b []byte) uint32 {
		h := fnv.New32a()
		h.Write(b)
		return h.Sum32()
	}))}
}

func (p *partitioner) Start(context.Context, component.Host) error { return nil }
func (p *partitioner) Shutdown(context.Context) error              { return nil }

// GetPartitioner implements the kafka exporter's RecordPartitionerExtension.
func (p *partitioner) GetPartitioner() kgo.Partitioner { return p }

// ForTopic implements kgo.Partitioner.
func (p *partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &topicPartitioner{topic: topic, inner: p.inner.ForTopic(topic)}
}

type topicPartitioner struct {
	topic string
	inner kgo.TopicPartitioner
	known int
}

func (t *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := partitionOf(r.Value); ok {
		return true
	}
	return t.inner.RequiresConsistency(r)
}

func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	if n != t.known {
		t.known = n
		notePartitions(t.topic, n)
	}
	if p, ok := partitionOf(r.Value); ok && p < n {
		// The exporter shares one header slice among a request's records
		// (its length is its capacity), so append copies.
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderCanary, Value: []byte("1")})
		return p
	}
	return t.inner.Partition(r, n)
}

// OnNewBatch forwards to the sticky partitioner, which switches partitions
// for keyless records when a batch fills.
func (t *topicPartitioner) OnNewBatch() {
	if nb, ok := t.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
