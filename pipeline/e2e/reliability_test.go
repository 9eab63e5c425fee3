//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// The reliability drills: a Kafka broker and a pipeline replica SIGKILLed
// under a steady load of uniquely numbered log records (collector -> Kafka
// -> pipeline -> OpenSearch, the real processes), each checked for exactly
// once (count, terms min_doc_count 2, composite distinct count) and each
// printing its figures: records sent and indexed, duplicates, and how long
// the event held up indexing. docs/benchmarks.md ("Reliability") keeps the
// figures of a run.
//
// How long indexing paused is read from the consumer group's committed
// offsets, sampled every 500 ms: a partition stalls from the first sample
// that finds records beyond its committed offset until the committed offset
// moves. The pipeline commits every 2 s (commit_interval), so stalls of
// about 2-3 s are its ordinary cadence; the drill prints that baseline
// beside the stall that overlaps each event.

const (
	drillBatch    = 250                    // log records per OTLP request
	drillEvery    = 200 * time.Millisecond // one request per tick: 1,250 records/s
	drillLimit    = 200_000                // a bound on the load, never reached in a normal run
	drillSample   = 500 * time.Millisecond
	drillEventWin = 10 * time.Second // a stall starting this soon after an event is the event's
)

// TestKafkaBrokerKilled (scale-out drill a): three Kafka brokers (KRaft,
// replication factor 3, min.insync.replicas 2). Under load, the broker that
// leads most of the logs topic's partitions is SIGKILLed, left down for
// 15 s and restarted. The collector (acks=all, idempotent producer: the
// shipped configs/collector.yaml) and the pipeline carry on without a
// restart; every record is indexed exactly once and is in Kafka. How many
// log records Kafka holds twice (a producer retry the broker did not
// recognise as one; the pipeline's content-derived ids would merge them) is
// counted and printed.
func TestKafkaBrokerKilled(t *testing.T) {
	brokers := testinfra.KafkaCluster(t)
	s := newStackOn(t, brokers, 3, 6)
	adm := s.kadmin(t)
	c := s.startCollector()
	p := s.startPipeline("")
	s.waitGroup(adm, 1, 2*time.Minute)
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-time.Hour)

	load := snd.pacedLogs(drillBatch, drillEvery, drillLimit, base)
	tl := s.watch(adm, load)
	load.waitSent(t, 15_000, 2*time.Minute)

	victim, led := s.busiestLeader(adm)
	server := fmt.Sprintf("kafka-%d", victim)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			testinfra.Start(t, server)
		}
	})
	testinfra.Kill(t, server)
	killed := tl.mark("broker SIGKILLed")
	t.Logf("%s (leader of %d of %d %s partitions) SIGKILLed with %d records sent", server, led, 6, s.logsTopic, load.sent.Load())
	moved := s.waitLeadersOff(adm, victim, time.Minute)
	t.Logf("every %s partition has a leader other than %s %s after the kill", s.logsTopic, server, moved.Sub(killed).Round(100*time.Millisecond))
	if rest := 15*time.Second - time.Since(killed); rest > 0 {
		time.Sleep(rest)
	}
	require.False(t, c.proc.Exited(), "collector exited while a broker was down")
	require.False(t, p.proc.Exited(), "pipeline exited while a broker was down")
	testinfra.Start(t, server)
	restarted = true
	tl.mark("broker restarted")
	isr := s.waitFullISR(adm, 3, 3*time.Minute)
	t.Logf("%s back; every partition has 3 in-sync replicas again %s after the kill", server, isr.Sub(killed).Round(100*time.Millisecond))
	time.Sleep(10 * time.Second)

	sent := load.finish(t)
	s.requireExactlyOnce(s.logsStream, "traceId", sent)
	tl.finish()
	require.False(t, c.proc.Exited(), "collector exited")
	require.False(t, p.proc.Exited(), "pipeline exited")

	records, inKafka, kafkaDups := s.kafkaSeqs(adm)
	require.Equal(t, sent, inKafka, "distinct log records in Kafka topic %s", s.logsTopic)

	fig := tl.figures()
	report(t, fmt.Sprintf("a. Kafka: one of 3 brokers SIGKILLed for 15 s (%s, leader of %d of 6 partitions)", server, led), [][2]string{
		{"log records sent (1,250/s)", fmt.Sprint(sent)},
		{"indexed, each exactly once", fmt.Sprint(sent)},
		{"duplicates in OpenSearch", "0"},
		{"log records in Kafka (distinct)", fmt.Sprintf("%d in %d Kafka records", inKafka, records)},
		{"log records written to Kafka twice", fmt.Sprint(kafkaDups)},
		{"documents merged by id (pipeline re-reads)", docOutcome(p.admin, "duplicate")},
		{"collector: log records sent / failed (otelcol_exporter_*)", collectorMetric(c, "otelcol_exporter_sent_log_records") + " / " + collectorMetric(c, "otelcol_exporter_send_failed_log_records")},
		{"kill -> every partition led by another broker", moved.Sub(killed).Round(100 * time.Millisecond).String()},
		{"longest partition stall after the kill", fig.stall["broker SIGKILLed"].String()},
		{"longest partition stall after the restart", fig.stall["broker restarted"].String()},
		{"index count flat (no partition indexing) at most", fig.flat.String()},
		{"ordinary stall (commit cadence), no event", fig.baseline.String()},
		{"peak records sent but not yet searchable", fmt.Sprint(fig.peakLag)},
		{"every partition 3 in-sync replicas again after the kill", isr.Sub(killed).Round(100 * time.Millisecond).String()},
	})
}

