package detector

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got (JSON) with testdata/<name>, indented; -update
// rewrites the file.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, got, "", "  "))
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run with -update to create it")
	require.Equal(t, string(want), buf.String())
}

// TestEventGoldens drives one target through every kind of transition and
// checks each event against its golden file and the published JSON Schema.
func TestEventGoldens(t *testing.T) {
	r := testRule("bulk_failure_ratio", func(r *Rule) {
		r.Annotations = Annotations{Summary: "Share of records the pipeline could not index.", RunbookURL: "https://github.com/vigil-dev/vigil/blob/main/docs/operations.md#bulk-failures"}
	})
	s := NewTargetState(Target{Name: "pipeline", Labels: map[string]string{"component": "pipeline"}, Rules: []Rule{r}}, DefaultConfig().Defaults, events.Healthy, 41)
	at := t0
	run := func(o Observation, want string) {
		t.Helper()
		for i := 0; i < 60; i++ {
			at = at.Add(time.Second)
			if tr, ok := s.Observe(0, at, o); ok {
				require.Equal(t, want, string(tr.From)+"->"+string(tr.To))
				value, rec, err := Event("vigil-detector/detector-a", tr)
				require.NoError(t, err)
				require.NoError(t, events.ValidateHealthChanged(value))
				golden(t, "events/"+string(tr.From)+"-to-"+string(tr.To)+".json", value)
				// The record round-trips through the shared parser.
				rec.Topic = events.HealthTopic
				ev, err := events.Parse(&kgo.Record{Topic: rec.Topic, Key: rec.Key, Value: rec.Value})
				require.NoError(t, err)
				require.Equal(t, "pipeline", string(rec.Key))
				h, err := events.Data[events.Health](ev)
				require.NoError(t, err)
				require.Equal(t, tr.Health(), h)
				return
			}
		}
		t.Fatalf("no %s transition within 60s", want)
	}
	run(val(0.95), "HEALTHY->CRITICAL")
	run(val(0.6), "CRITICAL->CAUTION")
	run(val(0.1), "CAUTION->HEALTHY")
	run(Observation{Err: ErrNoData}, "HEALTHY->UNKNOWN")
	run(val(0.2), "UNKNOWN->HEALTHY")
	require.Equal(t, uint64(46), s.Generation())
}
