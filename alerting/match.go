package alerting

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Matcher selects targets by name or by a label. It is written as
// "name=value", "name!=value", "name=~regex" or "name!~regex"; the name
// "target" matches the target, any other name the label of that name (a
// missing label is the empty string). Regexes are anchored at both ends.
type Matcher struct {
	Name  string
	Op    string // "=", "!=", "=~" or "!~"
	Value string
	re    *regexp.Regexp
}

// ParseMatcher parses the string form.
func ParseMatcher(s string) (Matcher, error) {
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return Matcher{}, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	m := Matcher{Name: strings.TrimSpace(s[:i])}
	rest := s[i:]
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(rest, op) {
			m.Op, m.Value = op, strings.TrimSpace(rest[len(op):])
			break
		}
	}
	if m.Op == "" {
		return Matcher{}, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", s)
	}
	if m.Op == "=~" || m.Op == "!~" {
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: %w", s, err)
		}
		m.re = re
	}
	return m, nil
}

// ParseMatchers parses each string; the CLI passes its arguments here.
func ParseMatchers(ss []string) ([]Matcher, error) {
	out := make([]Matcher, 0, len(ss))
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (m Matcher) String() string { return m.Name + m.Op + m.Value }

// Matches reports whether the target and labels satisfy m.
func (m Matcher) Matches(target string, labels map[string]string) bool {
	v := labels[m.Name]
	if m.Name == "target" {
		v = target
	}
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return m.re.MatchString(v)
	case "!~":
		return !m.re.MatchString(v)
	}
	return false
}

// MarshalText writes the string form (JSON and YAML).
func (m Matcher) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses the string form (JSON).
func (m *Matcher) UnmarshalText(b []byte) error {
	p, err := ParseMatcher(string(b))
	if err != nil {
		return err
	}
	*m = p
	return nil
}

// UnmarshalYAML parses the string form.
func (m *Matcher) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	return m.UnmarshalText([]byte(s))
}

// matchAll reports whether every matcher matches; no matchers match all.
func matchAll(ms []Matcher, target string, labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(target, labels) {
			return false
		}
	}
	return true
}
