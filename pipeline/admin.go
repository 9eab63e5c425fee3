package pipeline

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/pprof"
)

// mountAdmin mounts the pipeline's admin API behind a bearer token:
//
//	POST /api/v1/pipeline/pause   stop fetching (in-flight work finishes)
//	POST /api/v1/pipeline/resume  fetch again
//	GET  /api/v1/pipeline/status  {"paused":..,"paused_by_operator":..,...}
//	GET  /debug/pprof/...         Go's net/http/pprof profiles
//
// A pause holds until resumed; it survives backpressure resuming on its own.
// pprof is behind the token too: a profile exposes the process's memory
// and costs CPU while it runs, so it is no more public than pause.
func (s *Service) mountAdmin(mount func(pattern string, h http.Handler), token string) {
	auth := func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization")
			want := "Bearer " + token
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="vigil-pipeline"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h(w, r)
		})
	}
	mount("POST /api/v1/pipeline/pause", auth(func(w http.ResponseWriter, _ *http.Request) {
		if !s.operatorPause.Swap(true) {
			s.log.Info("fetching paused by operator")
		}
		s.writeStatus(w)
	}))
	mount("POST /api/v1/pipeline/resume", auth(func(w http.ResponseWriter, _ *http.Request) {
		if s.operatorPause.Swap(false) {
			s.log.Info("fetching resumed by operator")
		}
		s.writeStatus(w)
	}))
	mount("GET /api/v1/pipeline/status", auth(func(w http.ResponseWriter, _ *http.Request) { s.writeStatus(w) }))
	// Index serves the named profiles (heap, allocs, goroutine, ...) below
	// /debug/pprof/; the rest need their own handlers.
	mount("GET /debug/pprof/", auth(pprof.Index))
	mount("GET /debug/pprof/cmdline", auth(pprof.Cmdline))
	mount("GET /debug/pprof/profile", auth(pprof.Profile))
	mount("GET /debug/pprof/symbol", auth(pprof.Symbol))
	mount("GET /debug/pprof/trace", auth(pprof.Trace))
}

// Status is the admin API's view of the pipeline.
type Status struct {
	Paused           bool  `json:"paused"`
	PausedByOperator bool  `json:"paused_by_operator"`
	InFlightBytes    int64 `json:"in_flight_bytes"`
	OpenSearchUp     bool  `json:"opensearch_up"`
	// Active names the cluster that receives writes and its side (primary
	// or standby, which changes on failover).
	Active     string `json:"active"`
	ActiveSide string `json:"active_side"`
	DryRun     bool   `json:"dry_run"`
}

func (s *Service) status() Status {
	i, c, _ := s.sides.current()
	return Status{
		Paused:           s.pausedNow.Load(),
		PausedByOperator: s.operatorPause.Load(),
		InFlightBytes:    s.inFlight.Load(),
		OpenSearchUp:     s.osUp.Load(),
		Active:           c.Name(),
		ActiveSide:       sideName(i),
		DryRun:           s.cfg.DryRun,
	}
}

func (s *Service) writeStatus(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.status())
}
