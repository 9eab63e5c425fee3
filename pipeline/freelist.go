package pipeline

// freeList keeps a few large buffers (document chunks, decompressed fetch
// batches, bulk lines) for reuse. Unlike a sync.Pool it is not emptied by garbage
// collections, which under the pipeline's 64 MiB memory limit run several
// times a second: the buffers went with them, and each was allocated and
// zeroed again (docs/benchmarks.md). It holds at most as many as it was
// made for, so it keeps no more memory than that many in use at once.
type freeList struct{ c chan []byte }

func newFreeList(n int) *freeList { return &freeList{c: make(chan []byte, n)} }

// get returns an empty buffer with room for size bytes.
func (l *freeList) get(size int) []byte {
	select {
	case b := <-l.c:
		if cap(b) >= size {
			return b[:0]
		}
	default:
	}
	// Headroom, so that the next, slightly larger need fits too.
	return make([]byte, 0, size+size/8)
}

// getFit is get for a buffer that may be held long: a kept one is taken
// only when it holds at most twice size (otherwise it stays kept).
func (l *freeList) getFit(size int) []byte {
	select {
	case b := <-l.c:
		if cap(b) >= size && cap(b) <= 2*size {
			return b[:0]
		}
		l.put(b)
	default:
	}
	return make([]byte, 0, size+size/8)
}

// take returns a kept buffer of any size, or a new one of size bytes: for
// a user that grows it as needed.
func (l *freeList) take(size int) []byte {
	select {
	case b := <-l.c:
		return b[:0]
	default:
	}
	return make([]byte, 0, size)
}

// put gives b back, or drops it when the list is full.
func (l *freeList) put(b []byte) {
	select {
	case l.c <- b[:0]:
	default:
	}
}
