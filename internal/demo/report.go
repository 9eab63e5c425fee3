package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
)

// Report is where `make run` looks for what Vigil did.
type Report struct {
	OpenSearch string // base URL
	SpanAlias  string // otel-v1-apm-span
	ServiceMap string // otel-v1-apm-service-map
	Logs       string // ss4o_logs-vigil-default
	// HealthEvents and DLQ are the pipeline's event indices
	// (vigil-health-events, vigil-dlq); empty leaves them out.
	HealthEvents string
	DLQ          string
	Brokers      []string
	HealthTopic  string
	// Admin is the vigil admin address whose /metrics carry the detector's
	// current status per target.
	Admin string
	HTTP  *http.Client
	// Prometheus is the base URL holding the span-derived RED metrics of
	// Dashboards APM; empty leaves the services table out.
	Prometheus string
	// APMServiceMap is the APM application map's alias
	// (otel-v2-apm-service-map).
	APMServiceMap string
	// APMEnvironment limits the services table to one environment
	// (the trace set's is "demo"); empty shows all.
	APMEnvironment string
}

// Counts returns the number of documents in logs, spans and service map.
func (r Report) Counts(ctx context.Context) (logs, spans, edges int, err error) {
	for _, c := range []struct {
		index string
		n     *int
	}{{r.Logs, &logs}, {r.SpanAlias, &spans}, {r.ServiceMap, &edges}} {
		var out struct{ Count int }
		if err = r.get(ctx, "/"+c.index+"/_count", nil, &out); err != nil {
			return
		}
		*c.n = out.Count
	}
	return
}

// Write prints the whole report.
func (r Report) Write(ctx context.Context, w io.Writer) error {
	logs, spans, edges, err := r.Counts(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Documents in OpenSearch (%s)\n", r.OpenSearch)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\t%d log records\n", r.Logs, logs)
	fmt.Fprintf(tw, "  %s\t%d spans\n", r.SpanAlias, spans)
	fmt.Fprintf(tw, "  %s\t%d service-map documents\n", r.ServiceMap, edges)
	for _, x := range []struct{ index, what string }{{r.HealthEvents, "health and failover events"}, {r.DLQ, "dead-lettered records"}} {
		if x.index != "" {
			fmt.Fprintf(tw, "  %s\t%d %s\n", x.index, r.countOrZero(ctx, x.index), x.what)
		}
	}
	tw.Flush()
	if err := r.writeTrace(ctx, w); err != nil {
		return err
	}
	if err := r.writeServiceMap(ctx, w); err != nil {
		return err
	}
	if err := r.writeServices(ctx, w); err != nil {
		return err
	}
	if err := r.writeHealth(ctx, w); err != nil {
		return err
	}
	return r.writeHealthEvents(ctx, w)
}

// countOrZero is an index's document count, 0 when it does not exist yet
// (nothing was ever written to it).
func (r Report) countOrZero(ctx context.Context, index string) int {
	var out struct{ Count int }
	if err := r.get(ctx, "/"+index+"/_count?ignore_unavailable=true", nil, &out); err != nil {
		return 0
	}
	return out.Count
}

// writeHealthEvents prints the latest health and failover events as the
// pipeline indexed them (what the Dashboards timeline shows).
func (r Report) writeHealthEvents(ctx context.Context, w io.Writer) error {
	if r.HealthEvents == "" {
		return nil
	}
	var hit struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Timestamp      string `json:"@timestamp"`
					Kind           string `json:"kind"`
					EventType      string `json:"eventType"`
					Target         string `json:"target"`
					Status         string `json:"status"`
					PreviousStatus string `json:"previousStatus"`
					From           string `json:"from"`
					To             string `json:"to"`
					Reason         string `json:"reason"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	q := map[string]any{"size": 5, "sort": []any{map[string]any{"@timestamp": "desc"}}}
	fmt.Fprintf(w, "\nLatest health events indexed (%s; Dashboards: \"Vigil — pipeline and incidents\")\n", r.HealthEvents)
	if err := r.get(ctx, "/"+r.HealthEvents+"/_search?ignore_unavailable=true", q, &hit); err != nil || len(hit.Hits.Hits) == 0 {
		fmt.Fprintln(w, "  none yet (no target has changed health)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, h := range hit.Hits.Hits {
		e := h.Source
		what := fmt.Sprintf("%s -> %s", e.PreviousStatus, e.Status)
		if e.Kind != "health" {
			what = fmt.Sprintf("%s %s -> %s", e.EventType, e.From, e.To)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Timestamp, e.Target, what, e.Reason)
	}
	return tw.Flush()
}

type span struct {
	TraceID    string `json:"traceId"`
	SpanID     string `json:"spanId"`
	Parent     string `json:"parentSpanId"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Service    string `json:"serviceName"`
	Duration   int64  `json:"durationInNanos"`
	StatusCode int    `json:"status.code"`
	TraceGroup string `json:"traceGroup"`
	StartTime  string `json:"startTime"`
}

