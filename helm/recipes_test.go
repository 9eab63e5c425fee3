package helm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func init() { variantChecks["recipes"] = checkRecipes }

// recipeFiles maps each collector.recipes key to its file in configs/recipes.
var recipeFiles = map[string]string{
	"parseBody":    "parse-body.yaml",
	"dropDebug":    "drop-debug.yaml",
	"redact":       "redact.yaml",
	"tailSampling": "tail-sampling.yaml",
}

// checkRecipes: with every recipe enabled, the gateway's configuration holds
// each recipe's processors, in each pipeline after memory_limiter in the
// chart's order, and the rest of collector.config's list after them
// (TestConfigCheck runs it through `vigil collector --check`).
func checkRecipes(t *testing.T, ms []manifest) {
	cm := find[*corev1.ConfigMap](t, ms, "ConfigMap", release+"-collector")
	var cfg struct {
		Processors map[string]any `json:"processors"`
		Service    struct {
			Pipelines map[string]struct {
				Processors []string `json:"processors"`
			} `json:"pipelines"`
		} `json:"service"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(cm.Data["collector.yaml"]), &cfg))
	for _, p := range []string{"transform/parse_body", "filter/drop_debug", "redaction/pii", "tail_sampling"} {
		require.Contains(t, cfg.Processors, p)
	}
	require.Equal(t, []string{"memory_limiter", "transform/parse_body", "filter/drop_debug", "redaction/pii", "resource", "filter/normal_logs", "batch"}, cfg.Service.Pipelines["logs"].Processors)
	// ERROR logs take the priority lane's pipeline: parsed and redacted too.
	require.Equal(t, []string{"memory_limiter", "transform/parse_body", "redaction/pii", "resource", "filter/priority_logs", "batch/priority"}, cfg.Service.Pipelines["logs/priority"].Processors)
	require.Equal(t, []string{"memory_limiter", "redaction/pii", "tail_sampling", "resource", "batch"}, cfg.Service.Pipelines["traces"].Processors)
	require.Equal(t, []string{"memory_limiter", "resource", "batch"}, cfg.Service.Pipelines["metrics"].Processors)
	require.Equal(t, int32(1), *find[*appsv1.StatefulSet](t, ms, "StatefulSet", release+"-collector").Spec.Replicas)
}

// TestRecipeValuesMatchFiles: each collector.recipes.<name>.config in the
// chart's values has the same keys and values as its configs/recipes file,
// so a recipe reads the same in either place.
func TestRecipeValuesMatchFiles(t *testing.T) {
	var values struct {
		Collector struct {
			Recipes map[string]struct {
				Config map[string]any `json:"config"`
			} `json:"recipes"`
		} `json:"collector"`
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &values))
	require.Len(t, values.Collector.Recipes, len(recipeFiles))
	for key, file := range recipeFiles {
		t.Run(key, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "configs", "recipes", file))
			require.NoError(t, err)
			var want map[string]any
			require.NoError(t, yaml.Unmarshal(b, &want))
			require.Equal(t, want, values.Collector.Recipes[key].Config)
		})
	}
}

// TestTailSamplingNeedsOneReplica: the chart refuses tail sampling on
// several gateway replicas, which would each see part of a trace.
func TestTailSamplingNeedsOneReplica(t *testing.T) {
	vals := map[string]any{"collector": map[string]any{"recipes": map[string]any{"tailSampling": map[string]any{"enabled": true}}}}
	_, err := render(loadChart(t), vals, capabilities(false))
	require.ErrorContains(t, err, "collector.recipes.tailSampling needs every span of a trace on one collector: set collector.replicas: 1")
}
