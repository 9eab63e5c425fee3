package opensearch

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// The shipped defaults, as pipeline.DefaultConfig sets them.
var (
	defaultNames     = Names{SpanAlias: "otel-v1-apm-span", ServiceMap: "otel-v1-apm-service-map", APMServiceMap: "otel-v2-apm-service-map", LogsDataStream: "ss4o_logs-vigil-default", Events: "vigil-health-events", DLQ: "vigil-dlq", Canary: "vigil-canary"}
	defaultSettings  = Settings{Shards: 1, Replicas: 0, RefreshInterval: "1s", TotalFieldsLimit: 5000}
	defaultLifecycle = Lifecycle{RolloverSize: "10gb", RolloverAge: "1d", DeleteAfter: "7d"}
)

func goldenJSON(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.JSONEq(t, string(want), string(got), "%s differs (go test -update rewrites it)", path)
	require.True(t, bytes.Equal(want, got), "%s differs in formatting (go test -update rewrites it)", path)
}

// TestTemplatesGolden pins every shipped template and ISM policy; the files
// under configs/ are what an operator reads (and could install by hand).
func TestTemplatesGolden(t *testing.T) {
	dir := filepath.Join("..", "..", "configs")
	goldenJSON(t, filepath.Join(dir, "index-templates", "otel-v1-apm-span.json"), SpanTemplate(defaultNames, defaultSettings, true))
	goldenJSON(t, filepath.Join(dir, "index-templates", "otel-v1-apm-service-map.json"), ServiceMapTemplate(defaultNames, defaultSettings))
	goldenJSON(t, filepath.Join(dir, "index-templates", "ss4o_logs.json"), LogsTemplate(defaultNames, defaultSettings))
	goldenJSON(t, filepath.Join(dir, "index-templates", "vigil-health-events.json"), EventsTemplate(defaultNames, defaultSettings))
	goldenJSON(t, filepath.Join(dir, "index-templates", "vigil-dlq.json"), DLQTemplate(defaultNames, defaultSettings))
	goldenJSON(t, filepath.Join(dir, "index-templates", "vigil-canary.json"), CanaryTemplate(defaultNames, defaultSettings))
	goldenJSON(t, filepath.Join(dir, "ism", "otel-v1-apm-span-policy.json"), SpanPolicy(defaultNames, defaultLifecycle))
	goldenJSON(t, filepath.Join(dir, "ism", "ss4o_logs-policy.json"), LogsPolicy(defaultNames, defaultLifecycle))
	goldenJSON(t, filepath.Join(dir, "index-templates", "otel-v2-apm-service-map.json"), APMServiceMapTemplate(defaultNames, defaultSettings, true))
	goldenJSON(t, filepath.Join(dir, "ism", "otel-v2-apm-service-map-policy.json"), APMServiceMapPolicyBody(defaultNames, defaultLifecycle))
}

func TestTemplateWithoutISMHasNoRolloverAlias(t *testing.T) {
	b, err := json.Marshal(SpanTemplate(defaultNames, defaultSettings, false))
	require.NoError(t, err)
	require.NotContains(t, string(b), "rollover_alias")
	b, err = json.Marshal(SpanTemplate(defaultNames, defaultSettings, true))
	require.NoError(t, err)
	require.Contains(t, string(b), `"rollover_alias":"otel-v1-apm-span"`)
}

func TestNames(t *testing.T) {
	require.Equal(t, "ss4o_logs-template", defaultNames.LogsTemplate())
	require.Equal(t, "otel-v1-apm-span-000001", defaultNames.BootstrapIndex())
	require.Equal(t, []string{"ss4o_logs-*"}, LogsTemplate(defaultNames, defaultSettings)["index_patterns"])
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status  int
		errType string
		want    Class
	}{
		{201, "", Done},
		{200, "", Done},
		{409, "version_conflict_engine_exception", Done},
		{429, "es_rejected_execution_exception", Retry},
		{429, "", Retry},
		{500, "", Retry},
		{503, "unavailable_shards_exception", Retry},
		{403, "cluster_block_exception", Retry},
		{400, "mapper_parsing_exception", Permanent},
		{400, "illegal_argument_exception", Permanent},
		{400, "document_parsing_exception", Permanent},
		{413, "", Permanent},
		{404, "index_not_found_exception", Permanent},
	} {
		t.Run(fmt.Sprintf("%s_%d", tc.errType, tc.status), func(t *testing.T) {
			require.Equal(t, tc.want, ClassifyItem(tc.status, tc.errType))
		})
	}
	require.Equal(t, Retry, ClassifyRequest(0), "no answer")
	require.Equal(t, Retry, ClassifyRequest(503))
	require.Equal(t, Retry, ClassifyRequest(429))
	require.Equal(t, Retry, ClassifyRequest(401))
	require.Equal(t, Permanent, ClassifyRequest(413))
}