// writeTrace prints one failed multi-service trace, its spans as a tree.
func (r Report) writeTrace(ctx context.Context, w io.Writer) error {
	var hit struct {
		Hits struct {
			Hits []struct {
				Source span `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	q := map[string]any{"size": 1, "query": map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"term": map[string]any{"serviceName": Payment}},
		map[string]any{"term": map[string]any{"status.code": 2}},
	}}}}
	if err := r.get(ctx, "/"+r.SpanAlias+"/_search", q, &hit); err != nil {
		return err
	}
	if len(hit.Hits.Hits) == 0 {
		fmt.Fprintln(w, "\nNo failed trace found yet.")
		return nil
	}
	tid := hit.Hits.Hits[0].Source.TraceID
	q = map[string]any{"size": 100, "query": map[string]any{"term": map[string]any{"traceId": tid}}, "sort": []any{map[string]any{"startTime": "asc"}}}
	if err := r.get(ctx, "/"+r.SpanAlias+"/_search", q, &hit); err != nil {
		return err
	}
	children := map[string][]span{}
	var roots []span
	for _, h := range hit.Hits.Hits {
		if h.Source.Parent == "" {
			roots = append(roots, h.Source)
		} else {
			children[h.Source.Parent] = append(children[h.Source.Parent], h.Source)
		}
	}
	group := ""
	if len(hit.Hits.Hits) > 0 {
		group = hit.Hits.Hits[0].Source.TraceGroup
	}
	fmt.Fprintf(w, "\nOne trace with an error: %s (trace group %q, %d spans)\n", tid, group, len(hit.Hits.Hits))
	var walk func(s span, depth int)
	walk = func(s span, depth int) {
		status := "ok"
		if s.StatusCode == 2 {
			status = "ERROR"
		}
		fmt.Fprintf(w, "  %s%-9s %-20s %-17s %6.1f ms  %s\n", strings.Repeat("  ", depth), s.Service, s.Name,
			strings.TrimPrefix(s.Kind, "SPAN_KIND_"), float64(s.Duration)/1e6, status)
		for _, c := range children[s.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, s := range roots {
		walk(s, 0)
	}
	return nil
}

// writeServiceMap prints caller -> callee edges (Data Prepper's model: a
// CLIENT document names its destination, a SERVER document its target).
func (r Report) writeServiceMap(ctx context.Context, w io.Writer) error {
	var out struct {
		Hits struct {
			Hits []struct {
				Source struct {
					Service     string `json:"serviceName"`
					Destination *struct {
						Domain   string `json:"domain"`
						Resource string `json:"resource"`
					} `json:"destination"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	q := map[string]any{"size": 1000, "query": map[string]any{"exists": map[string]any{"field": "destination.domain"}}}
	if err := r.get(ctx, "/"+r.ServiceMap+"/_search", q, &out); err != nil {
		return err
	}
	edges := map[string]bool{}
	for _, h := range out.Hits.Hits {
		if d := h.Source.Destination; d != nil {
			edges[fmt.Sprintf("%s -> %s (%s)", h.Source.Service, d.Domain, d.Resource)] = true
		}
	}
	list := make([]string, 0, len(edges))
	for e := range edges {
		list = append(list, e)
	}
	sort.Strings(list)
	fmt.Fprintf(w, "\nService map edges (%d)\n", len(list))
	for _, e := range list {
		fmt.Fprintf(w, "  %s\n", e)
	}
	return nil
}

// writeHealth prints every target's current status (the detector's status
// gauge) and its latest published transition.
func (r Report) writeHealth(ctx context.Context, w io.Writer) error {
	latest, err := LatestHealth(ctx, r.Brokers, r.HealthTopic)
	if err != nil {
		return err
	}
	now, err := r.currentStatus(ctx)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(now))
	for n := range now {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\nTarget health (detector now; last event on %s)\n", r.HealthTopic)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range names {
		last := "no transition published yet"
		if h, ok := latest[n]; ok {
			last = fmt.Sprintf("last event: %s -> %s (generation %d) %s", h.PreviousStatus, h.Status, h.Generation, h.Reason)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", n, now[n], last)
	}
	return tw.Flush()
}

// currentStatus reads vigil_detector_target_status from the admin endpoint.
func (r Report) currentStatus(ctx context.Context) (map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("demo: metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("demo: metrics: %w", err)
	}
	out := map[string]string{}
	if f, ok := fams["vigil_detector_target_status"]; ok {
		for _, m := range f.GetMetric() {
			if m.GetGauge().GetValue() != 1 {
				continue
			}
			var target, status string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "target":
					target = l.GetValue()
				case "status":
					status = l.GetValue()
				}
			}
			out[target] = status
		}
	}
	return out, nil
}

// LatestHealth reads a health topic to its end and returns the newest event
// per target.
func LatestHealth(ctx context.Context, brokers []string, topic string) (map[string]events.Health, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		return nil, fmt.Errorf("demo: kafka: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := map[string]events.Health{}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, nil
		}
		fs.EachRecord(func(rec *kgo.Record) {
			e, err := events.Parse(rec)
			if err != nil {
				return
			}
			if h, err := events.Data[events.Health](e); err == nil && h.Generation >= out[h.Target].Generation {
				out[h.Target] = h
			}
		})
	}
}

func (r Report) get(ctx context.Context, path string, body any, out any) error {
	method, rd := http.MethodGet, io.Reader(nil)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		method, rd = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.OpenSearch+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	c := r.HTTP
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("demo: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("demo: %s %s: %s: %s", method, path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
