package failoverexec

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
)

// testTarget is the failover target the tests answer to.
const testTarget = "opensearch"

// TestExecutorRestore: the side a pipeline starts on, and the request it
// still has to carry out, from the failover topic's history.
func TestExecutorRestore(t *testing.T) {
	type ev struct {
		typ    string
		target string
		gen    uint64
		from   string
		to     string
	}
	fo := func(typ string, gen uint64) ev {
		from, to := Primary, Standby
		if typ == events.FailbackRequestedType || typ == events.FailbackCompletedType {
			from, to = to, from
		}
		return ev{typ, testTarget, gen, from, to}
	}
	for _, tc := range []struct {
		name        string
		noTopic     bool
		history     []ev
		garbage     bool
		wantSide    string
		wantPending uint64 // generation; 0 = none
		wantLast    uint64
	}{
		{name: "no topic", noTopic: true, wantSide: Primary},
		{name: "empty topic", wantSide: Primary},
		{name: "request without outcome", history: []ev{fo(events.FailoverRequestedType, 1)}, wantSide: Primary, wantPending: 1},
		{name: "completed", history: []ev{fo(events.FailoverRequestedType, 1), fo(events.FailoverCompletedType, 1)}, wantSide: Standby, wantLast: 1},
		{name: "failed", history: []ev{fo(events.FailoverRequestedType, 1), {events.FailoverFailedType, testTarget, 1, Primary, Standby}}, wantSide: Primary, wantLast: 1},
		{name: "failback pending", history: []ev{fo(events.FailoverRequestedType, 1), fo(events.FailoverCompletedType, 1), fo(events.FailbackRequestedType, 2)}, wantSide: Standby, wantPending: 2, wantLast: 1},
		{name: "failed back", history: []ev{fo(events.FailoverCompletedType, 1), fo(events.FailbackRequestedType, 2), fo(events.FailbackCompletedType, 2)}, wantSide: Primary, wantLast: 2},
		{name: "other targets ignored", history: []ev{fo(events.FailoverCompletedType, 1), {events.FailoverRequestedType, "db-1", 7, Primary, Standby}}, wantSide: Standby, wantLast: 1},
		{name: "garbage skipped", history: []ev{fo(events.FailoverCompletedType, 3)}, garbage: true, wantSide: Standby, wantLast: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []kfake.Opt{kfake.NumBrokers(1)}
			if !tc.noTopic {
				opts = append(opts, kfake.SeedTopics(1, events.FailoverTopic))
			}
			c, err := kfake.NewCluster(opts...)
			require.NoError(t, err)
			defer c.Close()
			prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			require.NoError(t, err)
			defer prod.Close()
			for _, e := range tc.history {
				d := events.Failover{Target: e.target, From: e.from, To: e.to, At: time.Now().UTC(), Generation: e.gen, Reason: "test"}
				ce, err := events.New(fmt.Sprintf("%s/%d/%s", e.target, e.gen, e.typ), "test", e.typ, e.target, d.At, d)
				require.NoError(t, err)
				r, err := events.Record(events.FailoverTopic, ce)
				require.NoError(t, err)
				require.NoError(t, prod.ProduceSync(t.Context(), r).FirstErr())
			}
			if tc.garbage {
				require.NoError(t, prod.ProduceSync(t.Context(), &kgo.Record{Topic: events.FailoverTopic, Key: []byte(testTarget), Value: []byte("not an event")}).FirstErr())
			}

			cfg := Config{Topic: events.FailoverTopic, Target: testTarget, Source: "vigil/pipeline", Actor: "test"}
			x, err := New(cfg, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, Deps{})
			require.NoError(t, err)
			defer x.Close()
			side, err := x.Restore(t.Context())
			require.NoError(t, err)
			require.Equal(t, tc.wantSide, side)
			require.Equal(t, tc.wantLast, x.lastGen)
			if tc.wantPending == 0 {
				require.Nil(t, x.pending)
			} else {
				require.NotNil(t, x.pending)
				require.Equal(t, tc.wantPending, x.pending.data.Generation)
			}
		})
	}
}
