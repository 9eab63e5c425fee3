//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/demo"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestFairDrain (no signal starves): after an outage the pipeline finds a
// backlog of both logs and spans in Kafka. It drains them side by side:
// by the time either backlog is indexed, the other has made real progress
// too, rather than waiting for the first to finish.
func TestFairDrain(t *testing.T) {
	s := newStack(t, 3)
	c := s.startCollector()
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-time.Hour)
	const logs, traces = 150_000, 4_000
	const spans = traces * 5
	snd.sendLogs(0, logs, 1000, base)
	snd.sendTraces(demo.TraceSet(traces, base, 3))
	// The backlog is complete in Kafka before the pipeline starts: both
	// topics hold records and stopped growing.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker))
	require.NoError(t, err)
	defer cl.Close()
	prev := map[string]int64{}
	require.NoError(t, vigiltest.Eventually(2*time.Minute, func() error {
		ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), s.logsTopic, s.spansTopic)
		if err != nil {
			return err
		}
		cur := map[string]int64{}
		ends.Each(func(o kadm.ListedOffset) { cur[o.Topic] += o.Offset })
		defer func() { prev = cur }()
		if cur[s.logsTopic] == 0 || cur[s.spansTopic] == 0 || cur[s.logsTopic] != prev[s.logsTopic] || cur[s.spansTopic] != prev[s.spansTopic] {
			time.Sleep(time.Second)
			return fmt.Errorf("records in Kafka still changing: %v", cur)
		}
		return nil
	}))

	s.startPipeline("")
	type sample struct{ logs, spans int }
	var samples []sample
	var trail strings.Builder
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		l, err := s.count(s.logsStream)
		if err != nil {
			continue // the data stream is created by the first bulk
		}
		sp, err := s.count(s.spanAlias)
		if err != nil {
			continue
		}
		samples = append(samples, sample{l, sp})
		fmt.Fprintf(&trail, " %d/%d", l, sp)
		if l >= logs || sp >= spans {
			break
		}
	}
	t.Logf("indexed logs/spans every 0.5 s:%s", trail.String())
	require.NotEmpty(t, samples)
	last := samples[len(samples)-1]
	require.True(t, last.logs >= logs || last.spans >= spans, "neither backlog drained")
	// When the first backlog is through, the other is at least a fifth
	// through: both progressed together.
	require.GreaterOrEqual(t, float64(last.logs)/logs, 0.2, "logs when spans were done: %d of %d", last.logs, logs)
	require.GreaterOrEqual(t, float64(last.spans)/spans, 0.2, "spans when logs were done: %d of %d", last.spans, spans)
	// Nothing lost or doubled in the end.
	s.requireExactlyOnce(s.logsStream, "traceId", logs)
	s.waitCount(s.spanAlias, spans, 5*time.Minute)
}
