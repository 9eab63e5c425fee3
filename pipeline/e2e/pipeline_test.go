//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestCollectorToOpenSearch: 100,000 log records and 20,000
// spans from telemetrygen go through `vigil collector` (the shipped
// configs/collector.yaml) -> Kafka -> `vigil pipeline` -> OpenSearch, and
// every one is indexed exactly once; each index's live mapping equals its
// golden file, whose properties are those of the shipped template in
// configs/index-templates.
func TestCollectorToOpenSearch(t *testing.T) {
	s := newStack(t, 3)
	c := s.startCollector()
	p := s.startPipeline("")

	// 10,000 traces of a root and one child each, rate-limited: the
	// OpenTelemetry SDK inside telemetrygen drops spans its batch queue
	// cannot hold.
	telemetrygen(t, c.grpc, "traces", "--traces", "5000", "--child-spans", "1", "--workers", "2", "--rate", "500")
	// One worker: telemetrygen's log records are all alike but for their
	// time.Now() timestamp, and two workers on two cores do read the same
	// nanosecond (3 pairs in 100,000 seen here). Such records are
	// byte-identical, and the content-hash id (pipeline/document/doc.go,
	// "IDs") stores identical records from different Kafka records once,
	// by design; one goroutine's successive records always differ.
	telemetrygen(t, c.grpc, "logs", "--logs", "100000", "--workers", "1", "--rate", "0")

	s.waitCount(s.logsStream, 100_000, 5*time.Minute)
	s.waitCount(s.spanAlias, 20_000, 5*time.Minute)
	require.Empty(t, s.duplicates(s.spanAlias, "spanId"), "span ids held by more than one document")

	for _, tc := range []struct{ index, golden, template string }{
		{s.spanAlias, "mapping_span.json", "otel-v1-apm-span.json"},
		{s.logsStream, "mapping_logs.json", "ss4o_logs.json"},
	} {
		requireMapping(t, s, tc.index, tc.golden, tc.template)
	}
	indexed, err := metric(p.admin, "vigil_pipeline_records_total", `outcome="dead_lettered"`)
	if err == nil {
		require.Zero(t, indexed, "records dead-lettered")
	}
}

// requireMapping compares index's live GET _mapping with testdata/golden,
// and every field in it with the shipped template in configs/index-templates:
// a field the template declares has exactly its mapping, and any other field
// came from one of its dynamic templates (attributes), with that mapping.
func requireMapping(t *testing.T, s *stack, index, golden, template string) {
	t.Helper()
	var byIndex map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodGet, "/"+index+"/_mapping", nil, &byIndex))
	require.Len(t, byIndex, 1, "backing indices of %s", index)
	for _, v := range byIndex {
		goldenJSON(t, golden, v.Mappings)
		b, err := os.ReadFile(filepath.Join(vigiltest.RepoRoot(t), "configs", "index-templates", template))
		require.NoError(t, err)
		var tpl struct {
			Template struct {
				Mappings struct {
					Properties       map[string]any               `json:"properties"`
					DynamicTemplates []map[string]dynamicTemplate `json:"dynamic_templates"`
				} `json:"mappings"`
			} `json:"template"`
		}
		require.NoError(t, json.Unmarshal(b, &tpl))
		declared := fields(tpl.Template.Mappings.Properties, "")
		live := fields(v.Mappings["properties"].(map[string]any), "")
		for path, want := range declared {
			require.Equal(t, want, live[path], "%s: field %s differs from configs/index-templates/%s", index, path, template)
		}
	fields:
		for path, got := range live {
			if _, ok := declared[path]; ok {
				continue
			}
			for _, dts := range tpl.Template.Mappings.DynamicTemplates {
				for _, dt := range dts {
					if dt.PathMatch != "" && strings.HasPrefix(path, strings.TrimSuffix(dt.PathMatch, "*")) {
						require.Equal(t, dt.Mapping, got, "%s: field %s is not mapped by its dynamic template", index, path)
						continue fields
					}
				}
			}
			t.Fatalf("%s: field %s (%v) is neither in configs/index-templates/%s nor from its dynamic templates", index, path, got, template)
		}
	}
}

type dynamicTemplate struct {
	PathMatch string         `json:"path_match"`
	Mapping   map[string]any `json:"mapping"`
}

// fields flattens a mapping's properties into dotted field paths and their
// mappings (an object's own settings, e.g. type nested, under its path).
func fields(props map[string]any, prefix string) map[string]any {
	out := map[string]any{}
	for name, v := range props {
		m := v.(map[string]any)
		path := prefix + name
		if sub, ok := m["properties"].(map[string]any); ok {
			for k, vv := range fields(sub, path+".") {
				out[k] = vv
			}
			rest := map[string]any{}
			for k, vv := range m {
				if k != "properties" {
					rest[k] = vv
				}
			}
			if len(rest) > 0 {
				out[path] = rest
			}
			continue
		}
		out[path] = m
	}
	return out
}
