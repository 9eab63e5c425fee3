package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigil-dev/vigil/internal/config"
)

// Config is where the admin endpoints listen.
type Config struct {
	// ListenAddress is host:port for /metrics, /healthz and /readyz.
	// Default 127.0.0.1:8880; ":0" picks a free port (tests).
	ListenAddress string `yaml:"listen_address"`
	// ShutdownGrace is how long /readyz reports 503 before the server closes,
	// so that load balancers stop routing first. Default 0.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// TLS serves the endpoints over HTTPS. Default off (plain HTTP).
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig is the admin server's certificate and, optionally, the CA that
// client certificates must chain to. TLS is on when CertFile is set.
type TLSConfig struct {
	// CertFile is the server certificate chain (PEM). Default "" (plain HTTP).
	CertFile string `yaml:"cert_file"`
	// KeyFile is CertFile's private key (PEM). Required with CertFile.
	KeyFile string `yaml:"key_file"`
	// ClientCAFile, when set, makes the server require a client certificate
	// signed by one of these CAs (PEM bundle), so only holders of such a
	// certificate (a Prometheus with its own client cert, say) can scrape.
	// Default "" (no client certificate asked for).
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the server speaks TLS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

// Validate reports every problem, including certificate files that are
// missing or unreadable, so --check finds them before a start does.
func (t TLSConfig) Validate() error {
	var p config.Problems
	if t.CertFile == "" && (t.KeyFile != "" || t.ClientCAFile != "") {
		p.Addf("cert_file", "must be set when key_file or client_ca_file is")
	}
	if t.CertFile != "" && t.KeyFile == "" {
		p.Addf("key_file", "must be set when cert_file is")
	}
	p.Merge("cert_file", config.CheckReadable(t.CertFile))
	p.Merge("key_file", config.CheckReadable(t.KeyFile))
	p.Merge("client_ca_file", config.CheckReadable(t.ClientCAFile))
	if p.Err() == nil && t.Enabled() {
		if _, err := t.config(); err != nil {
			p.Addf("", "%v", err)
		}
	}
	return p.Err()
}

// config loads the files into a server tls.Config.
func (t TLSConfig) config() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file/key_file: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client_ca_file: no PEM certificates in %s", t.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{ListenAddress: "127.0.0.1:8880"} }

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		p.Addf("listen_address", "must be host:port (got %q)", c.ListenAddress)
	}
	if c.ShutdownGrace < 0 {
		p.Addf("shutdown_grace", "must be >= 0 (got %s)", c.ShutdownGrace)
	}
	p.Merge("tls", c.TLS.Validate())
	return p.Err()
}

// Server is the admin HTTP server. It is safe for concurrent use.
type Server struct {
	cfg    Config
	reg    *prometheus.Registry
	log    *slog.Logger
	mux    *http.ServeMux
	mu     sync.Mutex
	checks map[string]func() error
	extra  []prometheus.Gatherer
	down   bool
	ln     net.Listener
}

// New builds a server around reg; it does no I/O.
func New(cfg Config, reg *prometheus.Registry, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, reg: reg, log: log, mux: http.NewServeMux(), checks: map[string]func() error{}}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(prometheus.GathererFunc(s.gather), promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError, ErrorLog: slogErrorLog{log}}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// Handle mounts a component's handler, e.g. "POST /api/v1/alerts/grafana".
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddGatherer serves g's metrics beside the registry's, so that a component
// with metrics of its own making (the collector's internal telemetry) is
// scraped from the same endpoint.
func (s *Server) AddGatherer(g prometheus.Gatherer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.extra = append(s.extra, g)
}

func (s *Server) gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	gs := append(prometheus.Gatherers{s.reg}, s.extra...)
	s.mu.Unlock()
	return gs.Gather()
}

// AddCheck registers a readiness check; /readyz fails while it returns an error.
func (s *Server) AddCheck(name string, check func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

// ShuttingDown makes /readyz answer 503 from now on. Safe to call twice.
func (s *Server) ShuttingDown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = true
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	down := s.down
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := make([]func() error, 0, len(names))
	sort.Strings(names)
	for _, n := range names {
		checks = append(checks, s.checks[n])
	}
	s.mu.Unlock()
	if down {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	var failed []string
	for i, c := range checks {
		if err := c(); err != nil {
			failed = append(failed, names[i]+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		http.Error(w, "not ready\n"+strings.Join(failed, "\n"), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// Listen binds the address so that a port conflict fails start-up at once,
// before any component runs.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", s.cfg.ListenAddress, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.ListenAddress
	}
	return s.ln.Addr().String()
}

// Run serves until ctx ends. When ctx ends /readyz turns 503 at once, and the
// listener stays open for ShutdownGrace more so probes can see it.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	ln, scheme := s.ln, "http"
	if s.cfg.TLS.Enabled() {
		// Files are read at start (not at New) so that New does no I/O;
		// Validate has already reported unreadable ones.
		cfg, err := s.cfg.TLS.config()
		if err != nil {
			return fmt.Errorf("admin: tls: %w", err)
		}
		ln, scheme = tls.NewListener(s.ln, cfg), "https"
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("admin server listening", "address", s.Addr(), "scheme", scheme)
	select {
	case err := <-errc:
		return fmt.Errorf("admin: serve: %w", err)
	case <-ctx.Done():
	}
	s.ShuttingDown()
	if s.cfg.ShutdownGrace > 0 {
		time.Sleep(s.cfg.ShutdownGrace)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return nil
}

// slogErrorLog adapts the logger for promhttp, which reports a partial
// scrape (one bad series) while still serving the rest.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("metrics scrape", "err", fmt.Sprint(v...)) }
