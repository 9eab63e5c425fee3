package alerting

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// The silences API, mounted on the admin server when api.token is set:
//
//	POST   /api/v1/silences       body SilenceRequest  -> 201 Silence
//	GET    /api/v1/silences                            -> 200 {"silences": [Silence...]}
//	DELETE /api/v1/silences/{id}                       -> 204, or 404
//
// and, when failover targets are configured, the failover API (see
// failover_api.go).
//
// Every request needs "Authorization: Bearer <api.token>". Errors are
// {"error": "..."} with 400, 401, 404, 503 (state not loaded yet) or 500.
type api struct {
	e     *Engine
	c     *Controller // nil: no failover targets configured
	token []byte
	ready *atomic.Bool
}

func (a *api) mount(h interface {
	Handle(pattern string, h http.Handler)
}) {
	h.Handle("POST /api/v1/silences", a.guard(a.create))
	h.Handle("GET /api/v1/silences", a.guard(a.list))
	h.Handle("DELETE /api/v1/silences/{id}", a.guard(a.delete))
	// Mounted without failover targets too, so an operator asking gets
	// "none configured" rather than a bare 404.
	h.Handle("GET /api/v1/failover", a.guard(a.failoverStatus))
	h.Handle("POST /api/v1/failover/{target}/ack", a.guard(a.failoverAck))
	h.Handle("POST /api/v1/failover/{target}/failback", a.guard(a.failoverFailback))
}

func (a *api) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), a.token) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		if !a.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, errors.New("alerting state is still loading"))
			return
		}
		next(w, r)
	})
}

func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var req SilenceRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	s, err := a.e.AddSilence(r.Context(), req)
	var re *RequestError
	switch {
	case errors.As(err, &re):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusCreated, s)
	}
}

func (a *api) list(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string][]Silence{"silences": a.e.Silences()})
}

func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	found, err := a.e.DeleteSilence(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	case !found:
		writeError(w, http.StatusNotFound, fmt.Errorf("no silence %q", r.PathValue("id")))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

// call makes one API request with a bearer token and decodes the answer
// into out; errors start with what (e.g. "silences").
func call(ctx context.Context, hc *http.Client, url, token, what, method, path string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(url, "/")+path, body)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return fmt.Errorf("%s: %s %s: %s: %s", what, method, path, resp.Status, e.Error)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("%s: decode answer: %w", what, err)
		}
	}
	return nil
}
