//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// securedWait bounds each awaited condition; nothing is asserted on time.
const securedWait = 2 * time.Minute

// kafkaAuth is how a secured test's Vigil processes reach the broker: the
// listener and the kafka section's sasl/tls settings (Vigil's YAML), and the
// same for the collector's contrib Kafka exporters (auth + tls).
type kafkaAuth struct {
	name      string
	broker    string
	vigil     string // the lines under kafka: after brokers, indented two spaces
	collector string // the lines under an exporter, indented four spaces
}

func saslAuth(s testinfra.SecuredKafka) kafkaAuth {
	return kafkaAuth{
		name:   "sasl_ssl",
		broker: s.SASLSSL,
		vigil: fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-512, username: %s, password: {file: %q}}\n  tls: {enabled: true, ca_file: %q}\n",
			s.User, s.PasswordFile, s.CAFile),
		collector: fmt.Sprintf("    auth: {sasl: {mechanism: SCRAM-SHA-512, username: %s, password: \"${env:VIGIL_TEST_SCRAM_PASSWORD}\"}}\n    tls: {ca_file: %q}\n",
			s.User, s.CAFile),
	}
}

func mtlsAuth(s testinfra.SecuredKafka) kafkaAuth {
	return kafkaAuth{
		name:      "mtls",
		broker:    s.MTLS,
		vigil:     fmt.Sprintf("  tls: {enabled: true, ca_file: %q, cert_file: %q, key_file: %q}\n", s.CAFile, s.CertFile, s.KeyFile),
		collector: fmt.Sprintf("    tls: {ca_file: %q, cert_file: %q, key_file: %q}\n", s.CAFile, s.CertFile, s.KeyFile),
	}
}

// securedRun is one set of Vigil processes on one secured listener, with
// topics and indices of its own.
type securedRun struct {
	t                         *testing.T
	auth                      kafkaAuth
	secured                   testinfra.SecuredKafka
	dir, suffix, os, prom     string
	logsTopic, spansTopic     string
	dlqTopic, healthTopic     string
	failoverTopic, stateTopic string
	logsIndex, spanIndex      string
	grpc                      string
	pipelineConfig            string
	alertingConfig            string
	alertingAdmin             string
	slack                     *slackfake.Server
}

func newSecuredRun(t *testing.T, auth func(testinfra.SecuredKafka) kafkaAuth) *securedRun {
	s := testinfra.KafkaSecured(t)
	r := &securedRun{t: t, secured: s, auth: auth(s), dir: t.TempDir(), os: testinfra.OpenSearch(t)}
	r.suffix = fmt.Sprintf("%s%d", r.auth.name, time.Now().UnixNano()%1e10)
	r.logsTopic, r.spansTopic, r.dlqTopic = "otlp_logs."+r.suffix, "otlp_spans."+r.suffix, "vigil.dlq."+r.suffix
	r.healthTopic, r.failoverTopic, r.stateTopic = "vigil.health."+r.suffix, "vigil.failover."+r.suffix, "vigil.alerting.state."+r.suffix
	r.logsIndex, r.spanIndex = r.suffix+"_logs-vigil-default", r.suffix+"-otel-v1-apm-span"
	t.Cleanup(func() { deleteIndices(r.os, r.suffix) })
	t.Cleanup(func() {
		testinfra.DeleteKafka(t, testinfra.Kafka(t), []string{"vigil-pipeline-" + r.suffix, "vigil-alerting-" + r.suffix, "vigil-detector-" + r.suffix},
			r.logsTopic, r.spansTopic, r.dlqTopic, r.healthTopic, r.failoverTopic, r.stateTopic, "vigil.detector.leader."+r.suffix)
	})
	return r
}

func (r *securedRun) write(name, content string) string {
	p := filepath.Join(r.dir, name)
	require.NoError(r.t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// kafka is a component's kafka section with the listener's credentials.
func (r *securedRun) kafka(extra string) string {
	return fmt.Sprintf("kafka:\n  brokers: [%q]\n%s%s", r.auth.broker, r.auth.vigil, extra)
}

// vigil runs a vigil command to its end, returning its output and exit code.
func (r *securedRun) vigil(args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), securedWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, vigiltest.Binary(r.t), args...)
	cmd.Dir = vigiltest.RepoRoot(r.t)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), cmd.ProcessState.ExitCode()
	}
	return out.String(), 0
}

