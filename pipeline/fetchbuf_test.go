package pipeline

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDecompressor: zstd batches decompress into the fetch buffers, other
// codecs as franz-go does, and a corrupt batch is an error whose buffer
// goes back.
func TestDecompressor(t *testing.T) {
	fb := &fetchBuffers{free: newFreeList(4)}
	d := newDecompressor(fb)
	want := bytes.Repeat([]byte("a log record, "), 10000)

	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	z := enc.EncodeAll(want, nil)
	for range 3 { // the decoder is kept and used again
		got, err := d.Decompress(z, kgo.CodecZstd)
		require.NoError(t, err)
		require.Equal(t, want, got)
		fb.PutDecompressBytes(got)
	}
	kept := <-fb.free.c
	require.GreaterOrEqual(t, cap(kept), len(want), "decompressed into a fetch buffer")

	var lz bytes.Buffer
	w := lz4.NewWriter(&lz)
	_, err = w.Write(want)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	got, err := d.Decompress(lz.Bytes(), kgo.CodecLz4)
	require.NoError(t, err)
	require.Equal(t, want, got)

	bad := bytes.Clone(z)
	bad[len(bad)/2] ^= 0xff
	bad = bad[:len(bad)-3]
	_, err = d.Decompress(bad, kgo.CodecZstd)
	require.Error(t, err)
	require.Len(t, fb.free.c, 1, "the failed batch's buffer is back")
}
