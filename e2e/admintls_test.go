//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestAdminTLS: a real process (`vigil alerting`, whose Kafka refuses
// connections: the admin server does not depend on it) with admin.tls and
// client_ca_file serves /healthz and /metrics over HTTPS to a client with a
// certificate from that CA, and to nobody else: not without a client
// certificate, not over plain HTTP. Certificates are generated at run time.
func TestAdminTLS(t *testing.T) {
	pki := vigiltest.NewPKI(t)
	admin := vigiltest.FreeAddr(t)
	cfg := filepath.Join(t.TempDir(), "alerting.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
admin:
  listen_address: %q
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
kafka: {brokers: [%q]}
`, admin, pki.CertFile, pki.KeyFile, pki.CAFile, vigiltest.FreeAddr(t))), 0o600))
	p := vigiltest.Start(t, nil, "alerting", "--config", cfg)

	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: certs, MinVersion: tls.VersionTLS12},
		}}
	}
	withCert := client(pki.ClientCertificate(t))
	err := vigiltest.Eventually(30*time.Second, func() error {
		if p.Exited() {
			return fmt.Errorf("exited:\n%s", p.Output())
		}
		resp, err := withCert.Get("https://" + admin + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
	require.NoError(t, err)
	resp, err := withCert.Get("https://" + admin + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "vigil_build_info")
	require.Contains(t, p.Output(), "scheme=https")

	_, err = client().Get("https://" + admin + "/healthz")
	require.Error(t, err, "a client without a certificate was served")
	// A client that trusts only another CA refuses the server.
	other := x509.NewCertPool()
	b, err := os.ReadFile(pki.OtherCAFile)
	require.NoError(t, err)
	other.AppendCertsFromPEM(b)
	_, err = (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: other, MinVersion: tls.VersionTLS12}}}).Get("https://" + admin + "/healthz")
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	resp, err = http.Get("http://" + admin + "/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NotEqual(t, http.StatusOK, resp.StatusCode)
		require.False(t, strings.HasPrefix(string(b), "ok"), "plain HTTP reached the endpoint")
	}
}
