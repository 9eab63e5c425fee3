package pipeline

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchBuffers lends franz-go the buffers that fetched batches are
// decompressed into (kgo.PoolDecompressBytes). handle copies what it keeps
// of a record and recycles it, and a batch's buffer comes back here once
// all its records are recycled. Without it every batch (a collector batch
// of 2048 logs is 2 MB) was a fresh allocation, zeroed, and lz4's was
// decompressed into a scratch buffer and copied out once more
// (docs/benchmarks.md).
type fetchBuffers struct {
	free *freeList
	// ratio is the largest decompressed-to-compressed size ratio seen
	// (at most maxFetchRatio), to size a new buffer so that a batch
	// rarely has to grow it. A batch that outgrows its buffer grows it
	// (the codec does), and the grown one comes back here.
	ratio atomic.Int64
}

const (
	// minFetchBuffer keeps tiny batches from making many tiny buffers.
	minFetchBuffer = 64 << 10
	// maxFetchRatio keeps one highly compressible batch from sizing
	// every buffer after it by its ratio.
	maxFetchRatio = 16
)

func (p *fetchBuffers) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	// Any kept buffer will do: zstd grows one that is too small to the
	// batch's exact size, lz4 by doubling, and the grown one comes back.
	want := len(compressed) * int(max(p.ratio.Load(), 4))
	return p.free.take(max(want+want/8, minFetchBuffer))
}

// PutDecompressBytes takes back a buffer, zeroed by franz-go, at its full
// capacity.
func (p *fetchBuffers) PutDecompressBytes(b []byte) { p.free.put(b) }

// observe records a decompressed batch's size against its compressed size
// (from kgo's fetch batch metrics).
func (p *fetchBuffers) observe(m kgo.FetchBatchMetrics) {
	if m.CompressedBytes <= 0 || m.UncompressedBytes <= m.CompressedBytes {
		return
	}
	r := min(int64(m.UncompressedBytes/m.CompressedBytes)+1, maxFetchRatio)
	for {
		cur := p.ratio.Load()
		if r <= cur || p.ratio.CompareAndSwap(cur, r) {
			return
		}
	}
}

// OnFetchBatchRead is kgo.HookFetchBatchRead: it feeds observe.
func (p *fetchBuffers) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	p.observe(m)
}
