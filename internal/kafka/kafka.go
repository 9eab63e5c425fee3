// Package kafka is everything Kafka that more than one component needs:
//   - the connection settings every component shares (brokers, client id,
//     SASL, TLS), turned into franz-go options, so that a cluster's
//     credentials are configured the same way everywhere (kafka.go);
//   - the topics Vigil uses and EnsureTopics, which creates (and for
//     `vigil setup` reconciles) them (topics.go);
//   - ReadCompacted and ReadLatest, which read a compacted topic from its
//     start to its last stable offset: how the detector, alerting and the
//     pipeline's failover executor learn their state at start (compacted.go);
//   - watching a topic's partition count (watch.go).
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/vigil-dev/vigil/internal/config"
)

// Conn is how to reach a Kafka cluster. Components embed it inline in their
// own Kafka section: kafka.brokers, kafka.client_id, kafka.sasl, kafka.tls.
type Conn struct {
	// Brokers are the seed brokers, host:port. Default ["127.0.0.1:9092"].
	Brokers []string `yaml:"brokers"`
	// ClientID is the client.id sent to the brokers (quotas, broker logs).
	// Default "vigil-<component>".
	ClientID string `yaml:"client_id"`
	// SASL authenticates the connection; none when Mechanism is empty.
	SASL SASL `yaml:"sasl"`
	// TLS encrypts the connection.
	TLS TLS `yaml:"tls"`
	// DialTimeout bounds one connection attempt. Default 10s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
}

// SASL is sasl.mechanism with its credentials.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables.
	Mechanism string `yaml:"mechanism"`
	// Username and Password come from the environment or a file.
	Username config.Secret `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// AllowPlaintext accepts SASL over a connection without TLS. PLAIN then
	// sends the password in clear and SCRAM exposes the session to anyone
	// on the path, so it must be asked for. Default false.
	AllowPlaintext bool `yaml:"allow_plaintext"`
}

// TLS is security.protocol=SSL and its trust settings.
type TLS struct {
	// Enabled turns TLS on. Default false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables server certificate checks (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// DefaultConn returns the defaults for a component's client.
func DefaultConn(clientID string) Conn {
	return Conn{Brokers: []string{"127.0.0.1:9092"}, ClientID: clientID, DialTimeout: 10 * time.Second}
}

// Validate reports every problem.
func (c Conn) Validate() error {
	var p config.Problems
	if len(c.Brokers) == 0 {
		p.Addf("brokers", "must not be empty")
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			p.Addf(fmt.Sprintf("brokers[%d]", i), "must be host:port (got %q)", b)
		}
	}
	if c.DialTimeout <= 0 {
		p.Addf("dial_timeout", "must be > 0 (got %s)", c.DialTimeout)
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if !c.SASL.Username.IsSet() {
			p.Addf("sasl.username", "must be set for mechanism %s", c.SASL.Mechanism)
		}
		if !c.SASL.Password.IsSet() {
			p.Addf("sasl.password", "must be set for mechanism %s", c.SASL.Mechanism)
		}
		if !c.TLS.Enabled && !c.SASL.AllowPlaintext {
			p.Addf("sasl", "SASL without TLS sends credentials in clear; set kafka.tls.enabled: true, or kafka.sasl.allow_plaintext: true to accept that")
		}
	default:
		p.Addf("sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got %q)", c.SASL.Mechanism)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.Addf("tls", "cert_file and key_file go together")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.KeyFile != "") {
		p.Addf("tls.enabled", "must be true when tls files are set")
	}
	// The files are read now so that --check, not the first connection,
	// tells of a missing or unreadable certificate.
	if c.TLS.Enabled || c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
		_, _ = c.TLS.load(&p)
	}
	return p.Err()
}

// Opts returns the franz-go options for the connection. Secrets and
// certificate files are read here, at start, so a missing credential fails
// the component before it serves rather than at the first request.
func (c Conn) Opts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.DialTimeout(c.DialTimeout),
	}
	if c.SASL.Mechanism != "" {
		m, err := c.SASL.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	if c.TLS.Enabled {
		cfg, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

func (s SASL) mechanism() (sasl.Mechanism, error) {
	user, err := s.Username.Resolve()
	if err != nil {
		return nil, fmt.Errorf("kafka: sasl.username: %w", err)
	}
	pass, err := s.Password.Resolve()
	if err != nil {
		return nil, fmt.Errorf("kafka: sasl.password: %w", err)
	}
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka: sasl.mechanism %q is not supported", s.Mechanism)
}

func (t TLS) config() (*tls.Config, error) {
	var p config.Problems
	cfg, ok := t.load(&p)
	if !ok {
		var pe *config.ProblemsError
		if errors.As(p.Err(), &pe) {
			msgs := make([]string, len(pe.Problems))
			for i, q := range pe.Problems {
				msgs[i] = q.String()
			}
			return nil, fmt.Errorf("kafka: %s", strings.Join(msgs, "; "))
		}
	}
	return cfg, nil
}

// load reads the CA bundle and the client certificate, adding a problem at
// the setting's path (tls.ca_file, tls.cert_file, tls.key_file) for each
// file that is missing, unreadable or not PEM of the right kind.
func (t TLS) load(p *config.Problems) (*tls.Config, bool) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in for tests
	ok := true
	read := func(path, file string) []byte {
		if err := config.CheckReadable(file); err != nil {
			p.Addf(path, "%v", err)
			ok = false
			return nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			p.Addf(path, "file %s: %v", file, err)
			ok = false
		}
		return b
	}
	if t.CAFile != "" {
		if pem := read("tls.ca_file", t.CAFile); pem != nil {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(pem) {
				cfg.RootCAs = pool
			} else {
				p.Addf("tls.ca_file", "no PEM certificates in %s", t.CAFile)
				ok = false
			}
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		certPEM, keyPEM := read("tls.cert_file", t.CertFile), read("tls.key_file", t.KeyFile)
		if certPEM != nil && keyPEM != nil {
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				p.Addf("tls.cert_file", "client certificate %s with key %s: %v", t.CertFile, t.KeyFile, err)
				ok = false
			} else {
				cfg.Certificates = []tls.Certificate{cert}
			}
		}
	}
	return cfg, ok
}
