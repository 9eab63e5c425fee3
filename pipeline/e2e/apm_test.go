//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/demo"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// The PromQL below is OpenSearch Dashboards' APM (dashboards-observability
// 3.6.0.0, public/components/apm/query_services/query_requests/
// promql_queries.ts), each template filled in as Dashboards fills it and
// otherwise sent verbatim; the PPL is ppl_queries.ts' getQueryGetServiceMap
// and getQueryListServiceOperations.

// getQueryServicesThroughputTotal
func qServicesThroughputTotal(serviceFilter, timeRange string) string {
	return `sum by (service) (
  sum_over_time(request{` + serviceFilter + `,remoteService="",namespace="span_derived"}[` + timeRange + `])
)`
}

// getQueryServiceRequests, getQueryServiceFaults, getQueryServiceErrors
// (with window)
func qServiceTotal(metric, environment, serviceName, window string) string {
	return `sum(sum_over_time(` + metric + `{environment="` + environment + `",service="` + serviceName + `",remoteService="",namespace="span_derived"}[` + window + `]))`
}

// getQueryServicesLatencyInstant
func qServicesLatencyInstant(serviceFilter string, percentile float64, timeRange string) string {
	return `histogram_quantile(` + strconv.FormatFloat(percentile, 'f', -1, 64) + `,
  sum by (service, le) (
    sum_over_time(latency_seconds_bucket{` + serviceFilter + `,remoteService="",namespace="span_derived"}[` + timeRange + `])
  )
) * 1000`
}

// getQueryServiceDependenciesByFaultRateAvg
func qServiceDependenciesByFaultRateAvg(environment, serviceName, timeRange string) string {
	return `
topk(5,
  (
    sum by (remoteService) (sum_over_time(fault{environment="` + environment + `",service="` + serviceName + `",remoteService!="",namespace="span_derived"}[` + timeRange + `]))
    /
    clamp_min(sum by (remoteService) (sum_over_time(request{environment="` + environment + `",service="` + serviceName + `",remoteService!="",namespace="span_derived"}[` + timeRange + `])), 1)
  ) * 100
)
`
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func promQuery(t *testing.T, base, q string) []promSample {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, "success", out.Status, "%s: %s", q, out.Error)
	return out.Data.Result
}

func (p promSample) value() float64 {
	f, _ := strconv.ParseFloat(p.Value[1].(string), 64)
	return f
}

// byLabel maps a result's label values to their values.
func byLabel(rs []promSample, label string) map[string]float64 {
	m := map[string]float64{}
	for _, r := range rs {
		m[r.Metric[label]] = r.value()
	}
	return m
}

// apmConfig is the pipeline's apm section for these tests: short windows,
// remote-written to the Prometheus at promURL.
func apmConfig(promURL string) string {
	return fmt.Sprintf("apm: {enabled: true, window: 2s, grace: 1s, idle_close: 3s, remote_write_url: %q}\n", promURL+"/api/v1/write")
}

