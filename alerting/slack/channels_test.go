package slack

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
)

func TestIsChannelID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"C0123ABCD", true},
		{"G01PRIVATE", true},
		{"C1", true},
		{"alerts", false},
		{"#alerts", false},
		{"c0123abcd", false},
		{"Cabc", false},
		{"", false},
	} {
		require.Equal(t, tc.want, IsChannelID(tc.in), tc.in)
	}
}

// TestResolveChannelsReadsEveryPage: names are looked up across pages of
// conversations.list, IDs are left alone, and posts and the duplicate
// check then use the ID (history refuses a name, as Slack does).
func TestResolveChannelsReadsEveryPage(t *testing.T) {
	c, srv, _ := newTestClient(t)
	for _, n := range []string{"a-general", "b-random", "c-ops", "d-dba", "zz-alerts"} {
		srv.AddChannel(n, "C0"+string(n[0]-32))
	}
	srv.SetPageSize(2)
	require.NoError(t, c.ResolveChannels(t.Context(), []string{"zz-alerts", "#d-dba", "C0ALREADY"}))
	require.Equal(t, 3, srv.Calls("conversations.list"), "five channels, two a page")

	// An ambiguous failure: the retry must find the message through the
	// history of the ID, not post it twice.
	srv.Inject("chat.postMessage", slackfake.PostedThenUnavailable)
	ref, err := c.Post(t.Context(), Message{Channel: "zz-alerts", Text: "hello", Key: "k1"})
	require.NoError(t, err)
	require.Equal(t, "C0Z", ref.Channel)
	require.Len(t, srv.Posts(), 1, "found by the duplicate check, not posted again")
	require.Equal(t, "C0Z", srv.Posts()[0].Channel)
}

func TestResolveChannelsRefusesUnknownName(t *testing.T) {
	c, srv, _ := newTestClient(t)
	srv.AddChannel("general", "C0GENERAL")
	err := c.ResolveChannels(t.Context(), []string{"alerts"})
	require.ErrorIs(t, err, ErrUnresolved)
	require.ErrorContains(t, err, `"alerts"`)
	require.ErrorContains(t, err, "channel ID")
}

func TestResolveChannelsMissingScopeIsUnresolved(t *testing.T) {
	c, srv, _ := newTestClient(t)
	srv.Inject("conversations.list", slackfake.MissingScope)
	err := c.ResolveChannels(t.Context(), []string{"alerts"})
	require.ErrorIs(t, err, ErrUnresolved)
	require.ErrorContains(t, err, "channels:read")
}

func TestResolveChannelsWaitsOutRateLimits(t *testing.T) {
	c, srv, waits := newTestClient(t)
	srv.AddChannel("alerts", "C0ALERTS")
	srv.Inject("conversations.list", slackfake.RateLimited, slackfake.InternalError)
	require.NoError(t, c.ResolveChannels(t.Context(), []string{"alerts"}))
	require.Len(t, *waits, 2)
	require.Equal(t, "C0ALERTS", c.channelID("alerts"))
}

// TestDuplicateCheckRefusedIsToldOnceAtStart: history refused at start is
// logged once per channel there; a later ambiguous failure posts again
// without asking, counted, as documented.
func TestDuplicateCheckRefusedIsToldOnceAtStart(t *testing.T) {
	c, srv, _ := newTestClient(t)
	var logs bytes.Buffer
	c.log = slog.New(slog.NewTextHandler(&logs, nil))
	srv.Inject("conversations.history", slackfake.MissingScope)
	require.NoError(t, c.ResolveChannels(t.Context(), []string{"C0ALERTS", "C0ALERTS"}))
	require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("duplicate check unavailable")), logs.String())
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.dupCheckUnavailable))

	srv.Inject("chat.postMessage", slackfake.PostedThenUnavailable)
	_, err := c.Post(t.Context(), Message{Channel: "C0ALERTS", Text: "hello", Key: "k1"})
	require.NoError(t, err)
	require.Len(t, srv.Posts(), 2, "posted again: the documented possible duplicate")
	require.Equal(t, 1, srv.Calls("conversations.history"), "no lookup per message after the refusal at start")
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.dupCheckSkipped))
}