// setup creates the run's topics with `vigil setup` over the listener.
func (r *securedRun) setup() {
	topic := func(name string, compact bool) string {
		if compact {
			return fmt.Sprintf("  - {name: %s, partitions: 1, replication_factor: -1, configs: {cleanup.policy: compact}}\n", name)
		}
		return fmt.Sprintf("  - {name: %s, partitions: 2, replication_factor: -1}\n", name)
	}
	cfg := r.write("setup.yaml", r.kafka("")+"topics:\n"+topic(r.logsTopic, false)+topic(r.spansTopic, false)+
		topic(r.dlqTopic, false)+topic(r.healthTopic, true)+topic(r.failoverTopic, true)+topic(r.stateTopic, true)+
		"indices: {install_templates: false}\n")
	out, code := r.vigil("setup", "--config", cfg)
	require.Equal(r.t, 0, code, "vigil setup over %s:\n%s", r.auth.name, out)
	require.Contains(r.t, out, r.logsTopic, "setup reports the topics it created")
}

// collector starts the collector with the shipped config plus an overlay
// giving both Kafka exporters the listener's auth and tls settings.
func (r *securedRun) collector() *vigiltest.Process {
	overlay := r.write("collector-kafka.yaml", "exporters:\n  kafka/logs:\n"+r.auth.collector+"  kafka/logs_priority:\n"+r.auth.collector+"  kafka/traces:\n"+r.auth.collector)
	r.grpc = vigiltest.FreeAddr(r.t)
	admin := vigiltest.FreeAddr(r.t)
	env := []string{
		"VIGIL_TEST_SCRAM_PASSWORD=" + r.secured.Password,
		"VIGIL_KAFKA_BROKERS=" + r.auth.broker,
		"VIGIL_LOGS_TOPIC=" + r.logsTopic,
		"VIGIL_LOGS_PRIORITY_TOPIC=" + r.logsTopic + "_priority",
		"VIGIL_SPANS_TOPIC=" + r.spansTopic,
		"VIGIL_OTLP_GRPC_ENDPOINT=" + r.grpc,
		"VIGIL_OTLP_HTTP_ENDPOINT=" + vigiltest.FreeAddr(r.t),
		"VIGIL_COLLECTOR_ADMIN=" + admin,
		"VIGIL_COLLECTOR_QUEUE_DIR=" + filepath.Join(r.dir, "queue"),
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(r.t),
		"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(r.t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(r.t, vigiltest.FreeAddr(r.t)),
	}
	p := vigiltest.Start(r.t, env, "collector", "--config", "configs/collector.yaml", "--config", overlay)
	p.WaitReady(admin, securedWait)
	return p
}

func (r *securedRun) pipeline() *vigiltest.Process {
	admin := vigiltest.FreeAddr(r.t)
	r.pipelineConfig = r.write("pipeline.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
%s
opensearch: {addresses: [%q], request_timeout: 10s}
indices:
  span_alias: %s
  service_map: %s-otel-v1-apm-service-map
  logs_data_stream: %s
bulk: {linger: 100ms}
commit_interval: 1s
`, admin, r.kafka(fmt.Sprintf("  group: vigil-pipeline-%s\n  logs: {topic: %s}\n  priority: {topic: %s_priority}\n  spans: {topic: %s}\n  dlq_topic: %s\n",
		r.suffix, r.logsTopic, r.logsTopic, r.spansTopic, r.dlqTopic)), r.os, r.spanIndex, r.suffix, r.logsIndex))
	p := vigiltest.Start(r.t, nil, "pipeline", "--config", r.pipelineConfig)
	p.WaitReady(admin, securedWait)
	return p
}

// detector starts a detector whose one rule is CRITICAL by construction
// (vector(0) < 1), so its health transition is certain and quick.
func (r *securedRun) detector() *vigiltest.Process {
	admin := vigiltest.FreeAddr(r.t)
	cfg := r.write("detector.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
prometheus: {url: %q, query_timeout: 5s}
%s
defaults: {interval: 1s, for: 1s, recover_for: 1s}
targets:
  - name: secured-%s
    labels: {component: kafka}
    rules:
      - name: always-critical
        expr: vector(0)
        critical: "< 1"
`, admin, testinfra.Prometheus(r.t), r.kafka(fmt.Sprintf("  health_topic: %s\n  leader_topic: vigil.detector.leader.%s\n  group: vigil-detector-%s\n  transactional_id: vigil-detector-%s\n  session_timeout: 6s\n",
		r.healthTopic, r.suffix, r.suffix, r.suffix)), r.auth.name))
	p := vigiltest.Start(r.t, nil, "detector", "--config", cfg)
	p.WaitReady(admin, securedWait)
	return p
}

