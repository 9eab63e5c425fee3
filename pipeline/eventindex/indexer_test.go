package eventindex

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/dlq"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	broker string
	os     *opensearch.Client
	names  opensearch.Names
	cfg    Config
	dlq    string
}

// newEnv is a kfake cluster and unique index names on the real OpenSearch,
// with the templates installed as the pipeline installs them.
func newEnv(t *testing.T) *env {
	osURL := testinfra.OpenSearch(t)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "vigil.health", "vigil.failover", "vigil.dlq"))
	require.NoError(t, err)
	t.Cleanup(kc.Close)
	ocfg := opensearch.DefaultConfig()
	ocfg.Addresses = []string{osURL}
	osc, err := opensearch.NewClient(ocfg)
	require.NoError(t, err)
	t.Cleanup(func() { osc.Close() })
	p := fmt.Sprintf("tevents%06d", rand.IntN(1e6))
	n := opensearch.Names{SpanAlias: p + "-span", ServiceMap: p + "-servicemap", LogsDataStream: p + "_logs-x", Events: p + "-health-events", DLQ: p + "-dlq"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		osc.Do(ctx, http.MethodDelete, "/"+n.SpanAlias+"-*,"+n.Events+","+n.DLQ+"?ignore_unavailable=true&allow_no_indices=true", nil)
		for _, tpl := range []string{n.SpanTemplate(), n.ServiceMapTemplate(), n.LogsTemplate(), n.EventsTemplate(), n.DLQTemplate()} {
			osc.Do(ctx, http.MethodDelete, "/_index_template/"+tpl, nil)
		}
	})
	in := &opensearch.Installer{Client: osc, Names: n, Settings: opensearch.Settings{Shards: 1, RefreshInterval: "1s", TotalFieldsLimit: 1000},
		Lifecycle: opensearch.Lifecycle{RolloverSize: "1gb", RolloverAge: "1d", DeleteAfter: "1d"}}
	require.NoError(t, in.Install(t.Context()))
	return &env{broker: kc.ListenAddrs()[0], os: osc, names: n, cfg: DefaultConfig(), dlq: "vigil.dlq"}
}

func (e *env) produce(t *testing.T, recs ...*kgo.Record) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.broker))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(t.Context(), recs...).FirstErr())
}

