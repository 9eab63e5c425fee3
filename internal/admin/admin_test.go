package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_test_things_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(3)
	s := New(Config{ListenAddress: "127.0.0.1:0"}, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var ready atomic.Bool
	s.AddCheck("component", func() error {
		if !ready.Load() {
			return errors.New("warming up")
		}
		return nil
	})
	extra := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "otelcol_test_gauge", Help: "x"})
	extra.MustRegister(g)
	s.AddGatherer(extra)
	s.Handle("GET /api/v1/ping", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "pong") }))

	require.NoError(t, s.Listen())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr()

	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)

	code, body = get(t, base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "component: warming up")

	ready.Store(true)
	code, _ = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code)

	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "vigil_test_things_total 3")
	require.Contains(t, body, "otelcol_test_gauge 0", "extra gatherers are served too")

	code, body = get(t, base+"/api/v1/ping")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "pong", body)

	s.ShuttingDown()
	code, body = get(t, base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.True(t, strings.HasPrefix(body, "shutting down"))
	code, _ = get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code, "liveness holds while draining")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestListenConflict(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := New(Config{ListenAddress: "127.0.0.1:0"}, prometheus.NewRegistry(), log)
	require.NoError(t, a.Listen())
	defer a.ln.Close()
	b := New(Config{ListenAddress: a.Addr()}, prometheus.NewRegistry(), log)
	require.ErrorContains(t, b.Listen(), "admin: listen "+a.Addr())
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	err := Config{ListenAddress: "8080", ShutdownGrace: -time.Second}.Validate()
	require.ErrorContains(t, err, `listen_address: must be host:port (got "8080")`)
	require.ErrorContains(t, err, "shutdown_grace: must be >= 0 (got -1s)")
}
