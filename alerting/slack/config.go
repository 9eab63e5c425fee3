package slack

import (
	"net/url"
	"sort"
	"time"

	"github.com/vigil-dev/vigil/internal/config"
)

// Config selects the mode and tunes delivery.
type Config struct {
	// BotToken is a bot token (xoxb-...) with the chat:write scope, plus
	// channels:read and groups:read to resolve channel names at start, and
	// channels:history and groups:history for the duplicate check after an
	// ambiguous failure. Setting it selects bot mode. Default unset.
	BotToken config.Secret `yaml:"bot_token"`
	// Webhooks maps a channel, as routes name it, to the URL of an incoming
	// webhook that posts there. Used only without BotToken (webhook mode): no
	// threads, no updates. Default none.
	Webhooks map[string]config.Secret `yaml:"webhooks"`
	// APIURL is the Web API base URL, ending in "/". Default
	// https://slack.com/api/.
	APIURL string `yaml:"api_url"`
	// PerChannelRate is the number of messages per second sent to one
	// channel; Slack allows about one. Default 1.
	PerChannelRate float64 `yaml:"per_channel_rate"`
	// RequestTimeout bounds one HTTP request to Slack. Default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// BackoffInitial is the first wait after a 5xx or network error; it
	// doubles per attempt up to BackoffMax. Default 1s.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	// BackoffMax caps the wait between retries. Default 30s.
	BackoffMax time.Duration `yaml:"backoff_max"`
}

// DefaultConfig returns the defaults: console mode until a token or webhook
// is configured.
func DefaultConfig() Config {
	return Config{
		APIURL:         "https://slack.com/api/",
		PerChannelRate: 1,
		RequestTimeout: 10 * time.Second,
		BackoffInitial: time.Second,
		BackoffMax:     30 * time.Second,
	}
}

// Mode reports which mode the configuration selects.
func (c Config) Mode() Mode {
	switch {
	case c.BotToken.IsSet():
		return ModeBot
	case len(c.Webhooks) > 0:
		return ModeWebhook
	}
	return ModeConsole
}

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	if c.BotToken.IsSet() && len(c.Webhooks) > 0 {
		p.Addf("webhooks", "set either bot_token or webhooks, not both")
	}
	names := make([]string, 0, len(c.Webhooks))
	for name := range c.Webhooks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !c.Webhooks[name].IsSet() {
			p.Addf(config.Join("webhooks", name), "must name an env, file or value")
		}
	}
	if u, err := url.Parse(c.APIURL); err != nil || u.Scheme == "" || u.Host == "" {
		p.Addf("api_url", "must be an absolute URL (got %q)", c.APIURL)
	}
	if c.PerChannelRate <= 0 {
		p.Addf("per_channel_rate", "must be > 0 (got %v)", c.PerChannelRate)
	}
	if c.RequestTimeout <= 0 {
		p.Addf("request_timeout", "must be > 0 (got %s)", c.RequestTimeout)
	}
	if c.BackoffInitial <= 0 {
		p.Addf("backoff_initial", "must be > 0 (got %s)", c.BackoffInitial)
	}
	if c.BackoffMax < c.BackoffInitial {
		p.Addf("backoff_max", "must be >= backoff_initial (got %s)", c.BackoffMax)
	}
	return p.Err()
}
