package apm

import (
	"sort"
	"strconv"
)

// PartitionLabel names the Kafka partition whose spans a series counts.
// One partition has one owner at a time, so no two pipeline replicas ever
// write the same series; Dashboards' queries all aggregate with sum by
// (...), which sums the label away.
const PartitionLabel = "span_partition"

// Label is one Prometheus label.
type Label struct{ Name, Value string }

// Series is one sample of one window: Labels include __name__ and are
// sorted by name.
type Series struct {
	Labels []Label
	Value  float64
}

// Name is the series' metric name.
func (s Series) Name() string {
	for _, l := range s.Labels {
		if l.Name == "__name__" {
			return l.Value
		}
	}
	return ""
}

// Get returns a label's value ("" when absent).
func (s Series) Get(name string) string {
	for _, l := range s.Labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Bounds are the latency histogram's upper bounds in seconds (Data
// Prepper's), and boundLabels their le values as Data Prepper's Prometheus
// sink writes them (Java's Double.toString).
var (
	Bounds      = []float64{0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	boundLabels = []string{"0.0", "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "5.0", "7.5", "10.0"}
)

func named(name string, labels []Label, extra ...Label) []Label {
	out := make([]Label, 0, len(labels)+1+len(extra))
	out = append(out, Label{"__name__", name})
	out = append(out, labels...)
	out = append(out, extra...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// series renders the window's RED samples, in a stable order.
func (e *evaluation) series() []Series {
	states := make([]*seriesState, 0, len(e.states))
	for _, st := range e.states {
		states = append(states, st)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].key < states[j].key })
	var out []Series
	for _, st := range states {
		out = append(out,
			Series{named("request", st.labels), st.request},
			Series{named("error", st.labels), st.errs},
			Series{named("fault", st.labels), st.fault},
		)
	}
	for _, st := range states {
		if len(st.durations) > 0 {
			out = append(out, histogram(st)...)
		}
	}
	return out
}

// histogram writes latency_seconds as Prometheus expects it: cumulative
// bucket counts (each le counts every duration <= its bound, +Inf equals
// _count), so that histogram_quantile is right. Data Prepper writes each
// bucket's own count instead.
func histogram(h *seriesState) []Series {
	counts := make([]float64, len(Bounds)+1)
	sum, lo, hi := 0.0, h.durations[0], h.durations[0]
	for _, d := range h.durations {
		sum += d
		lo, hi = min(lo, d), max(hi, d)
		i := sort.SearchFloat64s(Bounds, d) // first bound >= d
		counts[i]++
	}
	out := make([]Series, 0, len(counts)+4)
	cum := 0.0
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(boundLabels) {
			le = boundLabels[i]
		}
		out = append(out, Series{named("latency_seconds_bucket", h.labels, Label{"le", le}), cum})
	}
	n := float64(len(h.durations))
	return append(out,
		Series{named("latency_seconds_count", h.labels), n},
		Series{named("latency_seconds_sum", h.labels), sum},
		Series{named("latency_seconds_min", h.labels), lo},
		Series{named("latency_seconds_max", h.labels), hi},
	)
}

// String renders the series in the exposition format (for golden files and
// logs).
func (s Series) String() string {
	b := []byte(s.Name())
	b = append(b, '{')
	first := true
	for _, l := range s.Labels {
		if l.Name == "__name__" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, l.Name...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, l.Value)
	}
	b = append(b, "} "...)
	b = strconv.AppendFloat(b, s.Value, 'g', -1, 64)
	return string(b)
}
