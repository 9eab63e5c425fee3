package testinfra

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SecuredKafka is how to reach the broker's secured listeners (see
// scripts/infra.sh write_kafka_config): SASL_SSL with SCRAM-SHA-512, and SSL
// requiring a client certificate. Both present a certificate of the
// throwaway CA in CAFile.
type SecuredKafka struct {
	SASLSSL, MTLS                string // host:port
	User, Password, PasswordFile string // the SCRAM-SHA-512 user
	CAFile                       string
	CertFile, KeyFile            string // a client certificate the mTLS listener accepts
}

// KafkaSecured returns the secured listeners once both accept TCP
// connections and the credentials are readable.
func KafkaSecured(t testing.TB) SecuredKafka {
	t.Helper()
	s := SecuredKafka{
		SASLSSL:      lookupEnv(t, "kafka", "VIGIL_TEST_KAFKA_SASL_SSL"),
		MTLS:         lookupEnv(t, "kafka", "VIGIL_TEST_KAFKA_MTLS"),
		User:         lookupEnv(t, "kafka", "VIGIL_TEST_KAFKA_SCRAM_USER"),
		PasswordFile: lookupEnv(t, "kafka", "VIGIL_TEST_KAFKA_SCRAM_PASSWORD_FILE"),
	}
	dir := lookupEnv(t, "kafka", "VIGIL_TEST_TLS_DIR")
	s.CAFile = filepath.Join(dir, "ca.crt")
	s.CertFile, s.KeyFile = filepath.Join(dir, "kafka-client.crt"), filepath.Join(dir, "kafka-client.key")
	for _, addr := range []string{s.SASLSSL, s.MTLS} {
		conn, err := net.DialTimeout("tcp", addr, dialTimeout)
		if err != nil {
			unavailable(t, "kafka's secured listener at %s is not reachable (%v); %s", addr, err, upHint)
		}
		conn.Close()
	}
	for _, f := range []string{s.PasswordFile, s.CAFile, s.CertFile, s.KeyFile} {
		if _, err := os.Stat(f); err != nil {
			unavailable(t, "kafka: %v; %s", err, upHint)
		}
	}
	pw, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		unavailable(t, "kafka: %v", err)
	}
	s.Password = strings.TrimSpace(string(pw))
	return s
}
