package alerting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"
	"time"
)

// The functions below are what `vigil alerting silence create|list|delete`
// calls: they talk to a running alerting process over its admin server.

// NewSilenceClient returns a client for the silences API of the process
// whose admin server listens on adminAddr (host:port, as admin.listen_address),
// authenticated with cfg's api.token.
func NewSilenceClient(cfg Config, adminAddr string) (SilenceClient, error) {
	if !cfg.API.Token.IsSet() {
		return SilenceClient{}, errors.New("alerting: api.token is not set, so the silences API is not served")
	}
	tok, err := cfg.API.Token.Resolve()
	if err != nil {
		return SilenceClient{}, fmt.Errorf("alerting: api.token: %w", err)
	}
	host, port, err := net.SplitHostPort(adminAddr)
	if err != nil {
		return SilenceClient{}, fmt.Errorf("alerting: admin address: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return SilenceClient{URL: "http://" + net.JoinHostPort(host, port), Token: tok}, nil
}

// CreateSilence creates a silence for matchers (e.g. "target=db-1") lasting
// d, and prints its ID.
func CreateSilence(ctx context.Context, c SilenceClient, matchers []string, d time.Duration, reason, createdBy string, w io.Writer) error {
	s, err := c.Create(ctx, SilenceRequest{Matchers: matchers, Duration: d.String(), Reason: reason, CreatedBy: createdBy})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "silence %s created, expires %s\n", s.ID, s.ExpiresAt.UTC().Format(time.RFC3339))
	return err
}

// ListSilences prints the silences in force as a table.
func ListSilences(ctx context.Context, c SilenceClient, w io.Writer) error {
	list, err := c.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMATCHERS\tEXPIRES\tCREATED BY\tREASON")
	for _, s := range list {
		ms := make([]string, len(s.Matchers))
		for i, m := range s.Matchers {
			ms[i] = m.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, strings.Join(ms, ","), s.ExpiresAt.UTC().Format(time.RFC3339), s.CreatedBy, s.Reason)
	}
	return tw.Flush()
}

// DeleteSilence ends a silence now.
func DeleteSilence(ctx context.Context, c SilenceClient, id string, w io.Writer) error {
	if err := c.Delete(ctx, id); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "silence %s deleted\n", id)
	return err
}
