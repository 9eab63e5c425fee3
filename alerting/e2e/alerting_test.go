//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestAlertingKilledRestartsFast: one alerting replica with an open incident
// and a storm summary (threshold 1: the second and third incidents are
// folded) is SIGKILLed; the targets recover while it is down. Restarted, it
// posts the recoveries once each within seconds (its dead self leaves the
// election group after the 6s session, not a 45s consumer-group session),
// and the storm summary, restored from the state topic, shows the folded
// targets HEALTHY. The channel is given by name and resolved through
// conversations.list (three pages).
func TestAlertingKilledRestartsFast(t *testing.T) {
	s := newStack(t)
	admin := vigiltest.FreeAddr(t)
	cfg := s.alertingConfig("a", admin, "storm: {threshold: 1, window: 5m}\n")
	a := s.startAlerting("a", admin, cfg)
	waitFor(t, time.Minute, "a to be active", func() bool { return a.active(t) })

	targets := []string{"db-1", "db-2", "db-3"}
	for _, tg := range targets {
		s.publish(tg, events.Critical, events.Healthy, 1)
	}
	s.waitPosted(time.Minute, "db-1#1/open", "storm/db-2#1")
	// db-3 joins the summary in the thread's state, not as a post: wait for
	// the summary's update naming it.
	sum, _ := s.post("storm/db-2#1")
	require.Equal(t, channelID, sum.Channel, "posted to the ID the name resolved to")
	waitFor(t, time.Minute, "db-3 folded into the summary", func() bool {
		m, _ := s.slack.Message(sum.Channel, sum.TS)
		return strings.Contains(m.Text+string(m.Blocks), "db-3")
	})

	a.Kill()
	t.Log("alerting SIGKILLed with one incident open and two folded into a storm summary")
	for _, tg := range targets {
		s.publish(tg, events.Healthy, events.Critical, 2)
	}
	before := len(s.slack.Posts())

	restarted := time.Now()
	a = s.startAlerting("a", admin, cfg)
	// The deadline is a test timeout well below the 45s an old group
	// member's session held the partitions: waiting that out fails here.
	var first time.Duration
	require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
		if len(s.slack.Posts()) > before {
			first = time.Since(restarted)
			return nil
		}
		return fmt.Errorf("no Slack post since the restart")
	}), "the restarted alerting must post before the old 45s session would expire")
	t.Logf("restarted alerting: first Slack post %s after its start", first.Round(100*time.Millisecond))

	s.waitPosted(time.Minute, "db-1#1/resolved", "db-2#1/resolved", "db-3#1/resolved")
	// The summary, from the persisted storm state, shows the recoveries.
	waitFor(t, time.Minute, "the storm summary to show db-2 and db-3 HEALTHY", func() bool {
		m, _ := s.slack.Message(sum.Channel, sum.TS)
		body := string(m.Blocks)
		return strings.Contains(body, "*db-2* HEALTHY") && strings.Contains(body, "*db-3* HEALTHY")
	})
	for k, n := range s.posts() {
		require.Equal(t, 1, n, "message %s posted %d times", k, n)
	}
	require.Greater(t, s.slack.Calls("conversations.list"), 1, "the name was resolved reading several pages")
}

