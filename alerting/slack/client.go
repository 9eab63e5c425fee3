package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"golang.org/x/time/rate"
)

// Mode is how Client reaches Slack.
type Mode string

// Modes.
const (
	// ModeBot uses the Web API with a bot token: threads and updates.
	ModeBot Mode = "bot"
	// ModeWebhook uses incoming webhooks: no threads, no updates.
	ModeWebhook Mode = "webhook"
	// ModeConsole logs what would be posted; for local runs without Slack.
	ModeConsole Mode = "console"
)

// MetadataEventType is the Slack message-metadata event type of every message
// posted in bot mode; its payload's "key" is Message.Key.
const MetadataEventType = "vigil_alert"

// Message is one message to post or the new content of one to update.
type Message struct {
	// Channel is a channel ID (C...) or, in webhook mode, a key of
	// Config.Webhooks.
	Channel string
	// ThreadTS makes the message a reply in that thread (bot and console
	// modes only).
	ThreadTS string
	// Text is the notification text and the plain-text fallback when blocks
	// are over budget or refused.
	Text string
	// Blocks is the Block Kit content; may be empty.
	Blocks []slack.Block
	// Key identifies the message for the duplicate check after an ambiguous
	// failure (see the package doc); unique per message, stable across
	// retries and restarts. Empty disables the check.
	Key string
	// MaybePostedSince, when set, says an earlier attempt (before a restart)
	// may have posted the message since then: in bot mode Post looks for Key
	// before its first attempt.
	MaybePostedSince time.Time
}

// Ref locates a posted message.
type Ref struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// PermanentError is a failure that retrying cannot fix, such as an unknown
// channel or a revoked token; Code is Slack's error code or the HTTP status.
type PermanentError struct {
	Method string
	Code   string
	Err    error
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("slack: %s: %s", e.Method, e.Code)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// ErrUnsupported is returned by Update in webhook mode.
var ErrUnsupported = errors.New("slack: not supported by incoming webhooks")

// Client sends messages to Slack by the rules in the package doc. It is safe
// for concurrent use.
type Client struct {
	mode     Mode
	api      *slack.Client
	webhooks map[string]string
	httpc    *http.Client
	log      *slog.Logger
	metrics  *metrics
	rate     rate.Limit
	boInit   time.Duration
	boMax    time.Duration

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	seq      int
	// ids maps channel names to IDs (ResolveChannels).
	ids map[string]string
	// noDupCheck holds, per channel ID, Slack's answer when the duplicate
	// check was refused at start.
	noDupCheck map[string]string

	// sleep waits for d or until ctx ends; replaced in tests.
	sleep func(ctx context.Context, d time.Duration) error
}

// New builds a client, resolving the configured secrets; it makes no network
// calls. reg may be nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		mode:       cfg.Mode(),
		httpc:      &http.Client{Timeout: cfg.RequestTimeout},
		log:        log,
		metrics:    newMetrics(reg),
		rate:       rate.Limit(cfg.PerChannelRate),
		boInit:     cfg.BackoffInitial,
		boMax:      cfg.BackoffMax,
		limiters:   map[string]*rate.Limiter{},
		sleep:      sleepCtx,
		noDupCheck: map[string]string{},
	}
	switch c.mode {
	case ModeBot:
		tok, err := cfg.BotToken.Resolve()
		if err != nil {
			return nil, fmt.Errorf("slack: bot_token: %w", err)
		}
		c.api = slack.New(tok, slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(c.httpc))
	case ModeWebhook:
		c.webhooks = make(map[string]string, len(cfg.Webhooks))
		for ch, s := range cfg.Webhooks {
			u, err := s.Resolve()
			if err != nil {
				return nil, fmt.Errorf("slack: webhooks.%s: %w", ch, err)
			}
			c.webhooks[ch] = u
		}
	}
	return c, nil
}

// SetRetryWait replaces how the client waits between attempts (Retry-After
// and backoff); tests use it to count waits instead of sleeping. Call it
// before the first Post or Update.
func (c *Client) SetRetryWait(wait func(ctx context.Context, d time.Duration) error) {
	c.sleep = wait
}

