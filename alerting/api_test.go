package alerting

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
)

func TestSilencesAPI(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	var ready atomic.Bool
	mux := http.NewServeMux()
	(&api{e: h.eng, token: []byte("tok"), ready: &ready}).mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := Client{URL: srv.URL, Token: "tok"}

	_, err := c.Silences(t.Context())
	require.ErrorContains(t, err, "503", "not before the state is loaded")
	ready.Store(true)

	_, err = Client{URL: srv.URL}.Silences(t.Context())
	require.ErrorContains(t, err, "401")

	for _, tc := range []struct {
		req  SilenceRequest
		want string
	}{
		{SilenceRequest{Duration: "1h", Reason: "r"}, "at least one"},
		{SilenceRequest{Matchers: []string{"target"}, Duration: "1h", Reason: "r"}, "want name=value"},
		{SilenceRequest{Matchers: []string{"target=~("}, Duration: "1h", Reason: "r"}, "missing closing"},
		{SilenceRequest{Matchers: []string{"target=a"}, Reason: "r"}, "expiresAt or duration is required"},
		{SilenceRequest{Matchers: []string{"target=a"}, Duration: "1h"}, "reason: is required"},
		{SilenceRequest{Matchers: []string{"target=a"}, ExpiresAt: base.Add(-time.Minute), Reason: "r"}, "must be in the future"},
		{SilenceRequest{Matchers: []string{"target=a"}, Duration: "2000h", Reason: "r"}, "at most"},
	} {
		_, err := c.CreateSilence(t.Context(), tc.req)
		require.ErrorContains(t, err, "400")
		require.ErrorContains(t, err, tc.want)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/silences", strings.NewReader(`{"matchers":["target=a"],"bogus":1}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "unknown fields are refused")

	s, err := c.CreateSilence(t.Context(), SilenceRequest{Matchers: []string{"target=~db-.*", "env!=dev"}, ExpiresAt: base.Add(2 * time.Hour), Reason: "db migration", CreatedBy: "alice"})
	require.NoError(t, err)
	require.Len(t, s.ID, 16)
	require.Equal(t, base, s.StartsAt)
	list, err := c.Silences(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, s.ID, list[0].ID)
	require.Equal(t, "env!=dev", list[0].Matchers[1].String())
	require.True(t, h.eng.sil.matches("db-7", map[string]string{"env": "prod"}, base))
	require.False(t, h.eng.sil.matches("db-7", map[string]string{"env": "dev"}, base))

	require.NoError(t, c.DeleteSilence(t.Context(), s.ID))
	require.ErrorContains(t, c.DeleteSilence(t.Context(), s.ID), "404")
	list, err = c.Silences(t.Context())
	require.NoError(t, err)
	require.Empty(t, list)
}

// TestSilenceClient: the client `vigil alerting silence` uses, built from
// the configuration, against the real handler (cmd/vigil prints what it
// returns).
func TestSilenceClient(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	var ready atomic.Bool
	ready.Store(true)
	mux := http.NewServeMux()
	(&api{e: h.eng, token: []byte("tok"), ready: &ready}).mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg := testConfig()
	_, err := NewClient(cfg, srv.Listener.Addr().String())
	require.ErrorContains(t, err, "api.token is not set")
	cfg.API.Token = config.Secret{Value: "tok"}
	c, err := NewClient(cfg, srv.Listener.Addr().String())
	require.NoError(t, err)

	s, err := c.CreateSilence(t.Context(), SilenceRequest{Matchers: []string{"target=~db-.*"}, Duration: (2 * time.Hour).String(), Reason: "migration", CreatedBy: "alice"})
	require.NoError(t, err)
	require.Equal(t, "2026-11-22T12:00:00Z", s.ExpiresAt.UTC().Format(time.RFC3339))
	list, err := c.Silences(t.Context())
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, []string{s.ID, "target=~db-.*", "alice", "migration"}, []string{list[0].ID, list[0].Matchers[0].String(), list[0].CreatedBy, list[0].Reason})
	require.NoError(t, c.DeleteSilence(t.Context(), s.ID))
	require.ErrorContains(t, c.DeleteSilence(t.Context(), s.ID), "404")
}
