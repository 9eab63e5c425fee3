//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// stack is one test's private slice of the real servers: its own topics,
// consumer group, DLQ topic and index names (all under prefix), removed when
// the test ends.
type stack struct {
	t          *testing.T
	broker     string   // the first of brokers, for kcat and admin clients
	brokers    []string // every seed broker the pipeline is given
	replicas   int16    // of the stack's topics
	osURL      string
	prefix     string
	logsTopic  string
	spansTopic string
	// prioTopic is the priority lane's: ERROR-and-above logs.
	prioTopic  string
	dlqTopic   string
	group      string
	spanAlias  string
	serviceMap string
	apmMap     string // Dashboards APM's application map (write alias)
	logsStream string
	dir        string
	admin      string // the last pipeline started, for failure reports
	// osYAML, when set, replaces the pipeline file's opensearch section
	// (e.g. to go through the secured proxy).
	osYAML string
}

// newStack creates the test's topics. A 20 MB poison record needs topic
// limits above Kafka's 1 MB default, set here as an operator would
// (max.message.bytes on the source topic; the DLQ topic gets the 32 MiB
// `vigil setup` gives vigil.dlq).
func newStack(t *testing.T, partitions int32) *stack {
	t.Helper()
	return newStackOn(t, []string{testinfra.Kafka(t)}, 1, partitions)
}

// newStackOn is newStack on the Kafka at brokers, its topics with replicas
// copies of each partition.
func newStackOn(t *testing.T, brokers []string, replicas int16, partitions int32) *stack {
	t.Helper()
	// The logs data stream's template pattern is the name up to its first
	// "-", so the prefix has none.
	prefix := fmt.Sprintf("e2e%s%d", strings.ToLower(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, t.Name())), time.Now().UnixNano()%1e9)
	s := &stack{
		t:          t,
		broker:     brokers[0],
		brokers:    brokers,
		replicas:   replicas,
		osURL:      testinfra.OpenSearch(t),
		prefix:     prefix,
		logsTopic:  prefix + ".otlp_logs",
		spansTopic: prefix + ".otlp_spans",
		prioTopic:  prefix + ".otlp_logs_priority",
		dlqTopic:   prefix + ".dlq",
		group:      prefix + "-pipeline",
		spanAlias:  prefix + "-otel-v1-apm-span",
		serviceMap: prefix + "-otel-v1-apm-service-map",
		apmMap:     prefix + "-otel-v2-apm-service-map",
		logsStream: prefix + "_logs-vigil-default",
		dir:        t.TempDir(),
	}
	big := map[string]*string{"max.message.bytes": ptr("26214400")}
	s.createTopics(partitions, big, s.logsTopic, s.spansTopic, s.prioTopic)
	s.createTopics(3, map[string]*string{"max.message.bytes": ptr("33554432")}, s.dlqTopic)
	t.Cleanup(s.deleteIndices)
	return s
}

func ptr[T any](v T) *T { return &v }

func (s *stack) createTopics(partitions int32, configs map[string]*string, topics ...string) {
	t := s.t
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, s.replicas, configs, topics...)
	require.NoError(t, err)
	for _, r := range resp {
		require.NoError(t, r.Err, "create topic %s", r.Topic)
	}
	t.Cleanup(func() { testinfra.DeleteKafka(t, s.broker, nil, topics...) })
}

