package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vigil-dev/vigil/pipeline/failoverexec"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// Sides, as named in failover events (data.from, data.to).
const (
	sidePrimary = failoverexec.Primary
	sideStandby = failoverexec.Standby
)

// errSwitched marks a bulk request abandoned because writing moved to the
// other cluster while it waited: the sink re-sends it at once, to the new
// side.
var errSwitched = errors.New("sink switched to the other cluster")

// sides holds the primary and (with failover) the standby cluster and which
// of them receives writes. It is the sink's bulkClient: a switch applies to
// the next bulk request, and requests still waiting on the old side are
// cancelled so that their documents are re-sent to the new side at once
// instead of after the old side's request timeout.
type sides struct {
	names   []string
	clients []*opensearch.Client // [0] primary, [1] standby when configured

	mu      sync.Mutex
	active  int
	changed chan struct{} // closed and replaced at every switch
}

func newSides(clients ...*opensearch.Client) *sides {
	w := &sides{clients: clients, changed: make(chan struct{})}
	for i := range clients {
		w.names = append(w.names, sideName(i))
	}
	return w
}

func sideName(i int) string {
	if i == 0 {
		return sidePrimary
	}
	return sideStandby
}

func sideIndex(name string) (int, error) {
	switch name {
	case sidePrimary:
		return 0, nil
	case sideStandby:
		return 1, nil
	}
	return 0, fmt.Errorf("unknown side %q (want %s or %s)", name, sidePrimary, sideStandby)
}

// current returns the active side, its client and the channel closed at the
// next switch.
func (w *sides) current() (int, *opensearch.Client, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.active, w.clients[w.active], w.changed
}

// activeClient is the client that receives writes now.
func (w *sides) activeClient() *opensearch.Client {
	_, c, _ := w.current()
	return c
}

// switched returns a channel closed at the next switch.
func (w *sides) switched() <-chan struct{} {
	_, _, ch := w.current()
	return ch
}

// set makes side i the active one; it reports whether that changed anything.
func (w *sides) set(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active == i {
		return false
	}
	w.active = i
	close(w.changed)
	w.changed = make(chan struct{})
	return true
}

func (w *sides) close() {
	for _, c := range w.clients {
		c.Close()
	}
}

// Bulk sends to the active side.
func (w *sides) Bulk(ctx context.Context, body [][]byte, n int) ([]opensearch.ItemResult, error) {
	_, c, ch := w.current()
	if len(w.clients) == 1 {
		return c.Bulk(ctx, body, n)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
		}
	}()
	res, err := c.Bulk(ctx, body, n)
	if err != nil {
		select {
		case <-ch:
			// The old side may have indexed the request before it went
			// away: then its documents end up in both clusters, never
			// twice in one (docs/failover.md, "ambiguous requests").
			return nil, fmt.Errorf("%w: %w", errSwitched, err)
		default:
		}
	}
	return res, err
}
