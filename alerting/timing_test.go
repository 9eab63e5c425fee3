package alerting

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/internal/events"
)

// recorder is a Notifier that keeps what it is given, for tests in a
// synctest bubble (which cannot wait on real network I/O).
type recorder struct {
	mu      sync.Mutex
	posts   []slack.Message
	updates []slack.Message
}

func (r *recorder) Post(_ context.Context, m slack.Message) (slack.Ref, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts = append(r.posts, m)
	return slack.Ref{Channel: m.Channel, TS: fmt.Sprintf("%d.%06d", time.Now().Unix(), len(r.posts))}, nil
}

func (r *recorder) Update(_ context.Context, _ slack.Ref, m slack.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, m)
	return nil
}

func (r *recorder) Threads() bool { return true }

// snapshot returns copies of the posts and updates.
func (r *recorder) snapshot() (posts, updates []slack.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slack.Message(nil), r.posts...), append([]slack.Message(nil), r.updates...)
}

func (r *recorder) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.posts))
	for i, m := range r.posts {
		out[i] = m.Text
	}
	return out
}

// runEngine starts an engine with its ticker in the bubble; stop it with
// the returned func before the bubble ends.
func runEngine(t *testing.T, cfg Config) (*Engine, *recorder, func()) {
	rec := &recorder{}
	e := NewEngine(cfg, NewMemStore(), rec, quiet, nil)
	require.NoError(t, e.Restore(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- e.RunTicks(ctx, ctx, cfg.TickInterval) }()
	return e, rec, func() { cancel(); require.NoError(t, <-done) }
}

func critical(target string, gen uint64) events.Health {
	return events.Health{Target: target, Status: events.Critical, PreviousStatus: events.Healthy, Since: time.Now(), Reason: "down", Generation: gen}
}

func TestReminders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, rec, stop := runEngine(t, testConfig())
		defer stop()
		_, err := e.ApplyHealth(t.Context(), critical("web-1", 1))
		require.NoError(t, err)

		time.Sleep(59 * time.Minute)
		synctest.Wait()
		require.Len(t, rec.texts(), 1, "no reminder before repeat_interval")

		time.Sleep(time.Minute)
		synctest.Wait()
		require.Len(t, rec.texts(), 2)
		require.Equal(t, ":red_circle: *web-1* is still *CRITICAL* after 1h", rec.texts()[1])
		posts, _ := rec.snapshot()
		require.Equal(t, posts[0].Channel, posts[1].Channel)
		require.NotEmpty(t, posts[1].ThreadTS)

		time.Sleep(time.Hour)
		synctest.Wait()
		require.Len(t, rec.texts(), 3)
		require.Contains(t, rec.texts()[2], "after 2h")

		// No reminders while CAUTION.
		_, err = e.ApplyHealth(t.Context(), events.Health{Target: "web-1", Status: events.Caution, PreviousStatus: events.Critical, Since: time.Now(), Generation: 2})
		require.NoError(t, err)
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		require.Len(t, rec.texts(), 4)

		// A silence holds reminders back.
		_, err = e.ApplyHealth(t.Context(), events.Health{Target: "web-1", Status: events.Critical, PreviousStatus: events.Caution, Since: time.Now(), Generation: 3})
		require.NoError(t, err)
		_, err = e.AddSilence(t.Context(), SilenceRequest{Matchers: []string{"target=web-1"}, Duration: "3h", Reason: "known"})
		require.NoError(t, err)
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		require.Len(t, rec.texts(), 5, "the CRITICAL reply, then nothing while silenced")
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		require.Len(t, rec.texts(), 6, "reminded once the silence expired")
	})
}

func TestStormWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, rec, stop := runEngine(t, testConfig()) // threshold 5 within 1m
		defer stop()
		for i := range 6 {
			_, err := e.ApplyHealth(t.Context(), critical(fmt.Sprintf("web-%d", i), 1))
			require.NoError(t, err)
		}
		require.Len(t, rec.texts(), 6)
		require.True(t, strings.HasPrefix(rec.texts()[5], "Incident storm"), rec.texts()[5])

		time.Sleep(30 * time.Second)
		_, err := e.ApplyHealth(t.Context(), critical("web-6", 1))
		require.NoError(t, err)
		require.Len(t, rec.texts(), 6, "folded while the storm lasts")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		_, updates := rec.snapshot()
		require.Len(t, updates, 1, "the summary is updated on the next tick")
		require.Contains(t, updates[0].Text, "2 more folded")

		time.Sleep(time.Minute)
		synctest.Wait()
		_, err = e.ApplyHealth(t.Context(), critical("web-7", 1))
		require.NoError(t, err)
		require.Len(t, rec.texts(), 7)
		posts, _ := rec.snapshot()
		require.Empty(t, posts[6].ThreadTS, "after a quiet window incidents get their own thread again")
		require.Equal(t, "web-7#1/open", posts[6].Key)
	})
}
