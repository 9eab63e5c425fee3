package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTuneRuntime: a standalone pipeline runs with GOGC 200 unless the
// environment says otherwise; other components keep Go's default. (The
// memory limit is the process's memory_limit: TestMemoryLimitDefaults.)
func TestTuneRuntime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target target
		gogc   string
		wantGC int // -1: untouched
	}{
		{"pipeline default", pipelineTarget(), "", 200},
		{"GOGC wins", pipelineTarget(), "100", -1},
		{"collector untouched", collectorTarget(), "", -1},
		{"detector untouched", detectorTarget(), "", -1},
		{"alerting untouched", alertingTarget(), "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOGC", tc.gogc)
			const gc = 123
			prev := debug.SetGCPercent(gc)
			defer debug.SetGCPercent(prev)
			tc.target.tuneRuntime()
			want := tc.wantGC
			if want < 0 {
				want = gc
			}
			require.Equal(t, want, debug.SetGCPercent(gc))
		})
	}
}
