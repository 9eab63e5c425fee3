//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// selfSigned writes a self-signed certificate and its key (name.crt,
// name.key) into dir: a CA the broker never heard of, or a client
// certificate no CA the broker trusts has signed.
func selfSigned(t *testing.T, dir, name string) (crt, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	crt, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return crt, key
}

// TestSecuredKafkaBadCredentials runs the pipeline, detector and alerting
// against the real broker with a wrong password, with a CA that did not
// sign the broker's certificate, and with a client certificate the mTLS
// listener refuses. Each must log one ERROR naming the broker and the
// cause, then only WARNs, spaced out (the first repeat comes after 10 s),
// never a stack trace, and keep running to retry.
func TestSecuredKafkaBadCredentials(t *testing.T) {
	s := testinfra.KafkaSecured(t)
	prom := testinfra.Prometheus(t)
	dir := t.TempDir()
	otherCA, _ := selfSigned(t, dir, "other-ca")
	strangerCrt, strangerKey := selfSigned(t, dir, "stranger")
	slack := slackfake.New()
	t.Cleanup(slack.Close)

	cases := []struct {
		name, broker, kafka, cause string
		cliCause                   string // in the one-shot commands' error
		collector, collectorCause  string // the exporter's auth/tls; its client's words
	}{
		{"wrong password", s.SASLSSL,
			fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-512, username: %s, password: not-the-password}\n  tls: {enabled: true, ca_file: %q}\n", s.User, s.CAFile),
			"SASL SCRAM-SHA-512 authentication failed", "SASL_AUTHENTICATION_FAILED",
			saslAuth(s).collector, "SASL_AUTHENTICATION_FAILED"},
		{"unknown CA", s.SASLSSL,
			fmt.Sprintf("  sasl: {mechanism: SCRAM-SHA-512, username: %s, password: {file: %q}}\n  tls: {enabled: true, ca_file: %q}\n", s.User, s.PasswordFile, otherCA),
			"x509: certificate signed by unknown authority", "x509: certificate signed by unknown authority",
			strings.ReplaceAll(saslAuth(s).collector, s.CAFile, otherCA), "x509: certificate signed by unknown authority"},
		{"refused client certificate", s.MTLS,
			fmt.Sprintf("  tls: {enabled: true, ca_file: %q, cert_file: %q, key_file: %q}\n", s.CAFile, strangerCrt, strangerKey),
			"tls: bad certificate", "tls: bad certificate",
			fmt.Sprintf("    tls: {ca_file: %q, cert_file: %q, key_file: %q}\n", s.CAFile, strangerCrt, strangerKey), "remote error: tls:"},
	}
	components := []struct {
		name, config string
	}{
		{"pipeline", `
kafka:
  brokers: [%[1]q]
%[2]s  group: bad-%[3]s
  logs: {topic: bad-%[3]s-logs}
  priority: {topic: bad-%[3]s-logs-priority}
  spans: {topic: bad-%[3]s-spans}
sink: discard
`},
		{"detector", `
prometheus: {url: %[4]q}
kafka:
  brokers: [%[1]q]
%[2]s  health_topic: bad-%[3]s-health
  leader_topic: bad-%[3]s-leader
  group: bad-%[3]s
  transactional_id: bad-%[3]s
targets:
  - name: bad-%[3]s
    rules: [{name: r, expr: vector(0), critical: "< 1"}]
`},
		{"alerting", `
kafka:
  brokers: [%[1]q]
%[2]s  group: bad-%[3]s
  health_topic: bad-%[3]s-health
  failover_topic: bad-%[3]s-failover
  state_topic: bad-%[3]s-state
slack: {bot_token: xoxb-bad, api_url: %[5]q}
default_route: {name: default, channel: C0BAD}
`},
	}
	errorLine := regexp.MustCompile(`(?m)^.*level=ERROR.*$`)
	// Every process starts first and they wait together: the first
	// repeated report takes 10 s, and sequential runs would add those up.
	type run struct {
		name, broker, cause string
		p                   *vigiltest.Process
	}
	var runs []run
	for _, tc := range cases {
		for _, c := range components {
			id := fmt.Sprintf("%s%d", c.name, time.Now().UnixNano()%1e9)
			admin := vigiltest.FreeAddr(t)
			cfg := filepath.Join(dir, id+".yaml")
			body := fmt.Sprintf("admin: {listen_address: %q}\n", admin) + fmt.Sprintf(c.config, tc.broker, tc.kafka, id, prom, slack.URL())
			require.NoError(t, os.WriteFile(cfg, []byte(body), 0o644))
			runs = append(runs, run{tc.name + "/" + c.name, tc.broker, tc.cause, vigiltest.Start(t, nil, c.name, "--config", cfg)})
		}
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			p := r.p
			// The first repeat is logged 10 s after the first failure:
			// waiting for it shows the retries go on, spaced out.
			require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
				if !strings.Contains(p.Output(), "kafka broker connection still failing") {
					return fmt.Errorf("no repeated report yet")
				}
				return nil
			}), "output:\n%s", p.Output())
			out := p.Output()
			errs := errorLine.FindAllString(out, -1)
			require.Len(t, errs, 1, "exactly one ERROR line; output:\n%s", out)
			require.Contains(t, errs[0], "kafka broker connection failed")
			require.Contains(t, errs[0], "broker="+r.broker, "the ERROR names the broker")
			require.Contains(t, errs[0], r.cause, "the ERROR names the cause")
			require.Contains(t, errs[0], "hint=", "the ERROR says what to check")
			// Attempts run every few seconds, reports at 10 s, 30 s, 70 s
			// after the first: a calm log, whatever the machine's speed.
			require.LessOrEqual(t, strings.Count(out, "kafka broker connection still failing"), 2, "output:\n%s", out)
			require.NotContains(t, out, "goroutine ", "no stack traces")
			require.NotContains(t, out, "panic", "no panic")
			require.False(t, p.Exited(), "still running, retrying; output:\n%s", out)
		})
	}
	// The one-shot commands fail at once, naming the broker and the cause.
	for _, tc := range cases {
		t.Run(tc.name+"/setup+dlq", func(t *testing.T) {
			base := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			kafka := fmt.Sprintf("kafka:\n  brokers: [%q]\n%s", tc.broker, tc.kafka)
			setup, pipeline := base+"-setup.yaml", base+"-pipeline.yaml"
			require.NoError(t, os.WriteFile(setup, []byte(kafka+
				"topics: [{name: bad-cli-topic, partitions: 1, replication_factor: -1}]\nindices: {install_templates: false}\n"), 0o644))
			require.NoError(t, os.WriteFile(pipeline, []byte(kafka+"  dlq_topic: bad-cli-dlq\n"), 0o644))
			for _, args := range [][]string{{"setup", "--config", setup}, {"dlq", "list", "--config", pipeline}} {
				out, code := (&securedRun{t: t}).vigil(args...)
				require.Equal(t, 1, code, "vigil %v:\n%s", args, out)
				require.Contains(t, out, "kafka "+tc.broker, "names the broker")
				require.Contains(t, out, tc.cliCause, "names the cause")
				require.NotContains(t, out, "goroutine ", "no stack traces")
			}
		})
	}
	// The collector's contrib Kafka exporter: its client logs each failure
	// once (then spaced out), with the brokers and the cause, never a
	// stack trace.
	for _, tc := range cases {
		t.Run(tc.name+"/collector", func(t *testing.T) {
			t.Parallel()
			r := &securedRun{t: t, dir: t.TempDir(), secured: s, logsTopic: "bad-collector-logs", spansTopic: "bad-collector-spans",
				auth: kafkaAuth{broker: tc.broker, collector: tc.collector}}
			r.secured.Password = "not-the-password"
			if tc.name != "wrong password" {
				r.secured.Password = s.Password
			}
			p := r.collector()
			r.telemetrygen("logs", "--logs", "5", "--rate", "0")
			franz := regexp.MustCompile(`(?m)^\S+\t(error|warn)\tfranz\t.*$`)
			require.NoError(t, vigiltest.Eventually(time.Minute, func() error {
				if len(franz.FindAllString(p.Output(), -1)) < 2 {
					return fmt.Errorf("no repeated report yet")
				}
				return nil
			}), "output:\n%s", p.Output())
			out := p.Output()
			first := franz.FindString(out)
			require.Contains(t, first, tc.broker, "names the broker")
			require.Contains(t, first, tc.collectorCause, "names the cause")
			require.NotRegexp(t, `(?m)^\t/`, out, "no stack traces")
			require.False(t, p.Exited(), "still running, retrying")
		})
	}
}
