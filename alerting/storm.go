package alerting

import (
	"context"
	"slices"
	"time"

	"github.com/vigil-dev/vigil/alerting/slack"
)

// storm tracks openings in one channel. When more than Storm.Threshold
// incidents open within Storm.Window, the next ones are folded: a single
// summary message stands for them, their changes and recoveries go in its
// thread, and it is updated on the next tick as more join. The storm ends
// when no incident opened in the channel for a whole window. Storm state is
// not persisted: after a restart counting starts again (folded incidents
// keep their thread).
type storm struct {
	opens   []time.Time
	summary *stormSummary
}

type stormSummary struct {
	ref     slack.Ref
	posted  bool
	key     string
	targets []string
	last    time.Time
	dirty   bool
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
		s.summary.targets = append(s.summary.targets, inc.Opening.Target)
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

func (e *Engine) markStormDirty(ts string) {
	for _, s := range e.storms {
		if s.summary != nil && s.summary.ref.TS == ts {
			s.summary.dirty = true
		}
	}
}
