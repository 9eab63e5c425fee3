package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEnsureTopics runs the same scenario on kfake and on the real Kafka:
// create, re-run (nothing changes), drift (a config and the partition count
// are put right), and a dry run that reports without acting.
func TestEnsureTopics(t *testing.T) {
	onBoth(t, ensureScenario)
}

func ensureScenario(t *testing.T, broker string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	topics := []Topic{
		{Name: "setup.logs." + suffix, Partitions: 3, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": "259200000"}},
		{Name: "setup.health." + suffix, Partitions: 1, ReplicationFactor: -1, Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics[0].Name, topics[1].Name) })

	// A dry run on nothing reports creations and creates nothing.
	changes, err := EnsureTopics(ctx, adm, topics, DryRun)
	require.NoError(t, err)
	require.Equal(t, []string{
		"topic setup.health." + suffix + ": created (1 partitions, cleanup.policy=compact)",
		"topic setup.logs." + suffix + ": created (3 partitions, retention.ms=259200000)",
	}, strs(changes))
	td, err := adm.ListTopics(ctx, topics[0].Name)
	require.NoError(t, err)
	require.False(t, td.Has(topics[0].Name) && td[topics[0].Name].Err == nil, "dry run created a topic")

	changes, err = EnsureTopics(ctx, adm, topics, Reconcile)
	require.NoError(t, err)
	require.Len(t, changes, 2)
	for _, c := range changes {
		require.Contains(t, c.Action, "created")
	}

	// The broker may take a moment to show new topics' configs everywhere.
	require.Eventually(t, func() bool {
		changes, err = EnsureTopics(ctx, adm, topics, Reconcile)
		return err == nil && allUnchanged(changes)
	}, 30*time.Second, 200*time.Millisecond, "second run should change nothing: %v %v", changes, err)

	// Drift: someone lowered retention; we also want more partitions now.
	retention := "1000"
	_, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &retention}}, topics[0].Name)
	require.NoError(t, err)
	topics[0].Partitions = 6
	// A component creating its own topics leaves an existing one alone.
	changes, err = EnsureTopics(ctx, adm, topics, CreateMissing)
	require.NoError(t, err)
	require.True(t, allUnchanged(changes), "create-missing changed an existing topic: %v", changes)
	td, err = adm.ListTopics(ctx, topics[0].Name)
	require.NoError(t, err)
	require.Len(t, td[topics[0].Name].Partitions, 3)
	changes, err = EnsureTopics(ctx, adm, topics, Reconcile)
	require.NoError(t, err)
	require.Equal(t, []string{
		"topic setup.health." + suffix + ": unchanged",
		"topic setup.logs." + suffix + ": partitions 3 -> 6",
		"topic setup.logs." + suffix + `: set retention.ms=259200000 (was "1000")`,
	}, strs(changes))

	td, err = adm.ListTopics(ctx, topics[0].Name)
	require.NoError(t, err)
	require.Len(t, td[topics[0].Name].Partitions, 6)

	// Fewer wanted partitions than exist: left alone (shrinking is impossible
	// and would reshuffle keys anyway).
	topics[0].Partitions = 2
	require.Eventually(t, func() bool {
		changes, err = EnsureTopics(ctx, adm, topics, Reconcile)
		return err == nil && allUnchanged(changes)
	}, 30*time.Second, 200*time.Millisecond, "changes: %v %v", changes, err)
}

func allUnchanged(cs []Change) bool {
	for _, c := range cs {
		if c.Action != "unchanged" {
			return false
		}
	}
	return true
}

func strs(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func createTopic(t *testing.T, broker, topic string, parts int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	require.NoError(t, err)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	_, err = EnsureTopics(t.Context(), adm, []Topic{{Name: topic, Partitions: parts, ReplicationFactor: -1, Configs: map[string]string{"cleanup.policy": "compact"}}}, CreateMissing)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })
}
