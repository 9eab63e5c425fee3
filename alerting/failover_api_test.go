package alerting

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/failover"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

// TestFailoverAPI drives the real handler through FailoverClient and the
// CLI functions, on a controller with a settable clock.
func TestFailoverAPI(t *testing.T) {
	cfg := DefaultFailoverConfig()
	cfg.Targets = []failover.Policy{testPolicy(func(p *failover.Policy) { p.BlockFor, p.Failback, p.Dwell = time.Hour, failover.FailbackManual, 0 })}
	pub := &published{}
	clk := &clock{t: base}
	c := newController(cfg, quiet, newMetrics(prometheus.NewRegistry()), NewMemStore(), pub.publish)
	c.now = clk.now
	require.NoError(t, c.Restore(t.Context(), nil))
	var ready atomic.Bool
	mux := http.NewServeMux()
	(&api{c: c, token: []byte("s3cret"), ready: &ready}).mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	fc := FailoverClient{URL: srv.URL, Token: "s3cret"}
	ctx := t.Context()

	_, err := fc.Status(ctx)
	require.ErrorContains(t, err, "503", "not ready before the state is loaded")
	ready.Store(true)
	_, err = FailoverClient{URL: srv.URL, Token: "wrong"}.Status(ctx)
	require.ErrorContains(t, err, "401")

	health := func(target string, s events.Status, gen uint64) {
		require.NoError(t, c.Health(ctx, events.Health{Target: target, Status: s, Since: clk.now(), Reason: "test", Generation: gen}))
	}
	health("db-standby", events.Healthy, 1)
	health("db", events.Critical, 1)
	_, err = fc.Failback(ctx, "db")
	require.ErrorContains(t, err, "409")
	require.ErrorContains(t, err, "served by its primary")
	_, err = fc.Ack(ctx, "nope")
	require.ErrorContains(t, err, "404")

	clk.add(5 * time.Minute)
	c.Tick(ctx)
	require.NoError(t, c.Outcome(ctx, events.FailoverFailedType, events.Failover{Target: "db", From: "primary", To: "standby", Generation: 1, At: clk.now(), Actor: "pipeline/host-1", Error: "standby refused"}))
	clk.add(time.Minute)
	c.Tick(ctx)
	require.Equal(t, "failover.requested#1", pub.names(t))

	var out bytes.Buffer
	require.NoError(t, FailoverStatus(ctx, fc, &out))
	require.Contains(t, out.String(), "db      primary  db-standby  -        1           CRITICAL  HEALTHY         manual    ")
	require.Contains(t, out.String(), "2026-11-22T11:05:00Z  blocked\n", "blocked until the failure + block_for")
	require.Contains(t, out.String(), "#1  failover.failed      primary -> standby")
	require.Contains(t, out.String(), "(by pipeline/host-1) error: standby refused")

	out.Reset()
	require.NoError(t, AckFailover(ctx, fc, "db", &out))
	require.Equal(t, "db: block acknowledged (active primary)\n", out.String())
	require.Equal(t, "failover.requested#1 failover.requested#2", pub.names(t), "the ack released the held failover")
	require.NoError(t, c.Outcome(ctx, events.FailoverCompletedType, events.Failover{Target: "db", Generation: 2, At: clk.now()}))
	health("db", events.Healthy, 2)

	out.Reset()
	require.NoError(t, RequestFailback(ctx, fc, "db", &out))
	require.Equal(t, "db: failback requested (generation 3)\n", out.String())
	require.Equal(t, "failover.requested#1 failover.requested#2 failback.requested#3", pub.names(t))
	st, err := fc.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, failover.Standby, st[0].Active)
	require.Equal(t, events.FailbackRequestedType, st[0].Pending)
	require.Equal(t, "requested by an operator", st[0].Last[len(st[0].Last)-1].Reason)
}

func TestNewFailoverClient(t *testing.T) {
	cfg := DefaultConfig()
	_, err := NewFailoverClient(cfg, "127.0.0.1:8880")
	require.ErrorContains(t, err, "api.token is not set")
	cfg.API.Token = config.Secret{Value: "tok"}
	fc, err := NewFailoverClient(cfg, "0.0.0.0:8880")
	require.NoError(t, err)
	require.Equal(t, FailoverClient{URL: "http://127.0.0.1:8880", Token: "tok"}, fc)
}
