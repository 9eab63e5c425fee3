package component

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Deps is what the process hands every component.
type Deps struct {
	// Logger is already tagged component=<name>.
	Logger *slog.Logger
	// Registerer is the process's own registry (never the global one).
	Registerer prometheus.Registerer
	// Admin mounts the component's HTTP APIs and readiness checks on the
	// process's admin server.
	Admin Admin
}

// Admin is the part of the admin server a component uses.
type Admin interface {
	// Handle mounts h at pattern, e.g. "POST /api/v1/alerts/grafana".
	Handle(pattern string, h http.Handler)
	// AddCheck registers a readiness check; /readyz fails while it errors.
	AddCheck(name string, check func() error)
}

// Runner is a built component.
type Runner interface {
	Run(ctx context.Context) error
}

// Named pairs a runner with its component name for RunAll.
type Named struct {
	Name   string
	Runner Runner
}

// RunAll runs every runner until ctx ends or one of them fails; a failing
// component stops the process (the others are cancelled and drain), because a
// half-running appliance hides its failure from the orchestrator. It returns
// nil when every runner stopped cleanly after ctx ended.
func RunAll(ctx context.Context, log *slog.Logger, runners ...Named) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.Runner.Run(ctx)
			if err == nil && ctx.Err() == nil {
				err = errors.New("stopped unexpectedly")
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", r.Name, err)
				log.Error("component failed; stopping the process", "component", r.Name, "err", err)
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context) error { return f(ctx) }
