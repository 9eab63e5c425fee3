package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTuneRuntime(t *testing.T) {
	for _, tc := range []struct {
		name, gomemlimit, gogc string
		wantLimit              int64
		wantGC                 int
	}{
		{"defaults apply", "", "", 64 << 20, 200},
		{"GOMEMLIMIT wins", "1GiB", "", -1, 200},
		{"GOGC wins", "", "100", 64 << 20, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			t.Setenv("GOGC", tc.gogc)
			const limit, gc = 1 << 40, 123
			prevLimit, prevGC := debug.SetMemoryLimit(limit), debug.SetGCPercent(gc)
			defer func() { debug.SetMemoryLimit(prevLimit); debug.SetGCPercent(prevGC) }()
			pipelineTarget().tuneRuntime()
			gotLimit, gotGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(gc)
			if tc.wantLimit < 0 {
				tc.wantLimit = limit // untouched
			}
			if tc.wantGC < 0 {
				tc.wantGC = gc
			}
			require.Equal(t, tc.wantLimit, gotLimit)
			require.Equal(t, tc.wantGC, gotGC)
		})
	}
}

func TestOtherTargetsKeepRuntimeDefaults(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	const limit, gc = 1 << 40, 123
	prevLimit, prevGC := debug.SetMemoryLimit(limit), debug.SetGCPercent(gc)
	defer func() { debug.SetMemoryLimit(prevLimit); debug.SetGCPercent(prevGC) }()
	for _, tg := range []target{collectorTarget(), detectorTarget(), alertingTarget()} {
		tg.tuneRuntime()
		require.Equal(t, int64(limit), debug.SetMemoryLimit(-1), tg.name)
		require.Equal(t, gc, debug.SetGCPercent(gc), tg.name)
	}
}