// TestAPM: demo.TraceSet through collector and pipeline with apm on, in an
// environment of the test's own. Dashboards' APM PromQL returns the three
// services, 20% of payment's requests as faults and a p99 inside the
// payment spans' bucket; the application map holds the two edges and
// payment's leaf. Read again from the start by a second consumer group,
// the windows are derived again: no document and no sample is added.
func TestAPM(t *testing.T) {
	prom := testinfra.Prometheus(t)
	s := newStack(t, 3)
	c := s.startCollector()
	p := s.startPipeline(apmConfig(prom))

	const traces = 50
	env := s.prefix
	td := demo.TraceSet(traces, time.Now().Add(-time.Minute), 42)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		td.ResourceSpans().At(i).Resource().Attributes().PutStr("deployment.environment.name", env)
	}
	newSender(t, c.grpc).sendTraces(td)

	filter := `environment="` + env + `"`
	require.NoError(t, vigiltest.Eventually(90*time.Second, func() error {
		got := byLabel(promQuery(t, prom, qServicesThroughputTotal(filter, "15m")), "service")
		if len(got) != 3 || got["payment"] != traces || got["frontend"] != traces || got["checkout"] != traces {
			return fmt.Errorf("services throughput %v", got)
		}
		return nil
	}), p.proc.Output())

	for _, tc := range []struct {
		metric, service string
		want            float64
	}{
		{"request", "payment", traces},
		{"fault", "payment", traces / 5},
		{"error", "payment", 0},
		{"fault", "checkout", 0},
		{"fault", "frontend", 0},
	} {
		rs := promQuery(t, prom, qServiceTotal(tc.metric, env, tc.service, "15m"))
		require.Len(t, rs, 1, "%s of %s", tc.metric, tc.service)
		require.Equal(t, tc.want, rs[0].value(), "%s of %s", tc.metric, tc.service)
	}
	deps := byLabel(promQuery(t, prom, qServiceDependenciesByFaultRateAvg(env, "checkout", "15m")), "remoteService")
	require.Equal(t, map[string]float64{"payment": 20}, deps, "checkout's calls to payment fail 20% of the time")
	p99 := byLabel(promQuery(t, prom, qServicesLatencyInstant(filter, 0.99, "15m")), "service")
	// Every payment span lasts 50 ms: the quantile lies in its bucket
	// (0.025, 0.05] s. With per-bucket counts instead of cumulative ones
	// it would not.
	require.Greater(t, p99["payment"], 25.0)
	require.LessOrEqual(t, p99["payment"], 50.0)
	require.Greater(t, p99["frontend"], 100.0, "frontend spans last 120 ms: (0.1, 0.25] s")
	require.LessOrEqual(t, p99["frontend"], 250.0)

	edges := func() ([]string, int) {
		var docs []map[string]any
		n := apmDocs(t, s, &docs)
		return apmEdges(docs), n
	}
	var before []string
	var docs0 int
	require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
		before, docs0 = edges()
		if len(before) != 3 {
			return fmt.Errorf("application map %v", before)
		}
		return nil
	}))
	require.Equal(t, []string{"checkout -> payment (POST /api/checkout -> payment.Charge)", "frontend -> checkout (GET /checkout -> POST /api/checkout)", "payment (payment.Charge)"}, before)
	pplServiceMap(t, s)

	// Everything again, from the first offset, under another group.
	p.proc.Stop(30 * time.Second)
	s.group += "-again"
	p2 := s.startPipeline(apmConfig(prom))
	require.NoError(t, vigiltest.Eventually(90*time.Second, func() error {
		v, err := vigiltest.Metric(p2.admin, "vigil_pipeline_apm_windows_total", map[string]string{"outcome": "written"})
		if err != nil || v == 0 {
			return fmt.Errorf("windows written again: %v %v", v, err)
		}
		if held, _ := vigiltest.Metric(p2.admin, "vigil_pipeline_apm_held_spans", nil); held > 0 {
			return fmt.Errorf("%v spans still in open windows", held)
		}
		return nil
	}), p2.proc.Output())
	after, docs1 := edges()
	require.Equal(t, before, after)
	require.Equal(t, docs0, docs1, "windows derived again add no document")
	got := byLabel(promQuery(t, prom, qServicesThroughputTotal(filter, "15m")), "service")
	require.Equal(t, map[string]float64{"frontend": traces, "checkout": traces, "payment": traces}, got, "windows derived again add no request")
	rs := promQuery(t, prom, qServiceTotal("fault", env, "payment", "15m"))
	require.Equal(t, float64(traces/5), rs[0].value())
}

// apmDocs reads every document of the application map into docs and
// returns how many there are.
func apmDocs(t *testing.T, s *stack, docs *[]map[string]any) int {
	t.Helper()
	require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+s.apmMap+"/_refresh", nil, nil))
	var res struct {
		Hits struct {
			Total struct{ Value int } `json:"total"`
			Hits  []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+s.apmMap+"/_search", map[string]any{"size": 1000, "track_total_hits": true}, &res))
	for _, h := range res.Hits.Hits {
		*docs = append(*docs, h.Source)
	}
	return res.Hits.Total.Value
}

