package alerting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

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

// FailoverClient calls the failover API; it is what `vigil failover` uses.
type FailoverClient struct {
	// URL is the admin server's base URL, e.g. http://127.0.0.1:8880.
	URL string
	// Token is the API's bearer token (api.token).
	Token string
	// HTTP is the client to use; nil uses one with a 10s timeout.
	HTTP *http.Client
}

// NewFailoverClient returns a client for the failover API of the alerting
// process whose admin server listens on adminAddr, authenticated with cfg's
// api.token.
func NewFailoverClient(cfg Config, adminAddr string) (FailoverClient, error) {
	if !cfg.API.Token.IsSet() {
		return FailoverClient{}, errors.New("alerting: api.token is not set, so the failover API is not served")
	}
	sc, err := NewSilenceClient(cfg, adminAddr)
	if err != nil {
		return FailoverClient{}, err
	}
	return FailoverClient{URL: sc.URL, Token: sc.Token}, nil
}

// Status returns every target's failover status.
func (c FailoverClient) Status(ctx context.Context) ([]TargetStatus, error) {
	var out struct {
		Targets []TargetStatus `json:"targets"`
	}
	err := call(ctx, c.HTTP, c.URL, c.Token, "failover", http.MethodGet, "/api/v1/failover", nil, http.StatusOK, &out)
	return out.Targets, err
}

// Ack lifts the block in force on target.
func (c FailoverClient) Ack(ctx context.Context, target string) (TargetStatus, error) {
	var st TargetStatus
	err := call(ctx, c.HTTP, c.URL, c.Token, "failover", http.MethodPost, "/api/v1/failover/"+url.PathEscape(target)+"/ack", nil, http.StatusOK, &st)
	return st, err
}

// Failback requests a failback of target to its primary now.
func (c FailoverClient) Failback(ctx context.Context, target string) (TargetStatus, error) {
	var st TargetStatus
	err := call(ctx, c.HTTP, c.URL, c.Token, "failover", http.MethodPost, "/api/v1/failover/"+url.PathEscape(target)+"/failback", nil, http.StatusAccepted, &st)
	return st, err
}

// The functions below are what `vigil failover status|ack|failback` calls.

// FailoverStatus prints every target's active side, state and last
// decisions.
func FailoverStatus(ctx context.Context, c FailoverClient, w io.Writer) error {
	list, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no failover targets are configured (failover.targets in the alerting configuration)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tACTIVE\tSTANDBY\tPENDING\tGENERATION\tPRIMARY\tSTANDBY HEALTH\tFAILBACK\tBLOCKED UNTIL\tHELD")
	for _, s := range list {
		blocked := "-"
		if s.Blocked {
			blocked = s.BlockedUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Target, s.Active, s.Standby, dash(shortType(s.Pending)),
			s.Generation, dash(string(s.PrimaryHealth)), dash(string(s.StandbyHealth)), s.Failback, blocked, dash(s.Held))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range list {
		if len(s.Last) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s, last decisions:\n", s.Target)
		for _, st := range s.Last {
			detail := st.Reason
			if st.Actor != "" {
				detail = strings.TrimSpace(detail + " (by " + st.Actor + ")")
			}
			if st.Error != "" {
				detail = strings.TrimSpace(detail + " error: " + st.Error)
			}
			fmt.Fprintf(w, "  %s  #%d  %-20s %s -> %s  %s\n", st.At.UTC().Format(time.RFC3339), st.Generation, shortType(st.Type), st.From, st.To, detail)
		}
	}
	return nil
}

// AckFailover lifts the block in force on target.
func AckFailover(ctx context.Context, c FailoverClient, target string, w io.Writer) error {
	st, err := c.Ack(ctx, target)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s: block acknowledged (active %s)\n", st.Target, st.Active)
	return err
}

// RequestFailback asks for a failback of target to its primary.
func RequestFailback(ctx context.Context, c FailoverClient, target string, w io.Writer) error {
	st, err := c.Failback(ctx, target)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s: failback requested (generation %d)\n", st.Target, st.Generation)
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
