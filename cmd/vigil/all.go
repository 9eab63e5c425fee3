package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-dev/vigil/internal/admin"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
)

// runAll is "vigil all --config F [--check]": every component in one
// process, configured by one file with a section per component beside the
// process keys (admin, log). A component without a section runs on its
// defaults.
func runAll(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	var cfgPaths stringList
	fs.Var(&cfgPaths, "config", "configuration file (YAML) with one section per component; required")
	check := fs.Bool("check", false, "validate the configuration and exit: 0 if valid, 2 listing every problem")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil all --config FILE [--check]\n\nRun every component in one process.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if len(cfgPaths) != 1 {
		fmt.Fprintf(stderr, "vigil all: --config: give exactly one file (got %d)\n", len(cfgPaths))
		return exitBadArgs
	}
	cfgPath := cfgPaths[0]
	pc, ek, sbs, err := loadAll(cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "vigil all: %v\n", err)
		return exitBadArgs
	}
	if *check {
		var errs []error
		for _, s := range sbs {
			if s.check != nil {
				if err := s.check(context.Background()); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				}
			}
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintf(stderr, "vigil all: %s: %v\n", cfgPath, err)
			return exitBadArgs
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", cfgPath)
		return exitOK
	}
	var broker *kfake.Cluster
	defer func() {
		if broker != nil {
			broker.Close()
		}
	}()
	return serve("all", pc, func(deps component.Deps, srv *admin.Server) ([]component.Named, error) {
		if ek.Enabled {
			var err error
			if broker, err = ek.start(); err != nil {
				return nil, err
			}
			deps.Logger.Info("embedded Kafka (kfake) listening", "address", ek.ListenAddress, "data_dir", ek.DataDir)
		}
		out := make([]component.Named, 0, len(sbs))
		for _, s := range sbs {
			r, err := s.build(withComponent(deps, s.name), srv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			out = append(out, component.Named{Name: s.name, Runner: r})
		}
		return out, nil
	}, stderr)
}

type namedBuilder struct {
	name string
	sectionBuilder
}

func loadAll(path string) (processConfig, embeddedKafkaConfig, []namedBuilder, error) {
	pc, ek := defaultProcessConfig(""), defaultEmbeddedKafka()
	raw, err := os.ReadFile(path)
	if err != nil {
		return pc, ek, nil, fmt.Errorf("config: %w", err)
	}
	root, err := config.Parse(raw)
	if err != nil {
		return pc, ek, nil, withFile(path, err)
	}
	keys, sections, err := config.Sections(root)
	if err != nil {
		return pc, ek, nil, withFile(path, err)
	}
	ts := targets()
	known := map[string]bool{"admin": true, "log": true, "memory_limit": true, embeddedKafkaKey: true}
	for _, t := range ts {
		known[t.name] = true
	}
	var p config.Problems
	for _, k := range keys {
		if !known[k] {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			p.Addf(k, "unknown key (expected one of %s)", strings.Join(names, ", "))
		}
	}
	proc, _ := splitProcessKeys(root)
	p.Merge("", config.DecodeNode(proc, &pc))
	p.Merge(embeddedKafkaKey, config.DecodeNode(sections[embeddedKafkaKey], &ek))
	dir := filepath.Dir(path)
	var out []namedBuilder
	for _, t := range ts {
		node, err := sectionNode(sections[t.name], dir)
		if err != nil {
			p.Merge(t.name, err)
			continue
		}
		sb, err := t.load(node, dir)
		p.Merge(t.name, err)
		out = append(out, namedBuilder{name: t.name, sectionBuilder: sb})
	}
	if err := p.Err(); err != nil {
		return pc, ek, nil, withFile(path, err)
	}
	return pc, ek, out, nil
}

// sectionNode returns a section's content. A section given as a string is
// the path of the component's own file (relative to dir), so the
// all-in-one file can reuse configs/pipeline.yaml and the rest as they are.
func sectionNode(n *yaml.Node, dir string) (*yaml.Node, error) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return n, nil
	}
	path := n.Value
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	root, err := config.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return root, nil
}

// embeddedKafkaKey is the all-in-one file's section for the in-process broker.
const embeddedKafkaKey = "embedded_kafka"
