package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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

// Config is what `vigil setup` prepares.
type Config struct {
	// Kafka is the cluster whose topics are created.
	Kafka kafka.Conn `yaml:"kafka"`
	// Topics replaces the default topic list (see DefaultTopics) when set.
	Topics []Topic `yaml:"topics"`
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
	Dashboards DashboardsConfig `yaml:"dashboards"`
	// Timeout bounds the whole run. Default 2m.
	Timeout time.Duration `yaml:"timeout"`
}

// DashboardsConfig is OpenSearch Dashboards' address and credentials, and
// the saved objects to import.
type DashboardsConfig struct {
	dashboards.Config `yaml:",inline"`
	// ObjectsDir is a directory of *.ndjson saved objects to import instead
	// of the ones built in (configs/dashboards). Default empty: built in.
	ObjectsDir string `yaml:"objects_dir"`
}

// Retention defaults.
const (
	day               = 24 * time.Hour
	otlpRetention     = 3 * day
	deadLetterRetains = 14 * day
)

// DefaultTopics are the topics Vigil's components use. The OTLP topics get
// enough partitions for a few pipeline replicas (replicas beyond the
// partition count idle); the event and state topics are compacted so they
// keep the latest record per key (target) for ever.
func DefaultTopics() []Topic {
	ms := func(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }
	compacted := map[string]string{"cleanup.policy": "compact"}
	return []Topic{
		{Name: "otlp_logs", Partitions: 6, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(otlpRetention)}},
		// The priority lane's: ERROR-and-above logs.
		{Name: "otlp_logs_priority", Partitions: 6, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(otlpRetention)}},
		{Name: "otlp_spans", Partitions: 6, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(otlpRetention)}},
		{Name: "vigil.dlq", Partitions: 3, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(deadLetterRetains), "max.message.bytes": "33554432"}},
		{Name: "vigil.health", Partitions: 1, ReplicationFactor: -1, Configs: compacted},
		{Name: "vigil.failover", Partitions: 1, ReplicationFactor: -1, Configs: compacted},
		{Name: "vigil.alerting.state", Partitions: 1, ReplicationFactor: -1, Configs: compacted},
		// One partition: its owner in the detector's group is the leader.
		{Name: "vigil.detector.leader", Partitions: 1, ReplicationFactor: -1},
	}
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Kafka:      kafka.DefaultConn("vigil-setup"),
		Topics:     DefaultTopics(),
		OpenSearch: opensearch.DefaultConfig(),
		Indices:    pipeline.DefaultConfig().Indices,
		Dashboards: DashboardsConfig{Config: dashboards.DefaultConfig()},
		Timeout:    2 * time.Minute,
	}
}

// Validate reports every problem.
func (c Config) Validate() error {
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

// Run prepares everything — Kafka topics, then OpenSearch index templates
// and ISM policies (unless indices.install_templates is false), then
// Dashboards saved objects (when dashboards.url is set) — and writes one
// line per resource to w, ending with a summary line that says whether
// anything changed. A failing step does not stop the later ones; their
// errors are joined.
func Run(ctx context.Context, c Config, dryRun bool, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var changes []Change
	var errs []error
	ch, err := runKafka(ctx, c, dryRun)
	changes, errs = append(changes, ch...), append(errs, err)
	if c.Indices.InstallTemplates {
		ch, err := runOpenSearch(ctx, c, dryRun)
		changes, errs = append(changes, ch...), append(errs, err)
	}
	if c.Dashboards.Enabled() {
		ch, err := runDashboards(ctx, c.Dashboards, dryRun)
		changes, errs = append(changes, ch...), append(errs, err)
	}
	err = errors.Join(errs...)
	report(w, changes, dryRun, err != nil)
	return err
}

func runKafka(ctx context.Context, c Config, dryRun bool) ([]Change, error) {
	opts, err := c.Kafka.Opts()
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("setup: kafka client: %w", err)
	}
	defer cl.Close()
	ch, err := EnsureTopics(ctx, kadm.NewClient(cl), c.Topics, dryRun)
	if err != nil {
		// Name the cluster: a refused password or certificate says why,
		// not where.
		err = fmt.Errorf("kafka %s: %w", strings.Join(c.Kafka.Brokers, ","), err)
	}
	return ch, err
}

// runOpenSearch runs the pipeline's own installer, so that setup and the
// pipeline install the same versions and neither downgrades the other.
func runOpenSearch(ctx context.Context, c Config, dryRun bool) ([]Change, error) {
	osc, err := opensearch.NewClient(c.OpenSearch)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	defer osc.Close()
	var changes []Change
	in := c.Indices.Installer(osc, slog.New(slog.DiscardHandler))
	in.DryRun = dryRun
	// The installer's actions for what it leaves alone start with
	// "unchanged" or "skipped", which is what Change.Changed reads.
	in.Report = func(resource, action string, _ bool) {
		changes = append(changes, Change{"opensearch " + resource, action})
	}
	if err := in.Install(ctx); err != nil {
		return changes, fmt.Errorf("setup: opensearch %s: %w", strings.Join(c.OpenSearch.Addresses, ","), err)
	}
	return changes, nil
}

func runDashboards(ctx context.Context, c DashboardsConfig, dryRun bool) ([]Change, error) {
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
	changes := make([]Change, len(results))
	for i, r := range results {
		changes[i] = Change{fmt.Sprintf("dashboards %s %s", r.Object.Type, r.Object.ID), r.Action}
	}
	return changes, nil
}

// report lists the changes; failed says a step failed, so "nothing changed"
// must not read as "everything is set up".
func report(w io.Writer, changes []Change, dryRun, failed bool) {
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
