//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// The drill's detection settings: short, so the drill takes minutes, and
// stated in the timeline so the measured times can be read against them.
const (
	drillFor         = 5 * time.Second // the detector rule's for (and recover_for)
	drillCriticalFor = 5 * time.Second // alerting's critical_for
	drillDwell       = 5 * time.Second // alerting's dwell (failback: auto)
	drillWait        = 4 * time.Minute // bound on each awaited condition; nothing is asserted on time
	primaryTarget    = "opensearch-primary"
	standbyTarget    = "opensearch-standby"
)

// TestFailoverDrill is the failover drill on real servers: two single-node OpenSearch clusters, real Kafka, real
// Prometheus scraping the pipeline, and real `vigil` processes for the
// collector, pipeline, detector and alerting, with Slack served by
// slackfake. telemetrygen sends logs all along.
//
// Round 1 (failback: auto): the primary is SIGKILLed; the detector
// publishes CRITICAL, alerting opens a Slack incident and requests the
// failover, the pipeline completes it and writes on the standby. Alerting
// is restarted in the middle of the incident. The primary is restarted:
// HEALTHY, the recovery reply lands in the same thread, the parent is
// updated, and the failback happens by itself.
//
// Round 2 (failback: manual, alerting restarted with it): the same outage;
// after the recovery nothing fails back until `vigil failover failback`.
//
// At the end every log record in Kafka is in exactly one of the two
// clusters, once (by the documents' _id, derived from their content). The
// timeline (primary death -> Slack post, -> first document on the standby)
// is printed, and written as markdown to $VIGIL_DRILL_REPORT when set.
func TestFailoverDrill(t *testing.T) {
	d := newDrill(t)
	d.startAll()
	d.awaitSteadyState()
	d.startLoad()

	// Round 1: automatic failback, alerting restarted mid-incident.
	r1 := d.outage("round 1 (failback: auto)")
	parent1 := d.awaitIncident(r1, 0)
	d.awaitFailover(r1, parent1, 1)
	d.restartAlerting(d.alertingAuto)
	d.restorePrimary(r1)
	d.awaitRecovery(r1, parent1)
	d.awaitFailback(r1, 2)

	// Round 2: manual failback.
	d.restartAlerting(d.alertingManual)
	r2 := d.outage("round 2 (failback: manual)")
	parent2 := d.awaitIncident(r2, 1)
	require.NotEqual(t, parent1.TS, parent2.TS, "a new incident opens a new thread")
	d.awaitFailover(r2, parent2, 3)
	d.restorePrimary(r2)
	d.awaitRecovery(r2, parent2)
	d.holdsOnStandby(r2, 3*drillDwell)
	out, code := d.vigil("failover", "failback", primaryTarget, "--config", d.alertingManual)
	require.Equal(t, 0, code, out)
	r2.mark("`vigil failover failback` run", time.Now())
	d.awaitFailback(r2, 4)

	d.stopLoad()
	d.verifyExactlyOnce()
	d.report(r1, r2)
}

type drill struct {
	t                 *testing.T
	dir, suffix, job  string
	broker            string
	primary, standby  string
	prom              string
	slack             *slackfake.Server
	token             string
	grpc              string
	pipelineAdmin     string
	alertingAdmin     string
	alertingAuto      string
	alertingManual    string
	alerting          *vigiltest.Process
	topics            struct{ logs, spans, dlq, health, failover, state string }
	logsIndex         string
	indexPrefix       string
	kafkaEvents       *eventLog
	loadStop          chan struct{}
	loadDone          chan struct{}
	stopSending       func()
	sent, failedSends atomic.Int64
	verified          string
}

