package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack/slackfake"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

func TestIncidentIsOneThread(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	const target = "api-gateway"

	require.Equal(t, outcomeApplied, h.apply(health(target, events.Critical, events.Healthy, 7, 0)))
	posts := h.srv.Posts()
	require.Len(t, posts, 1)
	parent := posts[0]
	require.Equal(t, "C0DEFAULT", parent.Channel)
	require.Empty(t, parent.ThreadTS)
	golden(t, "parent_critical", parent)
	require.Equal(t, 1.0, testutil.ToFloat64(h.eng.m.incidentsOpen))

	// Redelivered or reordered events change nothing.
	require.Equal(t, outcomeStale, h.apply(health(target, events.Critical, events.Healthy, 7, 0)))
	require.Equal(t, outcomeStale, h.apply(health(target, events.Healthy, events.Critical, 6, 0)))
	require.Len(t, h.srv.Posts(), 1)

	h.clk.add(3 * time.Minute)
	h.apply(health(target, events.Caution, events.Critical, 8, 3*time.Minute))
	h.apply(health(target, events.Critical, events.Caution, 9, 5*time.Minute))
	_, err := h.eng.ApplyFailover(t.Context(), events.FailoverRequestedType, events.Failover{
		Target: target, From: "primary", To: "standby", Reason: "CRITICAL for 5m", Generation: 1, At: base.Add(6 * time.Minute),
	})
	require.NoError(t, err)
	h.clk.add(10 * time.Minute)
	h.apply(health(target, events.Healthy, events.Critical, 10, 12*time.Minute+30*time.Second))

	posts = h.srv.Posts()
	require.Len(t, posts, 5)
	for _, p := range posts[1:] {
		require.Equal(t, parent.TS, p.ThreadTS, "every change is a reply in the incident's thread: %q", p.Text)
		require.Equal(t, parent.Channel, p.Channel)
	}
	golden(t, "reply_caution", posts[1])
	golden(t, "reply_critical", posts[2])
	golden(t, "reply_failover", posts[3])
	golden(t, "reply_recovered", posts[4])
	require.Contains(t, posts[4].Text, "recovered after 12m30s")
	require.Equal(t, []string{"api-gateway#7/open", "api-gateway#7/g8", "api-gateway#7/g9", "api-gateway#7/failover/1", "api-gateway#7/resolved"}, keys(posts))

	ups := h.srv.Updates()
	require.Len(t, ups, 1)
	require.Equal(t, parent.TS, ups[0].TS)
	golden(t, "parent_resolved", ups[0])
	require.Equal(t, 0.0, testutil.ToFloat64(h.eng.m.incidentsOpen))
	for kind, n := range map[string]float64{"open": 1, "change": 2, "failover": 1, "recovered": 1, "resolved_update": 1} {
		require.Equal(t, n, testutil.ToFloat64(h.eng.m.notifications.WithLabelValues(kind, "posted")), kind)
	}
	n, err := testutil.GatherAndCount(h.reg, "vigil_alerting_notification_latency_seconds", "vigil_alerting_slack_requests_total")
	require.NoError(t, err)
	require.Equal(t, 1+2, n, "one latency histogram, slack requests for chat.postMessage and chat.update")

	// A new incident for the same target is a new thread.
	h.apply(health(target, events.Critical, events.Healthy, 11, time.Hour))
	posts = h.srv.Posts()
	require.Len(t, posts, 6)
	require.Empty(t, posts[5].ThreadTS)
	require.Equal(t, "api-gateway#11/open", posts[5].Key())
}

func TestOpening(t *testing.T) {
	for _, tc := range []struct {
		name    string
		target  string
		status  events.Status
		opens   bool
		channel string
	}{
		{"critical on default route", "web-1", events.Critical, true, "C0DEFAULT"},
		{"caution on default route does not open", "web-1", events.Caution, false, ""},
		{"caution opens where the route asks", "db-1", events.Caution, true, "C0DB"},
		{"unknown never opens", "db-1", events.Unknown, false, ""},
		{"healthy does not open", "db-1", events.Healthy, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), nil, nil)
			h.apply(health(tc.target, tc.status, events.Healthy, 1, 0))
			posts := h.srv.Posts()
			if !tc.opens {
				require.Empty(t, posts)
				return
			}
			require.Len(t, posts, 1)
			require.Equal(t, tc.channel, posts[0].Channel)
		})
	}
}