// apmEdges is the distinct connections, as Dashboards draws them (dedup on
// operationConnectionHash).
func apmEdges(docs []map[string]any) []string {
	seen := map[string]string{}
	name := func(d map[string]any, k string) string {
		n, _ := d[k].(map[string]any)
		if n == nil {
			return ""
		}
		ka, _ := n["keyAttributes"].(map[string]any)
		return fmt.Sprint(ka["name"])
	}
	op := func(d map[string]any, k string) string {
		o, _ := d[k].(map[string]any)
		if o == nil {
			return ""
		}
		return fmt.Sprint(o["name"])
	}
	for _, d := range docs {
		h := fmt.Sprint(d["operationConnectionHash"])
		if name(d, "targetNode") == "" {
			seen[h] = fmt.Sprintf("%s (%s)", name(d, "sourceNode"), op(d, "sourceOperation"))
			continue
		}
		seen[h] = fmt.Sprintf("%s -> %s (%s -> %s)", name(d, "sourceNode"), name(d, "targetNode"), op(d, "sourceOperation"), op(d, "targetOperation"))
	}
	var out []string
	for _, v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// pplServiceMap sends Dashboards' getQueryGetServiceMap as PPL when the SQL
// plugin is installed.
func pplServiceMap(t *testing.T, s *stack) {
	t.Helper()
	var plugins []struct {
		Component string `json:"component"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodGet, "/_cat/plugins?format=json", nil, &plugins))
	has := false
	for _, p := range plugins {
		has = has || p.Component == "opensearch-sql"
	}
	if !has {
		t.Log("opensearch-sql not installed: PPL not sent (the query DSL above reads the same documents)")
		return
	}
	q := "source=" + s.apmMap + " | dedup nodeConnectionHash | fields sourceNode.keyAttributes, targetNode.keyAttributes, sourceNode.groupByAttributes, targetNode.groupByAttributes"
	var res struct {
		Total    int     `json:"total"`
		Datarows [][]any `json:"datarows"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodPost, "/_plugins/_ppl", map[string]any{"query": q}, &res))
	var got []string
	for _, r := range res.Datarows {
		got = append(got, strings.TrimSpace(fmt.Sprint(r[0])+" -> "+fmt.Sprint(r[1])))
	}
	sort.Strings(got)
	require.Len(t, got, 3, "PPL service map: %v", got)
}

// TestAPMReplicas: two pipeline replicas in one group share the span topic's
// partitions; one stops (its partitions move to the other) between two
// batches of the demo trace set. Dashboards' totals are exactly the traces
// sent: no series counted by both replicas, none counted twice across the
// move.
func TestAPMReplicas(t *testing.T) {
	prom := testinfra.Prometheus(t)
	s := newStack(t, 4)
	c := s.startCollector()
	apmYAML := apmConfig(prom)
	p1 := s.startPipeline(apmYAML)
	p2 := s.startPipeline(apmYAML)
	env := s.prefix
	filter := `environment="` + env + `"`
	send := func(n int, seed uint64) {
		td := demo.TraceSet(n, time.Now().Add(-time.Minute), seed)
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			td.ResourceSpans().At(i).Resource().Attributes().PutStr("deployment.environment.name", env)
		}
		newSender(t, c.grpc).sendTraces(td)
	}
	waitTotal := func(want float64) {
		t.Helper()
		require.NoError(t, vigiltest.Eventually(90*time.Second, func() error {
			got := byLabel(promQuery(t, prom, qServicesThroughputTotal(filter, "15m")), "service")
			if got["payment"] != want || got["frontend"] != want || got["checkout"] != want {
				return fmt.Errorf("services throughput %v, want %v each", got, want)
			}
			return nil
		}))
	}
	// Both replicas own span partitions before anything is sent.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, vigiltest.Eventually(60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		groups, err := kadm.NewClient(cl).DescribeGroups(ctx, s.group)
		if err != nil {
			return err
		}
		owners := 0
		for _, m := range groups[s.group].Members {
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range a.Topics {
					if tp.Topic == s.spansTopic && len(tp.Partitions) > 0 {
						owners++
					}
				}
			}
		}
		if owners != 2 {
			return fmt.Errorf("%d replicas own span partitions", owners)
		}
		return nil
	}))
	send(40, 1)
	waitTotal(40)
	both := 0
	for _, p := range []*pipeline{p1, p2} {
		if v, _ := vigiltest.Metric(p.admin, "vigil_pipeline_apm_windows_total", map[string]string{"outcome": "written"}); v > 0 {
			both++
		}
	}
	require.Equal(t, 2, both, "both replicas wrote windows of their own partitions")

	p2.proc.Stop(30 * time.Second)
	// The partitions move (the stopped replica left the group); spans
	// sent after that fall in later windows.
	time.Sleep(8 * time.Second)
	send(40, 2)
	waitTotal(80)
	// And it stays there: nothing late adds to it.
	time.Sleep(5 * time.Second)
	waitTotal(80)
	rs := promQuery(t, prom, qServiceTotal("fault", env, "payment", "15m"))
	require.Equal(t, 16.0, rs[0].value())
}
