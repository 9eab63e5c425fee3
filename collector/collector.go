package collector

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/build"
	vcomponent "github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
)

// Config is Vigil's side of the collector: where its OpenTelemetry
// configuration lives and how its internal telemetry is served.
type Config struct {
	// Config lists the OpenTelemetry Collector configuration sources, merged
	// in order: file paths, or URIs with the file:, env: and yaml: schemes.
	// Relative paths are resolved against the directory of the file that
	// names them. Required.
	Config []string `yaml:"config"`
	// TelemetryURL is the collector's own Prometheus endpoint (its
	// service::telemetry::metrics reader); its series are served again on
	// the admin /metrics so one scrape covers the process. Empty disables.
	// Default http://127.0.0.1:8888/metrics.
	TelemetryURL string `yaml:"telemetry_url"`
	// ShutdownTimeout bounds the drain after the first signal. An exporter
	// whose backend is down retries through the collector's shutdown; past
	// this the process stops anyway, and what was not sent stays in the
	// persistent sending queue (file_storage) for the next start. Keep it
	// below the pod's terminationGracePeriodSeconds. Default 25s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// DefaultShutdownTimeout is ShutdownTimeout's default: within Kubernetes'
// 30 s grace period with room to spare.
const DefaultShutdownTimeout = 25 * time.Second

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{TelemetryURL: "http://127.0.0.1:8888/metrics", ShutdownTimeout: DefaultShutdownTimeout}
}

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	if len(c.Config) == 0 {
		p.Addf("config", "must name at least one OpenTelemetry Collector configuration file")
	}
	for i, s := range c.Config {
		if s == "" {
			p.Addf(fmt.Sprintf("config[%d]", i), "must not be empty")
		}
	}
	if c.ShutdownTimeout <= 0 {
		p.Addf("shutdown_timeout", "must be > 0 (got %s)", c.ShutdownTimeout)
	}
	return p.Err()
}

// Resolve makes relative file paths relative to dir.
func (c *Config) Resolve(dir string) {
	for i, s := range c.Config {
		if IsPath(s) && !filepath.IsAbs(s) {
			c.Config[i] = filepath.Join(dir, s)
		}
	}
}

// IsPath reports whether a configuration source is a plain file path rather
// than a provider URI such as yaml:, env: or file:.
func IsPath(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	return !ok || strings.ContainsAny(scheme, "/.") || len(scheme) < 2
}

// Service runs the collector in-process.
type Service struct {
	cfg  Config
	deps vcomponent.Deps
	col  *otelcol.Collector
}

// New builds the collector; it does no I/O.
func New(cfg Config, deps vcomponent.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	col, err := otelcol.NewCollector(settings(cfg))
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	s := &Service{cfg: cfg, deps: deps, col: col}
	if deps.Admin != nil {
		deps.Admin.AddCheck("collector", func() error {
			if st := col.GetState(); st != otelcol.StateRunning {
				return fmt.Errorf("collector is %s", st)
			}
			return nil
		})
	}
	return s, nil
}

// Gatherer returns the federation of the collector's internal telemetry, or
// nil when TelemetryURL is empty.
func (s *Service) Gatherer() prometheus.Gatherer {
	if s.cfg.TelemetryURL == "" {
		return nil
	}
	return &remoteGatherer{url: s.cfg.TelemetryURL, client: &http.Client{Timeout: 5 * time.Second}}
}

// Run runs the collector until ctx ends, then shuts it down: receivers stop
// first and the exporters' queues drain (or stay persisted on file_storage).
// A shutdown still running after ShutdownTimeout is abandoned with an error:
// the process exits, and a persistent queue keeps what was not sent.
func (s *Service) Run(ctx context.Context) error {
	// The one rule the collector itself does not know: refuse to send
	// Kafka credentials in clear (Check reports it too).
	if err := checkConfig(ctx, s.cfg, false); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.col.Run(ctx) }()
	select {
	case err := <-done:
		return wrap(err)
	case <-ctx.Done():
	}
	t := time.NewTimer(s.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return wrap(err)
	case <-t.C:
		return fmt.Errorf("collector: shutdown not done after %s (an exporter still retrying?); stopping anyway, unsent data stays in the persistent sending queue", s.cfg.ShutdownTimeout)
	}
}

func wrap(err error) error {
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	return nil
}

// Check validates the OpenTelemetry configuration as the collector would at
// start (unknown keys, bad values, unknown components), without starting it,
// and that the receivers' certificate files and the bearer token files exist
// and are readable.
func Check(ctx context.Context, cfg Config) error {
	col, err := otelcol.NewCollector(settings(cfg))
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	if err := col.DryRun(ctx); err != nil {
		// The collector names the processor of a refused OTTL statement;
		// the statement's own path and text follow.
		if perr := statementProblems(ctx, cfg); perr != nil {
			return fmt.Errorf("collector: %w\n%w", err, perr)
		}
		return fmt.Errorf("collector: %w", err)
	}
	return checkConfig(ctx, cfg, true)
}