func newDrill(t *testing.T) *drill {
	d := &drill{t: t, dir: t.TempDir(), token: "drill-token"}
	d.broker = testinfra.Kafka(t)
	d.primary = testinfra.OpenSearch(t)
	d.standby = testinfra.OpenSearchStandby(t)
	d.prom = testinfra.Prometheus(t)
	testinfra.PrometheusTargetsDir(t)
	testinfra.Tool(t, "telemetrygen")
	// Whatever happens, leave the primary running for the tests after.
	t.Cleanup(func() {
		if _, err := count(d.primary, "_all"); err != nil {
			testinfra.Start(t, "opensearch")
		}
	})

	d.suffix = fmt.Sprintf("drill%d", time.Now().UnixNano()%1e10)
	d.job = "vigil-" + d.suffix
	d.indexPrefix = d.suffix
	d.logsIndex = d.suffix + "_logs-vigil-default"
	d.topics.logs, d.topics.spans, d.topics.dlq = "otlp_logs."+d.suffix, "otlp_spans."+d.suffix, "vigil.dlq."+d.suffix
	d.topics.health, d.topics.failover, d.topics.state = "vigil.health."+d.suffix, "vigil.failover."+d.suffix, "vigil.alerting.state."+d.suffix
	t.Cleanup(func() { deleteIndices(d.primary, d.indexPrefix); deleteIndices(d.standby, d.indexPrefix) })

	cl, err := kgo.NewClient(kgo.SeedBrokers(d.broker))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	_, err = adm.CreateTopics(t.Context(), 2, 1, nil, d.topics.logs, d.topics.spans, d.topics.dlq)
	require.NoError(t, err)
	_, err = adm.CreateTopics(t.Context(), 1, 1, compact, d.topics.health, d.topics.failover)
	require.NoError(t, err)
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(d.broker))
		if err == nil {
			kadm.NewClient(cl).DeleteTopics(context.Background(), d.topics.logs, d.topics.spans, d.topics.dlq,
				d.topics.health, d.topics.failover, d.topics.state)
			cl.Close()
		}
	})

	d.slack = slackfake.New()
	t.Cleanup(d.slack.Close)
	d.grpc = vigiltest.FreeAddr(t)
	d.pipelineAdmin = vigiltest.FreeAddr(t)
	d.alertingAdmin = vigiltest.FreeAddr(t)

	// Prometheus scrapes the pipeline under a job of the drill's own.
	testinfra.ScrapeTarget(t, d.suffix, d.pipelineAdmin, map[string]string{"job": d.job})

	d.alertingAuto = d.writeAlerting("alerting-auto.yaml", "auto")
	d.alertingManual = d.writeAlerting("alerting-manual.yaml", "manual")
	d.kafkaEvents = watchEvents(t, d.broker, d.topics.health, d.topics.failover)
	return d
}