func TestRouting(t *testing.T) {
	cfg := testConfig()
	cfg.Routes = append([]Route{{Name: "payments-db", Matchers: mustMatchers("target=~db-.*", "team=payments"), Channel: "C0PAY"}}, cfg.Routes...)
	for _, tc := range []struct {
		target string
		labels map[string]string
		want   string
	}{
		{"db-1", map[string]string{"team": "payments"}, "payments-db"},
		{"db-1", map[string]string{"team": "search"}, "databases"},
		{"db-1", nil, "databases"},
		{"web-1", map[string]string{"team": "payments"}, "default"},
	} {
		require.Equal(t, tc.want, cfg.route(tc.target, tc.labels).Name, "%s %v", tc.target, tc.labels)
	}
}

// TestRateLimitStorm checks that 429s, 503s and ambiguous failures neither
// lose nor double a message: exactly one message per transition.
func TestRateLimitStorm(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	var faults []slackfake.Fault
	for i := range 60 {
		switch i % 6 {
		case 2:
			faults = append(faults, slackfake.Unavailable)
		case 4:
			faults = append(faults, slackfake.PostedThenUnavailable)
		default:
			faults = append(faults, slackfake.RateLimited)
		}
	}
	h.srv.Inject("chat.postMessage", faults...)
	h.srv.Inject("chat.update", slackfake.RateLimited, slackfake.RateLimited, slackfake.PostedThenUnavailable)
	targets := []string{"api-1", "api-2", "api-3"}
	for i, tg := range targets {
		g := uint64(10 * i)
		h.apply(health(tg, events.Critical, events.Healthy, g+1, 0))
		h.apply(health(tg, events.Caution, events.Critical, g+2, time.Minute))
		h.apply(health(tg, events.Critical, events.Caution, g+3, 2*time.Minute))
		h.apply(health(tg, events.Healthy, events.Critical, g+4, 3*time.Minute))
	}
	posts := h.srv.Posts()
	require.Len(t, posts, 12, "4 transitions x 3 targets, each posted once: %v", keys(posts))
	seen := map[string]bool{}
	for _, p := range posts {
		require.False(t, seen[p.Key()], "posted twice: %s", p.Key())
		seen[p.Key()] = true
	}
	require.Len(t, h.srv.Updates(), 3+1, "one resolve update per incident (one applied twice by the ambiguous failure, harmlessly)")
	require.Greater(t, h.srv.Calls("chat.postMessage"), 60)
	require.Positive(t, h.waits)
	t.Logf("chat.postMessage calls %d, conversations.history/replies lookups %d, chat.update calls %d, waits %d; messages posted %d",
		h.srv.Calls("chat.postMessage"), h.srv.Calls("conversations.history")+h.srv.Calls("conversations.replies"), h.srv.Calls("chat.update"), h.waits, len(posts))
}

func TestStormSummary(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	for i := range 30 {
		h.apply(health(fmt.Sprintf("web-%02d", i), events.Critical, events.Healthy, 1, 0))
	}
	posts := h.srv.Posts()
	require.Len(t, posts, 6, "5 incidents on their own, then one summary for the other 25")
	for i := range 5 {
		require.Equal(t, fmt.Sprintf("web-%02d#1/open", i), posts[i].Key())
	}
	summary := posts[5]
	require.Equal(t, "storm/web-05#1", summary.Key())
	require.Equal(t, 30.0, testutil.ToFloat64(h.eng.m.incidentsOpen))
	require.Equal(t, 25.0, testutil.ToFloat64(h.eng.m.suppressed.WithLabelValues("storm")))

	h.clk.add(10 * time.Second)
	h.tick()
	ups := h.srv.Updates()
	require.Len(t, ups, 1)
	require.Equal(t, summary.TS, ups[0].TS)
	require.Contains(t, ups[0].Text, "25 more folded")
	golden(t, "storm_summary", ups[0])
	h.tick()
	require.Len(t, h.srv.Updates(), 1, "no news, no update")

	// A folded incident's recovery goes in the summary's thread.
	h.apply(health("web-17", events.Healthy, events.Critical, 2, 4*time.Minute))
	posts = h.srv.Posts()
	require.Len(t, posts, 7)
	require.Equal(t, summary.TS, posts[6].ThreadTS)
	require.Contains(t, posts[6].Text, "*web-17* recovered after 4m")

	// After a quiet window the storm is over: incidents open threads again.
	h.clk.add(time.Minute)
	h.tick()
	require.Len(t, h.srv.Updates(), 2, "the last update before the storm ends")
	h.apply(health("web-99", events.Critical, events.Healthy, 1, 5*time.Minute))
	posts = h.srv.Posts()
	require.Equal(t, "web-99#1/open", posts[len(posts)-1].Key())
}

