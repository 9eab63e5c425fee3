package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// write is one step of a topic's history: a plain record, or a transaction
// that is committed, aborted or left open.
type write struct {
	key, value string // value "" is a tombstone
	txn        string // "", "commit", "abort", "open"
}

// TestReadCompacted runs every case on kfake and on the real Kafka: what a
// reader of a compacted topic sees at start.
func TestReadCompacted(t *testing.T) {
	cases := []struct {
		name    string
		noTopic bool
		parts   int32
		history []write
		// want is the latest value per key; wantRecords the data records
		// handed over, in order, for a one-partition topic.
		want        map[string]string
		wantRecords []string
	}{
		{name: "missing topic", noTopic: true},
		{name: "empty topic", parts: 1, want: map[string]string{}},
		{name: "latest value per key wins", parts: 1,
			history:     []write{{key: "a", value: "1"}, {key: "b", value: "1"}, {key: "a", value: "2"}},
			want:        map[string]string{"a": "2", "b": "1"},
			wantRecords: []string{"a=1", "b=1", "a=2"}},
		{name: "tombstone forgets", parts: 1,
			history:     []write{{key: "a", value: "1"}, {key: "b", value: "1"}, {key: "a"}},
			want:        map[string]string{"b": "1"},
			wantRecords: []string{"a=1", "b=1", "a="}},
		{name: "ends in a commit marker", parts: 1,
			history:     []write{{key: "a", value: "1"}, {key: "a", value: "2", txn: "commit"}},
			want:        map[string]string{"a": "2"},
			wantRecords: []string{"a=1", "a=2"}},
		{name: "aborted transaction never read", parts: 1,
			history:     []write{{key: "a", value: "1"}, {key: "a", value: "lost", txn: "abort"}, {key: "b", value: "1"}},
			want:        map[string]string{"a": "1", "b": "1"},
			wantRecords: []string{"a=1", "b=1"}},
		{name: "open transaction does not hold the read up", parts: 1,
			history:     []write{{key: "a", value: "1"}, {key: "a", value: "pending", txn: "open"}},
			want:        map[string]string{"a": "1"},
			wantRecords: []string{"a=1"}},
		{name: "every partition read to its end", parts: 3,
			history: []write{{key: "a", value: "1"}, {key: "b", value: "1"}, {key: "c", value: "1"}, {key: "d", value: "1"}, {key: "a", value: "2"}},
			want:    map[string]string{"a": "2", "b": "1", "c": "1", "d": "1"}},
	}
	run := func(t *testing.T, broker string) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				topic := fmt.Sprintf("compacted.%d", time.Now().UnixNano())
				base := []kgo.Opt{kgo.SeedBrokers(broker)}
				if !tc.noTopic {
					createTopic(t, broker, topic, tc.parts)
				}
				writeHistory(t, broker, topic, tc.history)

				latest, err := ReadLatest(ctx, topic, ClientOpts(base...))
				if tc.noTopic {
					require.ErrorIs(t, err, ErrNoTopic)
					return
				}
				require.NoError(t, err)
				got := map[string]string{}
				for k, v := range latest {
					got[k] = string(v)
				}
				require.Equal(t, tc.want, got)

				if tc.parts == 1 {
					var recs []string
					require.NoError(t, ReadCompacted(ctx, topic, func(r *kgo.Record) {
						recs = append(recs, string(r.Key)+"="+string(r.Value))
					}, ClientOpts(base...)))
					require.Equal(t, tc.wantRecords, recs)
				}
			})
		}
	}
	onBoth(t, run)
}

// TestReadCompactedPolling: a client that goes on consuming live after the
// read gets what is written afterwards, and nothing it read twice.
func TestReadCompactedPolling(t *testing.T) {
	run := func(t *testing.T, broker string) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		topic := fmt.Sprintf("compacted.polling.%d", time.Now().UnixNano())
		createTopic(t, broker, topic, 1)
		writeHistory(t, broker, topic, []write{{key: "a", value: "1"}, {key: "a", value: "2", txn: "commit"}})
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker),
			kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.KeepControlRecords())
		require.NoError(t, err)
		defer cl.Close()
		var read []string
		require.NoError(t, ReadCompacted(ctx, topic, func(r *kgo.Record) { read = append(read, string(r.Value)) }, Polling(cl)))
		require.Equal(t, []string{"1", "2"}, read)

		writeHistory(t, broker, topic, []write{{key: "a", value: "3"}})
		var live []string
		for len(live) == 0 {
			fs := cl.PollFetches(ctx)
			require.NoError(t, ctx.Err())
			fs.EachRecord(func(r *kgo.Record) {
				if !r.Attrs.IsControl() {
					live = append(live, string(r.Value))
				}
			})
		}
		require.Equal(t, []string{"3"}, live)
	}
	onBoth(t, run)
}

// writeHistory writes the steps in order; a transaction is its own
// producer, and an open one is left open until the test ends.
func writeHistory(t *testing.T, broker, topic string, history []write) {
	t.Helper()
	ctx := t.Context()
	plain, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer plain.Close()
	for i, w := range history {
		r := &kgo.Record{Key: []byte(w.key)}
		if w.value != "" {
			r.Value = []byte(w.value)
		}
		if w.txn == "" {
			require.NoError(t, plain.ProduceSync(ctx, r).FirstErr())
			continue
		}
		tx, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(topic),
			kgo.TransactionalID(fmt.Sprintf("%s.%d", topic, i)), kgo.TransactionTimeout(time.Minute))
		require.NoError(t, err)
		require.NoError(t, tx.BeginTransaction())
		require.NoError(t, tx.ProduceSync(ctx, r).FirstErr())
		switch w.txn {
		case "open":
			t.Cleanup(tx.Close)
			continue
		case "commit":
			require.NoError(t, tx.EndTransaction(ctx, kgo.TryCommit))
		case "abort":
			require.NoError(t, tx.EndTransaction(ctx, kgo.TryAbort))
		}
		tx.Close()
	}
}