func (d *drill) write(name, content string) string {
	p := filepath.Join(d.dir, name)
	require.NoError(d.t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func (d *drill) writeAlerting(name, failback string) string {
	dwell := ""
	if failback == "auto" {
		dwell = "dwell: " + drillDwell.String()
	}
	return d.write(name, fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: vigil-alerting-%s
  transactional_id: vigil-alerting-%s
  health_topic: %s
  failover_topic: %s
  state_topic: %s
slack:
  bot_token: xoxb-drill
  api_url: %q
  per_channel_rate: 5
  backoff_initial: 200ms
default_route: {name: default, channel: C0DRILL, mention_group: S0ONCALL}
api:
  token: {env: VIGIL_DRILL_TOKEN}
tick_interval: 1s
failover:
  tick_interval: 500ms
  targets:
    - target: %s
      standby: %s
      critical_for: %s
      failback: %s
      %s
`, d.alertingAdmin, d.broker, d.suffix, d.suffix, d.topics.health, d.topics.failover, d.topics.state, d.slack.URL(),
		primaryTarget, standbyTarget, drillCriticalFor, failback, dwell))
}

func (d *drill) env() []string {
	return []string{
		"VIGIL_DRILL_TOKEN=" + d.token,
		"VIGIL_KAFKA_BROKERS=" + d.broker,
		"VIGIL_LOGS_TOPIC=" + d.topics.logs,
		"VIGIL_LOGS_PRIORITY_TOPIC=" + d.topics.logs + "_priority",
		"VIGIL_SPANS_TOPIC=" + d.topics.spans,
		"VIGIL_OTLP_GRPC_ENDPOINT=" + d.grpc,
		"VIGIL_OTLP_HTTP_ENDPOINT=" + vigiltest.FreeAddr(d.t),
		"VIGIL_COLLECTOR_ADMIN=" + vigiltest.FreeAddr(d.t),
		"VIGIL_COLLECTOR_QUEUE_DIR=" + filepath.Join(d.dir, "queue"),
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(d.t),
		"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(d.t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(d.t, vigiltest.FreeAddr(d.t)),
	}
}

func (d *drill) startAll() {
	t := d.t
	env := d.env()
	var collectorAdmin string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "VIGIL_COLLECTOR_ADMIN="); ok {
			collectorAdmin = v
		}
	}
	collector := vigiltest.Start(t, env, "collector", "--config", "configs/collector.yaml")

	pipeline := d.write("pipeline.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
kafka:
  brokers: [%q]
  group: vigil-pipeline-%s
  logs: {topic: %s}
  priority: {topic: %s_priority}
  spans: {topic: %s}
  dlq_topic: %s
opensearch: {name: primary, addresses: [%q], request_timeout: 10s}
failover:
  target: %s
  topic: %s
  actor: pipeline/drill
  switch_timeout: 30s
  standby: {name: standby, addresses: [%q], request_timeout: 10s}
indices:
  span_alias: %s-otel-v1-apm-span
  service_map: %s-otel-v1-apm-service-map
  logs_data_stream: %s
bulk: {linger: 100ms}
retry: {max_backoff: 2s}
commit_interval: 1s
health_interval: 1s
`, d.pipelineAdmin, d.broker, d.suffix, d.topics.logs, d.topics.logs, d.topics.spans, d.topics.dlq, d.primary,
		primaryTarget, d.topics.failover, d.standby, d.indexPrefix, d.indexPrefix, d.logsIndex))
	pp := vigiltest.Start(t, nil, "pipeline", "--config", pipeline)

	rule := func(target, cluster string) string {
		return fmt.Sprintf(`
  - name: %s
    labels: {component: opensearch, cluster: %s}
    rules:
      - name: reachable
        expr: min(vigil_pipeline_opensearch_up{cluster=%q,job=%q})
        critical: "< 1"
        annotations:
          summary: The pipeline cannot reach the %s OpenSearch cluster.
          runbook_url: https://github.com/vigil-dev/vigil/blob/main/docs/operations.md#opensearch-unreachable`, target, cluster, cluster, d.job, cluster)
	}
	detectorAdmin := vigiltest.FreeAddr(t)
	detector := d.write("detector.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
prometheus: {url: %q, query_timeout: 5s}
kafka:
  brokers: [%q]
  health_topic: %s
  leader_topic: vigil.detector.leader.%s
  group: vigil-detector-%s
  transactional_id: vigil-detector-%s
  session_timeout: 6s
defaults: {interval: 1s, for: %s, recover_for: %s}
targets:%s%s
`, detectorAdmin, d.prom, d.broker, d.topics.health, d.suffix, d.suffix, d.suffix, drillFor, drillFor,
		rule(primaryTarget, "primary"), rule(standbyTarget, "standby")))
	dp := vigiltest.Start(t, nil, "detector", "--config", detector)
	d.alerting = vigiltest.Start(t, d.env(), "alerting", "--config", d.alertingAuto)

	collector.WaitReady(collectorAdmin, 2*time.Minute)
	pp.WaitReady(d.pipelineAdmin, 2*time.Minute)
	dp.WaitReady(detectorAdmin, 2*time.Minute)
	d.alerting.WaitReady(d.alertingAdmin, 2*time.Minute)
}

// awaitSteadyState waits until Prometheus scrapes the pipeline and the
// detector calls both clusters HEALTHY: the drill starts from a healthy
// system.
func (d *drill) awaitSteadyState() {
	d.await("both targets HEALTHY", func() error {
		for _, target := range []string{primaryTarget, standbyTarget} {
			if h, ok := d.kafkaEvents.lastHealth(target); !ok || h.Status != events.Healthy {
				return fmt.Errorf("%s is %v", target, h.Status)
			}
		}
		return nil
	})
}

// startLoad runs telemetrygen, 100 logs at 25/s per run, until stopLoad:
// the total sent is exact (a run either exits 0 having sent all of its logs
// or is counted as failed).
func (d *drill) startLoad() {
	d.loadStop, d.loadDone = make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.stopSending = func() { once.Do(func() { close(d.loadStop) }); <-d.loadDone }
	// Registered after the processes: runs before they are stopped.
	d.t.Cleanup(d.stopSending)
	tg := testinfra.Tool(d.t, "telemetrygen")
	go func() {
		defer close(d.loadDone)
		for {
			select {
			case <-d.loadStop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			out, err := exec.CommandContext(ctx, tg, "logs", "--otlp-insecure", "--otlp-endpoint", d.grpc,
				"--logs", "100", "--rate", "25", "--body", "drill "+d.suffix).CombinedOutput()
			cancel()
			if err != nil {
				d.failedSends.Add(1)
				d.t.Logf("telemetrygen failed: %v\n%s", err, out)
				continue
			}
			d.sent.Add(100)
		}
	}()
	d.await("logs on the primary", func() error {
		n, err := d.count(d.primary)
		if err == nil && n == 0 {
			err = fmt.Errorf("none yet")
		}
		return err
	})
}

func (d *drill) stopLoad() {
	d.stopSending()
	require.Zero(d.t, d.failedSends.Load(), "telemetrygen runs that failed")
}

// round is one outage's timeline, relative to the primary's death.
type round struct {
	name  string
	death time.Time
	mu    sync.Mutex
	marks []mark
}

type mark struct {
	what string
	at   time.Time
}

func (r *round) mark(what string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, mark{what, at})
}

func (r *round) get(what string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.marks {
		if m.what == what {
			return m.at.Sub(r.death), true
		}
	}
	return 0, false
}

// outage SIGKILLs the primary and watches the standby for the first
// document written after that.
func (d *drill) outage(name string) *round {
	before, err := d.count(d.standby)
	require.NoError(d.t, err)
	r := &round{name: name, death: time.Now()}
	testinfra.Kill(d.t, "opensearch")
	r.mark("primary SIGKILLed (infra.sh kill returned)", time.Now())
	go func() {
		deadline := time.Now().Add(drillWait)
		for time.Now().Before(deadline) {
			if c, err := d.count(d.standby); err == nil && c > before {
				r.mark(markFirstStandbyDoc, time.Now())
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return r
}

const (
	markSlackParent     = "Slack: incident opened (parent message)"
	markFirstStandbyDoc = "first new document on the standby (polled every 200 ms)"
)

// awaitIncident waits for the CRITICAL event and the round's Slack parent
// (the i-th parent of the drill).
func (d *drill) awaitIncident(r *round, i int) slackfake.Message {
	var crit events.Health
	d.await("CRITICAL event for the primary", func() error {
		h, at, ok := d.kafkaEvents.healthAfter(primaryTarget, events.Critical, r.death)
		if !ok {
			return fmt.Errorf("no CRITICAL yet")
		}
		crit = h
		r.mark(fmt.Sprintf("CRITICAL health event (generation %d) on %s", h.Generation, d.topics.health), at)
		return nil
	})
	require.Equal(d.t, "reachable", crit.Rule)
	var parent slackfake.Message
	d.await("the Slack incident", func() error {
		ps := parents(d.slack.Posts())
		if len(ps) <= i {
			return fmt.Errorf("%d parents", len(ps))
		}
		parent = ps[i]
		r.mark(markSlackParent, time.Now())
		return nil
	})
	require.Equal(d.t, "C0DRILL", parent.Channel)
	require.Contains(d.t, string(parent.Blocks), "opensearch-primary")
	require.Contains(d.t, parent.Text, "<!subteam^S0ONCALL>", "CRITICAL mentions the on-call group")
	return parent
}

// awaitFailover waits for the request and the pipeline's outcome of
// generation gen, and for documents on the standby.
func (d *drill) awaitFailover(r *round, parent slackfake.Message, gen uint64) {
	d.awaitEvent(r, fmt.Sprintf("failover.requested#%d", gen))
	d.awaitEvent(r, fmt.Sprintf("failover.completed#%d", gen))
	d.await("documents on the standby", func() error {
		if _, ok := r.get(markFirstStandbyDoc); !ok {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	d.awaitThreadReply(parent, "Failover requested for *opensearch-primary*: primary → standby")
	d.awaitThreadReply(parent, "Failover completed for *opensearch-primary*: primary → standby (by pipeline/drill)")
}

func (d *drill) awaitEvent(r *round, key string) {
	d.await(key+" on "+d.topics.failover, func() error {
		at, ok := d.kafkaEvents.failover(key)
		if !ok {
			return fmt.Errorf("not yet; have %v", d.kafkaEvents.failoverKeys())
		}
		r.mark(key+" on "+d.topics.failover, at)
		return nil
	})
}

// awaitThreadReply waits for a reply in the incident's thread.
func (d *drill) awaitThreadReply(parent slackfake.Message, text string) {
	d.await("Slack reply "+text, func() error {
		for _, p := range d.slack.Posts() {
			if p.ThreadTS == parent.TS && strings.Contains(p.Text, text) {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
}

func (d *drill) restartAlerting(config string) {
	require.Equal(d.t, 0, d.alerting.Stop(time.Minute), "alerting exit code after SIGINT")
	d.alerting = vigiltest.Start(d.t, d.env(), "alerting", "--config", config)
	d.alerting.WaitReady(d.alertingAdmin, 2*time.Minute)
}

func (d *drill) restorePrimary(r *round) {
	testinfra.Start(d.t, "opensearch")
	r.mark("primary restarted and ready (infra.sh start returned)", time.Now())
}

// awaitRecovery waits for HEALTHY, the recovery reply in the incident's
// thread and the parent's update to resolved.
func (d *drill) awaitRecovery(r *round, parent slackfake.Message) {
	d.await("HEALTHY event for the primary", func() error {
		_, at, ok := d.kafkaEvents.healthAfter(primaryTarget, events.Healthy, r.death)
		if !ok {
			return fmt.Errorf("not yet")
		}
		r.mark("HEALTHY health event", at)
		return nil
	})
	d.await("the recovery reply in the incident's thread", func() error {
		for _, p := range d.slack.Posts() {
			if p.ThreadTS == parent.TS && strings.Contains(p.Text, "recovered after") {
				r.mark("Slack: recovery reply in the incident's thread", time.Now())
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	d.await("the parent updated to resolved", func() error {
		for _, u := range d.slack.Updates() {
			if u.TS == parent.TS && strings.HasPrefix(u.Text, "RESOLVED: opensearch-primary") {
				r.mark("Slack: parent updated to RESOLVED", time.Now())
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	for _, p := range d.slack.Posts() {
		require.False(d.t, p.ThreadTS == "" && p.TS != parent.TS && strings.Contains(p.Text, "recovered"), "the recovery is not a new top-level message")
	}
}

// awaitFailback waits for failback requested and completed of gen and for
// new documents on the primary.
func (d *drill) awaitFailback(r *round, gen uint64) {
	d.awaitEvent(r, fmt.Sprintf("failback.requested#%d", gen))
	d.awaitEvent(r, fmt.Sprintf("failback.completed#%d", gen))
	before, err := d.count(d.primary)
	require.NoError(d.t, err)
	d.await("new documents on the primary after the failback", func() error {
		n, err := d.count(d.primary)
		if err == nil && n <= before {
			err = fmt.Errorf("%d, not above %d yet", n, before)
		}
		return err
	})
	r.mark("new documents on the primary after the failback", time.Now())
}

// holdsOnStandby checks, with failback: manual, that for a while after the
// recovery no failback is requested and writing stays on the standby.
func (d *drill) holdsOnStandby(r *round, hold time.Duration) {
	sb, err := d.count(d.standby)
	require.NoError(d.t, err)
	time.Sleep(hold)
	for _, k := range d.kafkaEvents.failoverKeys() {
		require.NotEqual(d.t, "failback.requested#4", k, "no failback before the operator asks")
	}
	sb2, err := d.count(d.standby)
	require.NoError(d.t, err)
	require.Greater(d.t, sb2, sb, "still writing on the standby %s after the recovery", hold)
	r.mark(fmt.Sprintf("no failback %s after HEALTHY (manual); still writing on the standby", hold), time.Now())
}

func (d *drill) vigil(args ...string) (string, int) {
	cmd := exec.Command(vigiltest.Binary(d.t), args...)
	cmd.Env = append(os.Environ(), d.env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), cmd.ProcessState.ExitCode()
	}
	return out.String(), 0
}

func (d *drill) await(what string, f func() error) {
	d.t.Helper()
	if err := vigiltest.Eventually(drillWait, f); err != nil {
		d.t.Fatalf("drill: %s: %v", what, err)
	}
}

// parents are the incident parent messages of the primary. (Failback
// notices after an incident closed are top-level messages too.)
func parents(posts []slackfake.Message) []slackfake.Message {
	var out []slackfake.Message
	for _, p := range posts {
		if p.ThreadTS == "" && strings.Contains(string(p.Blocks), "CRITICAL — "+primaryTarget) {
			out = append(out, p)
		}
	}
	return out
}
