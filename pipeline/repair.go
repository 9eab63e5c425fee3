package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// groupRepairs gives spans that were indexed without their trace group
// (their root came after the window, or they were released early to bound
// memory) the group once the root has come: traceBuffer asks for a repair
// (repairOut), and after repair_delay a pass searches the span indices for
// the trace's documents without traceGroup and updates them by _id (bulk
// "update" of traceGroup and traceGroupFields only), again every
// repair_delay until a pass finds none. Search plus bulk update works on
// every supported OpenSearch; _update_by_query needs the reindex module,
// which minimal distributions lack.
//
// Exactly once: an update never creates a document (no upsert; a document
// gone meanwhile, e.g. deleted by ISM, is a 404 and skipped) and writing
// the same group twice changes nothing. Restart-safe: a repair holds a
// reference on the root span's record, so the record's offset is not
// committed until the repair is done; a pipeline killed before that reads
// the root again and repairs again (the root's duration, longer than the
// window, asks for it even though the restarted buffer has forgotten which
// traces released spans).
//
// Passes of repairs due at the same time share one search (a terms query
// on up to repairBatch trace ids) and one bulk request per page.
type groupRepairs struct {
	client  func() *opensearch.Client
	pattern string // the span indices, behind and before the write alias
	delay   time.Duration
	m       *metrics
	log     *slog.Logger

	mu      sync.Mutex
	pending []*groupRepair
	wake    chan struct{}
}

type groupRepair struct {
	repairOut
	due    time.Time
	passes int
	fixed  int
	errors int
}

const (
	// repairBatch bounds the trace ids of one search.
	repairBatch = 100
	// repairPage is the search page size (and so a bulk's documents).
	repairPage = 1000
	// maxRepairPasses ends a repair whose spans keep matching (an index
	// whose refresh is off never shows the update): the updates were
	// made, the record may be committed.
	maxRepairPasses = 10
)

func newGroupRepairs(client func() *opensearch.Client, spanAlias string, delay time.Duration, m *metrics, log *slog.Logger) *groupRepairs {
	return &groupRepairs{client: client, pattern: spanAlias + "-*", delay: delay, m: m, log: log, wake: make(chan struct{}, 1)}
}

// add queues a repair; its reference on the root's record is released when
// the repair is done (never, if the pipeline stops first).
func (g *groupRepairs) add(r repairOut, now time.Time) {
	g.mu.Lock()
	g.pending = append(g.pending, &groupRepair{repairOut: r, due: now.Add(g.delay)})
	g.mu.Unlock()
	g.m.repairsPending.Inc()
}

