package pipeline

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/config/configtest"
)

func TestConfigFiles(t *testing.T) {
	configtest.Fixtures(t, "testdata/config/*.yaml", func(path string) error {
		cfg := DefaultConfig()
		return config.Load(path, &cfg)
	})
}

// The shipped sample must equal the defaults: it documents them.
func TestShippedConfigIsTheDefault(t *testing.T) {
	// The file reads these from the environment; pin them to the defaults.
	t.Setenv("VIGIL_KAFKA_BROKERS", "127.0.0.1:9092")
	t.Setenv("VIGIL_OPENSEARCH_URL", "http://127.0.0.1:9200")
	raw, err := os.ReadFile("../configs/pipeline.yaml")
	require.NoError(t, err)
	cfg := DefaultConfig()
	require.NoError(t, config.Decode(raw, &cfg))
	require.Equal(t, DefaultConfig(), cfg)
	require.NoError(t, DefaultConfig().Validate())
}