// Mode reports the client's mode.
func (c *Client) Mode() Mode { return c.mode }

// Threads reports whether replies can go in a thread and messages can be
// updated (bot and console modes).
func (c *Client) Threads() bool { return c.mode != ModeWebhook }

// Post posts m and returns where it landed. It retries until the message is
// posted, a permanent error occurs, or ctx ends; see the package doc for
// what is retried and how duplicates are avoided.
func (c *Client) Post(ctx context.Context, m Message) (Ref, error) {
	if c.mode == ModeWebhook {
		m.ThreadTS = ""
	}
	m, err := fit(m)
	if err != nil {
		c.log.Warn("slack message over budget; sending plain text", "channel", m.Channel, "key", m.Key, "err", err)
	}
	if c.mode == ModeConsole {
		return c.console(m, ""), nil
	}
	if c.mode == ModeBot {
		m.Channel = c.channelID(m.Channel)
	}
	method := "chat.postMessage"
	if c.mode == ModeWebhook {
		method = "webhook"
	}
	start := time.Now()
	maybePosted := !m.MaybePostedSince.IsZero()
	if maybePosted {
		start = m.MaybePostedSince
	}
	for attempt := 0; ; {
		if maybePosted && m.Key != "" && c.mode == ModeBot {
			if why := c.dupCheckRefused(m.Channel); why != "" {
				// Refused at start and logged then, per channel; counted
				// here per message.
				c.metrics.dupCheckSkipped.Inc()
				c.log.Warn("slack message may have been posted already; posting again without the duplicate check (refused for this channel at start)", "channel", m.Channel, "key", m.Key, "err", why)
				maybePosted = false
			}
		}
		if maybePosted && m.Key != "" && c.mode == ModeBot {
			ref, found, err := c.find(ctx, m, start)
			switch {
			case err != nil && isPermanent(err):
				c.metrics.dupCheckSkipped.Inc()
				c.log.Warn("slack duplicate check refused; posting again and accepting a possible duplicate", "channel", m.Channel, "key", m.Key, "err", err)
				maybePosted = false
			case err != nil:
				if serr := c.sleep(ctx, c.backoff(attempt)); serr != nil {
					return Ref{}, serr
				}
				attempt++
				continue
			case found:
				c.log.Info("slack message found after an ambiguous failure; not posting again", "channel", m.Channel, "key", m.Key, "ts", ref.TS)
				return ref, nil
			}
		}
		if err := c.wait(ctx, m.Channel); err != nil {
			return Ref{}, err
		}
		ref, err := c.send(ctx, m)
		o, wait := classify(err)
		c.metrics.requests.WithLabelValues(method, o.result()).Inc()
		switch o {
		case sent:
			return ref, nil
		case rateLimited:
			// Not posted: wait as told, without counting an attempt.
			c.log.Warn("slack rate limited; waiting", "method", method, "channel", m.Channel, "retry_after", wait)
		case badPayload:
			if len(m.Blocks) == 0 {
				return Ref{}, &PermanentError{Method: method, Code: errCode(err), Err: err}
			}
			c.log.Warn("slack refused the blocks; sending plain text", "channel", m.Channel, "key", m.Key, "err", err)
			m.Blocks = nil
			continue
		case permanent:
			return Ref{}, &PermanentError{Method: method, Code: errCode(err), Err: err}
		default:
			if ctx.Err() != nil {
				return Ref{}, ctx.Err()
			}
			if o == ambiguous {
				maybePosted = true
			}
			wait = c.backoff(attempt)
			attempt++
			c.log.Warn("slack request failed; retrying", "method", method, "channel", m.Channel, "attempt", attempt, "wait", wait, "err", err)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return Ref{}, err
		}
	}
}