func TestSilenceMutesAndLateOpen(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	s, err := h.eng.AddSilence(t.Context(), SilenceRequest{Matchers: []string{"target=db-1"}, Duration: "1h", Reason: "migration"})
	require.NoError(t, err)
	h.apply(health("db-1", events.Critical, events.Healthy, 1, 0))
	h.apply(health("web-1", events.Critical, events.Healthy, 1, 0))
	posts := h.srv.Posts()
	require.Len(t, posts, 1)
	require.Equal(t, "web-1#1/open", posts[0].Key())
	require.Equal(t, 1.0, testutil.ToFloat64(h.eng.m.suppressed.WithLabelValues("silence")))

	// Still CRITICAL when the silence is deleted: the incident is posted.
	found, err := h.eng.DeleteSilence(t.Context(), s.ID)
	require.NoError(t, err)
	require.True(t, found)
	h.tick()
	posts = h.srv.Posts()
	require.Len(t, posts, 2)
	require.Equal(t, "db-1#1/open", posts[1].Key())

	// A silence that expires is removed from the store.
	_, err = h.eng.AddSilence(t.Context(), SilenceRequest{Matchers: []string{"target=web-2"}, Duration: "10m", Reason: "x"})
	require.NoError(t, err)
	require.Len(t, h.store.(*MemStore).Keys(silencePrefix), 1)
	h.clk.add(10 * time.Minute)
	h.tick()
	require.Empty(t, h.store.(*MemStore).Keys(silencePrefix))
	require.Empty(t, h.eng.Silences())

	// Muted and recovered before the mute ended: nothing at all.
	_, err = h.eng.AddSilence(t.Context(), SilenceRequest{Matchers: []string{"env=prod"}, Duration: "1h", Reason: "x"})
	require.NoError(t, err)
	h.apply(health("web-3", events.Critical, events.Healthy, 1, 0))
	h.apply(health("web-3", events.Healthy, events.Critical, 2, time.Minute))
	require.Len(t, h.srv.Posts(), 2)
}

func TestMaintenanceWindow(t *testing.T) {
	cfg := testConfig()
	cfg.Maintenance = []MaintenanceWindow{{Name: "db-patching", Matchers: mustMatchers("target=~db-.*"), Start: base.Add(-time.Hour), End: base.Add(time.Hour)}}
	h := newHarness(t, cfg, nil, nil)
	h.apply(health("db-1", events.Critical, events.Healthy, 1, 0))
	require.Empty(t, h.srv.Posts())
	require.Equal(t, 1.0, testutil.ToFloat64(h.eng.m.suppressed.WithLabelValues("maintenance")))
	h.clk.add(time.Hour)
	h.tick()
	require.Len(t, h.srv.Posts(), 1, "still CRITICAL after the window: posted")
}

// failingStore fails the Put calls for which fail returns true.
type failingStore struct {
	Store
	n    atomic.Int32
	fail func(n int32, key string, value []byte) bool
}

func (s *failingStore) Put(ctx context.Context, key string, value []byte) error {
	if s.fail(s.n.Add(1), key, value) {
		return errors.New("broker unavailable")
	}
	return s.Store.Put(ctx, key, value)
}

// TestCrashAfterPost: the parent was posted but the state write after it
// failed (the process would stop); the event is redelivered to a new engine,
// which finds the parent by its key instead of posting it again.
func TestCrashAfterPost(t *testing.T) {
	mem := NewMemStore()
	fs := &failingStore{Store: mem, fail: func(n int32, _ string, _ []byte) bool { return n == 2 }}
	h := newHarness(t, testConfig(), fs, nil)
	ev := health("web-1", events.Critical, events.Healthy, 1, 0)
	_, err := h.eng.ApplyHealth(t.Context(), ev)
	require.Error(t, err)
	require.Len(t, h.srv.Posts(), 1)

	h2 := newHarness(t, testConfig(), mem, h.srv)
	require.Equal(t, "web-1#1/open", h2.eng.states["web-1"].Pending)
	h2.apply(ev)
	require.Len(t, h2.srv.Posts(), 1, "not posted twice")
	require.Equal(t, 1, h2.srv.Calls("conversations.history"))
	h2.apply(health("web-1", events.Healthy, events.Critical, 2, time.Minute))
	posts := h2.srv.Posts()
	require.Equal(t, posts[0].TS, posts[1].ThreadTS, "the recovery lands in the thread found")
}

