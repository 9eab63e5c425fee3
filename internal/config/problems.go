package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong with a configuration, located by its YAML path
// (for example "kafka.brokers" or "rules[2].expr").
type Problem struct {
	Path string
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Problems collects every problem found while validating, so that an operator
// fixes a file in one pass instead of one error per run.
type Problems struct {
	list []Problem
}

// Addf records a problem at path.
func (p *Problems) Addf(path, format string, args ...any) {
	p.list = append(p.list, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Merge records err's problems under prefix. err may be the result of a nested
// Validate (its paths are prefixed) or any other error (recorded at prefix).
func (p *Problems) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	var pe *ProblemsError
	if errors.As(err, &pe) {
		for _, q := range pe.Problems {
			p.list = append(p.list, Problem{Path: Join(prefix, q.Path), Msg: q.Msg})
		}
		return
	}
	p.list = append(p.list, Problem{Path: prefix, Msg: err.Error()})
}

// Err returns nil when nothing was recorded, else a *ProblemsError.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ProblemsError{Problems: append([]Problem(nil), p.list...)}
}

// ProblemsError is the error returned by Validate and Load: every problem
// found, each with its path. File is set by Load.
type ProblemsError struct {
	File     string
	Problems []Problem
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s: invalid configuration (%d problem%s):", e.File, len(e.Problems), plural(len(e.Problems)))
	} else {
		fmt.Fprintf(&b, "invalid configuration (%d problem%s):", len(e.Problems), plural(len(e.Problems)))
	}
	for _, p := range e.sorted() {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *ProblemsError) sorted() []Problem {
	out := append([]Problem(nil), e.Problems...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Join joins YAML path elements; an index element such as "[2]" attaches
// without a dot.
func Join(prefix, elem string) string {
	switch {
	case prefix == "":
		return elem
	case elem == "":
		return prefix
	case strings.HasPrefix(elem, "["):
		return prefix + elem
	default:
		return prefix + "." + elem
	}
}
