//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// scrapeInterval is how often the real Prometheus scrapes the test
// exporter. infra.sh scrapes every 5s; the exporter's targets ask for 1s
// (__scrape_interval__) so that Prometheus sees a 3s flap as it is instead
// of an alias of it, and a change reaches the detector within a second.
const scrapeInterval = time.Second

// gaugeName is the metric the test exporter serves.
const gaugeName = "vigil_e2e_detector_value"

// exporter serves one gauge on a free loopback port and registers it with
// the real Prometheus through a file_sd file, written aside and renamed so
// Prometheus never reads half a file.
func exporter(t *testing.T, job string) prometheus.Gauge {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: gaugeName, Help: "Value the detector under test watches."})
	reg.MustRegister(g)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	testinfra.ScrapeTarget(t, job, ln.Addr().String(), map[string]string{
		"job":                 job,
		"__scrape_interval__": scrapeInterval.String(),
		"__scrape_timeout__":  scrapeInterval.String(),
	})
	return g
}

// promAPI is a client of the real Prometheus.
func promAPI(t *testing.T, url string) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: url})
	require.NoError(t, err)
	return v1.NewAPI(c)
}

// promValue is the single value of an instant query.
func promValue(ctx context.Context, p v1.API, q string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _, _, err := p.Query(ctx, q, time.Now())
	if err != nil {
		return 0, err
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 {
		return 0, fmt.Errorf("%s: want one sample, got %v", q, v)
	}
	return float64(vec[0].Value), nil
}

// waitScraped waits until Prometheus has scraped the value want for job.
func waitScraped(t *testing.T, p v1.API, job string, want float64) {
	t.Helper()
	q := fmt.Sprintf("%s{job=%q}", gaugeName, job)
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		got, err := promValue(context.Background(), p, q)
		if err == nil && got != want {
			err = fmt.Errorf("%s = %g, want %g", q, got, want)
		}
		return err
	}), "Prometheus never scraped %s = %g", q, want)
}

// cluster names the Kafka resources of one test, unique per run so that
// tests sharing the real Kafka never see each other's events.
type cluster struct {
	broker, topic, leaderTopic, group, txn string
}

func newCluster(t *testing.T) cluster {
	t.Helper()
	broker := testinfra.Kafka(t)
	suffix := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "." + time.Now().Format("150405.000000")
	c := cluster{
		broker:      broker,
		topic:       "vigil.health.e2e." + suffix,
		leaderTopic: "vigil.detector.leader.e2e." + suffix,
		group:       "vigil-detector-e2e-" + suffix,
		txn:         "vigil-detector-e2e-" + suffix,
	}
	t.Cleanup(func() { c.cleanup(t) })
	return c
}

// cleanup removes what the test created on the shared Kafka.
func (c cluster) cleanup(t *testing.T) {
	testinfra.DeleteKafka(t, c.broker, []string{c.group}, c.topic, c.leaderTopic)
}

// detectorConfig is a standalone detector file for instance, watching
// targets (a YAML list, indented two spaces) on prom.
func (c cluster) detectorConfig(t *testing.T, instance, admin, prom, targets string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
admin: {listen_address: %q}
instance: %s
prometheus: {url: %q, query_timeout: 2s}
kafka:
  brokers: [%q]
  health_topic: %s
  leader_topic: %s
  group: %s
  transactional_id: %s
  session_timeout: 10s   # the default: takeover is measured as users get it
  publish_timeout: 5s
targets:
%s`, admin, instance, prom, c.broker, c.topic, c.leaderTopic, c.group, c.txn, targets)
	path := filepath.Join(t.TempDir(), instance+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// detector is one running `vigil detector` process.
type detector struct {
	*vigiltest.Process
	name, admin, config string
}

// startDetector runs `vigil detector --config path` and waits until it
// serves /readyz.
func startDetector(t *testing.T, name, admin, config string) *detector {
	t.Helper()
	p := vigiltest.Start(t, nil, "detector", "--config", config)
	p.WaitReady(admin, time.Minute)
	return &detector{Process: p, name: name, admin: admin, config: config}
}

// metric is the value of one sample on the detector's /metrics, 0 when the
// series does not exist (yet).
func (d *detector) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, err := vigiltest.Metric(d.admin, name, labels)
	require.NoError(t, err)
	return v
}

func (d *detector) leader(t *testing.T) bool {
	return d.metric(t, "vigil_detector_leader", nil) == 1
}

// evaluations counts the rule evaluations that got a value.
func (d *detector) evaluations(t *testing.T) float64 {
	return d.metric(t, "vigil_detector_rule_evaluations_total", map[string]string{"result": "ok"})
}

// event is one health event as a consumer of the topic reads it.
type event struct {
	events.Health
	Source string
	Time   time.Time
}

func (e event) String() string {
	return fmt.Sprintf("%s:%s->%s#%d", e.Target, e.PreviousStatus, e.Status, e.Generation)
}

// readHealth reads every committed event of the health topic, from the start
// to its last stable offset, each validated against the JSON Schema.
func (c cluster) readHealth(t *testing.T) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.broker))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListCommittedOffsets(ctx, c.topic)
	require.NoError(t, err)
	if err := ends.Error(); errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil // not created yet
	} else {
		require.NoError(t, err)
	}
	want := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	// The commit marker is the last offset below the end, so control
	// records are kept to see it.
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.broker),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	require.NoError(t, err)
	defer cons.Close()
	var out []event
	for len(want) > 0 {
		fs := cons.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "reading %s", c.topic)
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			if string(r.Key) == events.HeartbeatKey {
				return // the leader's heartbeat, not a transition
			}
			require.NoError(t, events.ValidateHealthChanged(r.Value))
			ev, err := events.Parse(r)
			require.NoError(t, err)
			h, err := events.Data[events.Health](ev)
			require.NoError(t, err)
			require.Equal(t, h.Target, string(r.Key), "the key is the target")
			out = append(out, event{Health: h, Source: ev.Source(), Time: ev.Time()})
		})
	}
	return out
}

// of keeps the events of one target.
func of(evs []event, target string) []event {
	var out []event
	for _, e := range evs {
		if e.Target == target {
			out = append(out, e)
		}
	}
	return out
}

func summary(evs []event) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = e.String()
	}
	return strings.Join(parts, " ")
}

// waitEvents waits until target has n events on the topic and returns them.
func (c cluster) waitEvents(t *testing.T, target string, n int, timeout time.Duration) []event {
	t.Helper()
	var got []event
	err := vigiltest.Eventually(timeout, func() error {
		if got = of(c.readHealth(t), target); len(got) < n {
			return fmt.Errorf("%d events of %s, want %d: %s", len(got), target, n, summary(got))
		}
		return nil
	})
	require.NoError(t, err)
	return got
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	require.NoError(t, vigiltest.Eventually(timeout, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	}), "timed out after %s waiting for %s", timeout, what)
}
