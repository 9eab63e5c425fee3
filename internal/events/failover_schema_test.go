package events

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// failoverExamples are one event of each failover type, as the controller
// and an executor publish them; they are the examples of docs/failover.md.
func failoverExamples(t *testing.T) map[string][]byte {
	t.Helper()
	at := time.Date(2026, 11, 22, 10, 6, 0, 0, time.UTC)
	req := Failover{Target: "opensearch", From: "primary", To: "standby", Reason: "primary CRITICAL for 5m0s; standby HEALTHY", At: at, Generation: 4, HealthGeneration: 17}
	done := Failover{Target: "opensearch", From: "primary", To: "standby", At: at.Add(20 * time.Second), Generation: 4, Actor: "pipeline/host-1"}
	failed := done
	failed.Error = "standby bulk probe: 503 Service Unavailable"
	back := Failover{Target: "opensearch", From: "standby", To: "primary", Reason: "primary HEALTHY for 10m0s", At: at.Add(time.Hour), Generation: 5, HealthGeneration: 19}
	backDone := Failover{Target: "opensearch", From: "standby", To: "primary", At: at.Add(time.Hour + 15*time.Second), Generation: 5, Actor: "pipeline/host-1"}
	out := map[string][]byte{}
	for _, ex := range []struct {
		name, id, source, typ string
		data                  Failover
	}{
		{"failover-requested", "opensearch/4/" + FailoverRequestedType, "vigil/alerting", FailoverRequestedType, req},
		{"failover-completed", "opensearch/4/" + FailoverCompletedType, "vigil/pipeline", FailoverCompletedType, done},
		{"failover-failed", "opensearch/4/" + FailoverFailedType, "vigil/pipeline", FailoverFailedType, failed},
		{"failback-requested", "opensearch/5/" + FailbackRequestedType, "vigil/alerting", FailbackRequestedType, back},
		{"failback-completed", "opensearch/5/" + FailbackCompletedType, "vigil/pipeline", FailbackCompletedType, backDone},
	} {
		e, err := New(ex.id, ex.source, ex.typ, ex.data.Target, ex.data.At, ex.data)
		require.NoError(t, err)
		b, err := json.MarshalIndent(e, "", "  ")
		require.NoError(t, err)
		out[ex.name] = append(b, '\n')
	}
	return out
}

// TestFailoverGolden: the events New builds are the golden files, and every
// golden file is valid against the schema and decodes back to its data.
func TestFailoverGolden(t *testing.T) {
	for name, got := range failoverExamples(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			require.Equal(t, string(want), string(got))
			require.NoError(t, ValidateFailover(want))
			require.Error(t, ValidateHealthChanged(want), "a failover event is not a health event")
		})
	}
}

func TestValidateFailover(t *testing.T) {
	ex := failoverExamples(t)
	mutate := func(name string, f func(ev, data map[string]any)) []byte {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(ex[name], &ev))
		f(ev, ev["data"].(map[string]any))
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		return b
	}
	for name, doc := range map[string][]byte{
		"unknown type":           mutate("failover-requested", func(ev, _ map[string]any) { ev["type"] = "dev.vigil.failover.started.v1" }),
		"health type":            mutate("failover-requested", func(ev, _ map[string]any) { ev["type"] = HealthChangedType }),
		"no subject":             mutate("failover-requested", func(ev, _ map[string]any) { delete(ev, "subject") }),
		"bad time":               mutate("failover-completed", func(ev, _ map[string]any) { ev["time"] = "soon" }),
		"generation zero":        mutate("failover-requested", func(_, d map[string]any) { d["generation"] = 0 }),
		"no generation":          mutate("failover-completed", func(_, d map[string]any) { delete(d, "generation") }),
		"fractional generation":  mutate("failback-completed", func(_, d map[string]any) { d["generation"] = 4.5 }),
		"unknown side":           mutate("failover-requested", func(_, d map[string]any) { d["to"] = "dr-site" }),
		"failover back to prim.": mutate("failover-completed", func(_, d map[string]any) { d["from"], d["to"] = "standby", "primary" }),
		"failback to standby":    mutate("failback-requested", func(_, d map[string]any) { d["from"], d["to"] = "primary", "standby" }),
		"request without reason": mutate("failback-requested", func(_, d map[string]any) { d["reason"] = "" }),
		"failed without error":   mutate("failover-failed", func(_, d map[string]any) { delete(d, "error") }),
		"no at":                  mutate("failover-failed", func(_, d map[string]any) { delete(d, "at") }),
		"health generation zero": mutate("failover-requested", func(_, d map[string]any) { d["healthGeneration"] = 0 }),
		"not JSON":               []byte("{"),
	} {
		err := ValidateFailover(doc)
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "events: "), name)
	}
	// Outcomes may have an empty reason, and members unknown to v1 are allowed.
	require.NoError(t, ValidateFailover(mutate("failover-completed", func(ev, d map[string]any) { d["reason"] = ""; d["region"] = "eu-1"; ev["traceparent"] = "00-x" })))
}
