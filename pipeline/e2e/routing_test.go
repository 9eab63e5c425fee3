//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestLogRouting: logs go to <prefix>_logs-<dataset>-<namespace> by their
// resource attributes, on real Kafka and OpenSearch. Three Kubernetes
// namespaces (log_routing.namespace_attributes maps k8s.namespace.name),
// data_stream.* winning over the mapping, a hostile name (upper case, '*',
// 300 characters) sanitized, logs without attributes in the default stream,
// and a flood of distinct datasets past log_routing.max_streams, which goes
// to the default stream and is counted. Every log is indexed exactly once
// (counts per stream and unique trace ids), the streams carry the logs
// template, and after the consumer group is deleted and the pipeline
// restarted every record is delivered again and lands where it did: no
// count changes anywhere.
func TestLogRouting(t *testing.T) {
	s := newStack(t, 3)
	const maxStreams = 8
	extra := fmt.Sprintf(`log_routing:
  namespace_attributes: [data_stream.namespace, k8s.namespace.name]
  max_streams: %d
commit_interval: 500ms
`, maxStreams)
	p := s.startPipeline(extra)
	prefix, _, _ := strings.Cut(s.logsStream, "-")
	stream := func(ds, ns string) string { return prefix + "-" + ds + "-" + ns }
	hostile := "Team*" + strings.Repeat("Z", 295)
	// Sanitized independently of the pipeline's code: lower case, '*' as
	// '_', cut to 100 bytes.
	hostileStream := stream("vigil", ("team_" + strings.Repeat("z", 295))[:100])

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker), kgo.DefaultProduceTopic(s.logsTopic))
	require.NoError(t, err)
	defer cl.Close()
	base := time.Now().Add(-time.Hour)
	seq := 0
	want := map[string]int{}
	// send produces n logs of one resource, in records of 25 logs, as the
	// collector's otlp_proto encoding writes them.
	send := func(res map[string]any, n int, to string) {
		t.Helper()
		for left := n; left > 0; left -= 25 {
			ld := seqLogs(seq, seq+min(25, left), base)
			require.NoError(t, ld.ResourceLogs().At(0).Resource().Attributes().FromRaw(res))
			b, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
			require.NoError(t, err)
			require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Value: b}).FirstErr())
			seq += min(25, left)
		}
		want[to] += n
	}
	for _, ns := range []string{"team-a", "team-b", "Team-C"} {
		send(map[string]any{"service.name": "shop", "k8s.namespace.name": ns}, 200, stream("vigil", strings.ToLower(strings.ReplaceAll(ns, "-", "_"))))
	}
	send(map[string]any{"service.name": "edge", "k8s.namespace.name": "team-a", "data_stream.dataset": "nginx", "data_stream.namespace": "prod"}, 100, stream("nginx", "prod"))
	send(map[string]any{"service.name": "evil", "k8s.namespace.name": hostile}, 100, hostileStream)
	send(map[string]any{"service.name": "plain"}, 150, s.logsStream)
	for ix, n := range want {
		s.waitCount(ix, n, 3*time.Minute)
	}
	// Five streams besides the default: room for three more.
	const flood, perFlood = 40, 10
	for i := range flood {
		send(map[string]any{"service.name": "flood", "data_stream.dataset": fmt.Sprintf("flood%02d", i)}, perFlood, "flood")
	}
	var streams []string
	require.NoError(t, vigiltest.Eventually(3*time.Minute, func() error {
		over, err := metric(p.admin, "vigil_pipeline_log_stream_overflow_total", `reason="max_streams"`)
		if err != nil {
			return err
		}
		if want := float64((flood - 3) * perFlood); over != want {
			return fmt.Errorf("overflow counted %v logs, want %v", over, want)
		}
		return nil
	}))
	streams = s.logStreams(prefix)
	require.Len(t, streams, maxStreams+1, "max_streams streams and the default: %v", streams)
	var floodStreams []string
	for _, ix := range streams {
		if strings.HasPrefix(ix, prefix+"-flood") {
			floodStreams = append(floodStreams, ix)
		}
	}
	require.Len(t, floodStreams, 3, "the flood filled the cap: %v", streams)
	for _, ix := range floodStreams {
		want[ix] = perFlood
	}
	want[s.logsStream] += (flood - 3) * perFlood
	delete(want, "flood")

	check := func() {
		t.Helper()
		total := 0
		for ix, n := range want {
			s.requireExactlyOnce(ix, "traceId", n)
			total += n
		}
		require.Equal(t, seq, total)
		n, err := s.count(prefix + "-*")
		require.NoError(t, err)
		require.Equal(t, seq, n, "Dashboards' %s-* finds every log once", prefix)
		require.ElementsMatch(t, streams, s.logStreams(prefix), "no stream added")
	}
	check()
	var ds struct {
		DataStreams []struct{ Name, Template string } `json:"data_streams"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodGet, "/_data_stream/"+prefix+"-*", nil, &ds))
	for _, d := range ds.DataStreams {
		require.Equal(t, prefix+"-template", d.Template, "stream %s", d.Name)
	}

	// Redelivery of everything after a restart: the group's offsets are
	// gone, so the restarted pipeline reads every record again and must put
	// each log where it is (bulk create makes it a 409), the flood's
	// refused names into the default stream again.
	p.proc.Stop(time.Minute)
	adm := kadm.NewClient(cl)
	require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
		res, err := adm.DeleteGroups(context.Background(), s.group)
		if err != nil {
			return err
		}
		return res.Error()
	}))
	p = s.startPipeline(extra)
	require.NoError(t, vigiltest.Eventually(3*time.Minute, func() error {
		dup, err := metric(p.admin, "vigil_pipeline_documents_total", `kind="log"`, `outcome="duplicate"`)
		if err != nil {
			return err
		}
		if dup != float64(seq) {
			return fmt.Errorf("%v logs found indexed already, want all %d (%s)", dup, seq, s.documentOutcomes())
		}
		return nil
	}))
	check()
	over, err := metric(p.admin, "vigil_pipeline_log_stream_overflow_total", `reason="max_streams"`)
	require.NoError(t, err)
	require.Equal(t, float64((flood-3)*perFlood), over, "the cap, read from the cluster, refused the same names")
}

// logStreams lists the data streams under prefix.
func (s *stack) logStreams(prefix string) []string {
	s.t.Helper()
	var ds struct {
		DataStreams []struct{ Name string } `json:"data_streams"`
	}
	require.NoError(s.t, osDo(s.osURL, http.MethodGet, "/_data_stream/"+prefix+"-*", nil, &ds))
	var out []string
	for _, d := range ds.DataStreams {
		out = append(out, d.Name)
	}
	sort.Strings(out)
	return out
}
