package slack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/slack-go/slack/slacktest.(*hub).run"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newTestClient returns a bot-mode client against a fresh fake, recording
// the waits it would have slept.
func newTestClient(t *testing.T) (*Client, *slackfake.Server, *[]time.Duration) {
	t.Helper()
	srv := slackfake.New()
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.BotToken = config.Secret{Value: "xoxb-test"}
	cfg.APIURL = srv.URL()
	cfg.PerChannelRate = 1000
	c, err := New(cfg, quiet, prometheus.NewRegistry())
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return ctx.Err()
	}
	return c, srv, &waits
}

func TestPostHonoursRetryAfterAndPostsOnce(t *testing.T) {
	c, srv, waits := newTestClient(t)
	srv.Inject("chat.postMessage", slackfake.RateLimited, slackfake.RateLimited, slackfake.RateLimited)
	ref, err := c.Post(t.Context(), Message{Channel: "C1", Text: "hello", Key: "k1"})
	require.NoError(t, err)
	require.NotEmpty(t, ref.TS)
	require.Len(t, srv.Posts(), 1)
	require.Equal(t, 4, srv.Calls("chat.postMessage"))
	require.Equal(t, []time.Duration{time.Second, time.Second, time.Second}, *waits)
	require.Zero(t, srv.Calls("conversations.history"), "a 429 means not posted: no lookup needed")
	require.Equal(t, 3.0, testutil.ToFloat64(c.metrics.requests.WithLabelValues("chat.postMessage", "rate_limited")))
	require.Equal(t, 1.0, testutil.ToFloat64(c.metrics.requests.WithLabelValues("chat.postMessage", "ok")))
}

func TestPostRetries503WithBackoffAndLooksBeforeReposting(t *testing.T) {
	c, srv, waits := newTestClient(t)
	srv.Inject("chat.postMessage", slackfake.Unavailable, slackfake.Unavailable)
	_, err := c.Post(t.Context(), Message{Channel: "C1", Text: "hello", Key: "k1"})
	require.NoError(t, err)
	require.Len(t, srv.Posts(), 1)
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second}, *waits)
	require.Equal(t, 2, srv.Calls("conversations.history"))
}

func TestAmbiguousFailureDoesNotPostTwice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		thread bool
		method string
	}{
		{"parent", false, "conversations.history"},
		{"reply", true, "conversations.replies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, srv, _ := newTestClient(t)
			parent, err := c.Post(t.Context(), Message{Channel: "C1", Text: "parent", Key: "p"})
			require.NoError(t, err)
			m := Message{Channel: "C1", Text: "the message", Key: "m1"}
			if tc.thread {
				m.ThreadTS = parent.TS
			}
			srv.Inject("chat.postMessage", slackfake.PostedThenUnavailable)
			ref, err := c.Post(t.Context(), m)
			require.NoError(t, err)
			posts := srv.Posts()
			require.Len(t, posts, 2, "posted once despite the 503")
			require.Equal(t, posts[1].TS, ref.TS, "the message found is returned")
			require.Equal(t, 1, srv.Calls(tc.method))
		})
	}
}

