//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// secretSet is one value per kind of credential a Vigil process holds, each
// random so that any occurrence in a log line is a leak.
type secretSet struct {
	kafkaUser, kafkaPassword string
	osUser, osPassword       string
	slackBot, slackWebhook   string
	bearer, apiToken         string
}

func newSecretSet(t *testing.T) secretSet {
	r := func(prefix string) string {
		b := make([]byte, 12)
		_, err := rand.Read(b)
		require.NoError(t, err)
		return prefix + hex.EncodeToString(b)
	}
	return secretSet{
		kafkaUser: r("kuser"), kafkaPassword: r("kpass"),
		osUser: r("osuser"), osPassword: r("ospass"),
		slackBot: r("xoxb-"), slackWebhook: r("whsecret"),
		bearer: r("bearer"), apiToken: r("api"),
	}
}

func (s secretSet) env() []string {
	return []string{
		"VIGIL_SECRET_KAFKA_USER=" + s.kafkaUser,
		"VIGIL_SECRET_KAFKA_PASSWORD=" + s.kafkaPassword,
		"VIGIL_SECRET_OS_PASSWORD=" + s.osPassword,
		"VIGIL_SECRET_SLACK_BOT=" + s.slackBot,
		"VIGIL_SECRET_API_TOKEN=" + s.apiToken,
	}
}

// forms is every way a secret could appear: as is, and base64 encoded (a
// basic-auth header, a SASL PLAIN message, a dumped []byte) alone or as the
// user:password pair.
func (s secretSet) forms() map[string]string {
	out := map[string]string{}
	add := func(name, v string) {
		out[name] = v
		for enc, e := range map[string]*base64.Encoding{"base64": base64.StdEncoding, "base64url": base64.URLEncoding, "base64raw": base64.RawStdEncoding} {
			out[name+" ("+enc+")"] = e.EncodeToString([]byte(v))
		}
	}
	add("kafka password", s.kafkaPassword)
	add("OpenSearch password", s.osPassword)
	add("Slack bot token", s.slackBot)
	add("Slack webhook path", s.slackWebhook)
	add("OTLP bearer token", s.bearer)
	add("API token", s.apiToken)
	add("OpenSearch basic auth", s.osUser+":"+s.osPassword)
	add("Kafka SASL PLAIN", "\x00"+s.kafkaUser+"\x00"+s.kafkaPassword)
	return out
}

// requireNoSecrets fails naming each secret form found in out, with the line.
func (s secretSet) requireNoSecrets(t *testing.T, what, out string) {
	t.Helper()
	for name, v := range s.forms() {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, v) {
				t.Errorf("%s logged the %s: %s", what, name, line)
				break
			}
		}
	}
}

