package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/vigil-dev/vigil/internal/admin"
	"github.com/vigil-dev/vigil/internal/build"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/telemetry"
)

// processConfig is the part of every configuration file that belongs to the
// process rather than to a component.
type processConfig struct {
	// Admin is where /metrics, /healthz and /readyz listen.
	Admin admin.Config `yaml:"admin"`
	// Log sets the log level and format.
	Log telemetry.LogConfig `yaml:"log"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (runtime/debug.SetMemoryLimit; a GOMEMLIMIT environment variable
	// wins): near it the garbage collector runs more often, so the heap
	// stays close to its live data instead of growing to twice it. 0 = none.
	// Default 64 MiB for `vigil pipeline` (what keeps its RSS within 128 MiB
	// at any lag, docs/configuration.md), none for the other processes.
	MemoryLimit int64 `yaml:"memory_limit"`
}

func defaultProcessConfig(adminAddr string) processConfig {
	a := admin.DefaultConfig()
	if adminAddr != "" {
		a.ListenAddress = adminAddr
	}
	return processConfig{Admin: a, Log: telemetry.DefaultLogConfig()}
}

// Validate reports every problem.
func (c processConfig) Validate() error {
	var p config.Problems
	p.Merge("admin", c.Admin.Validate())
	p.Merge("log", c.Log.Validate())
	if c.MemoryLimit < 0 {
		p.Addf("memory_limit", "must be >= 0 bytes (got %d)", c.MemoryLimit)
	}
	return p.Err()
}

// builder turns the loaded configuration into runnable components once the
// process's logger, registry and admin server exist.
type builder func(deps component.Deps, srv *admin.Server) ([]component.Named, error)

// serve runs components until the first SIGINT/SIGTERM, then drains them and
// returns exitOK; a second signal aborts at once. A failing component stops
// the process with exitFailed.
func serve(name string, pc processConfig, mk builder, stderr io.Writer) int {
	log := telemetry.NewLogger(pc.Log, stderr).With("process", name)
	if pc.MemoryLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(pc.MemoryLimit)
	}
	reg := telemetry.NewRegistry()
	build.RegisterInfo(reg)
	srv := admin.New(pc.Admin, reg, log.With("component", "admin"))
	deps := component.Deps{Logger: log, Registerer: reg, Admin: srv}
	runners, err := mk(deps, srv)
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return exitBadArgs
	}
	if err := srv.Listen(); err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", name, err)
		return exitFailed
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		s := <-sigs
		log.Info("signal received; draining (send again to abort)", "signal", s.String())
		srv.ShuttingDown()
		cancel()
		s = <-sigs
		log.Error("second signal received; aborting without draining", "signal", s.String())
		os.Exit(exitFailed)
	}()

	// Everything is built: what start-up touched of the binary need not
	// stay resident (see releaseStartupPages).
	if err := releaseStartupPages(); err != nil {
		log.Debug("start-up pages kept", "err", err)
	}
	log.Info("starting", "version", versionString())
	runners = append(runners, component.Named{Name: "admin", Runner: srv})
	if err := component.RunAll(ctx, log, runners...); err != nil {
		log.Error("stopped with errors", "err", err)
		return exitFailed
	}
	log.Info("stopped cleanly")
	return exitOK
}

func versionString() string { return build.Version + " (" + build.Revision() + ")" }