// TestPipelineReplicasKilledAndAdded (scale-out drill b): three pipeline
// replicas in one consumer group share six partitions. Under load one is
// SIGKILLed and not restarted: the group hands its partitions to the other
// two once the dead member's session has timed out. Then a fourth replica
// joins. Every record is indexed exactly once; the drill prints how long
// each rebalance held up the partitions it moved.
func TestPipelineReplicasKilledAndAdded(t *testing.T) {
	s := newStack(t, 6)
	adm := s.kadmin(t)
	c := s.startCollector()
	ps := []*pipeline{s.startPipeline(""), s.startPipeline(""), s.startPipeline("")}
	s.waitGroup(adm, 3, 2*time.Minute)
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-time.Hour)

	load := snd.pacedLogs(drillBatch, drillEvery, drillLimit, base)
	tl := s.watch(adm, load)
	load.waitSent(t, 15_000, 2*time.Minute)

	ps[1].proc.Kill()
	killed := tl.mark("replica SIGKILLed")
	t.Logf("pipeline replica 2 SIGKILLed with %d records sent", load.sent.Load())
	tookKill := s.waitGroup(adm, 2, 3*time.Minute)
	t.Logf("group of 2 owns every partition %s after the kill", tookKill.Sub(killed).Round(100*time.Millisecond))
	// The moved partitions index again before the next member joins, so
	// the two rebalances' stalls are told apart.
	time.Sleep(5 * time.Second)

	added := tl.mark("replica added")
	ps = append(ps, s.startPipeline(""))
	tookAdd := s.waitGroup(adm, 3, 3*time.Minute)
	t.Logf("pipeline replica 4 ready; group of 3 owns every partition %s after it was started", tookAdd.Sub(added).Round(100*time.Millisecond))
	time.Sleep(15 * time.Second)

	sent := load.finish(t)
	s.requireExactlyOnce(s.logsStream, "traceId", sent)
	tl.finish()
	for i, p := range ps {
		if i != 1 {
			require.False(t, p.proc.Exited(), "pipeline replica %d exited", i+1)
		}
	}
	fig := tl.figures()
	var merged []string
	for i, p := range ps {
		if i != 1 {
			merged = append(merged, docOutcome(p.admin, "duplicate"))
		}
	}
	report(t, "b. Pipeline: 3 replicas, one SIGKILLed (not restarted), then one added", [][2]string{
		{"log records sent (1,250/s)", fmt.Sprint(sent)},
		{"indexed, each exactly once", fmt.Sprint(sent)},
		{"duplicates in OpenSearch", "0"},
		{"documents merged by id (re-read after the kill; live replicas)", strings.Join(merged, " + ")},
		{"SIGKILL -> the 2 survivors own every partition", tookKill.Sub(killed).Round(100 * time.Millisecond).String()},
		{"longest partition stall after the SIGKILL", fig.stall["replica SIGKILLed"].String()},
		{"replica started -> the 3 own every partition", tookAdd.Sub(added).Round(100 * time.Millisecond).String()},
		{"longest partition stall after the replica was added", fig.stall["replica added"].String()},
		{"index count flat (no partition indexing) at most", fig.flat.String()},
		{"ordinary stall (commit cadence), no event", fig.baseline.String()},
		{"peak records sent but not yet searchable", fmt.Sprint(fig.peakLag)},
	})
}

// report logs a drill's figures and, when VIGIL_RELIABILITY_REPORT names a
// file, appends them to it as a markdown table (scripts/bench.d/50-reliability.sh
// puts them into docs/benchmarks.md).
func report(t *testing.T, title string, rows [][2]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n| figure | value |\n|---|---|\n", title)
	for _, r := range rows {
		t.Logf("FIGURE %s: %s", r[0], r[1])
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], r[1])
	}
	path := os.Getenv("VIGIL_RELIABILITY_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer f.Close()
	_, err = fmt.Fprintln(f, b.String())
	require.NoError(t, err)
}