// TestSecretsNeverLogged runs every component, and `vigil setup` and `vigil
// dlq`, with every credential it can hold set (Kafka SASL over TLS,
// OpenSearch basic auth, Slack bot token and webhook, the OTLP bearer token,
// API tokens) and every server it talks to refusing connections, at log level
// debug. Each runs until it has logged a failed connection, then stops; no
// line of its output holds a secret, raw or base64.
func TestSecretsNeverLogged(t *testing.T) {
	sec := newSecretSet(t)
	pki := vigiltest.NewPKI(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	// Nothing listens on these: every connection is refused.
	broker, opensearch, slack, prom := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t), vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	kafka := fmt.Sprintf(`
  brokers: [%q]
  sasl: {mechanism: SCRAM-SHA-512, username: {env: VIGIL_SECRET_KAFKA_USER}, password: {env: VIGIL_SECRET_KAFKA_PASSWORD}}
  tls: {enabled: true, ca_file: %q}
  dial_timeout: 2s`, broker, pki.CAFile)
	opensearchCfg := fmt.Sprintf(`{addresses: ["https://%s"], username: %s, password: {env: VIGIL_SECRET_OS_PASSWORD}, tls: {ca_file: %q}, request_timeout: 2s}`, opensearch, sec.osUser, pki.CAFile)
	webhookFile := write("webhook", "http://"+slack+"/services/T0/B0/"+sec.slackWebhook+"\n")
	tokenFile := write("otlp-token", sec.bearer+"\n")
	alertingAdmin := vigiltest.FreeAddr(t)
	alerting := write("alerting.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
log: {level: debug}
kafka:%s
slack:
  bot_token: {env: VIGIL_SECRET_SLACK_BOT}
  api_url: "http://%s/api/"
default_route: {channel: C0ALERTS}
api: {token: {env: VIGIL_SECRET_API_TOKEN}}
`, alertingAdmin, kafka, slack))

	// The pipeline's file also serves `vigil dlq` (its admin API and token).
	pipeline := write("pipeline.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
log: {level: debug}
kafka:%s
opensearch: %s
admin_token: {env: VIGIL_SECRET_API_TOKEN}
`, vigiltest.FreeAddr(t), kafka, opensearchCfg))

	for _, tc := range []struct {
		name string
		args func() []string
		// done says the process has met the failing connection.
		done string
		// oneShot commands exit by themselves.
		oneShot bool
		send    func(t *testing.T, p *vigiltest.Process)
	}{
		{name: "pipeline", done: "connection refused", args: func() []string {
			return []string{"pipeline", "--config", pipeline}
		}},
		// Past OpenSearch (no templates to install) to the Kafka consumer,
		// whose dial failures the pipeline does not log today: the case
		// runs until the consumer has started, then the usual 3 s.
		{name: "pipeline-kafka", done: "pipeline started", args: func() []string {
			return []string{"pipeline", "--config", write("pipeline-kafka.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
log: {level: debug}
kafka:%s
opensearch: %s
indices: {install_templates: false}
admin_token: {env: VIGIL_SECRET_API_TOKEN}
`, vigiltest.FreeAddr(t), kafka, opensearchCfg))}
		}},
		{name: "detector", done: "connection refused", args: func() []string {
			return []string{"detector", "--config", write("detector.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
log: {level: debug}
prometheus: {url: "http://%s", query_timeout: 2s}
kafka:%s
webhooks: {enabled: true, token: {env: VIGIL_SECRET_API_TOKEN}}
defaults: {interval: 1s}
targets:
  - name: opensearch-primary
    rules: [{name: up, expr: "up", critical: "< 1"}]
`, vigiltest.FreeAddr(t), prom, kafka))}
		}},
		{name: "alerting", done: "connection refused", args: func() []string {
			return []string{"alerting", "--config", alerting}
		}},
		{name: "alerting-webhooks", done: "connection refused", args: func() []string {
			return []string{"alerting", "--config", write("alerting-webhooks.yaml", fmt.Sprintf(`
admin: {listen_address: %q}
log: {level: debug}
kafka:%s
slack:
  webhooks: {C0ALERTS: {file: %q}}
default_route: {channel: C0ALERTS}
`, vigiltest.FreeAddr(t), kafka, webhookFile))}
		}},
		{name: "setup", done: "connection refused", oneShot: true, args: func() []string {
			return []string{"setup", "--config", write("setup.yaml", fmt.Sprintf(`
kafka:%s
opensearch: %s
topics: [{name: otlp_logs, partitions: 1, replication_factor: 1}]
`, kafka, opensearchCfg))}
		}},
		{name: "dlq", done: "connection refused", oneShot: true, args: func() []string {
			return []string{"dlq", "list", "--config", pipeline}
		}},
		{name: "collector", done: "connection refused", args: func() []string {
			overlay := write("collector-secrets.yaml", fmt.Sprintf(`
exporters:
  kafka/logs: &kafka
    brokers: [%q]
    auth: {sasl: {mechanism: SCRAM-SHA-512, username: "${env:VIGIL_SECRET_KAFKA_USER}", password: "${env:VIGIL_SECRET_KAFKA_PASSWORD}"}}
    tls: {ca_file: %q}
  kafka/logs_priority: *kafka
  kafka/traces: *kafka
service:
  telemetry:
    logs: {level: debug}
`, broker, pki.CAFile))
			return []string{"collector", "--config", "configs/collector.yaml", "--config", "configs/collector-auth.yaml", "--config", overlay}
		}, send: func(t *testing.T, p *vigiltest.Process) {
			// One request with the token, one with a wrong one derived from it.
			for _, tok := range []string{sec.bearer, sec.bearer + "x"} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				out, err := exec.CommandContext(ctx, testinfra.Tool(t, "telemetrygen"), "logs", "--logs", "10",
					"--otlp-endpoint", collectorGRPC, "--otlp-insecure=false", "--ca-cert", pki.CAFile,
					"--otlp-header", `Authorization="Bearer `+tok+`"`).CombinedOutput()
				cancel()
				t.Logf("telemetrygen (err=%v): %d bytes of output", err, len(out))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(sec.env(), collectorEnv(t, tokenFile, pki)...)
			p := vigiltest.Start(t, env, tc.args()...)
			if tc.send != nil {
				tc.send(t, p)
			}
			// Until the failed connection is logged, or the process exits.
			deadline := time.Now().Add(90 * time.Second)
			for !strings.Contains(p.Output(), tc.done) && !p.Exited() && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			require.Contains(t, p.Output(), tc.done, "%s met no failing connection", tc.name)
			if tc.oneShot {
				require.NotEqual(t, -1, p.Wait(90*time.Second), "%s did not give up", tc.name)
			} else {
				// A few more retries, then the drain and shutdown lines.
				time.Sleep(3 * time.Second)
				p.Stop(60 * time.Second)
			}
			out := p.Output()
			sec.requireNoSecrets(t, tc.name, out)
			t.Logf("%s: %d log lines scanned", tc.name, strings.Count(out, "\n"))
		})
	}
}

// collectorGRPC is the OTLP gRPC address the collector case listens on.
var collectorGRPC string

// collectorEnv moves the shipped collector configuration's ports and queue
// out of the way and points configs/collector-auth.yaml at run-time files.
func collectorEnv(t *testing.T, tokenFile string, pki *vigiltest.PKI) []string {
	collectorGRPC = vigiltest.FreeAddr(t)
	return []string{
		"VIGIL_OTLP_GRPC_ENDPOINT=" + collectorGRPC,
		"VIGIL_OTLP_HTTP_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_ADMIN=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_QUEUE_DIR=" + filepath.Join(t.TempDir(), "queue"),
		"VIGIL_COLLECTOR_HEALTH_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_METRICS_ENDPOINT=" + vigiltest.FreeAddr(t),
		"VIGIL_COLLECTOR_TELEMETRY_PORT=" + vigiltest.Port(t, vigiltest.FreeAddr(t)),
		"VIGIL_OTLP_TOKEN_FILE=" + tokenFile,
		"VIGIL_OTLP_TLS_CERT_FILE=" + pki.CertFile,
		"VIGIL_OTLP_TLS_KEY_FILE=" + pki.KeyFile,
	}
}
