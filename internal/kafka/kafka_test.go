package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/config"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*Conn)
		wants []string
	}{
		{name: "defaults", mod: func(*Conn) {}},
		{name: "no brokers", mod: func(c *Conn) { c.Brokers = nil }, wants: []string{"brokers: must not be empty"}},
		{name: "bad broker", mod: func(c *Conn) { c.Brokers = []string{"kafka"} }, wants: []string{`brokers[0]: must be host:port (got "kafka")`}},
		{name: "sasl without credentials", mod: func(c *Conn) { c.SASL.Mechanism = "SCRAM-SHA-512" },
			wants: []string{"sasl.username: must be set for mechanism SCRAM-SHA-512", "sasl.password: must be set"}},
		{name: "unknown mechanism", mod: func(c *Conn) { c.SASL.Mechanism = "GSSAPI" }, wants: []string{`sasl.mechanism: must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got "GSSAPI")`}},
		{name: "half a client cert", mod: func(c *Conn) { c.TLS = TLS{Enabled: true, CertFile: "c.pem"} }, wants: []string{"tls: cert_file and key_file go together"}},
		{name: "tls files while disabled", mod: func(c *Conn) { c.TLS.CAFile = "ca.pem" }, wants: []string{"tls.enabled: must be true when tls files are set"}},
		{name: "sasl without tls", mod: func(c *Conn) {
			c.SASL = SASL{Mechanism: "SCRAM-SHA-512", Username: config.Secret{Value: "u"}, Password: config.Secret{Value: "p"}}
		}, wants: []string{"sasl: SASL without TLS sends credentials in clear; set kafka.tls.enabled: true, or kafka.sasl.allow_plaintext: true to accept that"}},
		{name: "sasl without tls, accepted", mod: func(c *Conn) {
			c.SASL = SASL{Mechanism: "PLAIN", Username: config.Secret{Value: "u"}, Password: config.Secret{Value: "p"}, AllowPlaintext: true}
		}},
		{name: "sasl with tls", mod: func(c *Conn) {
			c.SASL = SASL{Mechanism: "SCRAM-SHA-512", Username: config.Secret{Value: "u"}, Password: config.Secret{Value: "p"}}
			c.TLS.Enabled = true
		}},
		{name: "missing certificate files", mod: func(c *Conn) {
			c.TLS = TLS{Enabled: true, CAFile: "/nonexistent/ca.pem", CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/c.key"}
		}, wants: []string{
			"tls.ca_file: file /nonexistent/ca.pem does not exist",
			"tls.cert_file: file /nonexistent/c.pem does not exist",
			"tls.key_file: file /nonexistent/c.key does not exist",
		}},
		{name: "certificate files that are not PEM", mod: func(c *Conn) {
			c.TLS = TLS{Enabled: true, CAFile: "kafka.go", CertFile: "kafka.go", KeyFile: "kafka.go"}
		}, wants: []string{"tls.ca_file: no PEM certificates in kafka.go", "tls.cert_file: client certificate kafka.go with key kafka.go: tls: failed to find any PEM data"}},
		{name: "a directory for a file", mod: func(c *Conn) {
			c.TLS = TLS{Enabled: true, CAFile: "."}
		}, wants: []string{"tls.ca_file: . is a directory, not a file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConn("vigil-test")
			tc.mod(&c)
			err := c.Validate()
			if len(tc.wants) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.wants {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestSASL connects to kfake (a real Kafka-protocol broker) with each SASL
// mechanism, credentials coming from the environment as in production.
func TestSASL(t *testing.T) {
	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram-user", "scram-pass"),
		kfake.Superuser("SCRAM-SHA-512", "scram-user", "scram-pass"),
	)
	require.NoError(t, err)
	defer cluster.Close()

	for _, tc := range []struct {
		mechanism, user, pass string
		ok                    bool
	}{
		{"PLAIN", "plain-user", "plain-pass", true},
		{"SCRAM-SHA-256", "scram-user", "scram-pass", true},
		{"SCRAM-SHA-512", "scram-user", "scram-pass", true},
		{"SCRAM-SHA-512", "scram-user", "wrong", false},
	} {
		t.Run(tc.mechanism+"/"+tc.pass, func(t *testing.T) {
			t.Setenv("VIGIL_TEST_KAFKA_USER", tc.user)
			t.Setenv("VIGIL_TEST_KAFKA_PASS", tc.pass)
			c := DefaultConn("vigil-test")
			c.Brokers = cluster.ListenAddrs()
			// kfake serves no TLS, hence the opt-in.
			c.SASL = SASL{Mechanism: tc.mechanism, Username: config.Secret{Env: "VIGIL_TEST_KAFKA_USER"}, Password: config.Secret{Env: "VIGIL_TEST_KAFKA_PASS"}, AllowPlaintext: true}
			require.NoError(t, c.Validate())
			opts, err := c.Opts()
			require.NoError(t, err)
			cl, err := kgo.NewClient(append(opts, kgo.RetryTimeout(2*time.Second))...)
			require.NoError(t, err)
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = cl.Ping(ctx)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestOptsMissingSecret(t *testing.T) {
	c := DefaultConn("vigil-test")
	c.SASL = SASL{Mechanism: "PLAIN", Username: config.Secret{Env: "VIGIL_TEST_NOPE_USER"}, Password: config.Secret{Value: "x"}}
	_, err := c.Opts()
	require.ErrorContains(t, err, "kafka: sasl.username: environment variable VIGIL_TEST_NOPE_USER is not set")

	c = DefaultConn("vigil-test")
	c.TLS = TLS{Enabled: true, CAFile: "/nonexistent/ca.pem"}
	_, err = c.Opts()
	require.ErrorContains(t, err, "kafka: tls.ca_file: file /nonexistent/ca.pem does not exist")
}
