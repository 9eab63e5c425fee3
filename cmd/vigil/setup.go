package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	assets "github.com/vigil-dev/vigil/configs/dashboards"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/dashboards"
	"github.com/vigil-dev/vigil/internal/kafka"
	"github.com/vigil-dev/vigil/pipeline"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// `vigil setup` prepares the systems Vigil writes to, idempotently and
// reporting every change: Kafka topics with their partitions and configs
// (internal/kafka, DefaultTopics), OpenSearch index templates and ISM
// policies (through the pipeline's installer: the pipeline owns its
// documents and their schema), and OpenSearch Dashboards saved objects.
// Running it twice changes nothing the second time and says so; it never
// deletes a topic or lowers a partition count, because both would lose data
// or break key ordering.

func setupCommand() command {
	return command{"setup", "create Kafka topics, install index templates and Dashboards objects (idempotent)", runSetup}
}

func runSetup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "setup configuration file (YAML); defaults apply without one")
	dryRun := fs.Bool("dry-run", false, "report what would change and change nothing")
	check := fs.Bool("check", false, "validate the configuration and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vigil setup [--config FILE] [--dry-run] [--check]\n\nCreate Kafka topics with their partitions and configs, install the OpenSearch index templates and\nISM policies, and import the OpenSearch Dashboards saved objects when dashboards.url is set.\nIdempotent: each run reports what it changed, and a run with nothing to do says so.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	cfg := defaultSetupConfig()
	if *cfgPath != "" {
		if err := config.Load(*cfgPath, &cfg); err != nil {
			fmt.Fprintf(stderr, "vigil setup: %v\n", err)
			return exitBadArgs
		}
	}
	if *check {
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *cfgPath)
		return exitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := setUp(ctx, cfg, *dryRun, stdout); err != nil {
		fmt.Fprintf(stderr, "vigil setup: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// setupConfig is what `vigil setup` prepares.
type setupConfig struct {
	// Kafka is the cluster whose topics are created.
	Kafka kafka.Conn `yaml:"kafka"`
	// Topics replaces the default topic list (see kafka.DefaultTopics) when set.
	Topics []kafka.Topic `yaml:"topics"`
	// OpenSearch is the cluster the index templates and ISM policies are
	// installed in: the pipeline's opensearch section. Default
	// http://127.0.0.1:9200.
	OpenSearch opensearch.Config `yaml:"opensearch"`
	// Indices names the indices and sets their settings, as the pipeline's
	// indices section does (same keys, same defaults); install_templates:
	// false skips OpenSearch.
	Indices pipeline.IndicesConfig `yaml:"indices"`
	// Dashboards is where the saved objects of configs/dashboards are
	// imported; without a url nothing is.
	Dashboards setupDashboardsConfig `yaml:"dashboards"`
	// Timeout bounds the whole run. Default 2m.
	Timeout time.Duration `yaml:"timeout"`
}

// setupDashboardsConfig is OpenSearch Dashboards' address and credentials, and
// the saved objects to import.
type setupDashboardsConfig struct {
	dashboards.Config `yaml:",inline"`
	// ObjectsDir is a directory of *.ndjson saved objects to import instead
	// of the ones built in (configs/dashboards). Default empty: built in.
	ObjectsDir string `yaml:"objects_dir"`
}

// defaultSetupConfig returns the defaults.
func defaultSetupConfig() setupConfig {
	return setupConfig{
		Kafka:      kafka.DefaultConn("vigil-setup"),
		Topics:     kafka.DefaultTopics(),
		OpenSearch: opensearch.DefaultConfig(),
		Indices:    pipeline.DefaultConfig().Indices,
		Dashboards: setupDashboardsConfig{Config: dashboards.DefaultConfig()},
		Timeout:    2 * time.Minute,
	}
}

// Validate reports every problem.
func (c setupConfig) Validate() error {
	var p config.Problems
	p.Merge("kafka", c.Kafka.Validate())
	seen := map[string]bool{}
	for i, t := range c.Topics {
		path := fmt.Sprintf("topics[%d]", i)
		if t.Name == "" {
			p.Addf(path+".name", "must not be empty")
		}
		if seen[t.Name] {
			p.Addf(path+".name", "topic %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		if t.Partitions < 1 {
			p.Addf(path+".partitions", "must be >= 1 (got %d)", t.Partitions)
		}
		if t.ReplicationFactor == 0 || t.ReplicationFactor < -1 {
			p.Addf(path+".replication_factor", "must be >= 1, or -1 for the broker default (got %d)", t.ReplicationFactor)
		}
	}
	if c.Indices.InstallTemplates {
		p.Merge("opensearch", c.OpenSearch.Validate())
		p.Merge("indices", c.Indices.Validate())
	}
	p.Merge("dashboards", c.Dashboards.Validate())
	if c.Timeout <= 0 {
		p.Addf("timeout", "must be > 0 (got %s)", c.Timeout)
	}
	return p.Err()
}

// setUp prepares everything — Kafka topics, then OpenSearch index templates
// and ISM policies (unless indices.install_templates is false), then
// Dashboards saved objects (when dashboards.url is set) — and writes one
// line per resource to w, ending with a summary line that says whether
// anything changed. A failing step does not stop the later ones; their
// errors are joined.
func setUp(ctx context.Context, c setupConfig, dryRun bool, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var changes []kafka.Change
	var errs []error
	ch, err := setupKafka(ctx, c, dryRun)
	changes, errs = append(changes, ch...), append(errs, err)
	if c.Indices.InstallTemplates {
		ch, err := setupOpenSearch(ctx, c, dryRun)
		changes, errs = append(changes, ch...), append(errs, err)
	}
	if c.Dashboards.Enabled() {
		ch, err := setupDashboards(ctx, c.Dashboards, dryRun)
		changes, errs = append(changes, ch...), append(errs, err)
	}
	err = errors.Join(errs...)
	reportSetup(w, changes, dryRun, err != nil)
	return err
}

func setupKafka(ctx context.Context, c setupConfig, dryRun bool) ([]kafka.Change, error) {
	opts, err := c.Kafka.Opts()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("setup: kafka client: %w", err)
	}
	defer cl.Close()
	mode := kafka.Reconcile
	if dryRun {
		mode = kafka.DryRun
	}
	ch, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), c.Topics, mode)
	if err != nil {
		// Name the cluster: a refused password or certificate says why,
		// not where.
		err = fmt.Errorf("kafka %s: %w", strings.Join(c.Kafka.Brokers, ","), err)
	}
	return ch, err
}

// setupOpenSearch runs the pipeline's own installer, so that setup and the
// pipeline install the same versions and neither downgrades the other.
func setupOpenSearch(ctx context.Context, c setupConfig, dryRun bool) ([]kafka.Change, error) {
	osc, err := opensearch.NewClient(c.OpenSearch)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	defer osc.Close()
	var changes []kafka.Change
	in := c.Indices.Installer(osc, slog.New(slog.DiscardHandler))
	in.DryRun = dryRun
	// The installer's actions for what it leaves alone start with
	// "unchanged" or "skipped", which is what Change.Changed reads.
	in.Report = func(resource, action string, _ bool) {
		changes = append(changes, kafka.Change{Resource: "opensearch " + resource, Action: action})
	}
	if err := in.Install(ctx); err != nil {
		return changes, fmt.Errorf("setup: opensearch %s: %w", strings.Join(c.OpenSearch.Addresses, ","), err)
	}
	return changes, nil
}

func setupDashboards(ctx context.Context, c setupDashboardsConfig, dryRun bool) ([]kafka.Change, error) {
	fsys := assets.FS
	objs, err := dashboards.Load(fsys)
	if c.ObjectsDir != "" {
		objs, err = dashboards.Load(os.DirFS(c.ObjectsDir))
	}
	if err != nil {
		return nil, fmt.Errorf("setup: dashboards saved objects: %w", err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("setup: dashboards saved objects: no *.ndjson objects in %s", c.ObjectsDir)
	}
	cl, err := dashboards.NewClient(c.Config)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	defer cl.Close()
	results, err := cl.Sync(ctx, objs, dryRun)
	if err != nil {
		return nil, fmt.Errorf("setup: %s: %w", c.URL, err)
	}
	changes := make([]kafka.Change, len(results))
	for i, r := range results {
		changes[i] = kafka.Change{Resource: fmt.Sprintf("dashboards %s %s", r.Object.Type, r.Object.ID), Action: r.Action}
	}
	return changes, nil
}

// reportSetup lists the changes; failed says a step failed, so "nothing changed"
// must not read as "everything is set up".
func reportSetup(w io.Writer, changes []kafka.Change, dryRun, failed bool) {
	changed := 0
	for _, ch := range changes {
		if ch.Changed() {
			changed++
		}
		fmt.Fprintln(w, ch)
	}
	switch {
	case dryRun:
		fmt.Fprintf(w, "dry run: %d change(s) would be made\n", changed)
	case failed:
		fmt.Fprintf(w, "%d change(s) made before a failure\n", changed)
	case changed == 0:
		fmt.Fprintln(w, "nothing changed: everything was already set up")
	default:
		fmt.Fprintf(w, "%d change(s) made\n", changed)
	}
}