// Update replaces the content of the message at ref (chat.update), retrying
// like Post; an update is idempotent, so no duplicate check is needed.
func (c *Client) Update(ctx context.Context, ref Ref, m Message) error {
	switch c.mode {
	case ModeWebhook:
		return ErrUnsupported
	case ModeConsole:
		m, _ = fit(m)
		c.console(m, ref.TS)
		return nil
	}
	m, err := fit(m)
	if err != nil {
		c.log.Warn("slack message over budget; sending plain text", "channel", ref.Channel, "key", m.Key, "err", err)
	}
	ref.Channel = c.channelID(ref.Channel)
	for attempt := 0; ; {
		if err := c.wait(ctx, ref.Channel); err != nil {
			return err
		}
		_, _, _, err := c.api.UpdateMessageContext(ctx, ref.Channel, ref.TS, c.options(m)...)
		o, wait := classify(err)
		c.metrics.requests.WithLabelValues("chat.update", o.result()).Inc()
		switch o {
		case sent:
			return nil
		case rateLimited:
			c.log.Warn("slack rate limited; waiting", "method", "chat.update", "channel", ref.Channel, "retry_after", wait)
		case badPayload:
			if len(m.Blocks) == 0 {
				return &PermanentError{Method: "chat.update", Code: errCode(err), Err: err}
			}
			m.Blocks = nil
			continue
		case permanent:
			return &PermanentError{Method: "chat.update", Code: errCode(err), Err: err}
		default:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait = c.backoff(attempt)
			attempt++
			c.log.Warn("slack request failed; retrying", "method", "chat.update", "channel", ref.Channel, "attempt", attempt, "wait", wait, "err", err)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (c *Client) send(ctx context.Context, m Message) (Ref, error) {
	if c.mode == ModeWebhook {
		u, ok := c.webhooks[m.Channel]
		if !ok {
			return Ref{}, &PermanentError{Method: "webhook", Code: "no_webhook_for_channel", Err: fmt.Errorf("no webhook configured for channel %q", m.Channel)}
		}
		msg := &slack.WebhookMessage{Text: m.Text}
		if len(m.Blocks) > 0 {
			msg.Blocks = &slack.Blocks{BlockSet: m.Blocks}
		}
		return Ref{Channel: m.Channel}, redactWebhook(slack.PostWebhookCustomHTTPContext(ctx, u, c.httpc, msg))
	}
	opts := c.options(m)
	if m.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(m.ThreadTS))
	}
	ch, ts, err := c.api.PostMessageContext(ctx, m.Channel, opts...)
	return Ref{Channel: ch, TS: ts}, err
}

func (c *Client) options(m Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false)}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	if m.Key != "" {
		opts = append(opts, slack.MsgOptionMetadata(slack.SlackMetadata{
			EventType:    MetadataEventType,
			EventPayload: map[string]any{"key": m.Key},
		}))
	}
	return opts
}

// find looks for a message carrying m.Key posted since start (less a
// minute for clock skew): in the thread for a reply, else in the channel.
func (c *Client) find(ctx context.Context, m Message, start time.Time) (Ref, bool, error) {
	oldest := fmt.Sprintf("%d.000000", start.Add(-time.Minute).Unix())
	cursor := ""
	for range 10 { // at most 10 pages of 200: a busy channel, not a scan of all history
		var (
			msgs   []slack.Message
			more   bool
			err    error
			method string
		)
		if m.ThreadTS != "" {
			method = "conversations.replies"
			msgs, more, cursor, err = c.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: m.Channel, Timestamp: m.ThreadTS, Oldest: oldest, Limit: 200, Cursor: cursor, IncludeAllMetadata: true,
			})
		} else {
			method = "conversations.history"
			var resp *slack.GetConversationHistoryResponse
			resp, err = c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: m.Channel, Oldest: oldest, Limit: 200, Cursor: cursor, IncludeAllMetadata: true,
			})
			if resp != nil {
				msgs, more, cursor = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			}
		}
		o, _ := classify(err)
		c.metrics.requests.WithLabelValues(method, o.result()).Inc()
		if err != nil {
			if o == permanent || o == badPayload {
				return Ref{}, false, &PermanentError{Method: method, Code: errCode(err), Err: err}
			}
			return Ref{}, false, err
		}
		for _, msg := range msgs {
			if msg.Metadata.EventType == MetadataEventType && msg.Metadata.EventPayload["key"] == m.Key {
				c.metrics.requests.WithLabelValues("chat.postMessage", resultFound).Inc()
				return Ref{Channel: m.Channel, TS: msg.Timestamp}, true, nil
			}
		}
		if !more || cursor == "" {
			break
		}
	}
	return Ref{}, false, nil
}

