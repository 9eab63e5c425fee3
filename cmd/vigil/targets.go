package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-dev/vigil/internal/admin"
	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
)

// target is a component as the binary knows it: how to load its
// configuration, standalone or as a section of the all-in-one file, and how
// to build it.
type target struct {
	name    string
	summary string
	// adminAddr is the default admin address when the component runs alone,
	// distinct per component so they can share a host.
	adminAddr string
	// memoryLimit is the default process memory_limit when the component
	// runs alone (0: none).
	memoryLimit int64
	// load decodes the component's section (n may be nil: defaults) with
	// relative paths resolved against dir, and returns its builder.
	load func(n *yaml.Node, dir string) (sectionBuilder, error)
	// loadStandalone, when set, replaces the generic standalone loading (the
	// collector's files are OpenTelemetry configurations, and several may be
	// merged).
	loadStandalone func(paths []string) (processConfig, sectionBuilder, error)
	// gcPercent, when set, is GOGC for the component run alone, unless the
	// environment sets GOGC (an operator's choice wins).
	gcPercent int
}

// tuneRuntime applies the target's GOGC default (the memory limit is the
// process's memory_limit, applied by serve).
func (t target) tuneRuntime() {
	if t.gcPercent > 0 && os.Getenv("GOGC") == "" {
		debug.SetGCPercent(t.gcPercent)
	}
}

// sectionBuilder builds a loaded component; check validates it further
// without starting it (may be nil).
type sectionBuilder struct {
	build func(deps component.Deps, srv *admin.Server) (component.Runner, error)
	check func(ctx context.Context) error
}

// targets lists the components in start order.
func targets() []target {
	return []target{collectorTarget(), pipelineTarget(), detectorTarget(), alertingTarget()}
}

// define builds a target for a component following the package contract
// (Config, DefaultConfig, Validate, New).
func define[C any, PC interface {
	*C
	config.Validator
}](name, summary, adminAddr string, defaults func() C, build func(C, component.Deps) (component.Runner, error)) target {
	return target{
		name: name, summary: summary, adminAddr: adminAddr,
		load: func(n *yaml.Node, dir string) (sectionBuilder, error) {
			c := defaults()
			if err := config.DecodeNode(n, PC(&c)); err != nil {
				return sectionBuilder{}, err
			}
			return sectionBuilder{build: func(deps component.Deps, _ *admin.Server) (component.Runner, error) {
				return build(c, deps)
			}}, nil
		},
	}
}

// standaloneFile is a component's own file: the process keys (admin, log)
// beside the component's keys at the top level.
func (t target) loadFile(paths []string) (processConfig, sectionBuilder, error) {
	if t.loadStandalone != nil {
		return t.loadStandalone(paths)
	}
	if len(paths) != 1 {
		return processConfig{}, sectionBuilder{}, fmt.Errorf("--config: give exactly one file (got %d)", len(paths))
	}
	path := paths[0]
	raw, err := os.ReadFile(path)
	if err != nil {
		return processConfig{}, sectionBuilder{}, fmt.Errorf("config: %w", err)
	}
	root, err := config.Parse(raw)
	if err != nil {
		return processConfig{}, sectionBuilder{}, withFile(path, err)
	}
	// Split the top level: admin and log go to the process, the rest to
	// the component, so each side reports its own unknown keys.
	pc := defaultProcessConfig(t.adminAddr)
	pc.MemoryLimit = t.memoryLimit
	procNode, compNode := splitProcessKeys(root)
	var p config.Problems
	p.Merge("", config.DecodeNode(procNode, &pc))
	sb, err := t.load(compNode, filepath.Dir(path))
	p.Merge("", err)
	if err := p.Err(); err != nil {
		return pc, sb, withFile(path, err)
	}
	return pc, sb, nil
}

// splitProcessKeys separates the admin, log and memory_limit keys from a document's top
// level mapping into two mapping nodes.
func splitProcessKeys(root *yaml.Node) (proc, comp *yaml.Node) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil, root
	}
	proc = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	comp = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		dst := comp
		if k := n.Content[i].Value; k == "admin" || k == "log" || k == "memory_limit" {
			dst = proc
		}
		dst.Content = append(dst.Content, n.Content[i], n.Content[i+1])
	}
	return proc, comp
}

func withFile(path string, err error) error {
	if pe, ok := err.(*config.ProblemsError); ok {
		pe.File = path
		return pe
	}
	return fmt.Errorf("%s: %w", path, err)
}

// runStandalone is the subcommand "vigil <component> --config F [--check]".
func (t target) runStandalone(args []string, stdout, stderr io.Writer) int {
	if t.name == "alerting" && len(args) > 0 && args[0] == "silence" {
		return runSilence(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet(t.name, flag.ContinueOnError)
	var cfgPaths stringList
	fs.Var(&cfgPaths, "config", "configuration file (YAML); required")
	check := fs.Bool("check", false, "validate the configuration and exit: 0 if valid, 2 listing every problem")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil %s --config FILE [--check]\n\n%s.\n\nFlags:\n", t.name, t.summary)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if len(cfgPaths) == 0 {
		fmt.Fprintf(stderr, "vigil %s: --config is required\n", t.name)
		return exitBadArgs
	}
	cfgPath := strings.Join(cfgPaths, ",")
	pc, sb, err := t.loadFile(cfgPaths)
	if err != nil {
		fmt.Fprintf(stderr, "vigil %s: %v\n", t.name, err)
		return exitBadArgs
	}
	if *check {
		if sb.check != nil {
			if err := sb.check(context.Background()); err != nil {
				fmt.Fprintf(stderr, "vigil %s: %s: %v\n", t.name, cfgPath, err)
				return exitBadArgs
			}
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", cfgPath)
		return exitOK
	}
	t.tuneRuntime()
	return serve(t.name, pc, func(deps component.Deps, srv *admin.Server) ([]component.Named, error) {
		r, err := sb.build(withComponent(deps, t.name), srv)
		if err != nil {
			return nil, err
		}
		return []component.Named{{Name: t.name, Runner: r}}, nil
	}, stderr)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func withComponent(d component.Deps, name string) component.Deps {
	d.Logger = d.Logger.With("component", name)
	return d
}
