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
// backlog of both logs and spans in Kafka. It drains them side by side
// (fairShare): indexed counts, sampled through the drain, show both
// growing before either is half through, rather than one waiting for the
// other.
func TestFairDrain(t *testing.T) {
	s := newStack(t, 3)
	c := s.startCollector()
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-time.Hour)
	const logs, traces = 400_000, 4_000
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
	// Side by side: by the time either backlog is half through, the other
	// is under way too, and the small spans backlog does not wait behind
	// the large logs one: it is a tenth through before logs are half
	// (before the topics got their shares of the in-flight budget, spans
	// sat at 0 until logs were about two thirds through). With half the
	// budget each, spans may well finish first: that is no starvation.
	for _, sm := range samples {
		lf, sf := float64(sm.logs)/logs, float64(sm.spans)/spans
		if lf >= 0.5 || sf >= 0.5 {
			require.True(t, sm.logs > 0 && sm.spans > 0, "logs %d of %d, spans %d of %d: one backlog drained while the other waited", sm.logs, logs, sm.spans, spans)
		}
		if lf >= 0.5 {
			require.GreaterOrEqual(t, sf, 0.1, "logs %d of %d, spans %d of %d: spans waited behind the logs backlog", sm.logs, logs, sm.spans, spans)
		}
	}
	// Nothing lost or doubled in the end.
	s.requireExactlyOnce(s.logsStream, "traceId", logs)
	s.waitCount(s.spanAlias, spans, 5*time.Minute)
}
