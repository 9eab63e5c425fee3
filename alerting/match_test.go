package alerting

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMatcher(t *testing.T) {
	labels := map[string]string{"env": "prod", "team": "db"}
	for _, tc := range []struct {
		m      string
		target string
		want   bool
	}{
		{"target=db-1", "db-1", true},
		{"target=db-1", "db-10", false},
		{"target=~db-.*", "db-10", true},
		{"target=~db", "db-10", false}, // anchored
		{"target!~db-.*", "web-1", true},
		{"env=prod", "x", true},
		{"env!=prod", "x", false},
		{"missing=", "x", true},
		{"team=~d.", "x", true},
	} {
		m, err := ParseMatcher(tc.m)
		require.NoError(t, err, tc.m)
		require.Equal(t, tc.want, m.Matches(tc.target, labels), tc.m)
		require.Equal(t, tc.m, m.String())
	}
	for _, bad := range []string{"", "target", "=x", "target=~("} {
		_, err := ParseMatcher(bad)
		require.Error(t, err, bad)
	}
}

func TestMaintenanceActive(t *testing.T) {
	// 2026-11-22 is a Sunday.
	sun := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	weekly := MaintenanceWindow{Name: "w", Weekly: &WeeklyWindow{Days: []string{"sat"}, Start: "23:00", Duration: 3 * time.Hour}}
	berlin := MaintenanceWindow{Name: "b", Weekly: &WeeklyWindow{Days: []string{"sun"}, Start: "02:00", Duration: time.Hour, TimeZone: "Europe/Berlin"}}
	abs := MaintenanceWindow{Name: "a", Matchers: mustMatchers("target=db-1"), Start: sun, End: sun.Add(time.Hour)}
	for _, tc := range []struct {
		name   string
		w      MaintenanceWindow
		at     time.Time
		target string
		want   bool
	}{
		{"weekly before", weekly, sun.Add(-61 * time.Minute), "x", false},
		{"weekly start", weekly, sun.Add(-time.Hour), "x", true},
		{"weekly past midnight", weekly, sun.Add(119 * time.Minute), "x", true},
		{"weekly end", weekly, sun.Add(2 * time.Hour), "x", false},
		{"weekly next week", weekly, sun.Add(6*24*time.Hour + 23*time.Hour + 30*time.Minute), "x", true},
		{"time zone", berlin, sun.Add(time.Hour + 30*time.Minute), "x", true}, // 02:30 CET
		{"time zone outside", berlin, sun.Add(2*time.Hour + 30*time.Minute), "x", false},
		{"absolute", abs, sun.Add(30 * time.Minute), "db-1", true},
		{"absolute other target", abs, sun.Add(30 * time.Minute), "db-2", false},
		{"absolute after", abs, sun.Add(time.Hour), "db-1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.w.Validate())
			require.Equal(t, tc.want, tc.w.Active(tc.at, tc.target, nil))
		})
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		45 * time.Second:                        "45s",
		12*time.Minute + 30*time.Second:         "12m30s",
		4 * time.Minute:                         "4m",
		time.Hour:                               "1h",
		time.Hour + 5*time.Minute:               "1h5m",
		26*time.Hour + 10*time.Second:           "26h0m10s",
		12*time.Minute + 30*time.Second + 400e6: "12m30s",
	} {
		require.Equal(t, want, fmtDuration(d))
	}
}
