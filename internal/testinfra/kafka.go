package testinfra

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeleteKafka removes consumer groups and topics a test created on the
// shared Kafka at broker. Best effort: what fails is logged, since a
// leftover only costs disk on a test server.
func DeleteKafka(t testing.TB, broker string, groups []string, topics ...string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Logf("testinfra: delete kafka resources: %v", err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	if len(groups) > 0 {
		if _, err := adm.DeleteGroups(ctx, groups...); err != nil {
			t.Logf("testinfra: delete groups %v: %v", groups, err)
		}
	}
	if len(topics) > 0 {
		if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
			t.Logf("testinfra: delete topics %v: %v", topics, err)
		}
	}
}

// KafkaCluster returns the broker addresses of the three-node Kafka
// (scripts/infra.sh kafka-cluster: replication factor 3, min.insync.replicas
// 2), whose nodes are the servers kafka-1, kafka-2 and kafka-3 for Kill and
// Start. It is not part of the default server set, as only the reliability
// drills need it: if no node answers, it is started here through
// VIGIL_INFRA and stopped again when the test ends, so its three JVMs do not
// hold memory through the rest of the run.
func KafkaCluster(t testing.TB) []string {
	t.Helper()
	addrs := strings.Split(lookupEnv(t, "kafka-cluster", "VIGIL_TEST_KAFKA_CLUSTER"), ",")
	up := 0
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, dialTimeout); err == nil {
			conn.Close()
			up++
		}
	}
	switch {
	case up == len(addrs):
	case os.Getenv("VIGIL_INFRA") == "":
		unavailable(t, "kafka-cluster at %v: %d of %d nodes reachable and VIGIL_INFRA is not set; run `scripts/infra.sh up kafka-cluster` and eval \"$(scripts/env.sh)\"", addrs, up, len(addrs))
	default:
		// Start, not a restart: nodes that run are left alone.
		Start(t, "kafka-cluster")
		if up == 0 {
			t.Cleanup(func() { Stop(t, "kafka-cluster") })
		}
	}
	return addrs
}
