package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

const testTarget = "opensearch"

// failoverEnv adds the real standby OpenSearch and the failover topic to a
// test's env.
func failoverEnv(t *testing.T) (*env, Config, *opensearch.Client) {
	t.Helper()
	e, cfg, sb := failoverEnvNoTopic(t)
	_, err := kadm.NewClient(e.prod).CreateTopics(t.Context(), 1, 1, nil, cfg.Failover.Topic)
	require.NoError(t, err)
	return e, cfg, sb
}

func failoverEnvNoTopic(t *testing.T) (*env, Config, *opensearch.Client) {
	t.Helper()
	e := newEnv(t)
	sbURL := testinfra.OpenSearchStandby(t)
	cfg := e.cfg
	cfg.Failover.Target = testTarget
	cfg.Failover.Standby.Addresses = []string{sbURL}
	cfg.Failover.Actor = "pipeline/test"
	cfg.Retry.MaxBackoff = 500 * time.Millisecond
	sbCfg := cfg
	sbCfg.OpenSearch = cfg.Failover.Standby
	cleanupIndices(t, sbCfg)
	sb, err := opensearch.NewClient(cfg.Failover.Standby)
	require.NoError(t, err)
	t.Cleanup(func() { sb.Close() })
	return e, cfg, sb
}

// publishRequest writes a controller decision on the failover topic.
func publishRequest(t *testing.T, e *env, typ string, gen uint64) {
	t.Helper()
	from, to := sidePrimary, sideStandby
	if typ == events.FailbackRequestedType {
		from, to = to, from
	}
	at := time.Now().UTC()
	d := events.Failover{Target: testTarget, From: from, To: to, Reason: "test", At: at, Generation: gen}
	ev, err := events.New(fmt.Sprintf("%s/%d/%s", testTarget, gen, typ), "vigil/alerting", typ, testTarget, at, d)
	require.NoError(t, err)
	r, err := events.Record(e.cfg.Failover.Topic, ev)
	require.NoError(t, err)
	r.Partition = 0
	require.NoError(t, e.prod.ProduceSync(t.Context(), r).FirstErr())
}

// outcomes reads every executor outcome on the failover topic, as
// "type/generation/actor".
func outcomes(t *testing.T, e *env) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.ListenAddrs()...), kgo.ConsumeTopics(e.cfg.Failover.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	end, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), e.cfg.Failover.Topic)
	require.NoError(t, err)
	want, _ := end.Lookup(e.cfg.Failover.Topic, 0)
	var out []string
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for read := int64(0); read < want.Offset && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			read = r.Offset + 1
			ev, err := events.Parse(r)
			require.NoError(t, err)
			require.NoError(t, events.ValidateFailover(r.Value), string(r.Value))
			if strings.HasSuffix(ev.Type(), ".requested.v1") {
				return
			}
			d, err := events.Data[events.Failover](ev)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("%s/%d/%s", testTarget, d.Generation, ev.Type()), ev.ID())
			require.Equal(t, "vigil/pipeline", ev.Source())
			out = append(out, fmt.Sprintf("%s/%d/%s", ev.Type(), d.Generation, d.Actor))
		})
	}
	return out
}

