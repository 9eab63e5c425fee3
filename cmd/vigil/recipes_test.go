package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestShippedRecipes: every configs/recipes/*.yaml, merged after the shipped
// collector.yaml (load-balancing.yaml after tail-sampling.yaml, as
// docs/recipes.md says), passes `vigil collector --check`: the collector's
// own validation, which parses every OTTL statement and condition.
func TestShippedRecipes(t *testing.T) {
	t.Setenv("VIGIL_COLLECTOR_QUEUE_DIR", t.TempDir())
	recipes, err := filepath.Glob("../../configs/recipes/*.yaml")
	require.NoError(t, err)
	require.Len(t, recipes, 5, "a new recipe needs a line in docs/recipes.md and a test in pipeline/e2e TestRecipes")
	for _, r := range recipes {
		t.Run(filepath.Base(r), func(t *testing.T) {
			args := []string{"collector", "--config", "../../configs/collector.yaml"}
			if filepath.Base(r) == "load-balancing.yaml" {
				args = append(args, "--config", "../../configs/recipes/tail-sampling.yaml")
			}
			args = append(args, "--config", r, "--check")
			var stdout, stderr bytes.Buffer
			require.Equal(t, exitOK, run(args, &stdout, &stderr), "stderr:\n%s", stderr.String())
			require.Contains(t, stdout.String(), "configuration is valid")
		})
	}
}
