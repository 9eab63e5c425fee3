package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
)

// fakeAdmin is the admin server's mux and checks.
type fakeAdmin struct {
	mux    *http.ServeMux
	mu     sync.Mutex
	checks map[string]func() error
}

func (a *fakeAdmin) Handle(p string, h http.Handler) { a.mux.Handle(p, h) }
func (a *fakeAdmin) AddCheck(n string, c func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks[n] = c
}

// TestDryRunAndAdminAPI runs against kfake only: dry run writes nothing to
// OpenSearch (it points at a closed port) and commits nothing; the admin
// API pauses and resumes fetching behind its token.
func TestDryRunAndAdminAPI(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "otlp_logs", "otlp_spans", "vigil.dlq"))
	require.NoError(t, err)
	defer kc.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	require.NoError(t, err)
	defer prod.Close()

	cfg := DefaultConfig()
	cfg.Kafka.Brokers = kc.ListenAddrs()
	cfg.OpenSearch.Addresses = []string{"http://127.0.0.1:1"}
	cfg.DryRun = true
	cfg.CommitInterval = 50 * time.Millisecond
	cfg.AdminToken = config.Secret{Value: "s3cret"}
	admin := &fakeAdmin{mux: http.NewServeMux(), checks: map[string]func() error{}}
	srv := httptest.NewServer(admin.mux)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	s, err := New(cfg, component.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg, Admin: admin})
	require.NoError(t, err)
	require.Contains(t, admin.checks, "pipeline")

	call := func(method, path, token string) (int, Status) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var st Status
		if res.StatusCode == 200 {
			require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
		}
		return res.StatusCode, st
	}
	code, _ := call("POST", "/api/v1/pipeline/pause", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = call("GET", "/api/v1/pipeline/status", "")
	require.Equal(t, http.StatusUnauthorized, code)
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/debug/pprof/", "", http.StatusUnauthorized},
		{"/debug/pprof/heap?debug=1", "wrong", http.StatusUnauthorized},
		{"/debug/pprof/", "s3cret", http.StatusOK},
		{"/debug/pprof/heap?debug=1", "s3cret", http.StatusOK},
	} {
		req, _ := http.NewRequest("GET", srv.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, tc.want, res.StatusCode, "%s with token %q", tc.path, tc.token)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: "otlp_logs", Value: logsPayload(5, "dry")}).FirstErr())
	eventually(t, "the dry run to take the record", func() bool {
		return metricValue(t, reg, "vigil_pipeline_documents_total", "kind", "log", "outcome", "indexed") == 5
	})
	require.NoError(t, admin.checks["pipeline"](), "dry run is ready without OpenSearch")

	code, st := call("POST", "/api/v1/pipeline/pause", "s3cret")
	require.Equal(t, 200, code)
	require.True(t, st.PausedByOperator)
	require.True(t, st.DryRun)
	eventually(t, "fetching to pause", func() bool { _, st := call("GET", "/api/v1/pipeline/status", "s3cret"); return st.Paused })
	require.NoError(t, prod.ProduceSync(ctx, &kgo.Record{Topic: "otlp_logs", Value: logsPayload(3, "later")}).FirstErr())
	code, st = call("POST", "/api/v1/pipeline/resume", "s3cret")
	require.Equal(t, 200, code)
	require.False(t, st.PausedByOperator)
	eventually(t, "the record produced while paused", func() bool {
		return metricValue(t, reg, "vigil_pipeline_documents_total", "kind", "log", "outcome", "indexed") == 8
	})
	cancel()
	require.NoError(t, <-done)

	offs, err := kadm.NewClient(prod).FetchOffsets(context.Background(), cfg.Kafka.Group)
	require.NoError(t, err)
	offs.Each(func(o kadm.OffsetResponse) { require.LessOrEqual(t, o.At, int64(0), "a dry run commits nothing") })
}