// run starts an indexer in group and returns its registry and a stop func.
func (e *env) run(t *testing.T, group string) (*prometheus.Registry, func()) {
	reg := prometheus.NewRegistry()
	cfg := e.cfg
	cfg.Group = group
	ix, err := New(cfg, Deps{Kafka: []kgo.Opt{kgo.SeedBrokers(e.broker)}, DLQTopic: e.dlq, OpenSearch: func() *opensearch.Client { return e.os },
		EventsIndex: e.names.Events, DLQIndex: e.names.DLQ, Registerer: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	return reg, func() { cancel(); require.NoError(t, <-done) }
}

func (e *env) count(t *testing.T, index string) int {
	res, err := e.os.Do(t.Context(), http.MethodGet, "/"+index+"/_count", nil)
	require.NoError(t, err)
	if res.Status == 404 {
		return 0
	}
	var c struct{ Count int }
	require.NoError(t, json.Unmarshal(res.Body, &c), string(res.Body))
	return c.Count
}

func (e *env) doc(t *testing.T, index, id string) map[string]any {
	res, err := e.os.Do(t.Context(), http.MethodGet, "/"+index+"/_doc/"+id, nil)
	require.NoError(t, err)
	require.Equal(t, 200, res.Status, string(res.Body))
	var d struct {
		Source map[string]any `json:"_source"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &d))
	return d.Source
}

func healthRecord(t *testing.T, target string, gen uint64, status events.Status, at time.Time) *kgo.Record {
	v := 0.97
	h := events.Health{Target: target, Status: status, PreviousStatus: events.Healthy, Since: at, Rule: "opensearch-rejections", Value: &v,
		Reason: "bulk rejections above 5%", Labels: map[string]string{"team": "search"}, Generation: gen}
	ev, err := events.New(fmt.Sprintf("%s-%d", target, gen), "vigil/detector", events.HealthChangedType, target, at, h)
	require.NoError(t, err)
	r, err := events.Record(events.HealthTopic, ev)
	require.NoError(t, err)
	return r
}

func TestIndexesEventsAndDLQHeaders(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	fo := events.Failover{Target: "opensearch", From: "primary", To: "standby", Reason: "primary CRITICAL for 5m0s", At: at.Add(5 * time.Minute), Generation: 4, HealthGeneration: 2}
	foEv, err := events.New("opensearch/4/"+events.FailoverRequestedType, "vigil/alerting", events.FailoverRequestedType, "opensearch", fo.At, fo)
	require.NoError(t, err)
	foRec, err := events.Record(events.FailoverTopic, foEv)
	require.NoError(t, err)
	entry := dlq.Entry{SourceTopic: "otlp_logs", SourcePartition: 3, SourceOffset: 1207, SourceTimestamp: at, ErrorType: "mapper_parsing_exception",
		Reason: "failed to parse field [attributes]", HTTPStatus: 400, TargetIndex: "ss4o_logs-vigil-default", Attempts: 1, FailedDocuments: 2,
		FirstFailure: at.Add(time.Minute), LastFailure: at.Add(time.Minute)}
	dlqRec := dlq.Record("vigil.dlq", entry, []byte("k"), []byte("0123456789"))
	garbage := &kgo.Record{Topic: events.HealthTopic, Key: []byte("x"), Value: []byte("not a cloudevent")}
	// The detector's heartbeat shares the health topic; it is no event.
	hbEv, err := events.New("hb-1", "vigil/detector", events.DetectorHeartbeatType, events.HeartbeatKey, at, events.Heartbeat{Instance: "d1", IntervalSeconds: 15, Targets: 2})
	require.NoError(t, err)
	hbRec, err := events.Record(events.HealthTopic, hbEv)
	require.NoError(t, err)
	hbRec.Key = []byte(events.HeartbeatKey)

	e.produce(t, healthRecord(t, "opensearch", 1, events.Caution, at), healthRecord(t, "opensearch", 2, events.Critical, at.Add(time.Minute)), garbage, hbRec, foRec, dlqRec)
	// An event whose transaction aborted never shows.
	tx, err := kgo.NewClient(kgo.SeedBrokers(e.broker), kgo.TransactionalID("t-aborted"))
	require.NoError(t, err)
	require.NoError(t, tx.BeginTransaction())
	require.NoError(t, tx.ProduceSync(t.Context(), healthRecord(t, "kafka", 1, events.Critical, at)).FirstErr())
	require.NoError(t, tx.EndTransaction(t.Context(), kgo.TryAbort))
	tx.Close()
	e.produce(t, healthRecord(t, "kafka", 2, events.Caution, at.Add(2*time.Minute)))

	reg, stop := e.run(t, "g1")
	require.Eventually(t, func() bool { return e.count(t, e.names.Events) == 4 && e.count(t, e.names.DLQ) == 1 }, 60*time.Second, 250*time.Millisecond)
	res, err := e.os.Do(t.Context(), http.MethodGet, "/"+e.names.Events+"/_doc/"+events.HealthChangedType+"%2Fkafka-1", nil)
	require.NoError(t, err)
	require.Equal(t, 404, res.Status, "the aborted event was indexed")
	stop()
	require.Equal(t, 1.0, testutil.ToFloat64(must(reg, "vigil_pipeline_events_skipped_total", "invalid", "vigil.health")))
	require.Equal(t, 1.0, testutil.ToFloat64(must(reg, "vigil_pipeline_events_skipped_total", "heartbeat", "vigil.health")))

	h := e.doc(t, e.names.Events, events.HealthChangedType+"%2Fopensearch-2")
	require.Equal(t, "health", h["kind"])
	require.Equal(t, "opensearch", h["target"])
	require.Equal(t, "CRITICAL", h["status"])
	require.Equal(t, "HEALTHY", h["previousStatus"])
	require.Equal(t, 0.97, h["value"])
	require.Equal(t, map[string]any{"team": "search"}, h["labels"])
	require.Equal(t, "2026-11-22T10:01:00Z", h["@timestamp"])
	f := e.doc(t, e.names.Events, events.FailoverRequestedType+"%2Fopensearch%2F4%2F"+events.FailoverRequestedType)
	require.Equal(t, "failover", f["kind"])
	require.Equal(t, "standby", f["to"])
	require.Equal(t, 2.0, f["healthGeneration"])
	require.Equal(t, "2026-11-22T10:05:00Z", f["@timestamp"])
	d := e.doc(t, e.names.DLQ, "vigil.dlq-0-0")
	require.Equal(t, "mapper_parsing_exception", d["errorType"])
	require.Equal(t, 400.0, d["httpStatus"])
	require.Equal(t, map[string]any{"topic": "otlp_logs", "partition": 3.0, "offset": 1207.0, "timestamp": "2026-11-22T10:00:00Z"}, d["source"])
	require.Equal(t, 10.0, d["valueBytes"])
	require.NotContains(t, d, "value", "never the payload")

	// Searchable with the mapping's types (a keyword term, a date range).
	res, err = e.os.Do(t.Context(), http.MethodPost, "/"+e.names.Events+"/_count",
		[]byte(`{"query":{"bool":{"filter":[{"term":{"status":"CRITICAL"}},{"range":{"@timestamp":{"gte":"2026-11-22T10:00:30Z"}}},{"term":{"labels.team":"search"}}]}}}`))
	require.NoError(t, err)
	require.Contains(t, string(res.Body), `"count":1`)

	// Re-delivery is harmless: a second group reads everything again, and
	// the same event produced twice is still one document.
	e.produce(t, healthRecord(t, "opensearch", 2, events.Critical, at.Add(time.Minute)))
	reg, stop = e.run(t, "g2")
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(must(reg, "vigil_pipeline_events_indexed_total", e.names.Events)) == 5
	}, 60*time.Second, 250*time.Millisecond, "all five committed health/failover records seen again")
	stop()
	_, err = e.os.Do(t.Context(), http.MethodPost, "/"+e.names.Events+"/_refresh", nil)
	require.NoError(t, err)
	require.Equal(t, 4, e.count(t, e.names.Events))
	require.Equal(t, 1, e.count(t, e.names.DLQ))
}

// must is the counter name{labels} of reg (label values in the order of
// the label names, sorted), or a zero collector.
func must(reg *prometheus.Registry, name string, labels ...string) prometheus.Collector {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetValue())
			}
			if strings.Join(vals, ",") == strings.Join(labels, ",") {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return 0 })
}

func TestConfig(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	c := DefaultConfig()
	c.Group, c.FailoverTopic = "", c.HealthTopic
	require.EqualError(t, c.Validate(), "invalid configuration (2 problems):\n  failover_topic: must differ from kafka.health_topic (got \"vigil.health\")\n  group: must not be empty")
	c.Enabled = false
	ix, err := New(c, Deps{})
	require.NoError(t, err)
	require.Nil(t, ix)
}
