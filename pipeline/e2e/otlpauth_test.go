//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// TestOTLPAuth: with configs/collector-auth.yaml merged (what the Helm
// chart's otlpAuth.enabled does), telemetrygen over TLS without the bearer
// token, with a wrong one, or over plaintext with the right one is refused on
// both OTLP receivers (gRPC and HTTP), and nothing of theirs reaches
// OpenSearch; over TLS with the token, every record is indexed exactly once.
// The certificates and the token are generated at run time.
func TestOTLPAuth(t *testing.T) {
	s := newStack(t, 3)
	pki := vigiltest.NewPKI(t)
	token := randomHex(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	c := s.startCollectorWith([]string{
		"VIGIL_OTLP_TOKEN_FILE=" + tokenFile,
		"VIGIL_OTLP_TLS_CERT_FILE=" + pki.CertFile,
		"VIGIL_OTLP_TLS_KEY_FILE=" + pki.KeyFile,
	}, "configs/collector-auth.yaml")
	s.startPipeline("")

	auth := func(tok string) []string { return []string{"--otlp-header", `Authorization="Bearer ` + tok + `"`} }
	overTLS := []string{"--otlp-insecure=false", "--ca-cert", pki.CAFile}
	for _, proto := range []struct {
		name, addr string
		flags      []string
		refusal    string // what the receiver answers a client without a valid token
	}{
		{"grpc", c.grpc, nil, "code = Unauthenticated"},
		{"http", c.http, []string{"--otlp-http"}, "401 Unauthorized"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				args []string
				want string
			}{
				{"no token", overTLS, proto.refusal},
				{"wrong token", append(auth("not-"+token), overTLS...), proto.refusal},
				// A plaintext client cannot complete a TLS handshake, token
				// or not. How it fails (a 400 answer, a reset, EOF before the
				// HTTP/2 preface) depends on timing, so only the failure is
				// required.
				{"plaintext", append(auth(token), "--otlp-insecure"), "failed to export"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					out := telemetrygenRefused(t, proto.addr, append(proto.flags, tc.args...)...)
					require.Contains(t, out, tc.want)
				})
			}
		})
	}

	// Authenticated: 500 records per protocol.
	telemetrygenTLS(t, c.grpc, append(auth(token), overTLS...)...)
	telemetrygenTLS(t, c.http, append(append(auth(token), overTLS...), "--otlp-http")...)
	// Exactly the authenticated records: a refused one would overshoot.
	s.waitCount(s.logsStream, 1000, 3*time.Minute)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// runTelemetrygen sends 500 log records to addr with args (which choose the
// transport security and headers) and returns telemetrygen's output.
func runTelemetrygen(t *testing.T, addr string, args ...string) (string, error) {
	t.Helper()
	full := append([]string{"logs", "--otlp-endpoint", addr, "--logs", "500", "--workers", "1", "--rate", "0"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testinfra.Tool(t, "telemetrygen"), full...).CombinedOutput()
	return string(out), err
}

func telemetrygenTLS(t *testing.T, addr string, args ...string) {
	t.Helper()
	out, err := runTelemetrygen(t, addr, args...)
	require.NoError(t, err, "telemetrygen %s:\n%s", strings.Join(args, " "), tail(out))
	require.NotContains(t, out, "Unauthenticated")
}

// telemetrygenRefused runs a client the collector must refuse: telemetrygen
// exits non-zero at its first failed export; the test then also checks that
// nothing of it was indexed.
func telemetrygenRefused(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, err := runTelemetrygen(t, addr, args...)
	require.Error(t, err, "telemetrygen %s was not refused:\n%s", strings.Join(args, " "), tail(out))
	require.Contains(t, out, "failed to export", "telemetrygen %s:\n%s", strings.Join(args, " "), tail(out))
	return out
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}