// countOn is a data stream's exact document count on one cluster.
func countOn(t *testing.T, c *opensearch.Client, index string) int {
	t.Helper()
	ctx := t.Context()
	_, err := c.Do(ctx, http.MethodPost, "/"+index+"/_refresh?ignore_unavailable=true&allow_no_indices=true", nil)
	require.NoError(t, err)
	res, err := c.Do(ctx, http.MethodGet, "/"+index+"/_count?ignore_unavailable=true&allow_no_indices=true", nil)
	require.NoError(t, err)
	if res.Status == 404 || res.Status == 503 {
		return 0
	}
	require.Equal(t, 200, res.Status, string(res.Body))
	var n struct {
		Count int `json:"count"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &n))
	return n.Count
}

// TestFailoverSwitchesTheSink: on real primary and standby clusters, the
// pipeline writes where the failover topic says, switches on requests,
// answers each with exactly one outcome of the same generation, ignores
// stale requests, and after a restart carries out a request it finds
// unanswered. Every batch lands on exactly one cluster, exactly once.
func TestFailoverSwitchesTheSink(t *testing.T) {
	e, cfg, sb := failoverEnv(t)
	logs := cfg.Indices.LogsDataStream
	counts := func(p, s int) func() bool {
		return func() bool { return countOn(t, e.os, logs) == p && countOn(t, sb, logs) == s }
	}
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(30, "a"))
	eventually(t, "batch a on the primary", counts(30, 0))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_opensearch_active", "side", sidePrimary))

	publishRequest(t, e, events.FailoverRequestedType, 1)
	eventually(t, "failover completed", func() bool { return len(outcomes(t, e)) == 1 })
	require.Equal(t, []string{events.FailoverCompletedType + "/1/pipeline/test"}, outcomes(t, e))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_opensearch_active", "side", sideStandby))
	require.Equal(t, 0.0, metricValue(t, reg, "vigil_pipeline_opensearch_active", "side", sidePrimary))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_failover_switches_total", "to", sideStandby, "result", "completed"))
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(20, "b"))
	eventually(t, "batch b on the standby only", counts(30, 20))

	// A replayed (stale) request changes nothing and gets no answer.
	publishRequest(t, e, events.FailoverRequestedType, 1)
	publishRequest(t, e, events.FailbackRequestedType, 2)
	eventually(t, "failback completed", func() bool { return len(outcomes(t, e)) == 2 })
	require.Equal(t, events.FailbackCompletedType+"/2/pipeline/test", outcomes(t, e)[1])
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(10, "c"))
	eventually(t, "batch c on the primary", counts(40, 20))
	require.NoError(t, stop())

	// Decided while the pipeline was down: carried out at start, before
	// anything is written.
	publishRequest(t, e, events.FailoverRequestedType, 3)
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(5, "d"))
	reg = prometheus.NewRegistry()
	stop = e.run(cfg, reg)
	eventually(t, "batch d on the standby", counts(40, 25))
	require.Equal(t, []string{
		events.FailoverCompletedType + "/1/pipeline/test",
		events.FailbackCompletedType + "/2/pipeline/test",
		events.FailoverCompletedType + "/3/pipeline/test",
	}, outcomes(t, e))
	require.NoError(t, stop())

	// A restart after the outcome: the standby still serves, nothing is
	// published again.
	stop = e.run(cfg, prometheus.NewRegistry())
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(7, "e"))
	eventually(t, "batch e on the standby", counts(40, 32))
	require.NoError(t, stop())
	require.Len(t, outcomes(t, e), 3)
}

// TestFailoverResendsWhatThePrimaryCouldNotTake: with the primary down from
// the start (nothing listens), records wait in the sink; the failover
// request moves them to the standby, where each is indexed exactly once.
func TestFailoverResendsWhatThePrimaryCouldNotTake(t *testing.T) {
	e, cfg, sb := failoverEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // its port now refuses connections
	cfg.OpenSearch.Addresses = []string{dead.URL}
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	for i := range 10 {
		e.produce(cfg.Kafka.Logs.Topic, int32(i%2), logsPayload(50, fmt.Sprintf("r%d", i)))
	}
	eventually(t, "the primary reported down", func() bool {
		return metricValue(t, reg, "vigil_pipeline_opensearch_up", "cluster", "standby") == 1 &&
			metricValue(t, reg, "vigil_pipeline_opensearch_up", "cluster", "primary") == 0
	})
	publishRequest(t, e, events.FailoverRequestedType, 1)
	eventually(t, "all 500 on the standby", func() bool { return countOn(t, sb, cfg.Indices.LogsDataStream) == 500 })
	require.Equal(t, []string{events.FailoverCompletedType + "/1/pipeline/test"}, outcomes(t, e))
	require.NoError(t, stop())
	require.Equal(t, 500, countOn(t, sb, cfg.Indices.LogsDataStream), "no record indexed twice")
	require.Equal(t, 0.0, metricValue(t, reg, "vigil_pipeline_documents_total", "kind", "log", "outcome", "dead_lettered"))
}

// TestFailoverFailsWhenTheStandbyIsDown: a standby that does not answer
// within switch_timeout gets `failover failed` with the reason, and writing
// stays on the primary.
func TestFailoverFailsWhenTheStandbyIsDown(t *testing.T) {
	e, cfg, _ := failoverEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	cfg.Failover.Standby.Addresses = []string{dead.URL}
	cfg.Failover.SwitchTimeout = 2 * time.Second
	reg := prometheus.NewRegistry()
	stop := e.run(cfg, reg)
	defer func() { require.NoError(t, stop()) }()
	publishRequest(t, e, events.FailoverRequestedType, 1)
	eventually(t, "failover failed", func() bool { return len(outcomes(t, e)) == 1 })
	require.Equal(t, []string{events.FailoverFailedType + "/1/pipeline/test"}, outcomes(t, e))
	require.Equal(t, 1.0, metricValue(t, reg, "vigil_pipeline_opensearch_active", "side", sidePrimary))
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(12, "f"))
	eventually(t, "batch f on the primary", func() bool { return countOn(t, e.os, cfg.Indices.LogsDataStream) == 12 })
}

// TestSidesCancelRequestsOnSwitch: a bulk request hanging on a black-holed
// primary (a fault a real cluster cannot be made to show on demand) is
// abandoned as soon as writing moves, so its documents go to the new side
// without waiting for the request timeout.
func TestSidesCancelRequestsOnSwitch(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	mk := func(name, url string) *opensearch.Client {
		cfg := opensearch.DefaultConfig()
		cfg.Name, cfg.Addresses, cfg.RequestTimeout = name, []string{url}, time.Hour
		c, err := opensearch.NewClient(cfg)
		require.NoError(t, err)
		return c
	}
	w := newSides(mk("a", srv.URL), mk("b", srv.URL))
	defer w.close()
	errc := make(chan error, 1)
	go func() { _, err := w.Bulk(context.Background(), [][]byte{[]byte("{}\n")}, 1); errc <- err }()
	time.Sleep(100 * time.Millisecond) // let the request reach the server; the assertion below holds either way
	require.True(t, w.set(1))
	select {
	case err := <-errc:
		require.ErrorIs(t, err, errSwitched)
	case <-time.After(30 * time.Second):
		t.Fatal("the request on the old side was not abandoned at the switch")
	}
	require.False(t, w.set(1), "setting the active side again changes nothing")
}

// TestFailoverTopicCreatedLater: a pipeline started before the failover
// topic exists writes to the primary and still sees the first request once
// the topic appears.
func TestFailoverTopicCreatedLater(t *testing.T) {
	e, cfg, sb := failoverEnvNoTopic(t)
	stop := e.run(cfg, prometheus.NewRegistry())
	defer func() { require.NoError(t, stop()) }()
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(9, "g"))
	eventually(t, "batch g on the primary", func() bool { return countOn(t, e.os, cfg.Indices.LogsDataStream) == 9 })
	_, err := kadm.NewClient(e.prod).CreateTopics(t.Context(), 1, 1, nil, cfg.Failover.Topic)
	require.NoError(t, err)
	publishRequest(t, e, events.FailoverRequestedType, 1)
	eventually(t, "failover completed", func() bool { return len(outcomes(t, e)) == 1 })
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(4, "h"))
	eventually(t, "batch h on the standby", func() bool { return countOn(t, sb, cfg.Indices.LogsDataStream) == 4 })
}

// TestFailoverWithTwoReplicas: replicas of one pipeline deployment (one
// consumer group) each switch their own sink and each answer the request;
// the outcomes carry the same event id and generation (the controller
// applies the first), and the records of every partition go to the standby.
func TestFailoverWithTwoReplicas(t *testing.T) {
	e, cfg, sb := failoverEnv(t)
	a, b := cfg, cfg
	a.Failover.Actor, b.Failover.Actor = "pipeline/a", "pipeline/b"
	stopA := e.run(a, prometheus.NewRegistry())
	stopB := e.run(b, prometheus.NewRegistry())
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(6, "i"))
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(8, "j"))
	eventually(t, "both batches on the primary", func() bool { return countOn(t, e.os, cfg.Indices.LogsDataStream) == 14 })
	publishRequest(t, e, events.FailoverRequestedType, 1)
	eventually(t, "two outcomes", func() bool { return len(outcomes(t, e)) == 2 })
	got := outcomes(t, e)
	slices.Sort(got)
	require.Equal(t, []string{events.FailoverCompletedType + "/1/pipeline/a", events.FailoverCompletedType + "/1/pipeline/b"}, got)
	e.produce(cfg.Kafka.Logs.Topic, 0, logsPayload(5, "k"))
	e.produce(cfg.Kafka.Logs.Topic, 1, logsPayload(7, "l"))
	eventually(t, "both new batches on the standby", func() bool { return countOn(t, sb, cfg.Indices.LogsDataStream) == 12 })
	require.NoError(t, stopA())
	require.NoError(t, stopB())
	require.Equal(t, 14, countOn(t, e.os, cfg.Indices.LogsDataStream))
}
