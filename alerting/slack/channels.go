package slack

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/slack-go/slack"
)

// channelID matches a conversation ID: public (C), private or multi-party
// (G) or direct (D), then upper-case letters and digits. Slack channel names
// are lower-case, so no name matches.
var channelID = regexp.MustCompile(`^[CGD][A-Z0-9]+$`)

// ErrUnresolved marks a channel name Slack does not know, or a token not
// allowed to list channels: a configuration problem that retrying cannot
// fix.
var ErrUnresolved = errors.New("slack: channel name cannot be resolved")

// IsChannelID reports whether channel is a conversation ID rather than a
// name.
func IsChannelID(channel string) bool { return channelID.MatchString(channel) }

// ResolveChannels, in bot mode, maps every channel given by name ("alerts"
// or "#alerts") to its ID, reading conversations.list (public and private
// channels the token can see, archived ones left out, every page) once; the
// client then uses the IDs, so the duplicate check, which Slack answers only
// for IDs, works. A name no channel has is an error naming it. Then it
// probes conversations.history on each channel and logs, once, every
// channel whose duplicate check cannot run and why. Other modes do nothing.
// Call it before the first Post.
func (c *Client) ResolveChannels(ctx context.Context, channels []string) error {
	if c.mode != ModeBot {
		return nil
	}
	var names []string
	for _, ch := range channels {
		if !IsChannelID(ch) {
			names = append(names, strings.TrimPrefix(ch, "#"))
		}
	}
	ids := map[string]string{}
	if len(names) > 0 {
		all, err := c.listChannels(ctx)
		if err != nil {
			return err
		}
		var missing []string
		for _, n := range names {
			id, ok := all[n]
			if !ok {
				missing = append(missing, fmt.Sprintf("%q", n))
				continue
			}
			ids[n] = id
			c.log.Info("slack channel resolved", "name", n, "id", id)
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w: %s: no channel of that name among the %d the bot token can see (conversations.list, archived ones left out); give the channel ID (C...), check the name, or add the bot to a private channel", ErrUnresolved, strings.Join(missing, ", "), len(all))
		}
	}
	c.mu.Lock()
	c.ids = ids
	c.mu.Unlock()
	seen := map[string]bool{}
	for _, ch := range channels {
		id := c.channelID(ch)
		if seen[id] {
			continue
		}
		seen[id] = true
		c.probeHistory(ctx, ch, id)
	}
	return nil
}

// listChannels reads every page of conversations.list into name -> ID,
// waiting out 429s and retrying 5xx and network errors with backoff.
func (c *Client) listChannels(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	params := &slack.GetConversationsParameters{ExcludeArchived: true, Limit: 1000, Types: []string{"public_channel", "private_channel"}}
	for attempt := 0; ; {
		chans, next, err := c.api.GetConversationsContext(ctx, params)
		o, wait := classify(err)
		c.metrics.requests.WithLabelValues("conversations.list", o.result()).Inc()
		switch o {
		case sent:
			for _, ch := range chans {
				out[ch.Name] = ch.ID
			}
			if next == "" {
				return out, nil
			}
			params.Cursor, attempt = next, 0
			continue
		case rateLimited:
			c.log.Warn("slack rate limited; waiting", "method", "conversations.list", "retry_after", wait)
		case permanent, badPayload:
			return nil, fmt.Errorf("%w: conversations.list: %s (the bot token needs channels:read and groups:read to resolve names; or give channel IDs)", ErrUnresolved, errCode(err))
		default:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			wait = c.backoff(attempt)
			attempt++
			if attempt > 5 {
				return nil, fmt.Errorf("slack: resolving channel names: conversations.list: %w", err)
			}
			c.log.Warn("slack request failed; retrying", "method", "conversations.list", "attempt", attempt, "wait", wait, "err", err)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// probeHistory asks conversations.history for one message of channel id.
// When Slack refuses (missing scope, bot not in the channel), the duplicate
// check cannot run there: that is logged once, here, and Post then posts
// again after an ambiguous failure without asking (see the package doc).
// A transient failure proves nothing and is left to the per-message check.
func (c *Client) probeHistory(ctx context.Context, name, id string) {
	_, err := c.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: id, Limit: 1})
	o, _ := classify(err)
	c.metrics.requests.WithLabelValues("conversations.history", o.result()).Inc()
	if o != permanent && o != badPayload {
		return
	}
	code := errCode(err)
	c.mu.Lock()
	c.noDupCheck[id] = code
	c.mu.Unlock()
	c.metrics.dupCheckUnavailable.Inc()
	c.log.Warn("slack duplicate check unavailable for this channel: after an ambiguous failure (a timeout or 5xx after Slack may have posted) a message is posted again and may appear twice; grant channels:history and groups:history and invite the bot to the channel",
		"channel", name, "id", id, "err", code)
}

// channelID returns the ID a channel name was resolved to, or ch itself.
func (c *Client) channelID(ch string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.ids[strings.TrimPrefix(ch, "#")]; ok {
		return id
	}
	return ch
}

// dupCheckRefused returns why the duplicate check cannot run in channel id,
// as found at start, or "".
func (c *Client) dupCheckRefused(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.noDupCheck[id]
}
