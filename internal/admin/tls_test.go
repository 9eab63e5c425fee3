package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files into a test's temporary directory.
type testPKI struct {
	dir                       string
	ca                        *x509.CertPool
	caFile, certFile, keyFile string
	clientCert                tls.Certificate
	otherCAFile               string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, caCert, caPEM := issue(t, nil, nil, "vigil test CA", true, x509.ExtKeyUsageAny)
	_, _, otherPEM := issue(t, nil, nil, "another CA", true, x509.ExtKeyUsageAny)
	srvKey, _, srvPEM := issue(t, caKey, caCert, "127.0.0.1", false, x509.ExtKeyUsageServerAuth)
	cliKey, _, cliPEM := issue(t, caKey, caCert, "scraper", false, x509.ExtKeyUsageClientAuth)
	p := testPKI{dir: dir, caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key"), otherCAFile: filepath.Join(dir, "other-ca.pem")}
	write := func(name string, b []byte) { require.NoError(t, os.WriteFile(name, b, 0o600)) }
	write(p.caFile, caPEM)
	write(p.otherCAFile, otherPEM)
	write(p.certFile, srvPEM)
	write(p.keyFile, keyPEM(t, srvKey))
	var err error
	p.clientCert, err = tls.X509KeyPair(cliPEM, keyPEM(t, cliKey))
	require.NoError(t, err)
	p.ca = x509.NewCertPool()
	require.True(t, p.ca.AppendCertsFromPEM(caPEM))
	return p
}

func issue(t *testing.T, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, cn string, isCA bool, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return key, cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// startTLS runs a server with cfg until the test ends and returns its address.
func startTLS(t *testing.T, cfg TLSConfig) string {
	t.Helper()
	c := Config{ListenAddress: "127.0.0.1:0", TLS: cfg}
	require.NoError(t, c.Validate())
	s := New(c, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return s.Addr()
}

func client(roots *x509.CertPool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}}
}

func TestServerTLS(t *testing.T) {
	pki := newTestPKI(t)
	addr := startTLS(t, TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile})

	resp, err := client(pki.ca).Get("https://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Plain HTTP to a TLS port gets Go's "client sent an HTTP request to an
	// HTTPS server" answer, never the endpoint.
	resp, err = http.Get("http://" + addr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A client that does not trust the CA refuses the server.
	_, err = client(x509.NewCertPool()).Get("https://" + addr + "/healthz")
	require.ErrorContains(t, err, "certificate signed by unknown authority")
}

func TestServerTLSClientCA(t *testing.T) {
	pki := newTestPKI(t)
	addr := startTLS(t, TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientCAFile: pki.caFile})

	resp, err := client(pki.ca, pki.clientCert).Get("https://" + addr + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Without a client certificate the handshake fails.
	_, err = client(pki.ca).Get("https://" + addr + "/metrics")
	require.Error(t, err)
}

func TestTLSConfigValidate(t *testing.T) {
	pki := newTestPKI(t)
	missing := filepath.Join(pki.dir, "missing.pem")
	unreadable := filepath.Join(pki.dir, "unreadable.pem")
	require.NoError(t, os.WriteFile(unreadable, []byte("x"), 0o000))
	notPEM := filepath.Join(pki.dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name string
		cfg  TLSConfig
		want []string
	}{
		{"off", TLSConfig{}, nil},
		{"server cert", TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile}, nil},
		{"client ca", TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientCAFile: pki.caFile}, nil},
		{"key without cert", TLSConfig{KeyFile: pki.keyFile}, []string{"tls.cert_file: must be set when key_file or client_ca_file is"}},
		{"cert without key", TLSConfig{CertFile: pki.certFile}, []string{"tls.key_file: must be set when cert_file is"}},
		{"missing files", TLSConfig{CertFile: missing, KeyFile: missing, ClientCAFile: missing}, []string{
			"tls.cert_file: file " + missing + " does not exist",
			"tls.key_file: file " + missing + " does not exist",
			"tls.client_ca_file: file " + missing + " does not exist",
		}},
		{"directory", TLSConfig{CertFile: pki.dir, KeyFile: pki.keyFile}, []string{"tls.cert_file: " + pki.dir + " is a directory, not a file"}},
		{"not a key pair", TLSConfig{CertFile: pki.certFile, KeyFile: pki.caFile}, []string{"tls: cert_file/key_file: tls: "}},
		{"client ca not PEM", TLSConfig{CertFile: pki.certFile, KeyFile: pki.keyFile, ClientCAFile: notPEM}, []string{"tls: client_ca_file: no PEM certificates in " + notPEM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Config{ListenAddress: "127.0.0.1:0", TLS: tc.cfg}.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	if os.Geteuid() != 0 { // root reads any file
		err := Config{ListenAddress: "127.0.0.1:0", TLS: TLSConfig{CertFile: unreadable, KeyFile: pki.keyFile}}.Validate()
		require.ErrorContains(t, err, "tls.cert_file: file "+unreadable+" is not readable (permission denied)")
	}
}