func (r *securedRun) alerting() *vigiltest.Process {
	r.slack = slackfake.New()
	r.t.Cleanup(r.slack.Close)
	r.alertingAdmin = vigiltest.FreeAddr(r.t)
	r.alertingConfig = r.write("alerting.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
%s
slack:
  bot_token: xoxb-secured
  api_url: %q
default_route: {name: default, channel: C0SECURED}
api:
  token: secured-token
tick_interval: 1s
`, r.alertingAdmin, r.kafka(fmt.Sprintf("  group: vigil-alerting-%s\n  health_topic: %s\n  failover_topic: %s\n  state_topic: %s\n",
		r.suffix, r.healthTopic, r.failoverTopic, r.stateTopic)), r.slack.URL()))
	p := vigiltest.Start(r.t, nil, "alerting", "--config", r.alertingConfig)
	p.WaitReady(r.alertingAdmin, securedWait)
	return p
}

func (r *securedRun) telemetrygen(args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), securedWait)
	defer cancel()
	full := append([]string{args[0], "--otlp-insecure", "--otlp-endpoint", r.grpc}, args[1:]...)
	out, err := exec.CommandContext(ctx, testinfra.Tool(r.t, "telemetrygen"), full...).CombinedOutput()
	require.NoError(r.t, err, "telemetrygen %s:\n%s", strings.Join(full, " "), out)
}

// awaitIndexed waits until index holds exactly want documents.
func (r *securedRun) awaitIndexed(index string, want int) {
	require.NoError(r.t, vigiltest.Eventually(securedWait, func() error {
		got, err := count(r.os, index)
		if err == nil && got != want {
			err = fmt.Errorf("%d of %d documents in %s", got, want, index)
		}
		return err
	}), "over %s", r.auth.name)
}

// sendAndIndex sends logs and traces through the collector and waits for
// every one in OpenSearch: each hop (collector -> Kafka -> pipeline) went
// through the secured listener.
func (r *securedRun) sendAndIndex() {
	const logs, traces = 200, 20
	r.telemetrygen("logs", "--logs", fmt.Sprint(logs), "--rate", "0", "--body", "secured "+r.suffix)
	r.telemetrygen("traces", "--traces", fmt.Sprint(traces), "--rate", "0", "--service", "secured-"+r.auth.name)
	r.awaitIndexed(r.logsIndex, logs)
	// telemetrygen's trace is a parent span and one child.
	r.awaitIndexed(r.spanIndex, 2*traces)
}

// awaitSlackIncident waits for the detector's CRITICAL to reach alerting
// (over the listener) and Slack.
func (r *securedRun) awaitSlackIncident() {
	target := "secured-" + r.auth.name
	require.NoError(r.t, vigiltest.Eventually(securedWait, func() error {
		for _, p := range r.slack.Posts() {
			if p.ThreadTS == "" && strings.Contains(string(p.Blocks), "CRITICAL") && strings.Contains(string(p.Blocks), target) {
				return nil
			}
		}
		return fmt.Errorf("no CRITICAL incident for %s in Slack yet (%d posts)", target, len(r.slack.Posts()))
	}))
}

// operatorCommands runs `vigil dlq list` and `vigil failover status`, the
// first reading the DLQ topic over the listener, the second asking the
// alerting process that reads its topics over it.
func (r *securedRun) operatorCommands() {
	out, code := r.vigil("dlq", "list", "--config", r.pipelineConfig)
	require.Equal(r.t, 0, code, "vigil dlq list over %s:\n%s", r.auth.name, out)
	out, code = r.vigil("failover", "status", "--config", r.alertingConfig)
	require.Equal(r.t, 0, code, "vigil failover status:\n%s", out)
}

// TestSecuredKafkaSASLSSL runs every Vigil process on the broker's SASL_SSL
// listener (SCRAM-SHA-512, the throwaway CA): vigil setup creates the
// topics; logs and traces go telemetrygen -> collector -> Kafka -> pipeline
// -> OpenSearch; a health transition goes detector -> vigil.health ->
// alerting -> Slack; vigil dlq and vigil failover answer.
func TestSecuredKafkaSASLSSL(t *testing.T) {
	testinfra.Tool(t, "telemetrygen")
	r := newSecuredRun(t, saslAuth)
	r.setup()
	r.collector()
	r.pipeline()
	r.alerting()
	r.detector()
	r.sendAndIndex()
	r.awaitSlackIncident()
	r.operatorCommands()
}

// TestSecuredKafkaMTLS is the same on the listener that requires a client
// certificate: no SASL, the client certificate is the identity.
func TestSecuredKafkaMTLS(t *testing.T) {
	testinfra.Tool(t, "telemetrygen")
	r := newSecuredRun(t, mtlsAuth)
	r.setup()
	r.collector()
	r.pipeline()
	r.alerting()
	r.detector()
	r.sendAndIndex()
	r.awaitSlackIncident()
	r.operatorCommands()
}
