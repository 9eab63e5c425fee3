package dlq

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHeadersRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	e := Entry{
		SourceTopic: "otlp_logs", SourcePartition: 3, SourceOffset: 42, SourceTimestamp: at,
		ErrorType: "mapper_parsing_exception", Reason: "failed to parse field [x]", HTTPStatus: 400,
		TargetIndex: "ss4o_logs-vigil-default", Attempts: 1, FailedDocuments: 2, FirstFailure: at, LastFailure: at.Add(time.Second),
	}
	got, err := Parse(e.Headers())
	require.NoError(t, err)
	require.Equal(t, e, got)

	long := e
	long.Reason = string(bytes.Repeat([]byte("r"), 5000))
	got, err = Parse(long.Headers())
	require.NoError(t, err)
	require.Len(t, got.Reason, maxReason)

	_, err = Parse([]kgo.RecordHeader{{Key: HeaderSourceOffset, Value: []byte("x")}})
	require.ErrorContains(t, err, "vigil.source.offset")
	require.ErrorContains(t, err, "vigil.source.topic missing")
}

func TestListAndReplay(t *testing.T) {
	ctx := t.Context()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "vigil.dlq", "otlp_logs", "otlp_spans", "elsewhere")
	require.NoError(t, err)

	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	put := func(i int, topic, typ string) {
		e := Entry{SourceTopic: topic, SourceOffset: int64(i), SourceTimestamp: base.Add(-time.Duration(i) * time.Minute), ErrorType: typ, Reason: "because " + typ, FirstFailure: base, LastFailure: base}
		r := Record("vigil.dlq", e, []byte{byte(i)}, []byte{'v', byte(i)})
		r.Timestamp = base.Add(time.Duration(i) * time.Minute)
		require.NoError(t, cl.ProduceSync(ctx, r).FirstErr())
	}
	put(0, "otlp_logs", ErrorTypeDecode)
	put(1, "otlp_spans", "mapper_parsing_exception")
	put(2, "otlp_logs", "mapper_parsing_exception")
	put(3, "otlp_logs", "mapper_parsing_exception")
	src := Source{Topic: "vigil.dlq", ClientOpts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}

	var out bytes.Buffer
	require.NoError(t, List(ctx, src, time.Time{}, time.Time{}, &out))
	s := out.String()
	require.Regexp(t, `mapper_parsing_exception\s+3\s+\[otlp_logs=2 otlp_spans=1\]`, s)
	require.Regexp(t, `decode_error\s+1\s+\[otlp_logs=1\]`, s)
	require.Regexp(t, `TOTAL\s+4`, s)

	out.Reset()
	require.NoError(t, List(ctx, src, base.Add(time.Minute), base.Add(3*time.Minute), &out))
	require.Regexp(t, `TOTAL\s+2`, out.String(), "time window [1m, 3m) holds records 1 and 2")

	out.Reset()
	require.NoError(t, Replay(ctx, src, ReplayOptions{ErrorType: "mapper_parsing_exception", DryRun: true}, &out))
	require.Contains(t, out.String(), "would replay 2 records to otlp_logs")
	require.Contains(t, out.String(), "would replay 1 records to otlp_spans")

	out.Reset()
	require.NoError(t, Replay(ctx, src, ReplayOptions{ErrorType: "mapper_parsing_exception", ToTopic: "elsewhere"}, &out))
	require.Contains(t, out.String(), "replayed 3 records in total")

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("elsewhere"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer rd.Close()
	got := map[byte]*kgo.Record{}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for len(got) < 3 {
		fs := rd.PollFetches(pctx)
		require.NoError(t, pctx.Err())
		fs.EachRecord(func(r *kgo.Record) { got[r.Key[0]] = r })
	}
	for i := byte(1); i <= 3; i++ {
		require.Equal(t, []byte{'v', i}, got[i].Value, "original bytes")
		require.True(t, got[i].Timestamp.Equal(base.Add(-time.Duration(i)*time.Minute)), "original record time kept")
	}
	require.NotContains(t, got, byte(0), "the decode error was filtered out")
}

// TestReplayLargeRecord: a dead-lettered record as large as the source
// topic allows (here 20 MB, past franz-go's 1 MB default batch limit) is
// replayed like any other; the broker's limits decide, not the client's.
func TestReplayLargeRecord(t *testing.T) {
	ctx := t.Context()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.BrokerConfigs(map[string]string{"message.max.bytes": "33554432"}))
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerBatchMaxBytes(32<<20))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, "vigil.dlq", "otlp_logs")
	require.NoError(t, err)
	big := bytes.Repeat([]byte{0xff}, 20<<20)
	now := time.Now()
	e := Entry{SourceTopic: "otlp_logs", ErrorType: ErrorTypeDecode, Reason: "garbage", SourceTimestamp: now, FirstFailure: now, LastFailure: now}
	require.NoError(t, cl.ProduceSync(ctx, Record("vigil.dlq", e, nil, big)).FirstErr())

	src := Source{Topic: "vigil.dlq", ClientOpts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}}
	var out bytes.Buffer
	require.NoError(t, Replay(ctx, src, ReplayOptions{}, &out))
	require.Contains(t, out.String(), "replayed 1 records to otlp_logs")

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("otlp_logs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer rd.Close()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) == 0 && pctx.Err() == nil {
		got = append(got, rd.PollFetches(pctx).Records()...)
	}
	require.Len(t, got, 1)
	require.Equal(t, big, got[0].Value, "the original bytes")
}
