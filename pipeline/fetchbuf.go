package pipeline

import (
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchBuffers lends franz-go the buffers that fetched batches are
// decompressed into (kgo.PoolDecompressBytes). A record is recycled once
// nothing reads its value any more (a log record when it is finished, a
// span record once copied: see handle), and a batch's buffer comes back
// here once all its records are recycled. Without it every batch (a collector batch
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

// decompressor decompresses fetched batches into fetchBuffers: zstd, the
// collector's codec and a tenth of the pipeline's CPU, with decoders that
// skip the frame checksum (the batch's CRC-32C, which franz-go checks,
// already covers every compressed byte) and keep their tables between
// batches (franz-go's are low-memory); other codecs as franz-go does.
type decompressor struct {
	fb    *fetchBuffers
	other kgo.Decompressor
	// zstd keeps idle decoders: batches are decompressed on the
	// brokers' connection goroutines, a few at once at most.
	zstd chan *zstd.Decoder
}

// maxDecompressedBatch is franz-go's default bound on one batch.
const maxDecompressedBatch = 1 << 30

func newDecompressor(fb *fetchBuffers) *decompressor {
	return &decompressor{fb: fb, other: kgo.DefaultDecompressor(fb), zstd: make(chan *zstd.Decoder, 4)}
}

func (d *decompressor) Decompress(src []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	if codec != kgo.CodecZstd {
		return d.other.Decompress(src, codec)
	}
	var dec *zstd.Decoder
	select {
	case dec = <-d.zstd:
	default:
		var err error
		dec, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(maxDecompressedBatch),
			zstd.IgnoreChecksum(true))
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
	}
	dst := d.fb.GetDecompressBytes(src, codec)
	out, err := dec.DecodeAll(src, dst[:0])
	select {
	case d.zstd <- dec:
	default:
		dec.Close()
	}
	if err != nil {
		// No record will recycle it.
		d.fb.PutDecompressBytes(dst)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			err = fmt.Errorf("%w: %w", kgo.ErrMaxDecompress, err)
		}
		return nil, err
	}
	return out, nil
}
