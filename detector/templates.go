package detector

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/vigil-dev/vigil/internal/config"
)

// TargetTemplate is a target written once for every value of some labels:
// "for every service, its fault ratio and p99 latency". The detector asks
// Prometheus for the label values (for_each.query) every for_each.refresh
// and adds one target per new combination, so a service that appears gets
// its health rules with nothing written by hand. A target, once added,
// stays for the leadership term (a service that stops sending is no data,
// see on_no_data).
//
// {{label}} in name, labels, expr, idle and the annotations is replaced by
// the label's value: escaped as a PromQL string in expr and idle, and as a
// URL path segment in the annotation URLs.
type TargetTemplate struct {
	// Name is the targets' name; it must use every for_each label, so
	// that each combination is a target of its own.
	Name    string            `yaml:"name"`
	ForEach ForEach           `yaml:"for_each"`
	Labels  map[string]string `yaml:"labels"`
	Rules   []Rule            `yaml:"rules"`
}

// ForEach says which label values a template expands to.
type ForEach struct {
	// Labels name the placeholders; each series of Query gives one
	// combination of their values (series lacking one are skipped).
	Labels []string `yaml:"labels"`
	// Query is an instant PromQL query, e.g.
	// group by (environment, service) (request{namespace="span_derived"}).
	Query string `yaml:"query"`
	// Refresh is how often Query is run. Default 1m.
	Refresh time.Duration `yaml:"refresh"`
}

var placeholder = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

func (tt TargetTemplate) refresh() time.Duration {
	if tt.ForEach.Refresh > 0 {
		return tt.ForEach.Refresh
	}
	return time.Minute
}

func (tt TargetTemplate) validate() error {
	var p config.Problems
	if len(tt.ForEach.Labels) == 0 {
		p.Addf("for_each.labels", "must name at least one label")
	}
	for i, l := range tt.ForEach.Labels {
		if !model.LabelName(l).IsValid() {
			p.Addf(fmt.Sprintf("for_each.labels[%d]", i), "must be a Prometheus label name (got %q)", l)
		}
	}
	if tt.ForEach.Query == "" {
		p.Addf("for_each.query", "must not be empty")
	} else if _, err := promqlParser.ParseExpr(tt.ForEach.Query); err != nil {
		p.Addf("for_each.query", "invalid PromQL: %v", err)
	}
	if tt.ForEach.Refresh < 0 {
		p.Addf("for_each.refresh", "must be >= 0 (got %s)", tt.ForEach.Refresh)
	}
	for _, l := range tt.ForEach.Labels {
		if !strings.Contains(placeholders(tt.Name), "\x00"+l+"\x00") {
			p.Addf("name", "must use {{%s}}, so that each value is a target of its own (got %q)", l, tt.Name)
		}
	}
	for _, m := range placeholder.FindAllStringSubmatch(tt.String(), -1) {
		if !slices.Contains(tt.ForEach.Labels, m[1]) {
			p.Addf("", "uses {{%s}}, which is not in for_each.labels", m[1])
			break
		}
	}
	// The expansion with sample values must be a valid target.
	sample := map[string]string{}
	for _, l := range tt.ForEach.Labels {
		sample[l] = "x"
	}
	t := tt.expand(sample)
	if len(tt.ForEach.Labels) > 0 {
		p.Merge("", t.validate())
	}
	return p.Err()
}

func placeholders(s string) string {
	var b strings.Builder
	b.WriteString("\x00")
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		b.WriteString(m[1] + "\x00")
	}
	return b.String()
}

// String is every templated string, for checking placeholders.
func (tt TargetTemplate) String() string {
	parts := []string{tt.Name}
	for k, v := range tt.Labels {
		parts = append(parts, k, v)
	}
	for _, r := range tt.Rules {
		parts = append(parts, r.Expr, r.Idle, r.Annotations.Summary, r.Annotations.RunbookURL, r.Annotations.DashboardsURL)
	}
	return strings.Join(parts, "\n")
}

// expand is the target for one combination of values.
func (tt TargetTemplate) expand(values map[string]string) Target {
	sub := func(s string, esc func(string) string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			name := placeholder.FindStringSubmatch(m)[1]
			if v, ok := values[name]; ok {
				return esc(v)
			}
			return m
		})
	}
	raw := func(s string) string { return s }
	promql := func(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) }
	t := Target{Name: sub(tt.Name, raw), Labels: map[string]string{}}
	for k, v := range tt.Labels {
		t.Labels[k] = sub(v, raw)
	}
	for _, r := range tt.Rules {
		r.Expr = sub(r.Expr, promql)
		r.Idle = sub(r.Idle, promql)
		r.Annotations.Summary = sub(r.Annotations.Summary, raw)
		r.Annotations.RunbookURL = sub(r.Annotations.RunbookURL, url.PathEscape)
		r.Annotations.DashboardsURL = sub(r.Annotations.DashboardsURL, url.PathEscape)
		t.Rules = append(t.Rules, r)
	}
	return t
}

// discover runs a template's for_each query and returns the targets of
// the combinations found, sorted by name.
func (tt TargetTemplate) discover(ctx context.Context, q Querier, timeout time.Duration, now time.Time) ([]Target, error) {
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, _, _, err := q.Query(qctx, tt.ForEach.Query, now, v1.WithTimeout(timeout))
	if err != nil {
		return nil, fmt.Errorf("for_each query: %w", err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("for_each query returns a %s, not an instant vector", v.Type())
	}
	seen := map[string]Target{}
	for _, s := range vec {
		values := map[string]string{}
		for _, l := range tt.ForEach.Labels {
			lv, ok := s.Metric[model.LabelName(l)]
			if !ok || lv == "" {
				values = nil
				break
			}
			values[l] = string(lv)
		}
		if values == nil {
			continue
		}
		t := tt.expand(values)
		seen[t.Name] = t
	}
	out := make([]Target, 0, len(seen))
	for _, t := range seen {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// discoverLoop adds the templates' targets to the engine as they appear,
// until ctx ends.
func discoverLoop(ctx context.Context, cfg Config, e *engine, restored map[string]Restored, q Querier, log *slog.Logger) {
	if len(cfg.TargetTemplates) == 0 {
		return
	}
	next := make([]time.Time, len(cfg.TargetTemplates))
	for {
		now := time.Now()
		wake := now.Add(time.Hour)
		for i, tt := range cfg.TargetTemplates {
			if now.Before(next[i]) {
				wake = minTime(wake, next[i])
				continue
			}
			next[i] = now.Add(tt.refresh())
			wake = minTime(wake, next[i])
			ts, err := tt.discover(ctx, q, cfg.Prometheus.QueryTimeout, now)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("target template discovery failed; retrying at the next refresh", "template", tt.Name, "err", err)
				}
				continue
			}
			for _, t := range ts {
				if e.addTarget(t, cfg, restored[t.Name]) {
					log.Info("target added from template", "template", tt.Name, "target", t.Name)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(wake)):
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
