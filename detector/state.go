package detector

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/vigil-dev/vigil/internal/events"
)

// byRank lists the statuses in Rank order.
var byRank = [...]events.Status{events.Healthy, events.Unknown, events.Caution, events.Critical}

// Observation is the outcome of one evaluation of a rule: a value, or Err set
// to ErrNoData (the query returned nothing) or to the query's error.
type Observation struct {
	Value float64
	Err   error
	// Idle is set when the query had no data and the rule's idle query
	// said there was no traffic: healthy, whatever on_no_data says.
	Idle bool
}

// ErrNoData is the Observation error of a query that returned no sample.
var ErrNoData = errNoData

// compiledRule is a Rule with defaults applied and conditions parsed.
type compiledRule struct {
	name, expr, idle    string
	caution, critical   *Threshold
	interval, hold, rec time.Duration
	onNoData, onError   Policy
	reduce              Reduce
	annotations         map[string]string
}

func compileRule(r Rule, d RuleDefaults) *compiledRule {
	c := &compiledRule{
		name: r.Name, expr: r.Expr, idle: r.Idle,
		interval: d.Interval, hold: d.For, rec: d.RecoverFor,
		onNoData: or(r.OnNoData, d.OnNoData), onError: or(r.OnError, d.OnError), reduce: or(r.Reduce, d.Reduce),
	}
	c.caution, _ = r.Caution.Parse()
	c.critical, _ = r.Critical.Parse()
	if r.Interval != nil {
		c.interval = *r.Interval
	}
	if r.For != nil {
		c.hold = *r.For
	}
	if r.RecoverFor != nil {
		c.rec = *r.RecoverFor
	}
	c.annotations = map[string]string{}
	// dashboard_url is the annotation alerting links by default (links.dashboards).
	for k, v := range map[string]string{"summary": r.Annotations.Summary, "runbook_url": r.Annotations.RunbookURL, "dashboard_url": r.Annotations.DashboardsURL} {
		if v != "" {
			c.annotations[k] = v
		}
	}
	return c
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// classify maps a value to the level its conditions give.
func (c *compiledRule) classify(v float64) events.Status {
	switch {
	case c.critical != nil && c.critical.Match(v):
		return events.Critical
	case c.caution != nil && c.caution.Match(v):
		return events.Caution
	}
	return events.Healthy
}

// threshold is the threshold an event at level s reports: the breached one,
// or for HEALTHY the first one a rising value would breach.
func (c *compiledRule) threshold(s events.Status) *float64 {
	var t *Threshold
	switch s {
	case events.Critical:
		t = c.critical
	case events.Caution:
		t = c.caution
	case events.Healthy:
		t = c.caution
		if t == nil {
			t = c.critical
		}
	}
	if t == nil {
		return nil
	}
	v := t.Value
	return &v
}

// ruleState is one rule's level and the evidence for changing it.
type ruleState struct {
	rule  *compiledRule
	level events.Status
	// levelSince is when the evidence for the current level began.
	levelSince time.Time
	// atLeast[r] is when the raw level last became >= rank r without
	// interruption (zero: it is below now); atMost likewise for <= r.
	atLeast, atMost [len(byRank)]time.Time
	// The last evaluation, for events.
	raw    events.Status
	value  *float64
	detail string
}

// observe records an evaluation and reports whether the level changed.
func (r *ruleState) observe(now time.Time, o Observation) bool {
	raw, ok := r.rawLevel(o)
	if !ok {
		return false // keep_last: as if the evaluation never happened
	}
	r.raw = raw
	for i := range byRank {
		r.atLeast[i] = hold(r.atLeast[i], raw.Rank() >= i, now)
		r.atMost[i] = hold(r.atMost[i], raw.Rank() <= i, now)
	}
	cur := r.level.Rank()
	// A worse level wins over a better one; among worse ones the worst whose
	// evidence has lasted `for`.
	for i := len(byRank) - 1; i > cur; i-- {
		if !r.atLeast[i].IsZero() && now.Sub(r.atLeast[i]) >= r.rule.hold {
			r.level, r.levelSince = byRank[i], r.atLeast[i]
			return true
		}
	}
	for i := 0; i < cur; i++ {
		if !r.atMost[i].IsZero() && now.Sub(r.atMost[i]) >= r.rule.rec {
			r.level, r.levelSince = byRank[i], r.atMost[i]
			return true
		}
	}
	return false
}

func hold(since time.Time, holds bool, now time.Time) time.Time {
	switch {
	case !holds:
		return time.Time{}
	case since.IsZero():
		return now
	}
	return since
}

// rawLevel is the level one evaluation points to; ok is false when the
// evaluation is to be ignored (keep_last).
func (r *ruleState) rawLevel(o Observation) (events.Status, bool) {
	if o.Idle {
		r.value, r.detail = nil, "idle: no traffic (counted as healthy)"
		return events.Healthy, true
	}
	if o.Err == nil {
		v := o.Value
		r.value = &v
		s := r.rule.classify(v)
		r.detail = "value " + strconv.FormatFloat(v, 'g', 6, 64)
		return s, true
	}
	policy, what := r.rule.onError, "query error: "+o.Err.Error()
	if errors.Is(o.Err, ErrNoData) {
		policy, what = r.rule.onNoData, "no data"
	}
	switch policy {
	case PolicyKeepLast:
		return "", false
	case PolicyHealthy:
		r.value, r.detail = nil, what+" (counted as healthy)"
		return events.Healthy, true
	}
	r.value, r.detail = nil, what
	return events.Unknown, true
}

// reason explains the rule's current level for an event.
func (r *ruleState) reason(now time.Time) string {
	held := ""
	if !r.levelSince.IsZero() { // zero: the level was restored, not observed
		held = " for " + now.Sub(r.levelSince).Round(time.Second).String()
	}
	detail := r.detail
	if detail == "" {
		return fmt.Sprintf("%s: %s as restored, not evaluated since", r.rule.name, r.level)
	}
	switch r.level {
	case events.Critical:
		return fmt.Sprintf("%s: %s %s (critical)%s", r.rule.name, detail, r.rule.critical, held)
	case events.Caution:
		return fmt.Sprintf("%s: %s %s (caution)%s", r.rule.name, detail, r.rule.caution, held)
	case events.Unknown:
		return fmt.Sprintf("%s: %s%s", r.rule.name, detail, held)
	}
	return fmt.Sprintf("%s: %s within thresholds%s", r.rule.name, detail, held)
}

// External is a level set from outside the rules, by an alert webhook. A
// firing alert holds its target at Level until it resolves.
type External struct {
	// Level is Caution or Critical while firing, Healthy once resolved.
	Level events.Status
	// Rule names the alert in events, e.g. "alertmanager:KafkaDown".
	Rule        string
	Since       time.Time
	Value       *float64
	Reason      string
	Annotations map[string]string
}

// Transition is a change of a target's status, ready to become an event.
type Transition struct {
	Target      string
	From, To    events.Status
	At, Since   time.Time
	Rule        string
	Value       *float64
	Threshold   *float64
	Reason      string
	Labels      map[string]string
	Annotations map[string]string
	Generation  uint64
}

// Health is the transition as the event's data.
func (t Transition) Health() events.Health {
	return events.Health{
		Target: t.Target, Status: t.To, PreviousStatus: t.From, Since: t.Since.UTC(),
		Rule: t.Rule, Value: t.Value, Threshold: t.Threshold, Reason: t.Reason,
		Labels: t.Labels, Annotations: t.Annotations, Generation: t.Generation,
	}
}

// TargetState is the pure state machine of one target: it is handed every
// observation with its time and returns the transition it causes, if any.
// It is not safe for concurrent use.
type TargetState struct {
	name       string
	labels     map[string]string
	rules      []*ruleState
	external   map[string]External
	status     events.Status
	generation uint64
}

// NewTargetState starts a target at status with the last published
// generation (UNKNOWN and 0 for a target never published). Every rule starts
// at status, so a restart re-publishes nothing while the evidence agrees.
// t must have passed Validate.
func NewTargetState(t Target, d RuleDefaults, status events.Status, generation uint64) *TargetState {
	if !status.Valid() {
		status = events.Unknown
	}
	s := &TargetState{name: t.Name, labels: t.Labels, status: status, generation: generation, external: map[string]External{}}
	for _, r := range t.Rules {
		s.rules = append(s.rules, &ruleState{rule: compileRule(r, d), level: status})
	}
	return s
}

// Status is the target's current status.
func (s *TargetState) Status() events.Status { return s.status }

// Generation is the generation of the target's last transition.
func (s *TargetState) Generation() uint64 { return s.generation }

// Observe feeds rule i's evaluation at now.
func (s *TargetState) Observe(i int, now time.Time, o Observation) (Transition, bool) {
	r := s.rules[i]
	if !r.observe(now, o) {
		return Transition{}, false
	}
	return s.settle(now, r.rule.name)
}

// SetExternal sets or (with Level Healthy) clears the external level under
// key.
func (s *TargetState) SetExternal(key string, e External, now time.Time) (Transition, bool) {
	if e.Since.IsZero() {
		e.Since = now
	}
	if e.Level == events.Healthy {
		if _, ok := s.external[key]; !ok {
			return Transition{}, false
		}
		delete(s.external, key)
	} else {
		s.external[key] = e
	}
	tr, ok := s.settle(now, e.Rule)
	if ok && tr.To == events.Healthy && e.Level == events.Healthy {
		// The resolved alert is what made the target healthy.
		tr.Since, tr.Reason, tr.Annotations = e.Since.UTC(), e.Reason, e.Annotations
	}
	return tr, ok
}

// settle recomputes the worst level after changed changed its level.
func (s *TargetState) settle(now time.Time, changed string) (Transition, bool) {
	worst := events.Healthy
	for _, r := range s.rules {
		if r.level.Rank() > worst.Rank() {
			worst = r.level
		}
	}
	keys := make([]string, 0, len(s.external))
	for k, e := range s.external {
		keys = append(keys, k)
		if e.Level.Rank() > worst.Rank() {
			worst = e.Level
		}
	}
	if worst == s.status {
		return Transition{}, false
	}
	sort.Strings(keys)
	tr := Transition{Target: s.name, From: s.status, To: worst, At: now.UTC(), Labels: s.labels, Generation: s.generation + 1}
	// Blame the rule that changed when it is at the new status, else the
	// first rule (then alert) that is.
	var blamed *ruleState
	for _, r := range s.rules {
		if r.level == worst && (blamed == nil || r.rule.name == changed) {
			blamed = r
		}
	}
	if worst == events.Healthy {
		// Every rule is healthy: the one that just recovered decided it.
		blamed = nil
		for _, r := range s.rules {
			if r.rule.name == changed {
				blamed = r
			}
		}
	}
	switch {
	case blamed != nil:
		tr.Rule, tr.Since, tr.Reason = blamed.rule.name, blamed.levelSince, blamed.reason(now)
		if tr.Since.IsZero() {
			tr.Since = now
		}
		if worst != events.Unknown {
			tr.Value, tr.Threshold = blamed.value, blamed.rule.threshold(worst)
		}
		tr.Annotations = blamed.rule.annotations
	default:
		for _, k := range keys {
			if e := s.external[k]; e.Level == worst {
				tr.Rule, tr.Since, tr.Value, tr.Reason, tr.Annotations = e.Rule, e.Since, e.Value, e.Reason, e.Annotations
				break
			}
		}
		if tr.Rule == "" { // a resolved alert left every rule healthy
			tr.Rule, tr.Since = changed, now
		}
	}
	tr.Since = tr.Since.UTC()
	if len(tr.Annotations) == 0 {
		tr.Annotations = nil
	}
	if len(tr.Labels) == 0 {
		tr.Labels = nil
	}
	s.status, s.generation = worst, tr.Generation
	return tr, true
}
