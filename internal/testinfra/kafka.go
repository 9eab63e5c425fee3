package testinfra

import (
	"context"
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
