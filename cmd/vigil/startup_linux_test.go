//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReleaseStartupPages: the executable's read-only pages that start-up
// touched leave the resident set, and the process runs on (code is mapped
// back as it executes).
func TestReleaseStartupPages(t *testing.T) {
	before := rssFileKB(t)
	require.NoError(t, releaseStartupPages())
	after := rssFileKB(t)
	t.Logf("RssFile %d kB -> %d kB", before, after)
	require.Less(t, after, before/2, "file-backed resident pages after the release")
	require.NoError(t, releaseStartupPages(), "safe to call again")
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