func TestMaybePostedSinceLooksFirst(t *testing.T) {
	c, srv, _ := newTestClient(t)
	first, err := c.Post(t.Context(), Message{Channel: "C1", Text: "x", Key: "k"})
	require.NoError(t, err)
	again, err := c.Post(t.Context(), Message{Channel: "C1", Text: "x", Key: "k", MaybePostedSince: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Len(t, srv.Posts(), 1)
}

func TestBlocksOverBudgetFallBackToText(t *testing.T) {
	long := strings.Repeat("x", MaxSectionText+1)
	many := make([]slack.Block, MaxBlocks+1)
	for i := range many {
		many[i] = slack.NewDividerBlock()
	}
	for _, tc := range []struct {
		name   string
		blocks []slack.Block
	}{
		{"section text", []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, long, false, false), nil, nil)}},
		{"too many blocks", many},
		{"header", []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("h", 151), false, false))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, CheckBlocks(tc.blocks))
			c, srv, _ := newTestClient(t)
			_, err := c.Post(t.Context(), Message{Channel: "C1", Text: "fallback", Blocks: tc.blocks})
			require.NoError(t, err)
			p := srv.Posts()
			require.Len(t, p, 1)
			require.Empty(t, p[0].Blocks)
			require.Equal(t, "fallback", p[0].Text)
		})
	}
	t.Run("message text", func(t *testing.T) {
		c, srv, _ := newTestClient(t)
		_, err := c.Post(t.Context(), Message{Channel: "C1", Text: strings.Repeat("y", MaxMessageText+10)})
		require.NoError(t, err)
		require.Equal(t, MaxMessageText, len([]rune(srv.Posts()[0].Text)))
	})
	t.Run("refused by slack", func(t *testing.T) {
		c, srv, _ := newTestClient(t)
		srv.Inject("chat.postMessage", slackfake.InvalidBlocks)
		_, err := c.Post(t.Context(), Message{Channel: "C1", Text: "plain", Blocks: []slack.Block{slack.NewDividerBlock()}})
		require.NoError(t, err)
		require.Len(t, srv.Posts(), 1)
		require.Empty(t, srv.Posts()[0].Blocks)
	})
}

func TestPermanentErrors(t *testing.T) {
	c, srv, waits := newTestClient(t)
	_, err := c.Post(t.Context(), Message{Channel: slackfake.MissingChannel, Text: "x"})
	var pe *PermanentError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "channel_not_found", pe.Code)
	require.Empty(t, *waits)
	require.Empty(t, srv.Posts())
	err = c.Update(t.Context(), Ref{Channel: "C1", TS: "1.1"}, Message{Text: "x"})
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "message_not_found", pe.Code)
}

func TestUpdateRetries(t *testing.T) {
	c, srv, waits := newTestClient(t)
	ref, err := c.Post(t.Context(), Message{Channel: "C1", Text: "v1"})
	require.NoError(t, err)
	srv.Inject("chat.update", slackfake.RateLimited, slackfake.Unavailable, slackfake.PostedThenUnavailable)
	require.NoError(t, c.Update(t.Context(), ref, Message{Text: "v2", Key: "k"}))
	m, ok := srv.Message(ref.Channel, ref.TS)
	require.True(t, ok)
	require.Equal(t, "v2", m.Text)
	require.Equal(t, []time.Duration{time.Second, time.Second, 2 * time.Second}, *waits)
}

func TestContextEndsRetries(t *testing.T) {
	c, srv, _ := newTestClient(t)
	srv.Inject("chat.postMessage", slackfake.RateLimited)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.Post(ctx, Message{Channel: "C1", Text: "x"})
	require.ErrorIs(t, err, context.Canceled)
}

func TestWebhookMode(t *testing.T) {
	srv := slackfake.New()
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.Webhooks = map[string]config.Secret{"alerts": {Value: srv.WebhookURL("alerts")}}
	cfg.PerChannelRate = 1000
	c, err := New(cfg, quiet, nil)
	require.NoError(t, err)
	c.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	require.Equal(t, ModeWebhook, c.Mode())
	require.False(t, c.Threads())

	srv.Inject("webhook", slackfake.RateLimited, slackfake.InvalidBlocks)
	_, err = c.Post(t.Context(), Message{Channel: "alerts", ThreadTS: "1.2", Text: "hi", Blocks: []slack.Block{slack.NewDividerBlock()}})
	require.NoError(t, err)
	p := srv.Posts()
	require.Len(t, p, 1)
	require.Equal(t, "alerts", p[0].Channel)
	require.Empty(t, p[0].ThreadTS, "webhooks cannot thread")
	require.Empty(t, p[0].Blocks, "refused blocks fall back to text")
	require.ErrorIs(t, c.Update(t.Context(), Ref{Channel: "alerts"}, Message{}), ErrUnsupported)

	_, err = c.Post(t.Context(), Message{Channel: "other", Text: "x"})
	var pe *PermanentError
	require.ErrorAs(t, err, &pe)
}

