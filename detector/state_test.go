package detector

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/events"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func dur(d time.Duration) *time.Duration { return &d }

// testRule is caution > 0.5, critical > 0.9, for 10s, recover_for 30s.
func testRule(name string, mod ...func(*Rule)) Rule {
	r := Rule{Name: name, Expr: "x", Caution: "> 0.5", Critical: "> 0.9", For: dur(10 * time.Second), RecoverFor: dur(30 * time.Second)}
	for _, m := range mod {
		m(&r)
	}
	return r
}

// step is one evaluation, at seconds after t0.
type step struct {
	at  int
	obs Observation
}

// every returns evaluations of o every second in [from, to).
func every(from, to int, o Observation) []step {
	var out []step
	for s := from; s < to; s++ {
		out = append(out, step{s, o})
	}
	return out
}

func val(v float64) Observation { return Observation{Value: v} }

var (
	noData   = Observation{Err: ErrNoData}
	queryErr = Observation{Err: errors.New("query: connection refused")}
)

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// got is a transition as the table states it.
type got struct {
	at       int
	from, to events.Status
	gen      uint64
}

func TestTargetStateOneRule(t *testing.T) {
	flapping := func() []step {
		var out []step
		for s := 0; s < 60; s++ {
			v := 1.0
			if (s/3)%2 == 1 {
				v = 0.1
			}
			out = append(out, step{s, val(v)})
		}
		return out
	}
	keepLast := func(r *Rule) { r.OnNoData, r.OnError = PolicyKeepLast, PolicyKeepLast }
	healthyPolicy := func(r *Rule) { r.OnNoData = PolicyHealthy }
	tests := []struct {
		name  string
		rule  Rule
		start events.Status
		steps []step
		want  []got
	}{
		{"raise past critical: one transition once for has elapsed", testRule("r"), events.Healthy,
			every(0, 30, val(1)), []got{{10, events.Healthy, events.Critical, 6}}},
		{"flapping every 3s with for 10s: none", testRule("r"), events.Healthy, flapping(), nil},
		{"flapping while critical with recover_for 30s: none", testRule("r"), events.Critical, flapping(), nil},
		{"recover_for: critical to healthy after 30s", testRule("r"), events.Critical,
			every(0, 60, val(0.1)), []got{{30, events.Critical, events.Healthy, 6}}},
		{"critical to caution", testRule("r"), events.Critical,
			every(0, 60, val(0.7)), []got{{30, events.Critical, events.Caution, 6}}},
		{"caution then critical, each after its own for", testRule("r"), events.Healthy,
			concat(every(0, 5, val(0.7)), every(5, 30, val(1))),
			[]got{{10, events.Healthy, events.Caution, 6}, {15, events.Caution, events.Critical, 7}}},
		{"a dip shorter than recover_for restarts nothing", testRule("r"), events.Critical,
			concat(every(0, 20, val(0.1)), every(20, 22, val(1)), every(22, 60, val(0.1))),
			[]got{{52, events.Critical, events.Healthy, 6}}},
		{"for 0 enters at once", testRule("r", func(r *Rule) { r.For = dur(0) }), events.Healthy,
			every(0, 3, val(2)), []got{{0, events.Healthy, events.Critical, 6}}},
		{"no data, policy unknown: UNKNOWN after for", testRule("r"), events.Healthy,
			every(0, 20, noData), []got{{10, events.Healthy, events.Unknown, 6}}},
		{"query error, policy unknown, from critical: UNKNOWN after recover_for", testRule("r"), events.Critical,
			every(0, 40, queryErr), []got{{30, events.Critical, events.Unknown, 6}}},
		{"no data, keep_last: nothing", testRule("r", keepLast), events.Critical, every(0, 100, noData), nil},
		{"query error, keep_last: nothing", testRule("r", keepLast), events.Healthy, every(0, 100, queryErr), nil},
		{"keep_last keeps a pending change pending", testRule("r", keepLast), events.Healthy,
			concat(every(0, 5, val(1)), every(5, 8, noData), every(8, 12, val(1))),
			[]got{{10, events.Healthy, events.Critical, 6}}},
		{"no data, policy healthy: HEALTHY after recover_for", testRule("r", healthyPolicy), events.Critical,
			every(0, 40, noData), []got{{30, events.Critical, events.Healthy, 6}}},
		{"unknown to healthy after recover_for", testRule("r"), events.Unknown,
			every(0, 40, val(0)), []got{{30, events.Unknown, events.Healthy, 6}}},
		{"unknown to critical after for", testRule("r"), events.Unknown,
			every(0, 40, val(1)), []got{{10, events.Unknown, events.Critical, 6}}},
		{"less-than conditions", testRule("r", func(r *Rule) { r.Caution, r.Critical = "< 2", "< 1" }), events.Healthy,
			every(0, 20, val(0)), []got{{10, events.Healthy, events.Critical, 6}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewTargetState(Target{Name: "opensearch-primary", Rules: []Rule{tc.rule}}, DefaultConfig().Defaults, tc.start, 5)
			var gotTr []got
			for _, st := range tc.steps {
				if tr, ok := s.Observe(0, t0.Add(time.Duration(st.at)*time.Second), st.obs); ok {
					require.Equal(t, "opensearch-primary", tr.Target)
					require.Equal(t, "r", tr.Rule)
					require.NotEmpty(t, tr.Reason)
					require.False(t, tr.Since.After(tr.At), "since %s after at %s", tr.Since, tr.At)
					gotTr = append(gotTr, got{int(tr.At.Sub(t0) / time.Second), tr.From, tr.To, tr.Generation})
				}
			}
			require.Equal(t, tc.want, gotTr)
			if n := len(tc.want); n > 0 {
				require.Equal(t, tc.want[n-1].to, s.Status())
				require.Equal(t, tc.want[n-1].gen, s.Generation())
			}
		})
	}
}