// checkConfig reports, by path, what the collector's own validation lets
// through: a component with auth.sasl but no tls (a Kafka exporter would
// send its credentials in clear; tls: {insecure: true} says that is meant),
// and, with files, every tls.ca_file, cert_file and key_file that cannot be
// read (the collector would only fail when the component starts).
// tlsFileKeys are the file settings of a tls block (configtls.ServerConfig
// and ClientConfig). The collector's own dry run reads none of them, so
// without checkConfig a wrong Secret mount is found only at start.
var tlsFileKeys = []string{"cert_file", "key_file", "ca_file", "client_ca_file"}

func checkConfig(ctx context.Context, cfg Config, files bool) error {
	r, err := confmap.NewResolver(settings(Config{Config: cfg.Config}).ConfigProviderSettings.ResolverSettings)
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	conf, err := r.Resolve(ctx)
	if err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	var p config.Problems
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if auth, ok := m["auth"].(map[string]any); ok && auth["sasl"] != nil {
			if _, ok := m["tls"]; !ok {
				p.Addf(config.Join(path, "auth.sasl"), "SASL without TLS sends credentials in clear; set tls (tls: {ca_file: ...}), or tls: {insecure: true} to accept that")
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			sub := config.Join(path, k)
			if k == "tls" && files {
				if t, ok := m[k].(map[string]any); ok {
					for _, f := range tlsFileKeys {
						file, _ := t[f].(string)
						p.Merge(config.Join(sub, f), config.CheckReadable(file))
					}
				}
			}
			if files && path == "extensions" && strings.HasPrefix(k, "bearertokenauth") {
				if ext, ok := m[k].(map[string]any); ok {
					file, _ := ext["filename"].(string)
					p.Merge(config.Join(sub, "filename"), config.CheckReadable(file))
				}
			}
			walk(sub, m[k])
		}
	}
	walk("", conf.ToStringMap())
	return p.Err()
}

func settings(cfg Config) otelcol.CollectorSettings {
	return otelcol.CollectorSettings{
		Factories: Factories,
		BuildInfo: component.BuildInfo{
			Command:     "vigil collector",
			Description: "Vigil OpenTelemetry Collector distribution",
			Version:     build.Version,
		},
		// The vigil process owns signals: the first drains every component,
		// the second aborts.
		DisableGracefulShutdown: true,
		LoggingOptions:          []zap.Option{calmKafkaLogs(func() map[string][]string { return kafkaBrokers(cfg) })},
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				URIs:               cfg.Config,
				DefaultScheme:      "env",
				ProviderFactories:  []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
				ConverterFactories: []confmap.ConverterFactory{confmap.NewConverterFactory(newStripVigil)},
			},
		},
	}
}

// VigilKey is the top-level key of a collector configuration that holds
// Vigil's own settings for the process and is hidden from the collector.
const VigilKey = "vigil"

type stripVigil struct{}

func newStripVigil(confmap.ConverterSettings) confmap.Converter { return stripVigil{} }

func (stripVigil) Convert(_ context.Context, conf *confmap.Conf) error {
	conf.Delete(VigilKey)
	return nil
}

// remoteGatherer reads the collector's internal telemetry endpoint. A failed
// read yields no series rather than failing the whole scrape, so Vigil's own
// metrics stay visible while the collector is starting or stopping.
type remoteGatherer struct {
	url    string
	client *http.Client
}

func (g *remoteGatherer) Gather() ([]*dto.MetricFamily, error) {
	resp, err := g.client.Get(g.url)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("collector: parse %s: %w", g.url, err)
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for name, f := range fams {
		// The scrape handler's own counters exist on both sides.
		if strings.HasPrefix(name, "promhttp_") {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}

// kafkaBrokers returns the brokers of each Kafka exporter in the
// configuration, by exporter id, for log lines that name only a seed index.
// The configuration is resolved again for this, once, when the first such
// line is logged; nothing if it cannot be.
func kafkaBrokers(cfg Config) map[string][]string {
	out := map[string][]string{}
	r, err := confmap.NewResolver(settings(Config{Config: cfg.Config}).ConfigProviderSettings.ResolverSettings)
	if err != nil {
		return out
	}
	conf, err := r.Resolve(context.Background())
	if err != nil {
		return out
	}
	exps, err := conf.Sub("exporters")
	if err != nil {
		return out
	}
	for id, v := range exps.ToStringMap() {
		m, _ := v.(map[string]any)
		bs, _ := m["brokers"].([]any)
		for _, b := range bs {
			out[id] = append(out[id], fmt.Sprint(b))
		}
	}
	return out
}
