package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The services table reads the span-derived RED metrics the pipeline
// remote-writes for OpenSearch Dashboards APM, with the aggregations
// Dashboards' services page uses (sum_over_time over the range, summed by
// service; histogram_quantile over the summed buckets).
// ENV is replaced by the environment matcher.
const (
	servicesRange   = "15m"
	servicesRequest = `sum by (environment, service) (sum_over_time(request{ENVremoteService="",namespace="span_derived"}[` + servicesRange + `]))`
	servicesFault   = `sum by (environment, service) (sum_over_time(fault{ENVremoteService="",namespace="span_derived"}[` + servicesRange + `]))`
	servicesP99     = `histogram_quantile(0.99, sum by (environment, service, le) (sum_over_time(latency_seconds_bucket{ENVremoteService="",namespace="span_derived"}[` + servicesRange + `]))) * 1000`
)

// ServiceRow is one line of the services table.
type ServiceRow struct {
	Environment, Service string
	Requests, Faults     float64
	P99Millis            float64
}

// Services returns the services seen in the last 15 minutes (of
// r.APMEnvironment, or all), by environment and name.
func (r Report) Services(ctx context.Context) ([]ServiceRow, error) {
	env := ""
	if r.APMEnvironment != "" {
		env = `environment="` + promString(r.APMEnvironment) + `",`
	}
	rows := map[[2]string]*ServiceRow{}
	row := func(m map[string]string) *ServiceRow {
		k := [2]string{m["environment"], m["service"]}
		if rows[k] == nil {
			rows[k] = &ServiceRow{Environment: k[0], Service: k[1]}
		}
		return rows[k]
	}
	for _, q := range []struct {
		expr string
		set  func(*ServiceRow, float64)
	}{
		{servicesRequest, func(s *ServiceRow, v float64) { s.Requests = v }},
		{servicesFault, func(s *ServiceRow, v float64) { s.Faults = v }},
		{servicesP99, func(s *ServiceRow, v float64) { s.P99Millis = v }},
	} {
		res, err := r.promQuery(ctx, strings.Replace(q.expr, "ENV", env, 1))
		if err != nil {
			return nil, err
		}
		for _, s := range res {
			v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			if err != nil {
				continue
			}
			q.set(row(s.Metric), v)
		}
	}
	out := make([]ServiceRow, 0, len(rows))
	for _, s := range rows {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Environment != out[j].Environment {
			return out[i].Environment < out[j].Environment
		}
		return out[i].Service < out[j].Service
	})
	return out, nil
}

// APMRequests is the server-side requests of r.APMEnvironment (or all)
// over the last hour: make run reads it before sending its traces and
// waits for it to grow by theirs.
func (r Report) APMRequests(ctx context.Context) (float64, error) {
	m := `remoteService="",namespace="span_derived"`
	if r.APMEnvironment != "" {
		m = `environment="` + promString(r.APMEnvironment) + `",` + m
	}
	res, err := r.promQuery(ctx, `sum(sum_over_time(request{`+m+`}[1h]))`)
	if err != nil || len(res) == 0 {
		return 0, err
	}
	return strconv.ParseFloat(fmt.Sprint(res[0].Value[1]), 64)
}

// promString escapes s for a PromQL double-quoted string.
func promString(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) }

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (r Report) promQuery(ctx context.Context, q string) ([]promSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.Prometheus+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("prometheus: decode: %w", err)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", out.Error)
	}
	return out.Data.Result, nil
}

// writeServices prints the services table and how to open it in
// Dashboards APM.
func (r Report) writeServices(ctx context.Context, w io.Writer) error {
	if r.Prometheus == "" {
		return nil
	}
	rows, err := r.Services(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nServices (span-derived RED metrics in Prometheus, last %s, as Dashboards APM sums them)\n", servicesRange)
	if len(rows) == 0 {
		fmt.Fprintln(w, "  none yet (the pipeline's apm section writes them a window or two after the spans)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENVIRONMENT\tSERVICE\tREQUESTS\tFAULT %\tP99 (ms)")
	for _, s := range rows {
		pct := 0.0
		if s.Requests > 0 {
			pct = 100 * s.Faults / s.Requests
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.0f\t%.1f\t%.1f\n", s.Environment, s.Service, s.Requests, pct, s.P99Millis)
	}
	tw.Flush()
	fmt.Fprintln(w, "  Dashboards APM (OpenSearch Dashboards 3.6+): set Advanced settings > observability:apmEnabled, add this")
	fmt.Fprintf(w, "  Prometheus (%s) as a data source, and in APM's application config choose the spans\n", r.Prometheus)
	fmt.Fprintf(w, "  (otel-v1-apm-span-*) and the application map (%s); then open\n", or(r.APMServiceMap, "otel-v2-apm-service-map"))
	fmt.Fprintln(w, "  <dashboards>/app/observability-apm-services#/services (docs/apm.md).")
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
