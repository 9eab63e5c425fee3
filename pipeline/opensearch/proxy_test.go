package opensearch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/testinfra"
)

// proxyConfig reaches the real OpenSearch through the nginx ingress with
// every secured setting: ca_file, a client certificate, basic auth from a
// secret file.
func proxyConfig(t *testing.T, p testinfra.Proxy) Config {
	cfg := DefaultConfig()
	cfg.Name = "proxied"
	cfg.Addresses = []string{p.URL}
	cfg.Username = p.User
	cfg.Password = config.Secret{File: p.PasswordFile}
	cfg.TLS = TLSConfig{CAFile: p.CAFile, CertFile: p.CertFile, KeyFile: p.KeyFile}
	require.NoError(t, cfg.Validate())
	return cfg
}

func newProxyClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// bulkOne sends one document to a throwaway index (deleted at the end).
func bulkOne(t *testing.T, c *Client) error {
	t.Helper()
	idx := "tproxy" + filepath.Base(t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() { c.Do(context.Background(), http.MethodDelete, "/"+idx, nil) })
	res, err := c.Bulk(ctx, [][]byte{[]byte(`{"create":{"_index":"` + idx + `"}}` + "\n" + `{"a":1}` + "\n")}, 1)
	if err == nil {
		require.Equal(t, Done, res[0].Class, "item %+v", res[0])
	}
	return err
}

func TestProxySecuredConnection(t *testing.T) {
	p := testinfra.OpenSearchProxy(t)
	testinfra.OpenSearch(t)
	c := newProxyClient(t, proxyConfig(t, p))
	require.NoError(t, bulkOne(t, c))
}

// TestProxyRefusals: each way the ingress refuses a client is a whole-
// request failure named after the cluster and classified Retry (the sink
// holds the batch and reports itself down), never Permanent (which would
// dead-letter documents that did nothing wrong).
func TestProxyRefusals(t *testing.T) {
	p := testinfra.OpenSearchProxy(t)
	testinfra.OpenSearch(t)
	wrong := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(wrong, []byte("not-the-password\n"), 0o600))
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		status int
		want   []string
	}{
		{"wrong password", func(c *Config) { c.Password = config.Secret{File: wrong} }, 401,
			[]string{`bulk to cluster "proxied": HTTP 401`, "refused the credentials"}},
		{"no client certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }, 400,
			[]string{`bulk to cluster "proxied": HTTP 400`, "No required SSL certificate was sent"}},
		{"unknown CA", func(c *Config) { c.TLS.CAFile = otherCA(t) }, 0,
			[]string{`bulk to cluster "proxied"`, "tls: failed to verify certificate", "certificate signed by unknown authority"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxyConfig(t, p)
			tc.mod(&cfg)
			err := bulkOne(t, newProxyClient(t, cfg))
			var be *BulkError
			require.True(t, errors.As(err, &be), "err %v", err)
			require.Equal(t, tc.status, be.Status)
			require.Equal(t, Retry, be.Class())
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// TestProxyPasswordReread: the client reads the password secret on every
// request, so fixing the file ends the 401s without a restart.
func TestProxyPasswordReread(t *testing.T) {
	p := testinfra.OpenSearchProxy(t)
	testinfra.OpenSearch(t)
	pw := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(pw, []byte("stale"), 0o600))
	cfg := proxyConfig(t, p)
	cfg.Password = config.Secret{File: pw}
	c := newProxyClient(t, cfg)
	var be *BulkError
	require.True(t, errors.As(bulkOne(t, c), &be))
	require.Equal(t, 401, be.Status)
	right, err := os.ReadFile(p.PasswordFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pw, right, 0o600))
	require.NoError(t, bulkOne(t, c))
}

func TestTLSValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o644))
	for _, tc := range []struct {
		name string
		tls  TLSConfig
		want []string
	}{
		{"missing files", TLSConfig{CAFile: "/nonexistent/ca.pem", CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"},
			[]string{"tls.ca_file: cannot read /nonexistent/ca.pem: no such file or directory", "tls.cert_file: cannot read /nonexistent/c.pem", "tls.key_file: cannot read /nonexistent/k.pem"}},
		{"cert without key", TLSConfig{CertFile: notPEM}, []string{"tls: set both cert_file and key_file, or neither"}},
		{"not a certificate", TLSConfig{CAFile: notPEM}, []string{"tls.ca_file: no PEM certificate in " + notPEM}},
		{"key does not parse", TLSConfig{CertFile: notPEM, KeyFile: notPEM}, []string{"tls.cert_file: with tls.key_file:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TLS = tc.tls
			err := cfg.Validate()
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// otherCA writes a self-signed CA that signed nothing the proxy serves.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not the Vigil test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "other-ca.crt")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return path
}
