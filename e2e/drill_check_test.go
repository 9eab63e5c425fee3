//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/pipeline/document"
)

// eventLog follows the health and failover topics from their start, with
// each event's Kafka record timestamp (when its publisher produced it).
type eventLog struct {
	mu        sync.Mutex
	health    []healthAt
	firstSeen map[string]time.Time // "failover.requested#1" -> first seen
	keys      []string
}

type healthAt struct {
	h  events.Health
	at time.Time
}

func watchEvents(t *testing.T, broker string, topics ...string) *eventLog {
	l := &eventLog{firstSeen: map[string]time.Time{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				ev, err := events.Parse(r)
				if err != nil {
					t.Errorf("drill: %v", err)
					return
				}
				if ev.Type() == events.DetectorHeartbeatType {
					return // the detector's heartbeat shares the health topic
				}
				l.mu.Lock()
				defer l.mu.Unlock()
				if ev.Type() == events.HealthChangedType {
					h, err := events.Data[events.Health](ev)
					if err == nil {
						l.health = append(l.health, healthAt{h, r.Timestamp})
					}
					return
				}
				if err := events.ValidateFailover(r.Value); err != nil {
					t.Errorf("drill: failover event against the schema: %v", err)
				}
				f, err := events.Data[events.Failover](ev)
				if err != nil {
					return
				}
				k := fmt.Sprintf("%s#%d", strings.TrimSuffix(strings.TrimPrefix(ev.Type(), "dev.vigil."), ".v1"), f.Generation)
				if _, ok := l.firstSeen[k]; !ok {
					l.firstSeen[k] = r.Timestamp
				}
				l.keys = append(l.keys, k)
			})
		}
	}()
	t.Cleanup(func() { cancel(); <-done; cl.Close() })
	return l
}

func (l *eventLog) lastHealth(target string) (events.Health, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.health) - 1; i >= 0; i-- {
		if l.health[i].h.Target == target {
			return l.health[i].h, true
		}
	}
	return events.Health{}, false
}

// healthAfter is the first event of target with status published at or
// after since.
func (l *eventLog) healthAfter(target string, status events.Status, since time.Time) (events.Health, time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.health {
		if e.h.Target == target && e.h.Status == status && !e.at.Before(since.Truncate(time.Millisecond)) {
			return e.h, e.at, true
		}
	}
	return events.Health{}, time.Time{}, false
}

func (l *eventLog) failover(key string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.firstSeen[key]
	return at, ok
}

// failoverKeys lists every failover event in topic order (duplicates
// included).
func (l *eventLog) failoverKeys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys)
}

// verifyExactlyOnce checks that every log record telemetrygen sent is in
// Kafka, and that every one of them is in exactly one of the two clusters,
// once: the expected document _ids are computed from the Kafka records with
// the pipeline's own document builder, and every _id of both clusters is
// listed (scroll), so a missing, an extra, a cross-cluster and an
// in-cluster duplicate all show.
func (d *drill) verifyExactlyOnce() {
	t := d.t
	// The collector may still be batching the last ones.
	var want map[string]struct{}
	d.await("every sent log record in Kafka", func() error {
		want = d.expectedIDs()
		if len(want) < int(d.sent.Load()) {
			return fmt.Errorf("%d of %d", len(want), d.sent.Load())
		}
		return nil
	})
	require.Equal(t, int(d.sent.Load()), len(want), "distinct log records in Kafka vs log records telemetrygen sent")
	d.await("every record indexed", func() error {
		p, err1 := d.count(d.primary)
		s, err2 := d.count(d.standby)
		if err := errorsJoin(err1, err2); err != nil {
			return err
		}
		if p+s < len(want) {
			return fmt.Errorf("%d on the primary + %d on the standby of %d", p, s, len(want))
		}
		return nil
	})
	onP, dupP := d.ids(d.primary)
	onS, dupS := d.ids(d.standby)
	var both, missing, extra int
	for id := range want {
		_, p := onP[id]
		_, s := onS[id]
		switch {
		case p && s:
			both++
		case !p && !s:
			missing++
		}
	}
	for _, m := range []map[string]struct{}{onP, onS} {
		for id := range m {
			if _, ok := want[id]; !ok {
				extra++
			}
		}
	}
	d.verified = fmt.Sprintf("%d log records sent by telemetrygen and in Kafka: %d on the primary, %d on the standby; "+
		"in both: %d, in neither: %d, unknown: %d, twice within a cluster: %d",
		len(want), len(onP), len(onS), both, missing, extra, dupP+dupS)
	t.Log("drill: " + d.verified)
	require.Zero(t, both, "records in both clusters")
	require.Zero(t, missing, "records in neither cluster")
	require.Zero(t, extra, "documents that are no sent record")
	require.Zero(t, dupP+dupS, "records indexed twice within a cluster")
	require.Equal(t, len(want), len(onP)+len(onS))
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// expectedIDs reads the logs topic to its end and returns the _id of every
// log record's document.
func (d *drill) expectedIDs() map[string]struct{} {
	t := d.t
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.broker), kgo.ConsumeTopics(d.topics.logs),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), d.topics.logs)
	require.NoError(t, err)
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	ids := map[string]struct{}{}
	records := 0
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err())
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			for _, h := range r.Headers {
				if h.Key == events.HeaderCanary {
					return // the collector's heartbeat: indexed apart, never as a log
				}
			}
			docs, err := document.LogsOTLP(r.Value, document.Options{Now: time.Now(), RecordTime: r.Timestamp})
			require.NoError(t, err)
			for _, l := range docs {
				ids[l.ID] = struct{}{}
				records++
			}
		})
	}
	require.Equal(t, records, len(ids), "log records whose documents are identical (the drill needs distinct ones)")
	return ids
}

