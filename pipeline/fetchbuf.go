package pipeline

import "github.com/twmb/franz-go/pkg/kgo"

// fetchBuffers lends franz-go the buffers that fetched batches are
// decompressed into (kgo.PoolDecompressBytes). handle copies what it keeps
// of a record and recycles it, and a batch's buffer comes back here once
// all its records are recycled. Without it every batch (a collector batch
// of 2048 logs is 2 MB) was a fresh allocation, zeroed, and lz4's was
// decompressed into a scratch buffer and copied out once more
// (docs/benchmarks.md).
type fetchBuffers struct{ free *freeList }

const (
	// minFetchBuffer keeps tiny batches from making many tiny buffers.
	minFetchBuffer = 64 << 10
	// fetchRatio guesses a new buffer's size from the compressed batch:
	// OTLP compresses 4-10x. A guess too small costs one growth.
	fetchRatio = 8
)

func (p *fetchBuffers) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	// Any kept buffer will do: zstd grows one that is too small to the
	// batch's exact size, lz4 by doubling, and the grown one comes back.
	return p.free.take(max(len(compressed)*fetchRatio, minFetchBuffer))
}

// PutDecompressBytes takes back a buffer, zeroed by franz-go, at its full
// capacity.
func (p *fetchBuffers) PutDecompressBytes(b []byte) { p.free.put(b) }
