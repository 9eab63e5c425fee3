package alerting

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// Client calls a running alerting process's HTTP API on its admin server:
// silences and failover. It is what `vigil alerting silence` and `vigil
// failover` use.
type Client struct {
	// URL is the admin server's base URL, e.g. http://127.0.0.1:8880.
	URL string
	// Token is the API's bearer token (api.token).
	Token string
	// HTTP is the client to use; nil uses one with a 10s timeout.
	HTTP *http.Client
}

// NewClient returns a client for the API of the alerting process whose
// admin server listens on adminAddr (host:port, as admin.listen_address),
// authenticated with cfg's api.token.
func NewClient(cfg Config, adminAddr string) (Client, error) {
	if !cfg.API.Token.IsSet() {
		return Client{}, errors.New("alerting: api.token is not set, so the API (silences, failover) is not served")
	}
	tok, err := cfg.API.Token.Resolve()
	if err != nil {
		return Client{}, fmt.Errorf("alerting: api.token: %w", err)
	}
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return Client{}, fmt.Errorf("alerting: admin address: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return Client{URL: "http://" + net.JoinHostPort(host, port), Token: tok}, nil
}

// CreateSilence creates a silence.
func (c Client) CreateSilence(ctx context.Context, r SilenceRequest) (Silence, error) {
	var s Silence
	err := c.call(ctx, "silences", http.MethodPost, "/api/v1/silences", r, http.StatusCreated, &s)
	return s, err
}

// Silences returns the silences in force.
func (c Client) Silences(ctx context.Context) ([]Silence, error) {
	var out struct {
		Silences []Silence `json:"silences"`
	}
	err := c.call(ctx, "silences", http.MethodGet, "/api/v1/silences", nil, http.StatusOK, &out)
	return out.Silences, err
}

// DeleteSilence ends a silence now.
func (c Client) DeleteSilence(ctx context.Context, id string) error {
	return c.call(ctx, "silences", http.MethodDelete, "/api/v1/silences/"+id, nil, http.StatusNoContent, nil)
}

// FailoverStatus returns every target's failover status.
func (c Client) FailoverStatus(ctx context.Context) ([]TargetStatus, error) {
	var out struct {
		Targets []TargetStatus `json:"targets"`
	}
	err := c.call(ctx, "failover", http.MethodGet, "/api/v1/failover", nil, http.StatusOK, &out)
	return out.Targets, err
}

// Ack lifts the block in force on target.
func (c Client) Ack(ctx context.Context, target string) (TargetStatus, error) {
	var st TargetStatus
	err := c.call(ctx, "failover", http.MethodPost, "/api/v1/failover/"+url.PathEscape(target)+"/ack", nil, http.StatusOK, &st)
	return st, err
}

// Failback requests a failback of target to its primary now.
func (c Client) Failback(ctx context.Context, target string) (TargetStatus, error) {
	var st TargetStatus
	err := c.call(ctx, "failover", http.MethodPost, "/api/v1/failover/"+url.PathEscape(target)+"/failback", nil, http.StatusAccepted, &st)
	return st, err
}

func (c Client) call(ctx context.Context, what, method, path string, in any, want int, out any) error {
	return call(ctx, c.HTTP, c.URL, c.Token, what, method, path, in, want, out)
}
