package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/vigil-dev/vigil/alerting/slack"
)

// storm tracks openings in one channel. When more than Storm.Threshold
// incidents open within Storm.Window, the next ones are folded: a single
// summary message stands for them, their changes and recoveries go in its
// thread, and it is updated on the next tick as more join. The storm ends
// when no incident opened in the channel for a whole window. Storm state is
// kept in the store under "storm/<channel>", so that after a restart (or on
// the replica that takes over) the count goes on and the summary is
// updated as its incidents recover.
type storm struct {
	opens   []time.Time
	summary *stormSummary
	// saved is the record last written, to skip writes that change nothing.
	saved []byte
}

type stormSummary struct {
	ref     slack.Ref
	posted  bool
	key     string
	targets []string
	last    time.Time
	dirty   bool
}

const stormPrefix = "storm/"

// stormRecord is a storm as stored.
type stormRecord struct {
	Opens   []time.Time    `json:"opens,omitempty"`
	Summary *summaryRecord `json:"summary,omitempty"`
}

type summaryRecord struct {
	Ref     slack.Ref `json:"ref"`
	Posted  bool      `json:"posted,omitempty"`
	Key     string    `json:"key"`
	Targets []string  `json:"targets"`
	Last    time.Time `json:"last"`
	// Dirty: the summary has news not yet shown.
	Dirty bool `json:"dirty,omitempty"`
}

func (s *storm) record() stormRecord {
	r := stormRecord{Opens: s.opens}
	if sum := s.summary; sum != nil {
		r.Summary = &summaryRecord{Ref: sum.ref, Posted: sum.posted, Key: sum.key, Targets: sum.targets, Last: sum.last, Dirty: sum.dirty}
	}
	return r
}

func stormFromRecord(b []byte) (*storm, error) {
	var r stormRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	s := &storm{opens: r.Opens, saved: b}
	if sum := r.Summary; sum != nil {
		s.summary = &stormSummary{ref: sum.Ref, posted: sum.Posted, key: sum.Key, targets: sum.Targets, last: sum.Last, dirty: sum.Dirty}
	}
	return s, nil
}

// saveStorm writes channel's storm when it changed, or deletes it when it
// is over.
func (e *Engine) saveStorm(ctx context.Context, channel string) error {
	s := e.storms[channel]
	if s == nil {
		if err := e.store.Put(ctx, stormPrefix+channel, nil); err != nil {
			return fmt.Errorf("alerting: write storm state: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(s.record())
	if err != nil {
		return fmt.Errorf("alerting: encode storm state: %w", err)
	}
	if bytes.Equal(b, s.saved) {
		return nil
	}
	if err := e.store.Put(ctx, stormPrefix+channel, b); err != nil {
		return fmt.Errorf("alerting: write storm state: %w", err)
	}
	s.saved = b
	return nil
}

// admit records an opening in channel and reports whether it is folded.
func (e *Engine) admit(channel string, now time.Time) bool {
	if e.cfg.Storm.Threshold == 0 {
		return false
	}
	s := e.storms[channel]
	if s == nil {
		s = &storm{}
		e.storms[channel] = s
	}
	s.prune(now, e.cfg.Storm.Window)
	s.opens = append(s.opens, now)
	return s.summary != nil || len(s.opens) > e.cfg.Storm.Threshold
}

func (s *storm) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(s.opens) && now.Sub(s.opens[i]) >= window {
		i++
	}
	s.opens = s.opens[i:]
}

// fold adds inc to the channel's storm summary, posting the summary when it
// is the first.
func (e *Engine) fold(ctx context.Context, owner *targetState, inc *incident, channel string, now time.Time) error {
	s := e.storms[channel]
	inc.Folded = true
	e.m.suppressed.WithLabelValues("storm").Inc()
	if s.summary == nil {
		m := e.render.stormSummary(channel, []*incident{inc}, e.cfg.Storm.Threshold, e.cfg.Storm.Window)
		m.Channel, m.Key = channel, "storm/"+inc.ID
		ref, ok, err := e.post(ctx, owner, m, "storm_summary", inc.Opening.Since)
		if err != nil {
			return err
		}
		s.summary = &stormSummary{ref: ref, posted: ok, key: m.Key, targets: []string{inc.Opening.Target}, last: now}
		e.log.Warn("incident storm: folding further incidents into one summary", "channel", channel, "threshold", e.cfg.Storm.Threshold, "window", e.cfg.Storm.Window)
	} else {
		// An event applied again after a crash may bring a target twice.
		if !slices.Contains(s.summary.targets, inc.Opening.Target) {
			s.summary.targets = append(s.summary.targets, inc.Opening.Target)
		}
		s.summary.last, s.summary.dirty = now, true
	}
	inc.Posted, inc.TS, inc.LastNotified = s.summary.posted, s.summary.ref.TS, now
	if s.summary.ref.Channel != "" {
		inc.Channel = s.summary.ref.Channel
	}
	return nil
}

// tickStorms updates summaries that changed and ends quiet storms.
func (e *Engine) tickStorms(ctx context.Context, now time.Time) error {
	channels := make([]string, 0, len(e.storms))
	for ch := range e.storms {
		channels = append(channels, ch)
	}
	slices.Sort(channels)
	for _, ch := range channels {
		s := e.storms[ch]
		sum := s.summary
		ended := sum != nil && now.Sub(sum.last) >= e.cfg.Storm.Window
		// With threads the summary is updated on every tick that has news;
		// webhooks cannot update, so they get one final summary at the end.
		if sum != nil && sum.dirty && sum.posted && (e.slack.Threads() || ended) {
			incs := e.foldedIncidents(sum)
			m := e.render.stormSummary(ch, incs, e.cfg.Storm.Threshold, e.cfg.Storm.Window)
			m.Channel, m.Key = sum.ref.Channel, sum.key
			var err error
			if e.slack.Threads() {
				err = e.slack.Update(ctx, sum.ref, m)
			} else {
				m.Key += "/final"
				_, err = e.slack.Post(ctx, m)
			}
			if err != nil {
				if err := e.undelivered(err, "storm_summary", ch, m.Key); err != nil {
					return err
				}
			} else {
				e.m.notifications.WithLabelValues("storm_summary", "posted").Inc()
			}
			sum.dirty = false
		}
		if ended {
			s.summary = nil
		}
		s.prune(now, e.cfg.Storm.Window)
		if s.summary == nil && len(s.opens) == 0 {
			delete(e.storms, ch)
		}
		if err := e.saveStorm(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

// foldedIncidents returns the incidents of a summary's targets as they are
// now; recovered ones are shown as HEALTHY.
func (e *Engine) foldedIncidents(sum *stormSummary) []*incident {
	out := make([]*incident, 0, len(sum.targets))
	for _, t := range sum.targets {
		st := e.states[t]
		if st == nil {
			continue
		}
		if st.Incident != nil {
			out = append(out, st.Incident)
			continue
		}
		out = append(out, &incident{ID: t, Status: st.Last.Status, Opening: st.Last})
	}
	return out
}

// markStormDirty marks the summary whose thread is ts as having news and
// saves it, so that a restart still updates it.
func (e *Engine) markStormDirty(ctx context.Context, ts string) error {
	for ch, s := range e.storms {
		if s.summary != nil && s.summary.ref.TS == ts {
			s.summary.dirty = true
			if err := e.saveStorm(ctx, ch); err != nil {
				return err
			}
		}
	}
	return nil
}