func (s *stack) deleteIndices() {
	for _, path := range []string{"/_data_stream/" + s.prefix + "*", "/" + s.prefix + "*", "/_index_template/" + s.prefix + "*", "/_plugins/_ism/policies/" + s.spanAlias + "-policy", "/_plugins/_ism/policies/" + s.prefix + "_logs-policy", "/_plugins/_ism/policies/" + s.apmMap + "-policy"} {
		req, _ := http.NewRequest(http.MethodDelete, s.osURL+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
}

// collector is `vigil collector --config configs/collector.yaml`, the
// shipped file, pointed at the stack's Kafka and topics.
type collector struct {
	proc      *vigiltest.Process
	grpc      string
	http      string
	telemetry string // its own metrics (otelcol_*)
}

func (s *stack) startCollector() *collector {
	s.t.Helper()
	return s.startCollectorWith(nil)
}

// startCollectorWith starts the collector with env added and configs merged
// after the shipped file (e.g. configs/collector-auth.yaml).
func (s *stack) startCollectorWith(extraEnv []string, configs ...string) *collector {
	t := s.t
	t.Helper()
	c := &collector{grpc: vigiltest.FreeAddr(t), http: vigiltest.FreeAddr(t), telemetry: vigiltest.FreeAddr(t)}
	admin := vigiltest.FreeAddr(t)
	env := []string{
		"VIGIL_KAFKA_BROKERS=" + s.broker,
		"VIGIL_LOGS_TOPIC=" + s.logsTopic,
		"VIGIL_SPANS_TOPIC=" + s.spansTopic,
		"VIGIL_LOGS_PRIORITY_TOPIC=" + s.prioTopic,
		"VIGIL_COLLECTOR_QUEUE_DIR=" + filepath.Join(s.dir, "collector-queue"),
		"VIGIL_OTLP_GRPC_ENDPOINT=" + c.grpc,
		"VIGIL_OTLP_HTTP_ENDPOINT=" + c.http,
		"VIGIL_COLLECTOR_ADMIN=" + admin,
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(t, c.telemetry),
	}
	args := []string{"collector", "--config", "configs/collector.yaml"}
	for _, f := range configs {
		args = append(args, "--config", f)
	}
	c.proc = vigiltest.Start(t, append(env, extraEnv...), args...)
	c.proc.WaitReady(admin, 90*time.Second)
	return c
}

// pipelineConfig writes a pipeline file: the shipped defaults except for
// where things are (and extra, YAML appended at the top level).
func (s *stack) pipelineConfig(admin, extra string) string {
	t := s.t
	t.Helper()
	brokers, err := json.Marshal(s.brokers)
	require.NoError(t, err)
	cfg := fmt.Sprintf(`admin: {listen_address: %q}
kafka:
  brokers: %s
  group: %s
  logs: {topic: %s}
  spans: {topic: %s}
  priority: {topic: %s}
  dlq_topic: %s
opensearch: %s
indices:
  span_alias: %s
  service_map: %s
  apm_service_map: %s
  logs_data_stream: %s
  canary: %s
%s`, admin, brokers, s.group, s.logsTopic, s.spansTopic, s.prioTopic, s.dlqTopic, s.opensearchYAML(), s.spanAlias, s.serviceMap, s.apmMap, s.logsStream, s.canaryIndex(), extra)
	path := filepath.Join(s.dir, "pipeline.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	return path
}

// canaryIndex is the stack's heartbeat and loss-window index.
func (s *stack) canaryIndex() string { return s.prefix + "-vigil-canary" }

func (s *stack) opensearchYAML() string {
	if s.osYAML != "" {
		return s.osYAML
	}
	return fmt.Sprintf("{addresses: [%q]}", s.osURL)
}

// pipeline is a running `vigil pipeline`.
type pipeline struct {
	proc  *vigiltest.Process
	admin string
}

func (s *stack) startPipeline(extra string) *pipeline {
	s.t.Helper()
	p := &pipeline{admin: vigiltest.FreeAddr(s.t)}
	p.proc = vigiltest.Start(s.t, nil, "pipeline", "--config", s.pipelineConfig(p.admin, extra))
	p.proc.WaitReady(p.admin, 2*time.Minute)
	s.admin = p.admin
	return p
}

// peakRSS is the process's VmHWM: the most resident memory it ever had.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// sampleAnonRSS samples the process's anonymous RSS (RssAnon) every 100ms
// until the test ends; the returned func gives the peak so far.
func sampleAnonRSS(t *testing.T, pid int) func() int64 {
	t.Helper()
	var peak atomic.Int64
	read := func() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return // exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil && kb<<10 > peak.Load() {
					peak.Store(kb << 10)
				}
			}
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			read()
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return func() int64 {
		read()
		require.Positive(t, peak.Load(), "no RssAnon read for pid %d", pid)
		return peak.Load()
	}
}

// metric returns the sum of a metric's samples whose line contains every
// one of match, from the process's /metrics.
func metric(addr, name string, match ...string) (float64, error) {
	b, err := scrape(addr)
	if err != nil {
		return 0, err
	}
	var sum float64
	found := false
lines:
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, m := range match {
			if !strings.Contains(line, m) {
				continue lines
			}
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, err
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no %s%v in /metrics", name, match)
	}
	return sum, nil
}

// ---- OpenSearch ----

// osDo sends a JSON request and decodes a JSON answer into out (if not nil),
// failing on any status but 200/201.
func osDo(base, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// count is the index's document count after a refresh.
func (s *stack) count(index string) (int, error) {
	_ = osDo(s.osURL, http.MethodPost, "/"+index+"/_refresh", nil, nil)
	var c struct{ Count int }
	err := osDo(s.osURL, http.MethodGet, "/"+index+"/_count", nil, &c)
	return c.Count, err
}

// waitCount waits until index holds exactly want documents, failing if it
// never gets there or overshoots.
func (s *stack) waitCount(index string, want int, timeout time.Duration) {
	s.t.Helper()
	err := vigiltest.Eventually(timeout, func() error {
		got, err := s.count(index)
		if err == nil && got != want {
			err = fmt.Errorf("%s holds %d documents, want %d (pipeline at %s: %s)", index, got, want, s.admin, s.documentOutcomes())
		}
		return err
	})
	require.NoError(s.t, err)
	// Nothing more arrives later (e.g. a duplicate from a late retry).
	time.Sleep(3 * time.Second)
	got, err := s.count(index)
	require.NoError(s.t, err)
	require.Equal(s.t, want, got, "documents in %s", index)
}

// scrape is the process's /metrics text.
func scrape(addr string) ([]byte, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// documentOutcomes is the last started pipeline's documents by kind and
// outcome, which tells a record lost from one merged with an identical one
// (outcome "duplicate") when a count is off.
func (s *stack) documentOutcomes() string {
	if s.admin == "" {
		return "no pipeline started"
	}
	b, err := scrape(s.admin)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "vigil_pipeline_documents_total"); ok {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

// duplicates returns up to 10 values of field that more than one document
// of index holds. A terms aggregation is exact on one shard (the default,
// checked here), unlike cardinality.
func (s *stack) duplicates(index, field string) map[string]int {
	t := s.t
	t.Helper()
	var res struct {
		Shards       struct{ Total int } `json:"_shards"`
		Aggregations struct {
			Dups struct {
				SumOtherDocCount int `json:"sum_other_doc_count"`
				Buckets          []struct {
					Key      string `json:"key"`
					DocCount int    `json:"doc_count"`
				}
			} `json:"dups"`
		}
	}
	q := map[string]any{"size": 0, "aggs": map[string]any{"dups": map[string]any{
		"terms": map[string]any{"field": field, "size": 10, "min_doc_count": 2, "order": map[string]any{"_count": "desc"}},
	}}}
	require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+index+"/_search", q, &res))
	var backing struct {
		Indices map[string]any `json:"indices"`
	}
	require.NoError(t, osDo(s.osURL, http.MethodGet, "/"+index+"/_stats/docs", nil, &backing))
	require.Len(t, backing.Indices, 1, "a terms aggregation is exact only within one shard of one index")
	require.Equal(t, 1, res.Shards.Total, "a terms aggregation is exact only within one shard")
	out := map[string]int{}
	for _, b := range res.Aggregations.Dups.Buckets {
		out[b.Key] = b.DocCount
	}
	return out
}

// distinct is the exact number of distinct values of field in index,
// counted by paging a composite aggregation.
func (s *stack) distinct(index, field string) int {
	t := s.t
	t.Helper()
	n := 0
	var after any
	for {
		comp := map[string]any{"size": 10000, "sources": []any{map[string]any{"v": map[string]any{"terms": map[string]any{"field": field}}}}}
		if after != nil {
			comp["after"] = after
		}
		var res struct {
			Aggregations struct {
				C struct {
					AfterKey any               `json:"after_key"`
					Buckets  []json.RawMessage `json:"buckets"`
				} `json:"c"`
			}
		}
		require.NoError(t, osDo(s.osURL, http.MethodPost, "/"+index+"/_search", map[string]any{"size": 0, "aggs": map[string]any{"c": map[string]any{"composite": comp}}}, &res))
		n += len(res.Aggregations.C.Buckets)
		if len(res.Aggregations.C.Buckets) == 0 || res.Aggregations.C.AfterKey == nil {
			return n
		}
		after = res.Aggregations.C.AfterKey
	}
}

// requireExactlyOnce checks that index holds want documents, one per
// distinct value of field: every sent record once, none twice.
func (s *stack) requireExactlyOnce(index, field string, want int) {
	s.t.Helper()
	s.waitCount(index, want, 10*time.Minute)
	require.Empty(s.t, s.duplicates(index, field), "%s: values of %s held by more than one document", index, field)
	require.Equal(s.t, want, s.distinct(index, field), "%s: distinct values of %s", index, field)
}

// ---- clients ----

// telemetrygen runs the real OTLP load generator against addr.
func telemetrygen(t *testing.T, addr string, args ...string) {
	t.Helper()
	full := append([]string{args[0], "--otlp-insecure", "--otlp-endpoint", addr}, args[1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testinfra.Tool(t, "telemetrygen"), full...).CombinedOutput()
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	require.NoError(t, err, "telemetrygen %s:\n%s", strings.Join(full, " "), out)
}

// sender is an OTLP/gRPC client of the collector, for records that carry a
// unique sequence number (telemetrygen's are all alike).
type sender struct {
	t     *testing.T
	conn  *grpc.ClientConn
	logs  plogotlp.GRPCClient
	trace ptraceotlp.GRPCClient
}

func newSender(t *testing.T, addr string) *sender {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &sender{t: t, conn: conn, logs: plogotlp.NewGRPCClient(conn), trace: ptraceotlp.NewGRPCClient(conn)}
}

// seqTraceID is the trace id carried by log record seq: its top-level
// traceId keyword is what the duplicate check aggregates on.
func seqTraceID(seq int) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:8], "e2e-seq:")
	binary.BigEndian.PutUint64(id[8:], uint64(seq))
	return id
}

