package alerting

import (
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

// TestFailoverAPI drives the real handler through Client, on a controller
// with a settable clock (cmd/vigil's TestPrintFailoverStatus prints what it
// returns).
func TestFailoverAPI(t *testing.T) {
	cfg := failover.DefaultConfig()
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
	fc := Client{URL: srv.URL, Token: "s3cret"}
	ctx := t.Context()

	_, err := fc.FailoverStatus(ctx)
	require.ErrorContains(t, err, "503", "not ready before the state is loaded")
	ready.Store(true)
	_, err = Client{URL: srv.URL, Token: "wrong"}.FailoverStatus(ctx)
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

	st, err := fc.FailoverStatus(ctx)
	require.NoError(t, err)
	require.Len(t, st, 1)
	db := st[0]
	require.Equal(t, []string{"db", "primary", "db-standby", "", "CRITICAL", "HEALTHY", "manual"}, []string{db.Target, db.Active, db.Standby, db.Pending, string(db.PrimaryHealth), string(db.StandbyHealth), db.Failback})
	require.Equal(t, uint64(1), db.Generation)
	require.True(t, db.Blocked)
	require.Equal(t, "2026-11-22T11:05:00Z", db.BlockedUntil.UTC().Format(time.RFC3339), "blocked until the failure + block_for")
	require.Equal(t, "blocked", db.Held)
	last := db.Last[len(db.Last)-1]
	require.Equal(t, []string{events.FailoverFailedType, "primary", "standby", "pipeline/host-1", "standby refused"}, []string{last.Type, last.From, last.To, last.Actor, last.Error})
	require.Equal(t, uint64(1), last.Generation)

	acked, err := fc.Ack(ctx, "db")
	require.NoError(t, err)
	require.Equal(t, []string{"db", "primary"}, []string{acked.Target, acked.Active})
	require.Equal(t, "failover.requested#1 failover.requested#2", pub.names(t), "the ack released the held failover")
	require.NoError(t, c.Outcome(ctx, events.FailoverCompletedType, events.Failover{Target: "db", Generation: 2, At: clk.now()}))
	health("db", events.Healthy, 2)

	fb, err := fc.Failback(ctx, "db")
	require.NoError(t, err)
	require.Equal(t, "db", fb.Target)
	require.Equal(t, uint64(3), fb.Generation)
	require.Equal(t, "failover.requested#1 failover.requested#2 failback.requested#3", pub.names(t))
	st, err = fc.FailoverStatus(ctx)
	require.NoError(t, err)
	require.Equal(t, failover.Standby, st[0].Active)
	require.Equal(t, events.FailbackRequestedType, st[0].Pending)
	require.Equal(t, "requested by an operator", st[0].Last[len(st[0].Last)-1].Reason)
}

func TestNewClient(t *testing.T) {
	cfg := DefaultConfig()
	_, err := NewClient(cfg, "127.0.0.1:8880")
	require.ErrorContains(t, err, "api.token is not set")
	cfg.API.Token = config.Secret{Value: "tok"}
	fc, err := NewClient(cfg, "0.0.0.0:8880")
	require.NoError(t, err)
	require.Equal(t, Client{URL: "http://127.0.0.1:8880", Token: "tok"}, fc)
}
