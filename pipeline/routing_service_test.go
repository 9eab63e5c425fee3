package pipeline

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/pipeline/dlq"
)

// routedLogs is n logs of a resource with data_stream.dataset ds.
func routedLogs(n int, ds string) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "frontend")
	rl.Resource().Attributes().PutStr("data_stream.dataset", ds)
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
		lr.Body().SetStr(fmt.Sprintf("%s log line %d", ds, i))
	}
	b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	return b
}

// A routed stream that refuses its logs (a conflicting template, here)
// dead-letters them naming the stream's backing index; once the stream is
// fixed, `vigil dlq replay` puts them back on the logs topic and they land
// in that stream, routed again from the record's own resource.
func TestRoutedLogsDeadLetteredAndReplayed(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	prefix, _, _ := strings.Cut(cfg.Indices.LogsDataStream, "-")
	good, bad := prefix+"-good-default", prefix+"-bad-default"
	badTemplate := "/_index_template/" + prefix + "-bad-template"
	t.Cleanup(func() {
		e.os.Do(t.Context(), http.MethodDelete, "/_data_stream/"+prefix+"-*", nil)
		e.os.Do(t.Context(), http.MethodDelete, badTemplate, nil)
	})
	res, err := e.os.Do(t.Context(), http.MethodPut, badTemplate, []byte(`{"index_patterns":["`+bad+`*"],"priority":500,"data_stream":{},
		"template":{"mappings":{"properties":{"body":{"type":"long"}}}}}`))
	require.NoError(t, err)
	require.Equal(t, 200, res.Status, "%s", res.Body)

	e.produce(cfg.Kafka.Logs.Topic, 0, routedLogs(30, "good"))
	e.produce(cfg.Kafka.Logs.Topic, 1, routedLogs(20, "bad"))
	stop := e.run(cfg, prometheus.NewRegistry())
	defer func() { require.NoError(t, stop()) }()
	eventually(t, "30 logs in "+good, func() bool { return e.count(good, "") == 30 })
	dl := readDLQ(t, e, 1)
	ent, err := dlq.Parse(dl[0].Headers)
	require.NoError(t, err)
	require.Equal(t, "mapper_parsing_exception", ent.ErrorType)
	require.True(t, strings.HasPrefix(ent.TargetIndex, ".ds-"+bad+"-"), "the stream's backing index: %s", ent.TargetIndex)
	require.Equal(t, 20, ent.FailedDocuments)

	// The operator removes the conflict and replays.
	for _, path := range []string{"/_data_stream/" + bad, badTemplate} {
		res, err := e.os.Do(t.Context(), http.MethodDelete, path, nil)
		require.NoError(t, err)
		require.Equal(t, 200, res.Status, "DELETE %s: %s", path, res.Body)
	}
	require.NoError(t, ReplayDLQ(t.Context(), cfg, ReplayOptions{}, io.Discard))
	eventually(t, "20 replayed logs in "+bad, func() bool { return e.count(bad, "") == 20 })
	require.Equal(t, 30, e.count(good, ""))
	require.Equal(t, 0, e.count(cfg.Indices.LogsDataStream, ""))
}
