package alerting

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/alerting/failover"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestStartWaitsForKafka: the service is started before any broker listens
// (as after a cluster-wide restart). Its start-up steps retry instead of
// failing the process, and it becomes ready once Kafka is there.
func TestStartWaitsForKafka(t *testing.T) {
	addr := vigiltest.FreeAddr(t)
	port, err := strconv.Atoi(vigiltest.Port(t, addr))
	require.NoError(t, err)

	cfg := testConfig()
	cfg.Kafka.Brokers = []string{addr}
	cfg.Failover.Targets = []failover.Policy{{Target: "db-1", Standby: "db-1-standby", CriticalFor: time.Minute, Failback: failover.FailbackManual}}
	adm := newFakeAdmin()
	logs := &lockedBuffer{}
	s, err := New(cfg, component.Deps{Logger: logger(logs), Registerer: prometheus.NewRegistry(), Admin: adm},
		WithKafkaOptions(kgo.FetchMaxWait(50*time.Millisecond), kgo.RetryTimeout(time.Second)))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	// Not ready, and still running, while there is no broker.
	require.Eventually(t, func() bool { return logs.contains("start-up step failed; retrying") }, time.Minute, 20*time.Millisecond)
	require.Error(t, adm.check("alerting"))
	select {
	case err := <-done:
		t.Fatalf("Run returned while Kafka was away: %v", err)
	default:
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return adm.check("alerting") == nil }, time.Minute, 20*time.Millisecond,
		"service log:\n%s", logs)

	cancel()
	require.NoError(t, <-done, "a clean stop after a slow start")
}
