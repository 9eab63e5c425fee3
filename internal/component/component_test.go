package component

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// blocker runs until its context ends, then reports it drained.
type blocker struct{ drained chan struct{} }

func (b blocker) Run(ctx context.Context) error {
	<-ctx.Done()
	close(b.drained)
	return nil
}

func TestRunAll(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("clean stop drains everyone", func(t *testing.T) {
		a, b := blocker{make(chan struct{})}, blocker{make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- RunAll(ctx, log, Named{"a", a}, Named{"b", b}) }()
		cancel()
		require.NoError(t, <-done)
		<-a.drained
		<-b.drained
	})

	t.Run("one failure stops the rest", func(t *testing.T) {
		a := blocker{make(chan struct{})}
		boom := RunnerFunc(func(context.Context) error { return errors.New("boom") })
		err := RunAll(context.Background(), log, Named{"a", a}, Named{"b", boom})
		require.EqualError(t, err, "b: boom")
		select {
		case <-a.drained:
		case <-time.After(10 * time.Second):
			t.Fatal("the healthy component was not stopped")
		}
	})

	t.Run("returning early without error is a failure", func(t *testing.T) {
		quit := RunnerFunc(func(context.Context) error { return nil })
		err := RunAll(context.Background(), log, Named{"quitter", quit})
		require.EqualError(t, err, "quitter: stopped unexpectedly")
	})
}