func TestTargetStateEventFields(t *testing.T) {
	r := testRule("bulk_failure_ratio", func(r *Rule) {
		r.Annotations = Annotations{Summary: "bulk failures", RunbookURL: "https://runbooks.example/bulk"}
	})
	s := NewTargetState(Target{Name: "pipeline", Labels: map[string]string{"tier": "core"}, Rules: []Rule{r}}, DefaultConfig().Defaults, events.Healthy, 0)
	var tr Transition
	for sec := 0; sec <= 10; sec++ {
		if x, ok := s.Observe(0, t0.Add(time.Duration(sec)*time.Second), val(0.95)); ok {
			tr = x
		}
	}
	require.Equal(t, events.Critical, tr.To)
	require.Equal(t, t0, tr.Since, "since is when the evidence began")
	require.Equal(t, t0.Add(10*time.Second), tr.At)
	require.Equal(t, 0.95, *tr.Value)
	require.Equal(t, 0.9, *tr.Threshold)
	require.Equal(t, "bulk_failure_ratio: value 0.95 > 0.9 (critical) for 10s", tr.Reason)
	require.Equal(t, map[string]string{"summary": "bulk failures", "runbook_url": "https://runbooks.example/bulk"}, tr.Annotations)
	require.Equal(t, map[string]string{"tier": "core"}, tr.Labels)
	require.Equal(t, uint64(1), tr.Generation)
}

func TestTargetStateWorstOfRules(t *testing.T) {
	noFor := func(r *Rule) { r.For, r.RecoverFor = dur(0), dur(0) }
	s := NewTargetState(Target{Name: "kafka", Rules: []Rule{testRule("a", noFor), testRule("b", noFor)}}, DefaultConfig().Defaults, events.Healthy, 0)
	type obs struct {
		rule int
		v    Observation
		want string // "" = no transition, else "FROM->TO by rule"
	}
	seq := []obs{
		{0, val(1), "HEALTHY->CRITICAL by a"},
		{1, val(0.7), ""}, // b CAUTION, target stays CRITICAL
		{0, val(0), "CRITICAL->CAUTION by b"},
		{1, val(1), "CAUTION->CRITICAL by b"},
		{0, val(1), ""}, // both CRITICAL
		{1, val(0), ""}, // a still CRITICAL
		{0, noData, "CRITICAL->UNKNOWN by a"},
		{0, val(0), "UNKNOWN->HEALTHY by a"},
	}
	for i, o := range seq {
		tr, ok := s.Observe(o.rule, t0.Add(time.Duration(i)*time.Second), o.v)
		desc := ""
		if ok {
			desc = fmt.Sprintf("%s->%s by %s", tr.From, tr.To, tr.Rule)
		}
		require.Equal(t, o.want, desc, "step %d", i)
	}
	require.Equal(t, uint64(5), s.Generation())
}

func TestTargetStateExternal(t *testing.T) {
	s := NewTargetState(Target{Name: "kafka", Rules: []Rule{testRule("lag", func(r *Rule) { r.For = dur(0) })}}, DefaultConfig().Defaults, events.Healthy, 3)
	tr, ok := s.SetExternal("am:1", External{Level: events.Critical, Rule: "alertmanager:KafkaDown", Since: t0, Reason: "down"}, t0.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, "HEALTHY->CRITICAL alertmanager:KafkaDown 4", fmt.Sprintf("%s->%s %s %d", tr.From, tr.To, tr.Rule, tr.Generation))
	// A rule going to CAUTION changes nothing while the alert holds CRITICAL.
	_, ok = s.Observe(0, t0.Add(2*time.Second), val(0.7))
	require.False(t, ok)
	tr, ok = s.SetExternal("am:1", External{Level: events.Healthy, Rule: "alertmanager:KafkaDown", Since: t0.Add(3 * time.Second), Reason: "resolved"}, t0.Add(3*time.Second))
	require.True(t, ok)
	require.Equal(t, "CRITICAL->CAUTION lag 5", fmt.Sprintf("%s->%s %s %d", tr.From, tr.To, tr.Rule, tr.Generation))
	// Resolving an alert that is not firing changes nothing.
	_, ok = s.SetExternal("am:2", External{Level: events.Healthy, Rule: "alertmanager:Other"}, t0.Add(4*time.Second))
	require.False(t, ok)
}

// TestTargetStateRestoredLevelBlamed: a rule still at its restored level
// explains itself without inventing a duration.
func TestTargetStateRestoredLevelBlamed(t *testing.T) {
	noFor := func(r *Rule) { r.For, r.RecoverFor = dur(0), dur(0) }
	s := NewTargetState(Target{Name: "kafka", Rules: []Rule{testRule("a", noFor), testRule("b", noFor)}}, DefaultConfig().Defaults, events.Caution, 7)
	_, ok := s.Observe(1, t0, val(1))
	require.True(t, ok)
	tr, ok := s.Observe(1, t0.Add(time.Second), val(0))
	require.True(t, ok)
	require.Equal(t, "CRITICAL->CAUTION by a", fmt.Sprintf("%s->%s by %s", tr.From, tr.To, tr.Rule))
	require.Equal(t, "a: CAUTION as restored, not evaluated since", tr.Reason)
	require.Equal(t, t0.Add(time.Second), tr.Since)
}