func TestFailoverWithoutIncident(t *testing.T) {
	h := newHarness(t, testConfig(), nil, nil)
	f := events.Failover{Target: "db-1", From: "primary", To: "standby", Generation: 3, Actor: "pipeline/host-1", Error: "standby not HEALTHY"}
	out, err := h.eng.ApplyFailover(t.Context(), events.FailoverFailedType, f)
	require.NoError(t, err)
	require.Equal(t, outcomeApplied, out)
	out, err = h.eng.ApplyFailover(t.Context(), events.FailoverFailedType, f)
	require.NoError(t, err)
	require.Equal(t, outcomeStale, out)
	posts := h.srv.Posts()
	require.Len(t, posts, 1)
	require.Equal(t, "C0DB", posts[0].Channel)
	require.Empty(t, posts[0].ThreadTS)
	require.Contains(t, posts[0].Text, ":x: Failover failed for *db-1*: primary → standby (by pipeline/host-1)")
}

func TestWebhookModeIncident(t *testing.T) {
	srv := slackfake.New()
	t.Cleanup(srv.Close)
	cfg := testConfig()
	cfg.Slack.Webhooks = map[string]config.Secret{"C0DEFAULT": {Value: srv.WebhookURL("C0DEFAULT")}, "C0DB": {Value: srv.WebhookURL("C0DB")}}
	h := newHarness(t, cfg, nil, srv)
	h.apply(health("web-1", events.Critical, events.Healthy, 1, 0))
	h.apply(health("web-1", events.Caution, events.Critical, 2, time.Minute))
	h.apply(health("web-1", events.Healthy, events.Caution, 3, 2*time.Minute))
	posts := srv.Posts()
	require.Len(t, posts, 3)
	for _, p := range posts {
		require.Empty(t, p.ThreadTS)
		require.Contains(t, p.Text, "web-1")
	}
	require.NotEmpty(t, posts[0].Blocks)
	require.Contains(t, posts[2].Text, "recovered after 2m")
	require.Empty(t, srv.Updates(), "webhooks cannot update")
}

func TestStateRecord(t *testing.T) {
	mem := NewMemStore()
	h := newHarness(t, testConfig(), mem, nil)
	h.apply(health("web-1", events.Critical, events.Healthy, 4, 0))
	recs, err := mem.Load(t.Context())
	require.NoError(t, err)
	var st targetState
	require.NoError(t, json.Unmarshal(recs["target/web-1"], &st))
	require.Equal(t, uint64(4), st.Generation)
	require.Empty(t, st.Pending)
	require.NotNil(t, st.Incident)
	require.Equal(t, "C0DEFAULT", st.Incident.Channel)
	require.Equal(t, h.srv.Posts()[0].TS, st.Incident.TS)
	require.Equal(t, base, st.Incident.OpenedAt)
	require.True(t, strings.HasPrefix(st.Incident.ID, "web-1#4"))
}

// TestStormStateSurvivesRestart: a new engine on the same store (a restart,
// or the replica that takes over) goes on counting the storm and updates
// the summary as folded incidents recover, so it shows them HEALTHY.
func TestStormStateSurvivesRestart(t *testing.T) {
	mem := NewMemStore()
	h := newHarness(t, testConfig(), mem, nil)
	for i := range 8 {
		h.apply(health(fmt.Sprintf("web-%02d", i), events.Critical, events.Healthy, 1, 0))
	}
	posts := h.srv.Posts()
	require.Len(t, posts, 6, "5 parents, one summary for the other 3")
	summary := posts[5]
	require.Equal(t, []string{stormPrefix + "C0DEFAULT"}, mem.Keys(stormPrefix))

	h2 := newHarness(t, testConfig(), mem, h.srv)
	h2.clk.t = h.clk.t
	// Still in the storm: a new incident is folded, not posted on its own.
	h2.apply(health("web-08", events.Critical, events.Healthy, 1, time.Second))
	require.Len(t, h2.srv.Posts(), 6, "folded into the restored summary")
	for _, tg := range []string{"web-05", "web-06", "web-07", "web-08"} {
		h2.apply(health(tg, events.Healthy, events.Critical, 2, 2*time.Minute))
	}
	h2.tick()
	m, ok := h2.srv.Message(summary.Channel, summary.TS)
	require.True(t, ok)
	for _, tg := range []string{"web-05", "web-06", "web-07", "web-08"} {
		require.Contains(t, string(m.Blocks), "*"+tg+"* HEALTHY", "the summary shows the recovery")
	}
	// Once the storm is over its record is deleted.
	h2.clk.add(2 * time.Minute)
	h2.tick()
	require.Empty(t, mem.Keys(stormPrefix))
}
