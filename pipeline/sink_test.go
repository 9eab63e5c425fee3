package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/pipeline/dlq"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// scriptedBulk answers bulk requests from a script: each step sees the
// documents of one request and returns per-item results or a whole-request
// error. Steps past the script succeed.
type scriptedBulk struct {
	mu    sync.Mutex
	steps []func(ids []string) ([]opensearch.ItemResult, error)
	calls [][]string
}

func (b *scriptedBulk) Bulk(_ context.Context, body [][]byte, n int) ([]opensearch.ItemResult, error) {
	var ids []string
	for _, line := range strings.Split(string(bytes.Join(body, nil)), "\n") {
		if i := strings.Index(line, `"_id":"`); i >= 0 && strings.HasPrefix(line, `{"create"`) {
			rest := line[i+7:]
			ids = append(ids, rest[:strings.IndexByte(rest, '"')])
		}
	}
	if len(ids) != n {
		panic("bad body")
	}
	b.mu.Lock()
	b.calls = append(b.calls, ids)
	var step func([]string) ([]opensearch.ItemResult, error)
	if len(b.steps) > 0 {
		step, b.steps = b.steps[0], b.steps[1:]
	}
	b.mu.Unlock()
	if step != nil {
		return step(ids)
	}
	return results(ids, 201, ""), nil
}

func results(ids []string, status int, errType string) []opensearch.ItemResult {
	out := make([]opensearch.ItemResult, len(ids))
	for i := range ids {
		out[i] = opensearch.ItemResult{Status: status, ErrType: errType, Class: opensearch.ClassifyItem(status, errType)}
	}
	return out
}

type outcome struct {
	done    map[string]bool // id -> duplicate
	failed  map[string]string
	mu      sync.Mutex
	settled chan struct{}
	want    int
}

func runSink(t *testing.T, b bulkClient, cfg BulkConfig, n int, feed func(s *sink)) (*outcome, *sink) {
	t.Helper()
	o := &outcome{done: map[string]bool{}, failed: map[string]string{}, settled: make(chan struct{}), want: n}
	s := newSink(cfg, RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxItemRetries: 3}, b, newMetrics(nil), slog.New(slog.NewTextHandler(io.Discard, nil)))
	check := func() {
		if len(o.done)+len(o.failed) == o.want {
			close(o.settled)
		}
	}
	s.done = func(run []*item, dup bool) {
		o.mu.Lock()
		for _, it := range run {
			o.done[it.id] = dup
			check()
		}
		o.mu.Unlock()
	}
	s.failed = func(it *item, errType, _ string, _ int) {
		o.mu.Lock()
		o.failed[it.id] = errType
		check()
		o.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { s.run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	feed(s)
	select {
	case <-o.settled:
	case <-time.After(30 * time.Second):
		t.Fatalf("not every document settled: %+v", o)
	}
	return o, s
}

func doc(id string) *item { return &item{kind: kindLog, index: "i", id: id, doc: []byte(`{"a":1}`)} }

func TestSinkOutcomes(t *testing.T) {
	cfg := BulkConfig{MaxBytes: 1 << 20, MaxDocs: 3, Linger: 5 * time.Millisecond, Concurrency: 2}
	for _, tc := range []struct {
		name       string
		steps      []func([]string) ([]opensearch.ItemResult, error)
		wantDone   map[string]bool
		wantFailed map[string]string
		minCalls   int
	}{
		{
			name:     "all created",
			wantDone: map[string]bool{"a": false, "b": false, "c": false},
			minCalls: 1,
		},
		{
			name: "409 is success",
			steps: []func([]string) ([]opensearch.ItemResult, error){func(ids []string) ([]opensearch.ItemResult, error) {
				return results(ids, 409, "version_conflict_engine_exception"), nil
			}},
			wantDone: map[string]bool{"a": true, "b": true, "c": true},
		},
		{
			name: "429 item retried, then created; mapping error dead-lettered at once",
			steps: []func([]string) ([]opensearch.ItemResult, error){func(ids []string) ([]opensearch.ItemResult, error) {
				r := results(ids, 201, "")
				r[0] = opensearch.ItemResult{Status: 429, ErrType: "es_rejected_execution_exception", Class: opensearch.Retry}
				r[1] = opensearch.ItemResult{Status: 400, ErrType: "mapper_parsing_exception", Class: opensearch.Permanent}
				return r, nil
			}},
			wantDone:   map[string]bool{"a": false, "c": false},
			wantFailed: map[string]string{"b": "mapper_parsing_exception"},
			minCalls:   2,
		},
		{
			name: "persistent 503 item: retries exhausted",
			steps: func() []func([]string) ([]opensearch.ItemResult, error) {
				var s []func([]string) ([]opensearch.ItemResult, error)
				for range 4 {
					s = append(s, func(ids []string) ([]opensearch.ItemResult, error) {
						r := results(ids, 201, "")
						for i, id := range ids {
							if id == "a" {
								r[i] = opensearch.ItemResult{Status: 503, Class: opensearch.Retry}
							}
						}
						return r, nil
					})
				}
				return s
			}(),
			wantDone:   map[string]bool{"b": false, "c": false},
			wantFailed: map[string]string{"a": dlq.ErrorTypeRetriesExhausted},
			minCalls:   4,
		},
		{
			name: "whole request refused, then accepted",
			steps: []func([]string) ([]opensearch.ItemResult, error){
				func([]string) ([]opensearch.ItemResult, error) {
					return nil, &opensearch.BulkError{Err: errors.New("connection refused")}
				},
				func([]string) ([]opensearch.ItemResult, error) { return nil, &opensearch.BulkError{Status: 503} },
			},
			wantDone: map[string]bool{"a": false, "b": false, "c": false},
			minCalls: 3,
		},
		{
			name: "413 splits the batch",
			steps: []func([]string) ([]opensearch.ItemResult, error){
				func([]string) ([]opensearch.ItemResult, error) { return nil, &opensearch.BulkError{Status: 413} },
				func([]string) ([]opensearch.ItemResult, error) { return nil, &opensearch.BulkError{Status: 413} },
			},
			wantDone:   map[string]bool{"b": false, "c": false},
			wantFailed: map[string]string{"a": "request_too_large"},
			minCalls:   3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &scriptedBulk{steps: tc.steps}
			want := len(tc.wantDone) + len(tc.wantFailed)
			o, s := runSink(t, b, cfg, want, func(s *sink) {
				for _, id := range []string{"a", "b", "c"} {
					s.add(doc(id))
				}
			})
			if tc.wantDone == nil {
				tc.wantDone = map[string]bool{}
			}
			if tc.wantFailed == nil {
				tc.wantFailed = map[string]string{}
			}
			require.Equal(t, tc.wantDone, o.done)
			require.Equal(t, tc.wantFailed, o.failed)
			require.GreaterOrEqual(t, len(b.calls), tc.minCalls)
			require.False(t, s.down.Load(), "a success clears the down flag")
		})
	}
}

