package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-dev/vigil/collector"
	"github.com/vigil-dev/vigil/internal/admin"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
)

func collectorTarget() target {
	return target{
		name:      "collector",
		summary:   "receive OTLP and ship logs and traces to Kafka (OpenTelemetry Collector distribution)",
		adminAddr: "127.0.0.1:8881",
		load: func(n *yaml.Node, dir string) (sectionBuilder, error) {
			c := collector.DefaultConfig()
			if err := config.DecodeNode(n, &c); err != nil {
				return sectionBuilder{}, err
			}
			c.Resolve(dir)
			return collectorBuilder(c), nil
		},
		loadStandalone: loadCollectorFile,
	}
}

func collectorBuilder(c collector.Config) sectionBuilder {
	return sectionBuilder{
		build: func(deps component.Deps, srv *admin.Server) (component.Runner, error) {
			s, err := collector.New(c, deps)
			if err != nil {
				return nil, err
			}
			if g := s.Gatherer(); g != nil {
				srv.AddGatherer(g)
			}
			return s, nil
		},
		check: func(ctx context.Context) error { return collector.Check(ctx, c) },
	}
}

// collectorFileSection is the "vigil:" key of a standalone collector file.
type collectorFileSection struct {
	processConfig `yaml:",inline"`
	// TelemetryURL: see collector.Config.
	TelemetryURL string `yaml:"telemetry_url"`
	// ShutdownTimeout: see collector.Config.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

func (c collectorFileSection) Validate() error {
	var p config.Problems
	p.Merge("", c.processConfig.Validate())
	if c.ShutdownTimeout <= 0 {
		p.Addf("shutdown_timeout", "must be > 0 (got %s)", c.ShutdownTimeout)
	}
	return p.Err()
}

// loadCollectorFile reads standalone collector configuration sources, merged
// in order as the collector merges them (a later file or yaml: override wins).
// The first source must be a file: its optional top-level "vigil:" key holds
// the process settings. The collector validates the rest itself (--check).
func loadCollectorFile(paths []string) (processConfig, sectionBuilder, error) {
	path := paths[0]
	if !collector.IsPath(path) {
		return processConfig{}, sectionBuilder{}, fmt.Errorf("config: the first --config must be a file (got %q)", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return processConfig{}, sectionBuilder{}, fmt.Errorf("config: %w", err)
	}
	// Only the vigil: section is expanded here: the rest uses the
	// collector's own ${env:VAR} syntax and is resolved by the collector.
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return processConfig{}, sectionBuilder{}, withFile(path, &config.ProblemsError{Problems: []config.Problem{{Msg: "not valid YAML: " + err.Error()}}})
	}
	def := collector.DefaultConfig()
	sec := collectorFileSection{processConfig: defaultProcessConfig("127.0.0.1:8881"), TelemetryURL: def.TelemetryURL, ShutdownTimeout: def.ShutdownTimeout}
	if n, ok := doc[collector.VigilKey]; ok {
		b, err := yaml.Marshal(&n)
		if err != nil {
			return processConfig{}, sectionBuilder{}, fmt.Errorf("config: %s: %w", path, err)
		}
		if err := config.Decode(b, &sec); err != nil {
			return processConfig{}, sectionBuilder{}, withFile(path, config.Prefix(collector.VigilKey, err))
		}
	}
	c := collector.Config{TelemetryURL: sec.TelemetryURL, ShutdownTimeout: sec.ShutdownTimeout}
	for _, p := range paths {
		if collector.IsPath(p) {
			abs, err := filepath.Abs(p)
			if err != nil {
				return processConfig{}, sectionBuilder{}, fmt.Errorf("config: %w", err)
			}
			p = abs
		}
		c.Config = append(c.Config, p)
	}
	return sec.processConfig, collectorBuilder(c), nil
}