func (c *Client) console(m Message, updateTS string) Ref {
	c.mu.Lock()
	c.seq++
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), c.seq)
	c.mu.Unlock()
	action := "post"
	if updateTS != "" {
		action, ts = "update", updateTS
	}
	c.log.Info("slack (console mode): would "+action, "channel", m.Channel, "thread_ts", m.ThreadTS, "ts", ts, "key", m.Key, "blocks", len(m.Blocks), "text", m.Text)
	return Ref{Channel: m.Channel, TS: ts}
}

func (c *Client) wait(ctx context.Context, channel string) error {
	c.mu.Lock()
	l, ok := c.limiters[channel]
	if !ok {
		l = rate.NewLimiter(c.rate, 1)
		c.limiters[channel] = l
	}
	c.mu.Unlock()
	return l.Wait(ctx)
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.boInit
	for range attempt {
		d *= 2
		if d >= c.boMax {
			return c.boMax
		}
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type outcome int

const (
	sent        outcome = iota
	rateLimited         // 429: not posted
	notSent             // the connection never opened: not posted
	ambiguous           // 5xx, timeout, broken connection: maybe posted
	badPayload          // blocks refused: send plain text
	permanent
)

func (o outcome) result() string {
	switch o {
	case sent:
		return resultOK
	case rateLimited:
		return resultRateLimited
	case notSent:
		return resultNetwork
	case ambiguous:
		return resultServerError
	}
	return resultSlackError
}

// classify maps a slack-go error to what to do next and, for 429, how long
// to wait.
func classify(err error) (outcome, time.Duration) {
	if err == nil {
		return sent, 0
	}
	var (
		rl *slack.RateLimitedError
		sc slack.StatusCodeError
		se slack.SlackErrorResponse
		oe *net.OpError
	)
	switch {
	case errors.As(err, &rl):
		return rateLimited, max(rl.RetryAfter, time.Second)
	case errors.As(err, &sc):
		switch {
		case sc.Code == http.StatusTooManyRequests:
			return rateLimited, time.Second
		case sc.Code >= 500:
			return ambiguous, 0
		case sc.Code == http.StatusBadRequest:
			// Incoming webhooks answer 400 invalid_blocks without a JSON body.
			return badPayload, 0
		}
		return permanent, 0
	case errors.As(err, &se):
		switch se.Err {
		case "ratelimited", "rate_limited":
			return rateLimited, time.Second
		case "invalid_blocks", "invalid_blocks_format", "too_many_blocks", "msg_too_long", "msg_blocks_too_long":
			return badPayload, 0
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return ambiguous, 0
		}
		return permanent, 0
	case errors.As(err, &oe) && oe.Op == "dial":
		return notSent, 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ambiguous, 0
	}
	var pe *PermanentError
	if errors.As(err, &pe) {
		return permanent, 0
	}
	return ambiguous, 0
}

func isPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe)
}

func errCode(err error) string {
	var (
		se slack.SlackErrorResponse
		sc slack.StatusCodeError
		pe *PermanentError
	)
	switch {
	case errors.As(err, &pe):
		return pe.Code
	case errors.As(err, &se):
		return se.Err
	case errors.As(err, &sc):
		return sc.Status
	}
	return "error"
}

// redactWebhook removes the webhook URL from a transport error. An incoming
// webhook's URL is its credential (anyone holding it can post), and net/http
// puts the whole URL in its errors ("Post \"https://hooks.slack.com/services/
// T…/B…/secret\": dial tcp: …"), which the retry loop logs. The result keeps
// the cause (a *net.OpError stays reachable for classify) and the host.
func redactWebhook(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	host := "webhook"
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		host = u.Scheme + "://" + u.Host + "/…"
	}
	return fmt.Errorf("post webhook: %w", &url.Error{Op: ue.Op, URL: host, Err: ue.Err})
}