// ---- load ----

// paced sends uniquely numbered log records at a steady rate from its own
// goroutine until finished, as applications do while things fail around
// them. A request the collector refuses is retried, like an OTLP exporter.
type paced struct {
	sent atomic.Int64
	stop chan struct{}
	done chan struct{}
	err  error
}

func (snd *sender) pacedLogs(batch int, every time.Duration, limit int, base time.Time) *paced {
	p := &paced{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < limit; i += batch {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			req := plogotlp.NewExportRequestFromLogs(seqLogs(i, min(i+batch, limit), base))
			var err error
			for range 60 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err = snd.logs.Export(ctx, req)
				cancel()
				if err == nil {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if err != nil {
				p.err = fmt.Errorf("OTLP export of records %d-%d: %w", i, min(i+batch, limit), err)
				return
			}
			p.sent.Store(int64(min(i+batch, limit)))
		}
	}()
	return p
}

// waitSent waits until at least n records were sent.
func (p *paced) waitSent(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	require.NoError(t, vigiltest.Eventually(timeout, func() error {
		if got := p.sent.Load(); got < n {
			return fmt.Errorf("%d of %d records sent", got, n)
		}
		return nil
	}))
}

// finish stops the load and returns how many records were sent.
func (p *paced) finish(t *testing.T) int {
	t.Helper()
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	require.NoError(t, p.err)
	n := int(p.sent.Load())
	require.Less(t, n, drillLimit, "the load ran into its bound")
	return n
}

// ---- the consumer group and Kafka ----

func (s *stack) kadmin(t *testing.T) *kadm.Client {
	// Metadata at most 500 ms old when a request fails: the drills'
	// sampling should see new partition leaders as soon as Kafka has them.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.MetadataMinAge(500*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitGroup waits until the pipeline group is stable with n members that
// between them own every partition of the logs topic, and returns when.
func (s *stack) waitGroup(adm *kadm.Client, n int, timeout time.Duration) time.Time {
	s.t.Helper()
	require.NoError(s.t, vigiltest.Eventually(timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, s.group)
		if err != nil {
			return err
		}
		g, ok := groups[s.group]
		switch {
		case !ok:
			return fmt.Errorf("group %s not described", s.group)
		case g.Err != nil:
			return g.Err
		case g.State != "Stable" || len(g.Members) != n:
			return fmt.Errorf("group %s: %s with %d members, want Stable with %d", s.group, g.State, len(g.Members), n)
		}
		topics, err := adm.ListTopics(ctx, s.logsTopic)
		if err != nil {
			return err
		}
		want := len(topics[s.logsTopic].Partitions)
		if got := len(g.AssignedPartitions()[s.logsTopic]); got != want {
			return fmt.Errorf("group %s owns %d of %d %s partitions", s.group, got, want, s.logsTopic)
		}
		return nil
	}))
	return time.Now()
}

// busiestLeader is the broker that leads most of the logs topic's
// partitions, and how many it leads.
func (s *stack) busiestLeader(adm *kadm.Client) (int32, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics, err := adm.ListTopics(ctx, s.logsTopic)
	require.NoError(s.t, err)
	led := map[int32]int{}
	for _, p := range topics[s.logsTopic].Partitions {
		led[p.Leader]++
	}
	var best int32 = -1
	for b, n := range led {
		if best == -1 || n > led[best] || n == led[best] && b < best {
			best = b
		}
	}
	require.NotEqual(s.t, int32(-1), best, "no leaders for %s", s.logsTopic)
	return best, led[best]
}

// waitLeadersOff waits until no partition of the logs topic is led by
// broker (or leaderless), and returns when.
func (s *stack) waitLeadersOff(adm *kadm.Client, broker int32, timeout time.Duration) time.Time {
	s.t.Helper()
	require.NoError(s.t, vigiltest.Eventually(timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		topics, err := adm.ListTopics(ctx, s.logsTopic)
		if err != nil {
			return err
		}
		for _, p := range topics[s.logsTopic].Partitions {
			if p.Leader == broker || p.Leader < 0 {
				return fmt.Errorf("%s/%d led by %d", s.logsTopic, p.Partition, p.Leader)
			}
		}
		return nil
	}))
	return time.Now()
}

