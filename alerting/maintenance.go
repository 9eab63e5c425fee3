package alerting

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/config"
)

// MaintenanceWindow mutes the targets it matches while it is active, like a
// silence written in configuration. It is either absolute (Start and End) or
// weekly (Weekly), not both.
type MaintenanceWindow struct {
	// Name labels the window in logs and metrics.
	Name string `yaml:"name"`
	// Matchers select the targets; none selects every target.
	Matchers []Matcher `yaml:"matchers"`
	// Start and End bound an absolute window (RFC 3339).
	Start time.Time `yaml:"start"`
	End   time.Time `yaml:"end"`
	// Weekly repeats the window every week.
	Weekly *WeeklyWindow `yaml:"weekly"`
}

// WeeklyWindow is a window that opens on the given weekdays at a time of day
// and lasts Duration (it may run past midnight).
type WeeklyWindow struct {
	// Days are weekdays as mon, tue, wed, thu, fri, sat, sun.
	Days []string `yaml:"days"`
	// Start is the time of day, HH:MM, in TimeZone.
	Start string `yaml:"start"`
	// Duration is how long the window lasts, at most 168h.
	Duration time.Duration `yaml:"duration"`
	// TimeZone is an IANA zone name. Default UTC.
	TimeZone string `yaml:"time_zone"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Validate reports every problem.
func (w MaintenanceWindow) Validate() error {
	var p config.Problems
	if w.Name == "" {
		p.Addf("name", "must be set")
	}
	abs := !w.Start.IsZero() || !w.End.IsZero()
	switch {
	case abs && w.Weekly != nil:
		p.Addf("weekly", "set either start/end or weekly, not both")
	case abs:
		if w.Start.IsZero() || w.End.IsZero() || !w.End.After(w.Start) {
			p.Addf("end", "start and end must both be set, end after start (got %s .. %s)", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
		}
	case w.Weekly != nil:
		p.Merge("weekly", w.Weekly.validate())
	default:
		p.Addf("", "set start and end, or weekly")
	}
	return p.Err()
}

func (w WeeklyWindow) validate() error {
	var p config.Problems
	if len(w.Days) == 0 {
		p.Addf("days", "must name at least one day")
	}
	for i, d := range w.Days {
		if _, ok := weekdays[strings.ToLower(d)]; !ok {
			p.Addf(fmt.Sprintf("days[%d]", i), "must be one of mon, tue, wed, thu, fri, sat, sun (got %q)", d)
		}
	}
	if _, err := time.Parse("15:04", w.Start); err != nil {
		p.Addf("start", "must be HH:MM (got %q)", w.Start)
	}
	if w.Duration <= 0 || w.Duration > 7*24*time.Hour {
		p.Addf("duration", "must be > 0 and <= 168h (got %s)", w.Duration)
	}
	if _, err := time.LoadLocation(w.TimeZone); err != nil {
		p.Addf("time_zone", "unknown time zone %q", w.TimeZone)
	}
	return p.Err()
}

// Active reports whether the window covers now for the target.
func (w MaintenanceWindow) Active(now time.Time, target string, labels map[string]string) bool {
	if !matchAll(w.Matchers, target, labels) {
		return false
	}
	if w.Weekly == nil {
		return !now.Before(w.Start) && now.Before(w.End)
	}
	loc, err := time.LoadLocation(w.Weekly.TimeZone)
	if err != nil {
		return false // Validate rejects it
	}
	tod, err := time.Parse("15:04", w.Weekly.Start)
	if err != nil {
		return false
	}
	t := now.In(loc)
	// A window that covers now opened on one of the last eight days.
	for back := 0; back <= 7; back++ {
		d := t.AddDate(0, 0, -back)
		if !w.Weekly.on(d.Weekday()) {
			continue
		}
		start := time.Date(d.Year(), d.Month(), d.Day(), tod.Hour(), tod.Minute(), 0, 0, loc)
		if !t.Before(start) && t.Before(start.Add(w.Weekly.Duration)) {
			return true
		}
	}
	return false
}

func (w WeeklyWindow) on(d time.Weekday) bool {
	for _, s := range w.Days {
		if weekdays[strings.ToLower(s)] == d {
			return true
		}
	}
	return false
}