// ids lists every document _id of the drill's logs on a cluster, and how
// many _ids were listed more than once.
func (d *drill) ids(base string) (map[string]struct{}, int) {
	t := d.t
	_, err := d.count(base) // refreshes
	require.NoError(t, err)
	out := map[string]struct{}{}
	dups := 0
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		defer resp.Body.Close()
		var v map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
		if resp.StatusCode == http.StatusNotFound {
			return nil
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %v", path, v)
		return v
	}
	res := post("/"+d.logsIndex+"/_search?scroll=1m", map[string]any{"size": 5000, "_source": false, "sort": []string{"_doc"}})
	for res != nil {
		hits := res["hits"].(map[string]any)["hits"].([]any)
		if len(hits) == 0 {
			break
		}
		for _, h := range hits {
			id := h.(map[string]any)["_id"].(string)
			if _, ok := out[id]; ok {
				dups++
			}
			out[id] = struct{}{}
		}
		res = post("/_search/scroll", map[string]any{"scroll": "1m", "scroll_id": res["_scroll_id"]})
	}
	return out, dups
}

// clusterVersion is the version an OpenSearch cluster reports, for the
// report ("" if it does not answer).
func clusterVersion(url string) string {
	res, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if json.NewDecoder(res.Body).Decode(&info) != nil {
		return ""
	}
	return info.Version.Number
}

// report prints the timeline and writes it as a markdown section to
// $VIGIL_DRILL_REPORT when set (scripts/bench.d/40-failover.sh).
func (d *drill) report(rounds ...*round) {
	var b strings.Builder
	fmt.Fprintf(&b, "## Failover drill: primary OpenSearch SIGKILLed under load\n\n")
	fmt.Fprintf(&b, "Command: `make drill` (or `scripts/bench.d/40-failover.sh`): `go test -tags e2e -run TestFailoverDrill ./e2e/` on real\n")
	fmt.Fprintf(&b, "Kafka, two single-node OpenSearch %s clusters and Prometheus (scrape interval 5 s), with `vigil collector`, `pipeline`\n", clusterVersion(d.standby))
	fmt.Fprintf(&b, "(health probe 1 s), `detector` (interval 1 s, rule `min(vigil_pipeline_opensearch_up{cluster=\"primary\"}) < 1`,\n")
	fmt.Fprintf(&b, "for %s, recover_for %s) and `alerting` (critical_for %s, dwell %s; Slack: slackfake), telemetrygen sending 25 logs/s.\n\n",
		drillFor, drillFor, drillCriticalFor, drillDwell)
	b.WriteString("| round | death → CRITICAL event | death → Slack incident | death → failover requested | death → failover completed | death → first document on the standby |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	sec := func(r *round, what string) string {
		if v, ok := r.get(what); ok {
			return fmt.Sprintf("%.1f s", v.Seconds())
		}
		return "—"
	}
	prefixed := func(r *round, prefix string) string {
		r.mu.Lock()
		var name string
		for _, m := range r.marks {
			if strings.HasPrefix(m.what, prefix) {
				name = m.what
				break
			}
		}
		r.mu.Unlock()
		return sec(r, name)
	}
	for _, r := range rounds {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.name, prefixed(r, "CRITICAL health event"), sec(r, markSlackParent),
			prefixed(r, "failover.requested"), prefixed(r, "failover.completed"), sec(r, markFirstStandbyDoc))
	}
	fmt.Fprintf(&b, "\nGoals: Slack post < the rule's for + 10 s (= %s); first document on the standby < 45 s.\n", drillFor+10*time.Second)
	fmt.Fprintf(&b, "The path to the Slack post is: pipeline probe (≤ 1 s) + Prometheus scrape (≤ 5 s) + the rule's for + detector interval (1 s).\n")
	fmt.Fprintf(&b, "alerting's critical_for (%s) counts from the CRITICAL event's since (when the condition began), so it runs\n", drillCriticalFor)
	b.WriteString("concurrently with the rule's for. Event times are the Kafka record timestamps; Slack and OpenSearch times are when\n")
	b.WriteString("the test's 100-200 ms polls first saw them.\n\n")
	for _, r := range rounds {
		fmt.Fprintf(&b, "Timeline, %s (seconds after the SIGKILL):\n\n", r.name)
		r.mu.Lock()
		marks := slices.Clone(r.marks)
		r.mu.Unlock()
		sort.SliceStable(marks, func(i, j int) bool { return marks[i].at.Before(marks[j].at) })
		for _, m := range marks {
			fmt.Fprintf(&b, "- %+7.1f s  %s\n", m.at.Sub(r.death).Seconds(), m.what)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Exactly once: %s.\n", d.verified)
	d.t.Log("\n" + b.String())
	if p := os.Getenv("VIGIL_DRILL_REPORT"); p != "" {
		require.NoError(d.t, os.WriteFile(p, []byte(b.String()), 0o644))
	}
}

// count is the drill's log document count on a cluster after a refresh; 0
// while the data stream does not exist there.
func (d *drill) count(base string) (int, error) {
	if resp, err := http.Post(base+"/"+d.logsIndex+"/_refresh?ignore_unavailable=true", "application/json", nil); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(base + "/" + d.logsIndex + "/_count")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, nil
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/_count: %s", d.logsIndex, resp.Status)
	}
	var c struct{ Count int }
	return c.Count, json.NewDecoder(resp.Body).Decode(&c)
}