// waitFullISR waits until every partition of the stack's topics has n
// in-sync replicas, and returns when.
func (s *stack) waitFullISR(adm *kadm.Client, n int, timeout time.Duration) time.Time {
	s.t.Helper()
	require.NoError(s.t, vigiltest.Eventually(timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		topics, err := adm.ListTopics(ctx, s.logsTopic, s.spansTopic, s.dlqTopic)
		if err != nil {
			return err
		}
		for _, td := range topics {
			for _, p := range td.Partitions {
				if len(p.ISR) != n {
					return fmt.Errorf("%s/%d: in-sync replicas %v, want %d", td.Topic, p.Partition, p.ISR, n)
				}
			}
		}
		return nil
	}))
	return time.Now()
}

// kafkaSeqs reads the whole logs topic and counts its Kafka records, the
// distinct sequence numbers of the log records in them, and the log
// records present more than once (a producer retry that the broker did not
// recognise as one).
func (s *stack) kafkaSeqs(adm *kadm.Client) (records, distinct, dups int) {
	t := s.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, s.logsTopic)
	require.NoError(t, err)
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(s.logsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20))
	require.NoError(t, err)
	defer cl.Close()
	seen := map[int64]int{}
	var um plog.ProtoUnmarshaler
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "reading %s: %d partitions not read to their end", s.logsTopic, len(left))
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			records++
			ld, err := um.UnmarshalLogs(r.Value)
			require.NoError(t, err, "record %s/%d@%d", r.Topic, r.Partition, r.Offset)
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						if v, ok := lr.Attributes().Get("seq"); ok {
							seen[v.Int()]++
						}
					}
				}
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	for _, n := range seen {
		dups += n - 1
	}
	return records, len(seen), dups
}

// ---- the timeline ----

// timeline samples, every drillSample, the index count and the group's
// committed and end offsets per logs partition, and keeps the drill's
// events.
type timeline struct {
	s       *stack
	adm     *kadm.Client
	load    *paced
	mu      sync.Mutex
	samples []sample
	events  []event
	noted   map[string]bool
	start   time.Time
	stop    chan struct{}
	done    chan struct{}
}

type sample struct {
	at        time.Time
	sent      int64
	indexed   int // -1: the count failed
	committed map[int32]int64
	end       map[int32]int64 // nil: the offsets could not be read
}

type event struct {
	name string
	at   time.Time
}

func (s *stack) watch(adm *kadm.Client, load *paced) *timeline {
	tl := &timeline{s: s, adm: adm, load: load, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tl.done)
		tick := time.NewTicker(drillSample)
		defer tick.Stop()
		for {
			select {
			case <-tl.stop:
				return
			case <-tick.C:
			}
			sm := tl.sample()
			tl.mu.Lock()
			tl.samples = append(tl.samples, sm)
			tl.mu.Unlock()
		}
	}()
	s.t.Cleanup(tl.finish)
	return tl
}

func (tl *timeline) sample() sample {
	sm := sample{at: time.Now(), sent: tl.load.sent.Load(), indexed: -1}
	var c struct{ Count int }
	if err := osDo(tl.s.osURL, http.MethodGet, "/"+tl.s.logsStream+"/_count", nil, &c); err == nil {
		sm.indexed = c.Count
	}
	// Separate deadlines: a call stuck on a dead broker must not starve
	// the other. A partition whose offsets cannot be read now is left out
	// of this sample, not counted as stalled or as moved.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	committed, err := tl.adm.FetchOffsets(ctx, tl.s.group)
	cancel()
	if err != nil {
		tl.note("committed offsets", err)
		return sm
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	ends, err := tl.adm.ListEndOffsets(ctx, tl.s.logsTopic)
	cancel()
	if err != nil {
		tl.note("end offsets", err)
		// A dead leader fails only its own partitions' shard; the
		// others' offsets are good.
		if _, partial := errors.AsType[*kadm.ShardErrors](err); !partial {
			return sm
		}
	}
	sm.committed, sm.end = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			tl.note(fmt.Sprintf("end offset of partition %d", o.Partition), o.Err)
			return
		}
		r, ok := committed.Lookup(tl.s.logsTopic, o.Partition)
		switch {
		case !ok:
			sm.committed[o.Partition] = 0 // nothing committed yet
		case r.Err != nil:
			tl.note(fmt.Sprintf("committed offset of partition %d", o.Partition), r.Err)
			return
		default:
			sm.committed[o.Partition] = max(r.At, 0)
		}
		sm.end[o.Partition] = o.Offset
	})
	return sm
}

// note logs a sampling error the first time it is seen.
func (tl *timeline) note(what string, err error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	key := what + ": " + err.Error()
	if tl.noted == nil {
		tl.noted = map[string]bool{}
	}
	if !tl.noted[key] {
		tl.noted[key] = true
		tl.s.t.Logf("timeline: %s unreadable at +%s: %v", what, time.Since(tl.start).Round(100*time.Millisecond), err)
	}
}