// seqLogs builds log records [from, to), each unique: its own time, body,
// seq attribute and trace id.
func seqLogs(from, to int, base time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "e2e-sender")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := from; i < to; i++ {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Microsecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.Body().SetStr(fmt.Sprintf("order %d placed", i))
		lr.Attributes().PutInt("seq", int64(i))
		lr.SetTraceID(seqTraceID(i))
	}
	return ld
}

// sendLogs sends log records [from, to) in requests of batch records,
// retrying a request the collector refuses (as an OTLP exporter would).
func (s *sender) sendLogs(from, to, batch int, base time.Time) {
	s.t.Helper()
	for i := from; i < to; i += batch {
		req := plogotlp.NewExportRequestFromLogs(seqLogs(i, min(i+batch, to), base))
		s.retry(func(ctx context.Context) error { _, err := s.logs.Export(ctx, req); return err })
	}
}

func (s *sender) sendTraces(td ptrace.Traces) {
	s.t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	s.retry(func(ctx context.Context) error { _, err := s.trace.Export(ctx, req); return err })
}

func (s *sender) retry(f func(ctx context.Context) error) {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 60; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = f(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.t.Fatalf("OTLP export: %v", err)
}

// kcat produces each file as one record to topic with the real kcat.
func kcat(t *testing.T, broker, topic string, files ...string) {
	t.Helper()
	args := append([]string{"-P", "-b", broker, "-t", topic, "-X", "message.max.bytes=30000000"}, files...)
	out, err := exec.Command(testinfra.Tool(t, "kcat"), args...).CombinedOutput()
	require.NoError(t, err, "kcat %v: %s", args, out)
}

// goldenJSON compares v, as indented JSON with sorted keys, with a file
// under testdata; -update rewrites the file.
func goldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test -tags e2e -update creates %s", path)
	require.JSONEq(t, string(want), string(got), "%s differs (go test -tags e2e -update rewrites it)", path)
}
