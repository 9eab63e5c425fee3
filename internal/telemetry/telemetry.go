package telemetry

import (
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-dev/vigil/internal/config"
)

// LogConfig selects the log level and format.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// DefaultLogConfig returns the defaults.
func DefaultLogConfig() LogConfig { return LogConfig{Level: "info", Format: "text"} }

// Validate reports every problem.
func (c LogConfig) Validate() error {
	var p config.Problems
	if _, ok := levels[strings.ToLower(c.Level)]; !ok {
		p.Addf("level", "must be one of debug, info, warn, error (got %q)", c.Level)
	}
	if c.Format != "text" && c.Format != "json" {
		p.Addf("format", "must be text or json (got %q)", c.Format)
	}
	return p.Err()
}

var levels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// NewLogger builds the process logger writing to w.
func NewLogger(c LogConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: levels[strings.ToLower(c.Level)]}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// NewRegistry returns a fresh registry (never the global one) with Go runtime
// and process metrics under the vigil_ prefix, so one scrape tells the
// component's memory and CPU along with its own metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "vigil"}),
	)
	return reg
}