func (tl *timeline) mark(name string) time.Time {
	now := time.Now()
	tl.mu.Lock()
	tl.events = append(tl.events, event{name, now})
	tl.mu.Unlock()
	return now
}

func (tl *timeline) finish() {
	select {
	case <-tl.stop:
	default:
		close(tl.stop)
	}
	<-tl.done
}

// figures of a drill, durations rounded to the sampling's 100 ms.
type figures struct {
	stall    map[string]time.Duration // event -> longest partition stall overlapping it
	baseline time.Duration            // longest stall overlapping no event
	flat     time.Duration            // longest time the index count did not grow while records were unindexed
	flatTo   time.Time                // when that ended
	peakLag  int                      // most records sent but not yet searchable
}

// figures reads the timeline. A partition's stall runs from the first
// sample that found records beyond its committed offset to the sample that
// found that offset moved (samples that could not read the partition are
// skipped, so a stall spans them); it belongs to an event if it covers the
// event or begins within drillEventWin after it.
func (tl *timeline) figures() figures {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	f := figures{stall: map[string]time.Duration{}}
	type span struct {
		part     int32
		from, to time.Time
	}
	var stalls []span
	parts := map[int32]bool{}
	for _, sm := range tl.samples {
		for p := range sm.end {
			parts[p] = true
		}
	}
	for p := range parts {
		var since time.Time // the first sample that found records waiting
		var lastOff int64 = -1
		for _, sm := range tl.samples {
			c, ok := sm.committed[p]
			if !ok {
				continue
			}
			if lastOff >= 0 && c != lastOff && !since.IsZero() {
				stalls = append(stalls, span{p, since, sm.at})
				since = time.Time{}
			}
			lastOff = c
			if sm.end[p] > c && since.IsZero() {
				since = sm.at
			}
		}
	}
	for _, st := range stalls {
		d := st.to.Sub(st.from).Round(100 * time.Millisecond)
		mine := false
		for _, e := range tl.events {
			if !st.to.Before(e.at) && st.from.Before(e.at.Add(drillEventWin)) {
				mine = true
				f.stall[e.name] = max(f.stall[e.name], d)
			}
		}
		if !mine {
			f.baseline = max(f.baseline, d)
		}
		if d >= 5*time.Second && len(tl.samples) > 0 {
			t0 := tl.start
			tl.s.t.Logf("stall: %s/%d from +%s to +%s (%s)%s", tl.s.logsTopic, st.part,
				st.from.Sub(t0).Round(100*time.Millisecond), st.to.Sub(t0).Round(100*time.Millisecond), d, map[bool]string{true: "", false: ", no event"}[mine])
		}
	}
	var grew time.Time
	last := -1
	for _, sm := range tl.samples {
		if sm.indexed < 0 {
			continue
		}
		f.peakLag = max(f.peakLag, int(sm.sent)-sm.indexed)
		switch {
		case sm.indexed != last || int64(sm.indexed) >= sm.sent:
			grew, last = sm.at, sm.indexed
		default:
			if d := sm.at.Sub(grew).Round(100 * time.Millisecond); d > f.flat {
				f.flat, f.flatTo = d, sm.at
			}
		}
	}
	if len(tl.samples) > 0 {
		t0 := tl.start
		tl.s.t.Logf("index count flat for %s until +%s", f.flat, f.flatTo.Sub(t0).Round(100*time.Millisecond))
		for _, e := range tl.events {
			tl.s.t.Logf("event: %s at +%s", e.name, e.at.Sub(tl.start).Round(100*time.Millisecond))
		}
	}
	return f
}

// ---- figures from the processes ----

// docOutcome is a pipeline's log documents with outcome, as text.
func docOutcome(admin, outcome string) string {
	v, err := metric(admin, "vigil_pipeline_documents_total", `kind="log"`, `outcome="`+outcome+`"`)
	if err != nil {
		if strings.Contains(err.Error(), "no vigil_pipeline") {
			return "0"
		}
		return err.Error()
	}
	return fmt.Sprint(v)
}

// collectorMetric is the sum of a collector telemetry metric (with or
// without the _total suffix), as text.
func collectorMetric(c *collector, name string) string {
	for _, n := range []string{name + "_total", name} {
		if v, err := metric(c.telemetry, n); err == nil {
			return fmt.Sprint(v)
		} else if !strings.Contains(err.Error(), "in /metrics") {
			return err.Error()
		}
	}
	return "0"
}
