package detector

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Condition is a rule's caution or critical condition as written in YAML:
// an operator and a threshold, e.g. "> 0.5" or "< 1". Empty means none.
type Condition string

// Threshold is a parsed Condition.
type Threshold struct {
	Op    string
	Value float64
}

// operators in match order (two-character ones first).
var operators = []string{">=", "<=", "==", "!=", ">", "<"}

// Parse returns nil for an empty condition.
func (c Condition) Parse() (*Threshold, error) {
	s := strings.TrimSpace(string(c))
	if s == "" {
		return nil, nil
	}
	for _, op := range operators {
		if rest, ok := strings.CutPrefix(s, op); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return nil, fmt.Errorf("threshold %q is not a number (want e.g. \"> 0.5\")", strings.TrimSpace(rest))
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("threshold must be finite (got %q)", strings.TrimSpace(rest))
			}
			return &Threshold{Op: op, Value: v}, nil
		}
	}
	return nil, fmt.Errorf("must be an operator (>, >=, <, <=, ==, !=) and a threshold, e.g. \"> 0.5\" (got %q)", s)
}

// Match reports whether v meets the condition.
func (t Threshold) Match(v float64) bool {
	switch t.Op {
	case ">":
		return v > t.Value
	case ">=":
		return v >= t.Value
	case "<":
		return v < t.Value
	case "<=":
		return v <= t.Value
	case "==":
		return v == t.Value
	case "!=":
		return v != t.Value
	}
	return false
}

func (t Threshold) String() string { return t.Op + " " + strconv.FormatFloat(t.Value, 'g', -1, 64) }

// direction is +1 when higher values are worse, -1 when lower are, 0 for
// equality operators.
func (t Threshold) direction() int {
	switch t.Op {
	case ">", ">=":
		return 1
	case "<", "<=":
		return -1
	}
	return 0
}

// checkOrder requires critical to be at least as severe as caution: the same
// direction and a threshold no less extreme, so that a value is never
// critical without also being caution-worthy.
func checkOrder(caution, critical Threshold) error {
	dc, dk := caution.direction(), critical.direction()
	if dc == 0 || dk == 0 {
		return nil
	}
	if dc != dk {
		return fmt.Errorf("must point the same way as caution (caution %q, critical %q)", caution, critical)
	}
	if float64(dk)*(critical.Value-caution.Value) < 0 {
		return fmt.Errorf("threshold must be at least as severe as caution's (caution %q, critical %q)", caution, critical)
	}
	return nil
}

// Policy says what a rule's level becomes when its query returns no data or
// fails, like Grafana's no-data and error handling.
type Policy string

// Policies.
const (
	// PolicyUnknown moves the rule towards UNKNOWN (after for/recover_for).
	PolicyUnknown Policy = "unknown"
	// PolicyHealthy counts the evaluation as HEALTHY.
	PolicyHealthy Policy = "healthy"
	// PolicyKeepLast ignores the evaluation: the level and any pending
	// change stay as they were.
	PolicyKeepLast Policy = "keep_last"
)

func (p Policy) valid() bool {
	switch p {
	case "", PolicyUnknown, PolicyHealthy, PolicyKeepLast:
		return true
	}
	return false
}

// Reduce picks one value when a query returns several series.
type Reduce string

// Reductions.
const (
	// ReduceWorst takes the series nearest to breaching: the maximum for >
	// and >= conditions, the minimum for < and <=.
	ReduceWorst Reduce = "worst"
	ReduceMax   Reduce = "max"
	ReduceMin   Reduce = "min"
)

func (r Reduce) valid() bool {
	switch r {
	case "", ReduceWorst, ReduceMax, ReduceMin:
		return true
	}
	return false
}

// errNoData marks an evaluation that returned no sample.
var errNoData = errors.New("no data")
