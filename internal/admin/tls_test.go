package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

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
	pki := vigiltest.NewPKI(t)
	addr := startTLS(t, TLSConfig{CertFile: pki.CertFile, KeyFile: pki.KeyFile})

	resp, err := client(pki.Pool).Get("https://" + addr + "/healthz")
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
	pki := vigiltest.NewPKI(t)
	addr := startTLS(t, TLSConfig{CertFile: pki.CertFile, KeyFile: pki.KeyFile, ClientCAFile: pki.CAFile})

	resp, err := client(pki.Pool, pki.ClientCertificate(t)).Get("https://" + addr + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// Without a client certificate the handshake fails.
	_, err = client(pki.Pool).Get("https://" + addr + "/metrics")
	require.Error(t, err)
}

func TestTLSConfigValidate(t *testing.T) {
	pki := vigiltest.NewPKI(t)
	missing := filepath.Join(pki.Dir, "missing.pem")
	unreadable := filepath.Join(pki.Dir, "unreadable.pem")
	require.NoError(t, os.WriteFile(unreadable, []byte("x"), 0o000))
	notPEM := filepath.Join(pki.Dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name string
		cfg  TLSConfig
		want []string
	}{
		{"off", TLSConfig{}, nil},
		{"server cert", TLSConfig{CertFile: pki.CertFile, KeyFile: pki.KeyFile}, nil},
		{"client ca", TLSConfig{CertFile: pki.CertFile, KeyFile: pki.KeyFile, ClientCAFile: pki.CAFile}, nil},
		{"key without cert", TLSConfig{KeyFile: pki.KeyFile}, []string{"tls.cert_file: must be set when key_file or client_ca_file is"}},
		{"cert without key", TLSConfig{CertFile: pki.CertFile}, []string{"tls.key_file: must be set when cert_file is"}},
		{"missing files", TLSConfig{CertFile: missing, KeyFile: missing, ClientCAFile: missing}, []string{
			"tls.cert_file: file " + missing + " does not exist",
			"tls.key_file: file " + missing + " does not exist",
			"tls.client_ca_file: file " + missing + " does not exist",
		}},
		{"directory", TLSConfig{CertFile: pki.Dir, KeyFile: pki.KeyFile}, []string{"tls.cert_file: " + pki.Dir + " is a directory, not a file"}},
		{"not a key pair", TLSConfig{CertFile: pki.CertFile, KeyFile: pki.CAFile}, []string{"tls: cert_file/key_file: tls: "}},
		{"client ca not PEM", TLSConfig{CertFile: pki.CertFile, KeyFile: pki.KeyFile, ClientCAFile: notPEM}, []string{"tls: client_ca_file: no PEM certificates in " + notPEM}},
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
		err := Config{ListenAddress: "127.0.0.1:0", TLS: TLSConfig{CertFile: unreadable, KeyFile: pki.KeyFile}}.Validate()
		require.ErrorContains(t, err, "tls.cert_file: file "+unreadable+" is not readable (permission denied)")
	}
}
