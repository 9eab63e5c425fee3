// Command demo is make run's helper: `demo traces` sends the multi-service
// trace set over OTLP gRPC, `demo report` waits for Vigil to index what was
// sent and prints a report. Run with `go run ./scripts/demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigil-dev/vigil/internal/demo"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demo traces|report|apm-requests [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "traces":
		err = traces(os.Args[2:])
	case "report":
		err = report(os.Args[2:])
	case "apm-requests":
		err = apmRequests(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func traces(args []string) error {
	fs := flag.NewFlagSet("traces", flag.ExitOnError)
	addr := fs.String("otlp", "127.0.0.1:4317", "OTLP gRPC endpoint")
	n := fs.Int("count", 100, "traces to send (5 spans each, every fifth failing)")
	_ = fs.Parse(args)
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	td := demo.TraceSet(*n, time.Now().Add(-time.Minute), uint64(time.Now().UnixNano()))
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(os.Stderr, "demo: sent %d traces (%d spans) across %s, %s and %s\n", *n, td.SpanCount(), demo.Frontend, demo.Checkout, demo.Payment)
	return nil
}

// apmRequests prints the environment's server-side APM requests over the
// last hour (make run's baseline for --want-apm-requests).
func apmRequests(args []string) error {
	fs := flag.NewFlagSet("apm-requests", flag.ExitOnError)
	r := demo.Report{}
	fs.StringVar(&r.Prometheus, "prometheus", "http://127.0.0.1:9090", "Prometheus URL")
	fs.StringVar(&r.APMEnvironment, "apm-environment", "demo", "environment (empty: all)")
	_ = fs.Parse(args)
	n, err := r.APMRequests(context.Background())
	if err != nil {
		return err
	}
	fmt.Printf("%.0f\n", n)
	return nil
}

func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	r := demo.Report{}
	fs.StringVar(&r.OpenSearch, "opensearch", "http://127.0.0.1:9200", "OpenSearch URL")
	fs.StringVar(&r.SpanAlias, "spans", "otel-v1-apm-span", "span alias")
	fs.StringVar(&r.ServiceMap, "service-map", "otel-v1-apm-service-map", "service-map index")
	fs.StringVar(&r.Logs, "logs", "ss4o_logs-vigil-default", "logs data stream")
	fs.StringVar(&r.HealthEvents, "health-events", "vigil-health-events", "health-events index (empty: left out)")
	fs.StringVar(&r.DLQ, "dlq", "vigil-dlq", "DLQ index (empty: left out)")
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka brokers, comma separated")
	fs.StringVar(&r.HealthTopic, "health-topic", "vigil.health", "health topic")
	fs.StringVar(&r.Admin, "admin", "127.0.0.1:8880", "vigil admin address (for the detector's current status)")
	fs.StringVar(&r.Prometheus, "prometheus", "", "Prometheus URL holding the APM RED metrics (empty: no services table)")
	fs.StringVar(&r.APMServiceMap, "apm-service-map", "otel-v2-apm-service-map", "APM application map alias")
	fs.StringVar(&r.APMEnvironment, "apm-environment", "demo", "environment of the services table (empty: all)")
	wantServices := fs.Int("want-services", 0, "wait until at least this many services have RED metrics in Prometheus")
	wantAPM := fs.Float64("want-apm-requests", 0, "wait until the environment's server-side requests over the last hour reach this (see apm-requests)")
	// A secured cluster (TLS, client certificate, basic auth), as the
	// pipeline reaches it: the same settings and code.
	var osc opensearch.Config
	fs.StringVar(&osc.Username, "username", "", "OpenSearch basic-auth user")
	fs.StringVar(&osc.Password.File, "password-file", "", "file holding the OpenSearch password")
	fs.StringVar(&osc.TLS.CAFile, "ca-file", "", "PEM CA bundle to trust for OpenSearch")
	fs.StringVar(&osc.TLS.CertFile, "cert-file", "", "PEM client certificate for OpenSearch")
	fs.StringVar(&osc.TLS.KeyFile, "key-file", "", "PEM key of -cert-file")
	wantLogs := fs.Int("want-logs", 0, "wait until at least this many log records are indexed")
	wantSpans := fs.Int("want-spans", 0, "wait until at least this many spans are indexed")
	wait := fs.Duration("wait", 3*time.Minute, "how long to wait")
	_ = fs.Parse(args)
	r.Brokers = strings.Split(*brokers, ",")
	osc.Name = "report"
	rt, err := osc.Transport()
	if err != nil {
		return err
	}
	r.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: rt}
	ctx := context.Background()
	deadline := time.Now().Add(*wait)
	for {
		logs, spans, edges, err := r.Counts(ctx)
		services, apmReqs := 0, 0.0
		if r.Prometheus != "" && *wantServices > 0 {
			rows, _ := r.Services(ctx)
			services = len(rows)
		}
		if r.Prometheus != "" && *wantAPM > 0 {
			apmReqs, _ = r.APMRequests(ctx)
			if apmReqs < *wantAPM {
				services = min(services, *wantServices-1)
			}
		}
		if err == nil && logs >= *wantLogs && spans >= *wantSpans && edges > 0 && services >= *wantServices {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %d logs (want %d), %d spans (want %d), %d service-map documents, %d services with RED metrics (want %d), %.0f APM requests (want %.0f) (err: %v)",
				*wait, logs, *wantLogs, spans, *wantSpans, edges, services, *wantServices, apmReqs, *wantAPM, err)
		}
		time.Sleep(time.Second)
	}
	return r.Write(ctx, os.Stdout)
}
