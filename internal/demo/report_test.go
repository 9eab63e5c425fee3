package demo

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// TestReportHealthEvents: make run's report shows the health events the
// pipeline indexed, newest first, and copes with indices not created yet.
func TestReportHealthEvents(t *testing.T) {
	osURL := testinfra.OpenSearch(t)
	idx := fmt.Sprintf("treport-health-%d", time.Now().UnixNano())
	do := func(method, path, body string) {
		req, err := http.NewRequest(method, osURL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-ndjson")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Less(t, res.StatusCode, 300, path)
	}
	t.Cleanup(func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, osURL+"/"+idx, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	})

	r := Report{OpenSearch: osURL, HealthEvents: idx, DLQ: idx + "-dlq"}
	var out bytes.Buffer
	require.NoError(t, r.writeHealthEvents(t.Context(), &out))
	require.Contains(t, out.String(), "none yet")
	require.Zero(t, r.countOrZero(t.Context(), r.DLQ))

	do(http.MethodPost, "/_bulk?refresh=true", fmt.Sprintf(`{"create":{"_index":%q,"_id":"a"}}
{"@timestamp":"2026-11-22T10:00:00Z","kind":"health","target":"opensearch","status":"CRITICAL","previousStatus":"HEALTHY","reason":"rejections"}
{"create":{"_index":%q,"_id":"b"}}
{"@timestamp":"2026-11-22T10:05:00Z","kind":"failover","eventType":"dev.vigil.failover.requested.v1","target":"opensearch","from":"primary","to":"standby","reason":"primary CRITICAL for 5m0s"}
`, idx, idx))
	out.Reset()
	require.NoError(t, r.writeHealthEvents(t.Context(), &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	require.Regexp(t, `2026-11-22T10:05:00Z\s+opensearch\s+dev.vigil.failover.requested.v1 primary -> standby\s+primary CRITICAL for 5m0s`, lines[1])
	require.Regexp(t, `2026-11-22T10:00:00Z\s+opensearch\s+HEALTHY -> CRITICAL\s+rejections`, lines[2])
	require.Equal(t, 2, r.countOrZero(t.Context(), idx))
}

// TestReportThroughSecuredProxy: the report reaches OpenSearch the way the
// pipeline does (`make run` with VIGIL_RUN_SECURED=1): through the TLS
// ingress with a CA, a client certificate and basic auth from a file.
func TestReportThroughSecuredProxy(t *testing.T) {
	proxy := testinfra.OpenSearchProxy(t)
	osURL := testinfra.OpenSearch(t)
	idx := fmt.Sprintf("treport-proxy-%d", time.Now().UnixNano())
	req, err := http.NewRequest(http.MethodPost, osURL+"/"+idx+"/_doc?refresh=true", strings.NewReader(`{"a":1}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	t.Cleanup(func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodDelete, osURL+"/"+idx, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	})

	cfg := opensearch.Config{Name: "report", Username: proxy.User, Password: config.Secret{File: proxy.PasswordFile},
		TLS: opensearch.TLSConfig{CAFile: proxy.CAFile, CertFile: proxy.CertFile, KeyFile: proxy.KeyFile}}
	rt, err := cfg.Transport()
	require.NoError(t, err)
	r := Report{OpenSearch: proxy.URL, Logs: idx, SpanAlias: idx, ServiceMap: idx, HTTP: &http.Client{Transport: rt, Timeout: 10 * time.Second}}
	logs, spans, edges, err := r.Counts(t.Context())
	require.NoError(t, err)
	require.Equal(t, []int{1, 1, 1}, []int{logs, spans, edges})

	r.HTTP = nil // plain client: no certificate the proxy trusts, no password
	_, _, _, err = r.Counts(t.Context())
	require.ErrorContains(t, err, "certificate signed by unknown authority")
}
