package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigil-dev/vigil/internal/testinfra"
)

// onBoth runs run on kfake and on the real Kafka (testinfra).
func onBoth(t *testing.T, run func(t *testing.T, broker string)) {
	t.Run("kfake", func(t *testing.T) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		require.NoError(t, err)
		defer c.Close()
		run(t, c.ListenAddrs()[0])
	})
	t.Run("kafka", func(t *testing.T) {
		run(t, testinfra.Kafka(t))
	})
}
