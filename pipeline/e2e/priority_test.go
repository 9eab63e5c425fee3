//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestPriorityLane (errors first): a backlog of INFO logs lags in Kafka
// and the pipeline drains it under a small in-flight budget. ERROR logs
// sent through the real collector meanwhile take the priority lane
// (collector filter -> their own topic -> the pipeline's own consumer and
// budget): they are searchable while most of the backlog is still not
// indexed, and in the end every record, backlog and errors, is in the logs
// data stream exactly once.
func TestPriorityLane(t *testing.T) {
	s := newStack(t, 3)
	c := s.startCollector()
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-time.Hour)
	const backlog, probes = 150_000, 20
	snd.sendLogs(0, backlog, 1000, base)

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends := func(topic string) int64 {
		o, err := adm.ListEndOffsets(context.Background(), topic)
		require.NoError(t, err)
		var n int64
		o.Each(func(lo kadm.ListedOffset) { n += lo.Offset })
		return n
	}
	// data counts the topic's records but the collector's heartbeats, which
	// it sends through every partition of every topic it writes, on their
	// own clock.
	data := func(topic string) int64 {
		o, err := adm.ListEndOffsets(context.Background(), topic)
		require.NoError(t, err)
		end := map[int32]int64{}
		from := map[int32]kgo.Offset{}
		o.Each(func(lo kadm.ListedOffset) {
			if lo.Offset > 0 {
				end[lo.Partition], from[lo.Partition] = lo.Offset, kgo.NewOffset().AtStart()
			}
		})
		if len(end) == 0 {
			return 0
		}
		rc, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
		require.NoError(t, err)
		defer rc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var n int64
		for left := len(end); left > 0; {
			fs := rc.PollFetches(ctx)
			require.NoError(t, ctx.Err(), "reading %s to its end", topic)
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset >= end[r.Partition] {
					return
				}
				if r.Offset == end[r.Partition]-1 {
					left--
				}
				for _, h := range r.Headers {
					if h.Key == events.HeaderCanary {
						return
					}
				}
				n++
			})
		}
		return n
	}
	// The backlog is all in Kafka before the pipeline starts.
	var prev int64 = -1
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		cur := ends(s.logsTopic)
		defer func() { prev = cur }()
		if cur == 0 || cur != prev {
			time.Sleep(time.Second)
			return fmt.Errorf("records in %s still changing: %d", s.logsTopic, cur)
		}
		return nil
	}))
	require.Zero(t, data(s.prioTopic), "INFO logs stay out of the priority topic")
	prevData := data(s.logsTopic)

	// A small budget and one bulk at a time: the drain takes a while.
	p := s.startPipeline("max_in_flight_bytes: 5242880\nbulk: {concurrency: 1, max_docs: 1000}\n")
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		n, err := s.count(s.logsStream)
		if err == nil && n == 0 {
			err = fmt.Errorf("backlog not under way yet")
		}
		return err
	}))

	// ERROR logs through the collector, one request each, as an
	// application would report them.
	for i := range probes {
		ld := seqLogs(backlog+i, backlog+i+1, base)
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
		req := plogotlp.NewExportRequestFromLogs(ld)
		snd.retry(func(ctx context.Context) error { _, err := snd.logs.Export(ctx, req); return err })
	}
	var atProbes int
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		_ = osDo(s.osURL, http.MethodPost, "/"+s.logsStream+"/_refresh", nil, nil)
		var errs, all struct{ Count int }
		q := map[string]any{"query": map[string]any{"range": map[string]any{"severity.number": map[string]any{"gte": 17}}}}
		if err := osDo(s.osURL, http.MethodPost, "/"+s.logsStream+"/_count", q, &errs); err != nil {
			return err
		}
		if err := osDo(s.osURL, http.MethodGet, "/"+s.logsStream+"/_count", nil, &all); err != nil {
			return err
		}
		if errs.Count < probes {
			time.Sleep(200 * time.Millisecond)
			return fmt.Errorf("%d of %d ERROR logs searchable (%d documents)", errs.Count, probes, all.Count)
		}
		atProbes = all.Count - errs.Count
		return nil
	}))
	t.Logf("all %d ERROR logs searchable with %d of %d backlog records indexed", probes, atProbes, backlog)
	// They went to the priority topic only: the logs topic got no record
	// since the backlog.
	require.Positive(t, data(s.prioTopic), "records in the priority topic")
	require.Equal(t, prevData, data(s.logsTopic), "records in the logs topic since the backlog")
	require.Less(t, atProbes, backlog/2, "the ERROR logs waited behind the backlog")
	// Heartbeats included: every record of the priority topic, once its
	// latest heartbeat is in too.
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		lane, err := metric(p.admin, "vigil_pipeline_lane_records_total", `lane="priority"`, `outcome="indexed"`)
		if err != nil {
			return err
		}
		if n := ends(s.prioTopic); int64(lane) != n {
			time.Sleep(200 * time.Millisecond)
			return fmt.Errorf("the priority lane indexed %g Kafka records of %d", lane, n)
		}
		return nil
	}))

	// Every record exactly once, whichever lane it took.
	s.requireExactlyOnce(s.logsStream, "traceId", backlog+probes)
}
