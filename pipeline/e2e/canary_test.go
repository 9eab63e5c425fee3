//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// canaryWindow is the tests' loss window (5 minutes in production).
const canaryWindow = 4 * time.Second

// TestCanaryLoss runs the shipped collector (heartbeats every second into
// both partitions of both topics), the pipeline with a 4 s window, the real
// Prometheus scraping it, `vigil detector` with the shipped canary-logs
// target and `vigil alerting` with a fake Slack, on the real Kafka and
// OpenSearch.
//
// Normal operation: records and heartbeats flow; windows close with no loss
// and no sequence gap, heartbeats are in the canary index and never in the
// logs data stream.
//
// Drill: the pipeline is frozen (SIGSTOP), records are sent, and Kafka's
// DeleteRecords removes everything the pipeline has not read yet; resumed,
// the pipeline reports the loss in a closed window (metrics and a window
// document), the detector publishes a CRITICAL health event naming the
// topic with the lost count as its value, and alerting posts it to Slack.
func TestCanaryLoss(t *testing.T) {
	promURL := testinfra.Prometheus(t)
	s := newStack(t, 2)
	col := s.startCollectorWith([]string{"VIGIL_CANARY_INTERVAL=1s", "HOSTNAME=" + s.prefix + "-collector"})
	p := s.startPipeline(fmt.Sprintf("canary: {window: %s, idle_after: 30s}\n", canaryWindow))
	testinfra.ScrapeTarget(t, s.prefix+"-pipeline", p.admin, map[string]string{
		"job": s.prefix + "-pipeline", "__scrape_interval__": "1s", "__scrape_timeout__": "1s",
	})
	health, fake := s.startDetectorAndAlerting(promURL)
	send := newSender(t, col.grpc)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := scrape(p.admin)
			var lines []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "vigil_pipeline_canary_") && !strings.Contains(l, "_bucket") || strings.HasPrefix(l, "vigil_pipeline_consumer_lag") || strings.HasPrefix(l, "vigil_pipeline_records_total") {
					lines = append(lines, l)
				}
			}
			t.Logf("pipeline metrics at the end:\n%s", strings.Join(lines, "\n"))
		}
	})
	windows := func(topic, result string) float64 {
		v, _ := metric(p.admin, "vigil_pipeline_canary_windows_total", `topic="`+topic+`"`, `result="`+result+`"`)
		return v
	}

	t.Run("normal operation reports no loss", func(t *testing.T) {
		send.sendLogs(0, 2000, 100, time.Now())
		s.waitCount(s.logsStream, 2000, 2*time.Minute)
		// Windows that saw the 2,000 records close after later heartbeats.
		require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
			for _, topic := range []string{s.logsTopic, s.prioTopic, s.spansTopic} {
				if n := windows(topic, "ok"); n < 3 {
					return fmt.Errorf("%s: %g windows closed", topic, n)
				}
			}
			return nil
		}))
		for _, topic := range []string{s.logsTopic, s.prioTopic, s.spansTopic} {
			require.Zero(t, windows(topic, "loss"), "%s: a window with loss in normal operation", topic)
			gaps, _ := metric(p.admin, "vigil_pipeline_canary_gaps_total", `topic="`+topic+`"`)
			require.Zero(t, gaps, topic)
			n, err := metric(p.admin, "vigil_pipeline_canary_freshness_seconds_count", `topic="`+topic+`"`)
			require.NoError(t, err)
			require.Positive(t, n, "%s: no heartbeat indexed", topic)
		}
		produced, err := metric(p.admin, "vigil_pipeline_canary_window_produced_records", `topic="`+s.logsTopic+`"`)
		require.NoError(t, err)
		require.Positive(t, produced, "the last window counted no record handed to Kafka")
		// Heartbeats never reach the user indices: exactly the records sent.
		s.requireExactlyOnce(s.logsStream, "traceId", 2000)
		// One heartbeat document per collector partition, the latest: 3
		// topics (logs, the priority lane's, spans) of 2 partitions, one
		// collector run.
		_, err = s.count(s.canaryIndex()) // refreshes
		require.NoError(t, err)
		var hb struct {
			Count int `json:"count"`
		}
		require.NoError(t, osDo(s.osURL, "POST", "/"+s.canaryIndex()+"/_count", map[string]any{
			"query": map[string]any{"term": map[string]any{"kind": "heartbeat"}},
		}, &hb))
		require.Equal(t, 6, hb.Count, "heartbeat documents in %s", s.canaryIndex())
	})

	t.Run("records deleted before the pipeline reads them are reported lost", func(t *testing.T) {
		adm := s.admin_(t)
		ctx := context.Background()
		p.proc.Signal(syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				p.proc.Signal(syscall.SIGCONT)
			}
		}()
		// A fetch the pipeline sent just before it froze is answered by the
		// broker anyway (into the socket) once its wait (250 ms) is over:
		// what is produced after that stays unread.
		time.Sleep(time.Second)
		committed, err := adm.FetchOffsets(ctx, s.group)
		require.NoError(t, err)
		before, err := adm.ListEndOffsets(ctx, s.logsTopic)
		require.NoError(t, err)

		sentBefore, _ := metric(col.telemetry, "otelcol_exporter_sent_log_records_total")
		// In waves longer apart than the collector's batch timeout, so
		// that they make several Kafka records.
		for i := range 5 {
			send.sendLogs(10000+100*i, 10100+100*i, 100, time.Now())
			time.Sleep(400 * time.Millisecond)
		}
		require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
			n, _ := metric(col.telemetry, "otelcol_exporter_sent_log_records_total")
			if n < sentBefore+500 {
				return fmt.Errorf("%g of 500 log records sent to Kafka", n-sentBefore)
			}
			return nil
		}))
		end, err := adm.ListEndOffsets(ctx, s.logsTopic)
		require.NoError(t, err)
		// Kafka's delete-records: the log start moves to the end, so the
		// frozen pipeline finds nothing of it when it resumes.
		del := kadm.Offsets{}
		var minLost, maxLost int64
		end.Each(func(o kadm.ListedOffset) {
			del.AddOffset(o.Topic, o.Partition, o.Offset, -1)
			b, _ := before.Lookup(o.Topic, o.Partition)
			minLost += o.Offset - b.Offset
			c, ok := committed.Lookup(o.Topic, o.Partition)
			if !ok {
				c.At = 0
			}
			maxLost += o.Offset - c.At
		})
		resp, err := adm.DeleteRecords(ctx, del)
		require.NoError(t, err)
		require.NoError(t, resp.Error())
		deleted := time.Now()
		p.proc.Signal(syscall.SIGCONT)
		stopped = false
		t.Logf("deleted records: at least %d the pipeline had not read (at most %d after its committed offsets)", minLost, maxLost)

		var lost float64
		require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
			lost, _ = metric(p.admin, "vigil_pipeline_canary_lost_records_total", `topic="`+s.logsTopic+`"`)
			if lost == 0 {
				return fmt.Errorf("no loss reported yet")
			}
			return nil
		}))
		t.Logf("pipeline reported %g records lost %s after the deletion (window %s)", lost, time.Since(deleted).Round(100*time.Millisecond), canaryWindow)
		require.GreaterOrEqual(t, int64(lost), minLost)
		require.LessOrEqual(t, int64(lost), maxLost)
		require.Zero(t, windows(s.spansTopic, "loss"), "nothing of the spans topic was deleted")
		var docs struct {
			Hits struct {
				Hits []struct {
					Source struct {
						Lost  int64  `json:"lost"`
						Topic string `json:"topic"`
					} `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
			if err := osDo(s.osURL, "POST", "/"+s.canaryIndex()+"/_search", map[string]any{
				"query": map[string]any{"bool": map[string]any{"filter": []any{
					map[string]any{"term": map[string]any{"kind": "window"}},
					map[string]any{"range": map[string]any{"lost": map[string]any{"gt": 0}}},
				}}},
			}, &docs); err != nil {
				return err
			}
			if len(docs.Hits.Hits) == 0 {
				return fmt.Errorf("no window document with loss")
			}
			return nil
		}))
		var docLost, worst int64
		for _, h := range docs.Hits.Hits {
			require.Equal(t, s.logsTopic, h.Source.Topic)
			docLost += h.Source.Lost
			worst = max(worst, h.Source.Lost)
		}
		require.Equal(t, int64(lost), docLost, "window documents and metrics disagree")

		h := health.wait(t, "canary-logs", events.Critical, 90*time.Second)
		require.Equal(t, s.logsTopic, h.Labels["topic"], "the health event names the topic")
		require.NotNil(t, h.Value)
		require.Equal(t, float64(worst), *h.Value, "the health event's value is the window's lost count")
		require.Equal(t, "loss", h.Rule)
		require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
			for _, m := range fake.Posts() {
				if strings.Contains(m.Text, "CRITICAL") && strings.Contains(m.Text, "canary-logs") && strings.Contains(m.Text, s.logsTopic) {
					return nil
				}
			}
			return fmt.Errorf("no CRITICAL post for canary-logs in Slack (%d posts)", len(fake.Posts()))
		}))
	})
}

func (s *stack) admin_(t *testing.T) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// healthLog follows a health topic.
type healthLog struct {
	cl *kgo.Client
}

// wait returns the first event of target with status.
func (l *healthLog) wait(t *testing.T, target string, status events.Status, timeout time.Duration) events.Health {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no %s event for %s within %s", status, target, timeout)
		}
		var found *events.Health
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := events.Parse(r)
			if err != nil || ev.Type() != events.HealthChangedType || found != nil {
				return
			}
			h, err := events.Data[events.Health](ev)
			if err == nil && h.Target == target && h.Status == status {
				found = &h
			}
		})
		if found != nil {
			return *found
		}
	}
}

// startDetectorAndAlerting runs `vigil detector` with the shipped
// canary-logs target (rules evaluated every second) on the stack's topic and
// `vigil alerting` posting to a fake Slack, both on a health topic of the
// stack's own.
func (s *stack) startDetectorAndAlerting(promURL string) (*healthLog, *slackfake.Server) {
	t := s.t
	t.Helper()
	target := vigiltest.ShippedTarget(t, "canary-logs", map[string]any{"interval": "1s"})
	healthTopic, group := s.prefix+".health", s.prefix+"-detector"
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, s.broker, []string{group, s.prefix + "-alerting"}, healthTopic, s.prefix+".leader", s.prefix+".alerting-state")
	})
	detAdmin, alAdmin := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	detCfg := filepath.Join(s.dir, "detector.yaml")
	require.NoError(t, os.WriteFile(detCfg, []byte(fmt.Sprintf(`
admin: {listen_address: %q}
instance: %s
prometheus: {url: %q}
kafka:
  brokers: [%q]
  health_topic: %s
  leader_topic: %s.leader
  group: %s
  transactional_id: %s
  session_timeout: 6s
targets:
%s`, detAdmin, s.prefix, promURL, s.broker, healthTopic, s.prefix, group, group, target)), 0o644))
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	alCfg := filepath.Join(s.dir, "alerting.yaml")
	require.NoError(t, os.WriteFile(alCfg, []byte(fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: %s-alerting
  health_topic: %s
  failover_topic: ""
  state_topic: %s.alerting-state
slack:
  bot_token: xoxb-canary
  api_url: %q
  backoff_initial: 200ms
default_route: {name: default, channel: C0CANARY}
tick_interval: 1s
`, alAdmin, s.broker, s.prefix, healthTopic, s.prefix, fake.URL())), 0o644))
	// The shipped expressions name the topic and range through these.
	env := []string{"VIGIL_LOGS_TOPIC=" + s.logsTopic, "VIGIL_CANARY_LOSS_RANGE=2m"}
	det := vigiltest.Start(t, env, "detector", "--config", detCfg)
	det.WaitReady(detAdmin, time.Minute)
	al := vigiltest.Start(t, nil, "alerting", "--config", alCfg)
	al.WaitReady(alAdmin, time.Minute)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.ConsumeTopics(healthTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &healthLog{cl: cl}, fake
}