func TestSinkBatchesByDocsBytesAndLinger(t *testing.T) {
	b := &scriptedBulk{}
	cfg := BulkConfig{MaxBytes: 1024, MaxDocs: 4, Linger: 20 * time.Millisecond, Concurrency: 1}
	big := &item{kind: kindLog, index: "i", id: "big", doc: []byte(`{"x":"` + strings.Repeat("y", 900) + `"}`)}
	_, _ = runSink(t, b, cfg, 9, func(s *sink) {
		for _, id := range []string{"1", "2", "3", "4", "5"} { // 4 by count, then 1
			s.add(doc(id))
		}
		s.add(big) // does not fit with "5": seals it
		for _, id := range []string{"6", "7", "8"} {
			s.add(doc(id))
		}
	})
	var sizes []int
	for _, c := range b.calls {
		sizes = append(sizes, len(c))
	}
	require.Equal(t, []string{"1", "2", "3", "4"}, b.calls[0], "sealed at max_docs")
	require.Equal(t, []string{"5"}, b.calls[1], "sealed when the next document would pass max_bytes")
	require.Equal(t, "big", b.calls[2][0])
	total := 0
	for _, n := range sizes {
		total += n
	}
	require.Equal(t, 9, total, "the rest went out on linger: %v", sizes)
}

// TestSinkLingerWaitsForAFreeSlot: while the only bulk slot is busy (a slow
// cluster), documents past their linger are not sealed into linger-sized
// bulks that queue behind it; they fill one bulk, sent when the slot frees.
func TestSinkLingerWaitsForAFreeSlot(t *testing.T) {
	release := make(chan struct{})
	b := &scriptedBulk{steps: []func([]string) ([]opensearch.ItemResult, error){
		func(ids []string) ([]opensearch.ItemResult, error) {
			<-release
			return results(ids, 201, ""), nil
		},
	}}
	cfg := BulkConfig{MaxBytes: 1 << 20, MaxDocs: 100, Linger: 5 * time.Millisecond, Concurrency: 1}
	_, _ = runSink(t, b, cfg, 6, func(s *sink) {
		s.add(doc("a"))
		for {
			b.mu.Lock()
			sent := len(b.calls)
			b.mu.Unlock()
			if sent == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		// Each waits out several lingers while the slot is busy.
		for _, id := range []string{"b", "c", "d", "e", "f"} {
			s.add(doc(id))
			time.Sleep(4 * cfg.Linger)
		}
		close(release)
	})
	require.Equal(t, [][]string{{"a"}, {"b", "c", "d", "e", "f"}}, b.calls)
}
