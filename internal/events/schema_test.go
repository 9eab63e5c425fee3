package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestValidateHealthChanged(t *testing.T) {
	v, th := 0.95, 0.9
	e, err := New("pipeline-7", "vigil-detector/a", HealthChangedType, "pipeline", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Health{
		Target: "pipeline", Status: Critical, PreviousStatus: Healthy, Since: time.Date(2026, 1, 2, 3, 3, 55, 0, time.UTC),
		Rule: "ratio", Value: &v, Threshold: &th, Reason: "ratio: value 0.95 > 0.9", Generation: 7,
	})
	require.NoError(t, err)
	good, err := json.Marshal(e)
	require.NoError(t, err)
	require.NoError(t, ValidateHealthChanged(good))

	mutate := func(f func(ev, data map[string]any)) []byte {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(good, &ev))
		f(ev, ev["data"].(map[string]any))
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		return b
	}
	for name, doc := range map[string][]byte{
		"wrong type":         mutate(func(ev, _ map[string]any) { ev["type"] = "dev.vigil.failover.requested.v1" }),
		"no subject":         mutate(func(ev, _ map[string]any) { delete(ev, "subject") }),
		"bad time":           mutate(func(ev, _ map[string]any) { ev["time"] = "yesterday" }),
		"bad status":         mutate(func(_, d map[string]any) { d["status"] = "DEGRADED" }),
		"no previous status": mutate(func(_, d map[string]any) { delete(d, "previousStatus") }),
		"generation zero":    mutate(func(_, d map[string]any) { d["generation"] = 0 }),
		"fractional gen":     mutate(func(_, d map[string]any) { d["generation"] = 1.5 }),
		"value not a number": mutate(func(_, d map[string]any) { d["value"] = "high" }),
		"label not a string": mutate(func(_, d map[string]any) { d["labels"] = map[string]any{"a": 1} }),
		"empty reason":       mutate(func(_, d map[string]any) { d["reason"] = "" }),
		"not JSON":           []byte("{"),
	} {
		require.Error(t, ValidateHealthChanged(doc), name)
	}
}
