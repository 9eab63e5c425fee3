//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/demo"
)

// The queries below are those OpenSearch Dashboards' Trace Analytics sends
// in Data Prepper mode, transcribed from opensearch-project/
// dashboards-observability (commit eec79bc7, 2026-08-05) with the defaults
// it fills in (TRACES_MAX_NUM 500, service map max nodes 500 and edges
// 1000) and no time filter:
//   - services table: getServicesQuery and getServiceMetricsQuery in
//     public/components/trace_analytics/requests/queries/services_queries.ts
//   - service map: getServiceMapQuery in the same file
//   - traces table: getTracesQuery in
//     public/components/trace_analytics/requests/queries/traces_queries.ts
// Dashboards sends them to otel-v1-apm-span-* and otel-v1-apm-service-map*;
// here the names carry the test's prefix.

const servicesQuery = `{
  "size": 0,
  "query": {"bool": {"must": [], "filter": [], "should": [], "must_not": []}},
  "aggs": {
    "service": {
      "terms": {"field": "serviceName", "size": 10000},
      "aggs": {"trace_count": {"cardinality": {"field": "traceId"}}}
    }
  }
}`

// serviceMetricsQuery has TARGETS where Dashboards puts the service map's
// target resources.
const serviceMetricsQuery = `{
  "size": 0,
  "query": {"bool": {"must": [], "should": [], "must_not": [], "filter": [
    {"terms": {"serviceName": SERVICES}},
    {"bool": {"should": [
      {"bool": {"filter": [
        {"bool": {"must_not": {"term": {"parentSpanId": {"value": ""}}}}},
        {"terms": {"name": TARGETS}}
      ]}},
      {"bool": {"must": {"term": {"parentSpanId": {"value": ""}}}}}
    ], "adjust_pure_negative": true, "boost": 1}}
  ]}},
  "aggregations": {
    "service_name": {
      "terms": {"field": "serviceName", "size": 500, "min_doc_count": 1, "shard_min_doc_count": 0,
        "show_term_doc_count_error": false, "order": [{"_count": "desc"}, {"_key": "asc"}]},
      "aggregations": {
        "average_latency_nanos": {"avg": {"field": "durationInNanos"}},
        "average_latency": {"bucket_script": {"buckets_path": {"count": "_count", "latency": "average_latency_nanos.value"},
          "script": "Math.round(params.latency / 10000) / 100.0"}},
        "error_count": {"filter": {"term": {"status.code": "2"}}},
        "error_rate": {"bucket_script": {"buckets_path": {"total": "_count", "errors": "error_count._count"},
          "script": "params.errors / params.total * 100"}}
      }
    }
  }
}`

const serviceMapQuery = `{
  "size": 0,
  "query": {"bool": {"must": [], "filter": [], "should": [], "must_not": []}},
  "aggs": {
    "service_name": {
      "terms": {"field": "serviceName", "size": 500},
      "aggs": {
        "target_resource": {"terms": {"field": "target.resource", "size": 1000}},
        "target_edges": {"terms": {"field": "target.resource", "size": 1000}, "aggs": {
          "service": {"terms": {"field": "target.serviceName", "size": 1000}},
          "domain": {"terms": {"field": "target.domain", "size": 1000}}}},
        "destination_edges": {"terms": {"field": "destination.resource", "size": 1000}, "aggs": {
          "service": {"terms": {"field": "destination.serviceName", "size": 1000}},
          "domain": {"terms": {"field": "destination.domain", "size": 1000}}}}
      }
    }
  }
}`

const tracesQuery = `{
  "size": 0,
  "query": {"bool": {"must": [], "filter": [], "should": [], "must_not": []}},
  "aggs": {
    "unique_traces": {"cardinality": {"field": "traceId"}},
    "traces": {
      "terms": {"field": "traceId", "size": 500, "order": {"_key": "asc"}},
      "aggs": {
        "latency": {"max": {"script": {"lang": "painless", "source": "\n                if (doc.containsKey('traceGroupFields.durationInNanos') && !doc['traceGroupFields.durationInNanos'].empty) {\n                  return Math.round(doc['traceGroupFields.durationInNanos'].value / 10000) / 100.0\n                }\n                "}}},
        "trace_group": {"terms": {"field": "traceGroup", "size": 1}},
        "error_count": {"filter": {"term": {"traceGroupFields.statusCode": "2"}}},
        "last_updated": {"max": {"script": {"lang": "painless", "source": "\n                  if (doc.containsKey('traceGroupFields.endTime') && !doc['traceGroupFields.endTime'].empty) {\n                    return doc['traceGroupFields.endTime'].value;\n                  }\n                  if (doc.containsKey('endTime') && !doc['endTime'].empty) {\n                    return doc['endTime'].value;\n                  }\n                "}}}
      }
    }
  },
  "track_total_hits": false
}`