func TestConsoleMode(t *testing.T) {
	var buf strings.Builder
	c, err := New(DefaultConfig(), slog.New(slog.NewTextHandler(&buf, nil)), nil)
	require.NoError(t, err)
	require.Equal(t, ModeConsole, c.Mode())
	ref, err := c.Post(t.Context(), Message{Channel: "alerts", Text: "CRITICAL: db-1"})
	require.NoError(t, err)
	require.NotEmpty(t, ref.TS)
	require.NoError(t, c.Update(t.Context(), ref, Message{Text: "RESOLVED"}))
	require.Contains(t, buf.String(), "would post")
	require.Contains(t, buf.String(), "CRITICAL: db-1")
	require.Contains(t, buf.String(), "would update")
}

func TestPerChannelLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(DefaultConfig(), quiet, nil)
		require.NoError(t, err)
		start := time.Now()
		for range 3 {
			require.NoError(t, c.wait(t.Context(), "C1"))
		}
		require.Equal(t, 2*time.Second, time.Since(start), "one message per second per channel")
		require.NoError(t, c.wait(t.Context(), "C2"))
		require.Equal(t, 2*time.Second, time.Since(start), "channels do not wait for each other")
	})
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want outcome
	}{
		{nil, sent},
		{&slack.RateLimitedError{RetryAfter: 3 * time.Second}, rateLimited},
		{slack.StatusCodeError{Code: 429}, rateLimited},
		{slack.StatusCodeError{Code: 503}, ambiguous},
		{slack.StatusCodeError{Code: 403}, permanent},
		{slack.SlackErrorResponse{Err: "internal_error"}, ambiguous},
		{slack.SlackErrorResponse{Err: "ratelimited"}, rateLimited},
		{slack.SlackErrorResponse{Err: "invalid_blocks"}, badPayload},
		{slack.SlackErrorResponse{Err: "not_in_channel"}, permanent},
		{errors.New("read: connection reset by peer"), ambiguous},
	} {
		got, _ := classify(tc.err)
		require.Equal(t, tc.want, got, "%v", tc.err)
	}
	_, wait := classify(&slack.RateLimitedError{RetryAfter: 3 * time.Second})
	require.Equal(t, 3*time.Second, wait)
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BotToken = config.Secret{Value: "x"}
	cfg.Webhooks = map[string]config.Secret{"a": {}}
	cfg.PerChannelRate = 0
	cfg.APIURL = "nope"
	cfg.BackoffMax = time.Millisecond
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{"webhooks: set either", "webhooks.a: must name", "api_url: must be", "per_channel_rate: must be > 0", "backoff_max: must be >="} {
		require.Contains(t, err.Error(), want)
	}
	require.NoError(t, DefaultConfig().Validate())
}

// TestWebhookURLNeverLogged: an incoming webhook's URL is a credential, and a
// post that cannot connect must not log it (net/http puts the URL in its
// error), yet still count as not sent and be retried.
func TestWebhookURLNeverLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: connection refused
	const secret = "T0SECRET/B0SECRET/xyzzy0123456789"
	cfg := DefaultConfig()
	cfg.Webhooks = map[string]config.Secret{"alerts": {Value: "http://" + addr + "/services/" + secret}}
	var logs bytes.Buffer
	c, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	require.NoError(t, err)
	waits := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.SetRetryWait(func(context.Context, time.Duration) error {
		if waits++; waits == 3 {
			cancel()
			return context.Canceled
		}
		return nil
	})
	_, err = c.Post(ctx, Message{Channel: "alerts", Text: "hello"})
	require.Error(t, err)
	require.Equal(t, 3, waits, "a refused connection is retried")
	require.Contains(t, logs.String(), "connection refused")
	require.Contains(t, logs.String(), "http://"+addr+"/…", "the host stays for the operator")
	require.NotContains(t, logs.String(), "SECRET")
	require.NotContains(t, err.Error(), "SECRET")
}