// run makes the passes that are due until ctx ends.
func (g *groupRepairs) run(ctx context.Context) {
	tick := time.NewTicker(max(g.delay/5, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for ctx.Err() == nil {
			batch := g.due(time.Now())
			if len(batch) == 0 {
				break
			}
			g.pass(ctx, batch)
		}
	}
}

// due takes up to repairBatch repairs whose pass is due.
func (g *groupRepairs) due(now time.Time) []*groupRepair {
	g.mu.Lock()
	defer g.mu.Unlock()
	var batch []*groupRepair
	keep := g.pending[:0]
	for _, r := range g.pending {
		if len(batch) < repairBatch && !r.due.After(now) {
			batch = append(batch, r)
			continue
		}
		keep = append(keep, r)
	}
	clear(g.pending[len(keep):])
	g.pending = keep
	return batch
}

// pass searches and updates the batch's spans without group, then finishes
// the repairs that found none (or ran out of passes) and queues the rest
// for another pass.
func (g *groupRepairs) pass(ctx context.Context, batch []*groupRepair) {
	byID := make(map[string]*groupRepair, len(batch))
	for _, r := range batch {
		byID[r.traceID] = r
	}
	found, err := g.update(ctx, byID)
	now := time.Now()
	var again []*groupRepair
	for _, r := range batch {
		if err != nil {
			r.errors++
			r.due = now.Add(min(g.delay<<min(r.errors, 6), time.Minute))
			again = append(again, r)
			continue
		}
		r.passes++
		n := found[r.traceID]
		r.fixed += n
		g.m.repairedSpans.Add(float64(n))
		if n > 0 && r.passes < maxRepairPasses {
			r.due = now.Add(g.delay)
			again = append(again, r)
			continue
		}
		result := "repaired"
		if r.fixed == 0 {
			result = "nothing_found"
		}
		g.m.repairs.WithLabelValues(result).Inc()
		g.m.repairsPending.Dec()
		if r.fixed > 0 {
			g.log.Debug("trace group repaired", "trace_id", r.traceID, "trace_group", r.g.Name, "spans", r.fixed, "passes", r.passes)
		}
		r.rec.release()
	}
	if err != nil {
		g.m.repairErrors.Inc()
		if ctx.Err() == nil {
			g.log.Warn("trace group repair failed; retrying", "traces", len(batch), "err", err)
		}
	}
	if len(again) > 0 {
		g.mu.Lock()
		g.pending = append(g.pending, again...)
		g.mu.Unlock()
	}
}

// update gives every span of the repairs' traces that has no traceGroup
// its trace's group and returns how many each trace had.
func (g *groupRepairs) update(ctx context.Context, byID map[string]*groupRepair) (map[string]int, error) {
	c := g.client()
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	found := map[string]int{}
	var after []any
	for {
		q := map[string]any{
			"size":             repairPage,
			"_source":          false,
			"track_total_hits": false,
			// traceId first: a hit's sort values name its trace.
			"sort": []any{map[string]any{"traceId": "asc"}, map[string]any{"spanId": "asc"}},
			"query": map[string]any{"bool": map[string]any{
				"filter":   []any{map[string]any{"terms": map[string]any{"traceId": ids}}},
				"must_not": []any{map[string]any{"exists": map[string]any{"field": "traceGroup"}}},
			}},
		}
		if after != nil {
			q["search_after"] = after
		}
		body, err := json.Marshal(q)
		if err != nil {
			return nil, fmt.Errorf("search query: %w", err)
		}
		res, err := c.Do(ctx, http.MethodPost, "/"+g.pattern+"/_search?ignore_unavailable=true&allow_no_indices=true", body)
		if err != nil {
			return nil, fmt.Errorf("search spans without group: %w", err)
		}
		if res.Status != http.StatusOK {
			return nil, fmt.Errorf("search spans without group: HTTP %d: %s", res.Status, truncate(string(res.Body), 300))
		}
		var sr struct {
			Hits struct {
				Hits []struct {
					Index string `json:"_index"`
					ID    string `json:"_id"`
					Sort  []any  `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(res.Body, &sr); err != nil {
			return nil, fmt.Errorf("search spans without group: decode: %w", err)
		}
		hits := sr.Hits.Hits
		if len(hits) == 0 {
			return found, nil
		}
		var bulk bytes.Buffer
		n := 0
		for _, h := range hits {
			tid, _ := h.Sort[0].(string)
			r := byID[tid]
			if r == nil {
				continue
			}
			action, _ := json.Marshal(map[string]any{"update": map[string]any{"_index": h.Index, "_id": h.ID, "retry_on_conflict": 3}})
			bulk.Write(action)
			bulk.WriteString("\n{\"doc\":")
			bulk.Write(r.g.UpdateDoc())
			bulk.WriteString("}\n")
			found[tid]++
			n++
		}
		if err := g.bulk(ctx, c, bulk.Bytes(), n); err != nil {
			return nil, err
		}
		if len(hits) < repairPage {
			return found, nil
		}
		after = hits[len(hits)-1].Sort
	}
}

// bulk sends the updates; a missing document (404) is fine, anything else
// that failed fails the pass (to be made again: updates are idempotent).
func (g *groupRepairs) bulk(ctx context.Context, c *opensearch.Client, body []byte, n int) error {
	if n == 0 {
		return nil
	}
	res, err := c.Do(ctx, http.MethodPost, "/_bulk", body)
	if err != nil {
		return fmt.Errorf("update spans: %w", err)
	}
	if res.Status != http.StatusOK {
		return fmt.Errorf("update spans: HTTP %d: %s", res.Status, truncate(string(res.Body), 300))
	}
	var br struct {
		Errors bool `json:"errors"`
		Items  []struct {
			Update struct {
				Status int `json:"status"`
				Error  *struct {
					Type   string `json:"type"`
					Reason string `json:"reason"`
				} `json:"error"`
			} `json:"update"`
		} `json:"items"`
	}
	if err := json.Unmarshal(res.Body, &br); err != nil {
		return fmt.Errorf("update spans: decode: %w", err)
	}
	if len(br.Items) != n {
		return fmt.Errorf("update spans: response has %d items, request had %d", len(br.Items), n)
	}
	for _, it := range br.Items {
		u := it.Update
		if u.Status == http.StatusNotFound || (u.Status >= 200 && u.Status < 300) {
			continue
		}
		reason := ""
		if u.Error != nil {
			reason = u.Error.Type + ": " + u.Error.Reason
		}
		return fmt.Errorf("update spans: a document failed with HTTP %d: %s", u.Status, truncate(reason, 300))
	}
	return nil
}
