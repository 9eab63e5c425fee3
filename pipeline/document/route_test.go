package document

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Each resource's documents are rendered after the head of the stream Route
// chose from its attributes; ids do not depend on the stream.
func TestLogRoute(t *testing.T) {
	ld := plog.NewLogs()
	for _, res := range []map[string]any{
		{"service.name": "a", "data_stream.dataset": "nginx", "k8s.namespace.name": "team-a"},
		{"service.name": "b", "data_stream.namespace": "prod", "k8s.namespace.name": "team-b"},
		{"service.name": "c"},
		{"service.name": "d", "data_stream.dataset": 42, "data_stream.namespace": ""},
	} {
		rl := ld.ResourceLogs().AppendEmpty()
		require.NoError(t, rl.Resource().Attributes().FromRaw(res))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for _, body := range []string{"x", "x", "y"} { // a repeat: its id is rewritten in place
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(t0))
			lr.Body().SetStr(body)
		}
	}
	raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	require.NoError(t, err)
	plain, err := LogsOTLP(raw, opts)
	require.NoError(t, err)

	var calls [][2]string
	o := opts
	o.RouteKeys = [2][]string{{"data_stream.dataset"}, {"data_stream.namespace", "k8s.namespace.name"}}
	o.Route = func(ds, ns string) *Stream {
		calls = append(calls, [2]string{strings.Clone(ds), strings.Clone(ns)})
		name := "logs-" + ds + "-" + ns
		pre := `{"create":{"_index":"` + name + `","_id":"`
		return &Stream{Index: name, Head: []byte(pre + strings.Repeat("0", IDLen) + `"}}` + "\n"), HeadID: len(pre)}
	}
	docs, err := LogsOTLP(raw, o)
	require.NoError(t, err)
	require.Equal(t, [][2]string{{"nginx", "team-a"}, {"", "prod"}, {"", ""}, {"", ""}}, calls, "once per resource; the first key present wins; only non-empty strings")
	require.Len(t, docs, len(plain))
	for i, d := range docs {
		want := calls[i/3]
		require.Equal(t, "logs-"+want[0]+"-"+want[1], d.Stream.Index)
		require.Equal(t, plain[i].ID, d.ID)
		require.Equal(t, `{"create":{"_index":"`+d.Stream.Index+`","_id":"`+plain[i].ID+`"}}`+"\n"+string(plain[i].Body)+"\n", string(d.Line))
	}
	require.NotEqual(t, docs[0].ID, docs[1].ID, "repeats stay distinct")
}
