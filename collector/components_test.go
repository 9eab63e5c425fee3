package collector

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
)

// TestShapingComponents: the processors and exporter users bring from the
// upstream collector to shape data (docs/recipes.md) are in the
// distribution under their upstream ids.
func TestShapingComponents(t *testing.T) {
	f, err := Factories()
	require.NoError(t, err)
	for _, id := range []string{
		"transform", "filter", "attributes", "redaction", "probabilistic_sampler", "tail_sampling", "resource_detection",
	} {
		require.Contains(t, f.Processors, component.MustNewType(id), "processor %s", id)
	}
	require.Contains(t, f.Exporters, component.MustNewType("load_balancing"), "exporter load_balancing")
}