type docCount struct {
	DocCount int `json:"doc_count"`
}

type bucket struct {
	Key      any `json:"key"`
	DocCount int `json:"doc_count"`
}

// TestTraceAnalyticsQueries: demo.TraceSet (frontend ->
// checkout -> payment, every fifth payment failing) through the collector
// and pipeline; the queries Dashboards sends for its services table,
// traces table and service map return the three services, the trace
// group, the error counts and the two edges.
func TestTraceAnalyticsQueries(t *testing.T) {
	s := newStack(t, 3)
	c := s.startCollector()
	s.startPipeline("")
	// 50 traces as the demo makes them, and 10 more whose root fails too
	// (the traces table counts a trace as failed by its root's status).
	const traces, rootFailed = 60, 10
	snd := newSender(t, c.grpc)
	snd.sendTraces(demo.TraceSet(traces-rootFailed, time.Now().Add(-time.Minute), 42))
	bad := demo.TraceSet(rootFailed, time.Now().Add(-30*time.Second), 43)
	failedRoots := map[string]bool{}
	for i := 0; i < bad.ResourceSpans().Len(); i++ {
		sss := bad.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				if sp := sss.At(j).Spans().At(k); sp.ParentSpanID().IsEmpty() {
					sp.Status().SetCode(ptrace.StatusCodeError)
					failedRoots[sp.TraceID().String()] = true
				}
			}
		}
	}
	require.Len(t, failedRoots, rootFailed)
	snd.sendTraces(bad)
	s.waitCount(s.spanAlias, traces*5, 3*time.Minute)
	// Two relationships per calling service pair, one per served resource.
	s.waitCount(s.serviceMap, 4, time.Minute)
	requireMapping(t, s, s.serviceMap, "mapping_servicemap.json", "otel-v1-apm-service-map.json")

	spans, smap := s.spanAlias[:len(s.spanAlias)-len("-otel-v1-apm-span")]+"-otel-v1-apm-span-*", s.serviceMap+"*"

	// Service map: which service calls which, through which resource.
	var sm struct {
		Aggregations struct {
			ServiceName struct {
				Buckets []struct {
					Key            string                     `json:"key"`
					TargetResource struct{ Buckets []bucket } `json:"target_resource"`
					Destination    struct {
						Buckets []struct {
							Key    string
							Domain struct{ Buckets []bucket } `json:"domain"`
						}
					} `json:"destination_edges"`
				}
			} `json:"service_name"`
		}
	}
	search(t, s, smap, serviceMapQuery, &sm)
	targets := map[string][]string{}
	edges := map[string]string{}
	var allTargets []string
	for _, b := range sm.Aggregations.ServiceName.Buckets {
		for _, r := range b.TargetResource.Buckets {
			targets[b.Key] = append(targets[b.Key], r.Key.(string))
			allTargets = append(allTargets, r.Key.(string))
		}
		for _, d := range b.Destination.Buckets {
			for _, dom := range d.Domain.Buckets {
				edges[b.Key+" -> "+dom.Key.(string)] = d.Key
			}
		}
	}
	// As in Data Prepper, a target relationship comes from a span called
	// from another service, so the root's service (frontend) serves none.
	require.Equal(t, map[string][]string{
		demo.Checkout: {"POST /api/checkout"},
		demo.Payment:  {"payment.Charge"},
	}, targets, "service map: resources each service serves")
	require.Equal(t, map[string]string{
		demo.Frontend + " -> " + demo.Checkout: "POST /api/checkout",
		demo.Checkout + " -> " + demo.Payment:  "payment.Charge",
	}, edges, "service map: edges")

	// Services table: every service with its trace count, then latency and
	// errors for the spans the service map names.
	var svc struct {
		Aggregations struct {
			Service struct {
				Buckets []struct {
					Key        string
					TraceCount struct{ Value int } `json:"trace_count"`
				}
			}
		}
	}
	search(t, s, spans, servicesQuery, &svc)
	traceCounts := map[string]int{}
	var names []string
	for _, b := range svc.Aggregations.Service.Buckets {
		traceCounts[b.Key] = b.TraceCount.Value
		names = append(names, b.Key)
	}
	require.Equal(t, map[string]int{demo.Frontend: traces, demo.Checkout: traces, demo.Payment: traces}, traceCounts, "services table: traces per service")

	sort.Strings(allTargets)
	q := strings.NewReplacer("SERVICES", jsonString(names), "TARGETS", jsonString(allTargets)).Replace(serviceMetricsQuery)
	var met struct {
		Aggregations struct {
			ServiceName struct {
				Buckets []struct {
					Key            string
					DocCount       int                     `json:"doc_count"`
					ErrorCount     docCount                `json:"error_count"`
					AverageLatency struct{ Value float64 } `json:"average_latency"`
				}
			} `json:"service_name"`
		}
	}
	search(t, s, spans, q, &met)
	type row struct {
		spans, errors int
		latencyMs     float64
	}
	got := map[string]row{}
	for _, b := range met.Aggregations.ServiceName.Buckets {
		got[b.Key] = row{b.DocCount, b.ErrorCount.DocCount, b.AverageLatency.Value}
	}
	// Every fifth trace of each set fails in payment.
	failed := (traces-rootFailed)/5 + rootFailed/5
	require.Equal(t, map[string]row{
		// The root (120 ms) and the client call named like checkout's resource (100 ms).
		demo.Frontend: {2 * traces, rootFailed, 110},
		// Its server span (90 ms) and its call named like payment's resource (60 ms), failing in every fifth trace.
		demo.Checkout: {2 * traces, failed, 75},
		demo.Payment:  {traces, failed, 50},
	}, got, "services table: spans, errors and average latency (ms) per service")

	// Traces table: every trace with its group, root latency and status.
	var tr struct {
		Aggregations struct {
			UniqueTraces struct{ Value int } `json:"unique_traces"`
			Traces       struct {
				Buckets []struct {
					Key        string
					DocCount   int                        `json:"doc_count"`
					Latency    struct{ Value float64 }    `json:"latency"`
					TraceGroup struct{ Buckets []bucket } `json:"trace_group"`
					ErrorCount docCount                   `json:"error_count"`
					Last       struct{ Value float64 }    `json:"last_updated"`
				}
			}
		}
	}
	search(t, s, spans, tracesQuery, &tr)
	require.Equal(t, traces, tr.Aggregations.UniqueTraces.Value, "traces table: unique traces")
	require.Len(t, tr.Aggregations.Traces.Buckets, traces, "traces table: rows")
	for _, b := range tr.Aggregations.Traces.Buckets {
		require.Equal(t, 5, b.DocCount, "trace %s: spans", b.Key)
		require.Len(t, b.TraceGroup.Buckets, 1, "trace %s: trace group", b.Key)
		require.Equal(t, "GET /checkout", b.TraceGroup.Buckets[0].Key, "trace %s: trace group", b.Key)
		require.Equal(t, 5, b.TraceGroup.Buckets[0].DocCount, "trace %s: every span carries the group", b.Key)
		require.InDelta(t, 120, b.Latency.Value, 0.001, "trace %s: latency (ms) from traceGroupFields.durationInNanos", b.Key)
		// Dashboards counts a trace as failed by its root's status
		// (traceGroupFields.statusCode, on every span of the trace).
		wantErrors := 0
		if failedRoots[b.Key] {
			wantErrors = 5
		}
		require.Equal(t, wantErrors, b.ErrorCount.DocCount, "trace %s: spans carrying the root's error status", b.Key)
		require.NotZero(t, b.Last.Value, "trace %s: last updated from traceGroupFields.endTime", b.Key)
	}
}

func search(t *testing.T, s *stack, index, query string, out any) {
	t.Helper()
	require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+index+"/_search", json.RawMessage(query), out), "query:\n%s", query)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
