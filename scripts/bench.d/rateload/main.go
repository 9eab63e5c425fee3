// Command rateload offers log records to a collector over OTLP/gRPC at a
// fixed rate and measures how long each takes to become searchable in
// OpenSearch, for the end-to-end benchmark (scripts/bench.d/25-e2e.sh).
//
// Each record is one of internal/demo.Logs' (20 attributes, a 200-byte
// body, resource attributes as the collector adds them; about 1 KB) with
// its timestamp set to the nanosecond it is sent, unique per record. A
// poller searches the logs data stream every -poll for documents at or
// after the oldest record not yet seen (sorted by @timestamp, a date_nanos
// field, paged with search_after) and counts a record searchable at the
// poll that first returns it. Freshness is that poll's answer time minus
// the send time: it includes the index's refresh_interval and up to one
// poll interval.
//
//	go run ./scripts/bench.d/rateload -otlp 127.0.0.1:4317 -opensearch http://127.0.0.1:9200 -index vigil_logs-vigil-default -rate 5000 -duration 60s
//
// It prints one line of key=value pairs.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigil-dev/vigil/internal/demo"
)

func main() {
	otlp := flag.String("otlp", "127.0.0.1:4317", "collector's OTLP/gRPC endpoint")
	osURL := flag.String("opensearch", "http://127.0.0.1:9200", "OpenSearch URL")
	index := flag.String("index", "", "logs data stream to poll (required)")
	rate := flag.Int("rate", 5000, "log records per second")
	dur := flag.Duration("duration", 60*time.Second, "how long to send")
	drain := flag.Duration("drain", 60*time.Second, "how long to wait after sending for the rest to be searchable")
	poll := flag.Duration("poll", 200*time.Millisecond, "poll interval")
	tick := flag.Duration("tick", 10*time.Millisecond, "send interval (one OTLP request each)")
	flag.Parse()
	if *index == "" || *rate <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*otlp, *osURL, *index, *rate, *dur, *drain, *poll, *tick); err != nil {
		fmt.Fprintln(os.Stderr, "rateload:", err)
		os.Exit(1)
	}
}

// book holds the send times of records not yet seen, and the freshness of
// those seen.
type book struct {
	mu      sync.Mutex
	sent    []int64 // send times, ascending
	oldest  int     // sent[oldest] is the oldest not yet seen
	pending map[int64]bool
	fresh   []time.Duration
	last    int64
}

// stamp returns n unique, ascending send times from now.
func (b *book) stamp(n int) []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	ts := make([]int64, n)
	now := time.Now().UnixNano()
	for i := range ts {
		now = max(now, b.last+1)
		ts[i], b.last = now, now
		b.sent = append(b.sent, now)
		b.pending[now] = true
	}
	return ts
}

// seen records ts as searchable at at; it reports whether ts was pending.
func (b *book) seen(ts int64, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.pending[ts] {
		return
	}
	delete(b.pending, ts)
	b.fresh = append(b.fresh, at.Sub(time.Unix(0, ts)))
	for b.oldest < len(b.sent) && !b.pending[b.sent[b.oldest]] {
		b.oldest++
	}
}

func (b *book) from() (int64, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.oldest == len(b.sent) {
		return 0, 0
	}
	return b.sent[b.oldest], len(b.pending)
}

