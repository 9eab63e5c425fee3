package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting"
	"github.com/vigil-dev/vigil/internal/events"
)

// TestPrintFailoverStatus: `vigil failover status` for a target whose
// failover failed and is now blocked (what alerting's TestFailoverAPI gets
// from the real handler).
func TestPrintFailoverStatus(t *testing.T) {
	at, err := time.Parse(time.RFC3339, "2026-11-22T10:05:00Z")
	require.NoError(t, err)
	list := []alerting.TargetStatus{{
		Target: "db", Standby: "db-standby", Failback: "manual", Active: "primary", Generation: 1,
		PrimaryHealth: events.Critical, StandbyHealth: events.Healthy,
		BlockedUntil: at.Add(time.Hour), Blocked: true, Held: "blocked",
		Last: []alerting.Step{
			{Type: events.FailoverRequestedType, Failover: events.Failover{Target: "db", From: "primary", To: "standby", Generation: 1, At: at, Reason: "primary CRITICAL for 5m0s"}},
			{Type: events.FailoverFailedType, Failover: events.Failover{Target: "db", From: "primary", To: "standby", Generation: 1, At: at, Actor: "pipeline/host-1", Error: "standby refused"}},
		},
	}}
	var out strings.Builder
	require.NoError(t, printFailoverStatus(&out, list))
	require.Contains(t, out.String(), "db      primary  db-standby  -        1           CRITICAL  HEALTHY         manual    ")
	require.Contains(t, out.String(), "2026-11-22T11:05:00Z  blocked\n", "blocked until the failure + block_for")
	require.Contains(t, out.String(), "#1  failover.failed      primary -> standby")
	require.Contains(t, out.String(), "(by pipeline/host-1) error: standby refused")

	out.Reset()
	require.NoError(t, printFailoverStatus(&out, nil))
	require.Equal(t, "no failover targets are configured (failover.targets in the alerting configuration)\n", out.String())
}

// TestPrintSilences: `vigil alerting silence add` and `list`.
func TestPrintSilences(t *testing.T) {
	ms, err := alerting.ParseMatchers([]string{"target=~db-.*"})
	require.NoError(t, err)
	s := alerting.Silence{ID: "0123456789abcdef", Matchers: ms, ExpiresAt: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC), CreatedBy: "alice", Reason: "migration"}
	var out strings.Builder
	require.NoError(t, printSilenceCreated(&out, s))
	require.Contains(t, out.String(), "expires 2026-11-22T12:00:00Z")
	id := strings.Fields(out.String())[1]
	require.Equal(t, s.ID, id)
	out.Reset()
	require.NoError(t, printSilences(&out, []alerting.Silence{s}))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	require.Equal(t, []string{id, "target=~db-.*", "2026-11-22T12:00:00Z", "alice", "migration"}, strings.Fields(lines[1]))
}
