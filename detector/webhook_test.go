package detector

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

type fakeAdmin struct{ handlers map[string]http.Handler }

func (a *fakeAdmin) Handle(p string, h http.Handler) {
	if a.handlers == nil {
		a.handlers = map[string]http.Handler{}
	}
	a.handlers[p] = h
}
func (a *fakeAdmin) AddCheck(string, func() error) {}

const testToken = "s3cret"

// webhookService is a leader whose transitions land in the returned slice.
func webhookService(t *testing.T, leader bool) (*Service, *fakeAdmin, *[]Transition) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Instance = "detector-a"
	cfg.Webhooks = WebhooksConfig{Enabled: true, Token: config.Secret{Value: testToken}}
	cfg.Targets = []Target{
		{Name: "kafka", Labels: map[string]string{"component": "kafka"}, Rules: []Rule{testRule("consumer_lag")}},
		{Name: "opensearch-primary", Rules: []Rule{testRule("reachable")}},
	}
	adm := &fakeAdmin{}
	s, err := New(cfg, component.Deps{Admin: adm, Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	s.now = func() time.Time { return t0 }
	var got []Transition
	if leader {
		restored := map[string]Restored{"kafka": {events.Healthy, 10}, "opensearch-primary": {events.Healthy, 3}}
		eng := newEngine(cfg, restored, func(_ context.Context, tr Transition) error { got = append(got, tr); return nil }, s.m)
		s.term = &term{eng: eng, done: make(chan struct{})}
	}
	return s, adm, &got
}

func post(h http.Handler, path, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestWebhookGoldens posts fixture payloads in order to a fresh leader and
// compares responses and resulting events with <case>.want.json.
func TestWebhookGoldens(t *testing.T) {
	cases := []struct {
		source, name string
		fixtures     []string
	}{
		{"alertmanager", "firing-critical", []string{"firing-critical.json"}},
		{"alertmanager", "firing-then-resolved", []string{"firing-critical.json", "resolved.json", "resolved.json"}},
		{"alertmanager", "two-targets", []string{"two-targets.json"}},
		{"alertmanager", "bad-json", []string{"bad-json.json"}},
		{"alertmanager", "bad-labels", []string{"bad-labels.json"}},
		{"alertmanager", "bad-version", []string{"bad-version.json"}},
		{"grafana", "firing-then-resolved", []string{"firing.json", "resolved.json"}},
		{"grafana", "bad-no-alerts", []string{"bad-no-alerts.json"}},
		{"grafana", "bad-alertmanager-version", []string{"bad-alertmanager-version.json"}},
	}
	for _, tc := range cases {
		t.Run(tc.source+"/"+tc.name, func(t *testing.T) {
			s, adm, got := webhookService(t, true)
			h := adm.handlers["POST /api/v1/alerts/"+tc.source]
			require.NotNil(t, h)
			type exchange struct {
				Fixture  string            `json:"fixture"`
				Code     int               `json:"code"`
				Response json.RawMessage   `json:"response"`
				Events   []json.RawMessage `json:"events"`
			}
			var out []exchange
			for _, f := range tc.fixtures {
				body, err := os.ReadFile(filepath.Join("testdata/webhooks", tc.source, f))
				require.NoError(t, err)
				before := len(*got)
				w := post(h, "/api/v1/alerts/"+tc.source, testToken, body)
				ex := exchange{Fixture: f, Code: w.Code, Response: bytes.TrimSpace(w.Body.Bytes())}
				for _, tr := range (*got)[before:] {
					value, _, err := Event(s.source, tr)
					require.NoError(t, err)
					require.NoError(t, events.ValidateHealthChanged(value))
					ex.Events = append(ex.Events, value)
				}
				if w.Code != http.StatusOK {
					require.Empty(t, ex.Events, "a rejected request changes nothing")
				}
				out = append(out, ex)
			}
			b, err := json.Marshal(out)
			require.NoError(t, err)
			golden(t, filepath.Join("webhooks", tc.source, tc.name+".want.json"), b)
		})
	}
}

func TestWebhookAuthAndLeadership(t *testing.T) {
	body, err := os.ReadFile("testdata/webhooks/alertmanager/firing-critical.json")
	require.NoError(t, err)
	s, adm, got := webhookService(t, true)
	h := adm.handlers["POST /api/v1/alerts/alertmanager"]
	for name, token := range map[string]string{"no token": "", "wrong token": "nope"} {
		w := post(h, "/api/v1/alerts/alertmanager", token, body)
		require.Equal(t, http.StatusUnauthorized, w.Code, name)
		require.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer")
	}
	require.Empty(t, *got)
	require.Equal(t, 2.0, testutil.ToFloat64(s.m.webhooks.WithLabelValues("alertmanager", "401")))

	big := bytes.Repeat([]byte(" "), maxWebhookBody+1)
	require.Equal(t, http.StatusRequestEntityTooLarge, post(h, "/api/v1/alerts/alertmanager", testToken, big).Code)

	// A follower refuses, so that the sender retries against the leader.
	_, fadm, _ := webhookService(t, false)
	w := post(fadm.handlers["POST /api/v1/alerts/alertmanager"], "/api/v1/alerts/alertmanager", testToken, body)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "5", w.Header().Get("Retry-After"))
}

func TestWebhooksDisabledMountNothing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Targets = []Target{{Name: "kafka", Rules: []Rule{testRule("lag")}}}
	adm := &fakeAdmin{}
	_, err := New(cfg, component.Deps{Admin: adm})
	require.NoError(t, err)
	require.Empty(t, adm.handlers)
}