// TestAlertingTakeoverUnderSlackFaults: two alerting replicas, Slack
// answering 429s, 500s and 503s after posting (the ambiguous case). The
// active one is SIGKILLed while incidents are being posted; the standby
// takes over, and every incident has exactly one parent and, after the
// targets recover, exactly one recovery.
func TestAlertingTakeoverUnderSlackFaults(t *testing.T) {
	s := newStack(t)
	adminA, adminB := vigiltest.FreeAddr(t), vigiltest.FreeAddr(t)
	a := s.startAlerting("a", adminA, s.alertingConfig("a", adminA, ""))
	waitFor(t, time.Minute, "a to be active", func() bool { return a.active(t) })
	b := s.startAlerting("b", adminB, s.alertingConfig("b", adminB, ""))
	time.Sleep(2 * time.Second)
	require.False(t, b.active(t), "one active replica at a time")

	// a's first parent meets a 429, a 500 (ambiguous: a looks, finds
	// nothing, posts again) and a 503 after Slack posted it. a is killed
	// the moment the message exists, while it backs off: the post is made
	// and not recorded, and b must find it instead of posting it again.
	s.slack.Inject("chat.postMessage", slackfake.RateLimited, slackfake.InternalError, slackfake.PostedThenUnavailable)
	const n = 6
	for i := range n {
		s.publish(fmt.Sprintf("svc-%d", i), events.Critical, events.Healthy, 1)
	}
	deadline := time.Now().Add(time.Minute)
	for len(s.slack.Posts()) == 0 {
		require.True(t, time.Now().Before(deadline), "a never posted")
		time.Sleep(2 * time.Millisecond)
	}
	a.Kill()
	killed := time.Now()
	t.Logf("active replica SIGKILLed with %d of %d parents posted, the last one after a 503", len(s.slack.Posts()), n)
	s.slack.Inject("chat.postMessage", slackfake.RateLimited, slackfake.PostedThenUnavailable, slackfake.InternalError,
		slackfake.RateLimited, slackfake.PostedThenUnavailable)
	var takeover time.Duration
	waitFor(t, 30*time.Second, "b to take over", func() bool {
		takeover = time.Since(killed)
		return b.active(t)
	})
	t.Logf("standby active %s after the kill", takeover.Round(100*time.Millisecond))

	keys := make([]string, 0, n)
	for i := range n {
		keys = append(keys, fmt.Sprintf("svc-%d#1/open", i))
	}
	s.waitPosted(time.Minute, keys...)
	s.slack.Inject("chat.postMessage", slackfake.InternalError, slackfake.PostedThenUnavailable, slackfake.RateLimited)
	for i := range n {
		s.publish(fmt.Sprintf("svc-%d", i), events.Healthy, events.Critical, 2)
	}
	rec := make([]string, 0, n)
	for i := range n {
		rec = append(rec, fmt.Sprintf("svc-%d#1/resolved", i))
	}
	s.waitPosted(time.Minute, rec...)
	time.Sleep(2 * time.Second) // a late duplicate would land by now
	got := s.posts()
	for _, k := range append(keys, rec...) {
		require.Equal(t, 1, got[k], "%s posted %d times (all: %v)", k, got[k], got)
	}
	require.Len(t, s.slack.Posts(), 2*n, "nothing else posted: %v", got)
	require.GreaterOrEqual(t, metricValue(t, b.admin, "vigil_alerting_slack_requests_total", map[string]string{"method": "chat.postMessage", "result": "found_existing"}), 1.0,
		"b found the message a posted before it died")
	t.Logf("takeover %s; %d parents and %d recoveries, each once, through %d chat.postMessage calls", takeover.Round(100*time.Millisecond), n, n, s.slack.Calls("chat.postMessage"))
}

// TestAlertingRefusesUnknownChannel: in bot mode a channel name no channel
// has stops alerting at start with an error naming it, instead of posting
// where the duplicate check cannot work.
func TestAlertingRefusesUnknownChannel(t *testing.T) {
	s := newStack(t)
	admin := vigiltest.FreeAddr(t)
	cfg := s.alertingConfig("a", admin, "routes:\n  - name: dba\n    matchers: [\"target=~db-.*\"]\n    channel: dba-oncall\n")
	p := vigiltest.Start(t, nil, "alerting", "--config", cfg)
	code := p.Wait(time.Minute)
	require.NotEqual(t, -1, code, "alerting must stop, not run on")
	require.NotZero(t, code)
	out := strings.ReplaceAll(p.Output(), `\"`, `"`)
	require.Contains(t, out, `routes[0].channel: slack: channel name cannot be resolved: "dba-oncall": no channel of that name`, out)
	require.Zero(t, s.slack.Calls("chat.postMessage"))
}