func run(otlp, osURL, index string, rate int, dur, drain, poll, tick time.Duration) error {
	ctx := context.Background()
	conn, err := grpc.NewClient(otlp, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	b := &book{pending: map[int64]bool{}}

	stop := make(chan struct{})
	var pollErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pollErr = poller(osURL, index, b, poll, stop)
	}()

	start := time.Now()
	sent, failed, seq := 0, 0, 0
	t := time.NewTicker(tick)
	for now := range t.C {
		el := now.Sub(start)
		if el >= dur {
			break
		}
		due := int(float64(rate)*el.Seconds()) - sent
		for due > 0 {
			// A sender that fell behind catches up in requests of at most
			// maxRequest records (the collector takes up to 4 MiB each).
			n := min(due, maxRequest)
			if err := send(ctx, client, b, n, seq, start); err != nil {
				failed += n
				fmt.Fprintln(os.Stderr, "rateload: export:", err)
			}
			seq += n
			sent += n
			due -= n
		}
	}
	t.Stop()
	sendSecs := time.Since(start).Seconds()
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		if _, n := b.from(); n == 0 {
			break
		}
		time.Sleep(poll)
	}
	close(stop)
	wg.Wait()
	if pollErr != nil {
		return pollErr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.fresh
	slices.Sort(f)
	q := func(p float64) string {
		if len(f) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", f[min(len(f)-1, int(p*float64(len(f))))].Seconds())
	}
	maxF := "-"
	if len(f) > 0 {
		maxF = fmt.Sprintf("%.2f", f[len(f)-1].Seconds())
	}
	// Indexing rate: records searchable within the sending window's length
	// after it began are not known per record; what is known is how many
	// were searchable by the end of the drain, and when the last one was.
	fmt.Printf("offered=%d sent=%d failed=%d send_secs=%.1f sent_rate=%.0f searchable=%d missing=%d p50=%s p99=%s max=%s\n",
		rate, sent, failed, sendSecs, float64(sent)/sendSecs, len(f), len(b.pending), q(0.50), q(0.99), maxF)
	return nil
}

// maxRequest is the most records sent in one OTLP request.
const maxRequest = 2000

// send offers n records stamped with their send time.
func send(ctx context.Context, client plogotlp.GRPCClient, b *book, n, seq int, start time.Time) error {
	ld := demo.Logs(n, seq, start, 1)
	ts := b.stamp(n)
	i := 0
	rls := ld.ResourceLogs()
	for r := 0; r < rls.Len(); r++ {
		lrs := rls.At(r).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			lrs.At(k).SetTimestamp(pcommon.Timestamp(ts[i]))
			lrs.At(k).SetObservedTimestamp(pcommon.Timestamp(ts[i]))
			i++
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := client.Export(cctx, plogotlp.NewExportRequestFromLogs(ld))
	return err
}

// poller searches index every interval for documents at or after the
// oldest pending record, until stop.
func poller(osURL, index string, b *book, interval time.Duration, stop <-chan struct{}) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
		from, n := b.from()
		if n == 0 {
			continue
		}
		if err := pollOnce(hc, osURL, index, from, b); err != nil {
			return err
		}
	}
}

func pollOnce(hc *http.Client, osURL, index string, from int64, b *book) error {
	// Every record's timestamp is unique, so the next page starts just
	// after the last one seen (search_after would take the sort value, in
	// nanoseconds, for milliseconds).
	op := "gte"
	for {
		q := map[string]any{
			"size":             10000,
			"_source":          false,
			"track_total_hits": false,
			"query":            map[string]any{"range": map[string]any{"@timestamp": map[string]any{op: time.Unix(0, from).UTC().Format(time.RFC3339Nano)}}},
			"sort":             []any{map[string]any{"@timestamp": "asc"}}, // date_nanos: sort values are nanoseconds
		}
		body, _ := json.Marshal(q)
		res, err := hc.Post(osURL+"/"+index+"/_search?ignore_unavailable=true&allow_no_indices=true", "application/json", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		at := time.Now()
		var r struct {
			Hits struct {
				Hits []struct {
					Sort []any `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		if res.StatusCode != http.StatusOK {
			// Not created yet, or its shards not yet started: the next
			// poll sees it.
			fmt.Fprintf(os.Stderr, "rateload: search: HTTP %d: %.300s\n", res.StatusCode, raw)
			return nil
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("search: decode: %w", err)
		}
		for _, h := range r.Hits.Hits {
			if len(h.Sort) == 0 {
				continue
			}
			n, _ := h.Sort[0].(json.Number)
			ts, err := n.Int64()
			if err != nil {
				return fmt.Errorf("sort value %v: %w", h.Sort[0], err)
			}
			b.seen(ts, at)
			from = ts
		}
		if len(r.Hits.Hits) < 10000 {
			return nil
		}
		op = "gt"
	}
}
