package alerting

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/vigil-dev/vigil/alerting/failover"
)

// The failover API, mounted beside the silences API (same bearer token)
// when failover targets are configured:
//
//	GET  /api/v1/failover                   -> 200 {"targets": [TargetStatus...]}
//	POST /api/v1/failover/{target}/ack      -> 200 TargetStatus, or 404
//	POST /api/v1/failover/{target}/failback -> 202 TargetStatus, 404, or 409 (not possible now)
//
// A 500 from ack or failback means the decision could not be published or
// recorded; the request may be repeated.

func (a *api) failoverStatus(w http.ResponseWriter, _ *http.Request) {
	st := []TargetStatus{}
	if a.c != nil {
		st = a.c.Status()
	}
	writeJSON(w, http.StatusOK, map[string][]TargetStatus{"targets": st})
}

// errNoFailover answers ack/failback when failover.targets is empty.
var errNoFailover = fmt.Errorf("%w: no failover targets are configured (failover.targets)", ErrUnknownTarget)

func (a *api) failoverAck(w http.ResponseWriter, r *http.Request) {
	if a.c == nil {
		writeFailover(w, http.StatusOK, TargetStatus{}, errNoFailover)
		return
	}
	st, err := a.c.Ack(r.Context(), r.PathValue("target"))
	writeFailover(w, http.StatusOK, st, err)
}

func (a *api) failoverFailback(w http.ResponseWriter, r *http.Request) {
	if a.c == nil {
		writeFailover(w, http.StatusAccepted, TargetStatus{}, errNoFailover)
		return
	}
	st, err := a.c.Failback(r.Context(), r.PathValue("target"))
	writeFailover(w, http.StatusAccepted, st, err)
}

func writeFailover(w http.ResponseWriter, ok int, st TargetStatus, err error) {
	switch {
	case errors.Is(err, ErrUnknownTarget):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, failover.ErrNotPossible):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, ok, st)
	}
}
