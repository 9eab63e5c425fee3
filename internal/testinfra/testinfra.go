package testinfra

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Probes are short: the servers are on loopback, so anything slower than
// this means "not running", and a skipped test should not hang first.
const (
	dialTimeout = 2 * time.Second
	httpTimeout = 5 * time.Second
)

// infraTimeout bounds one infra.sh call. OpenSearch alone may take up to
// 120 s to become ready after a crash, so leave room above that.
const infraTimeout = 5 * time.Minute

// action is what a test does when something it needs is missing.
type action int

const (
	skip action = iota
	fail
)

// missing decides between skipping and failing; kept apart from the
// testing.TB plumbing so the policy itself can be tested.
func missing(ci bool) action {
	if ci {
		return fail
	}
	return skip
}

func onCI() bool { return os.Getenv("CI") == "true" }

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if missing(onCI()) == fail {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

const upHint = "run `make infra-up` (scripts/infra.sh up) and eval \"$(scripts/env.sh)\""

// Kafka returns the broker address (host:port) once it accepts TCP
// connections.
func Kafka(t testing.TB) string {
	t.Helper()
	addr := lookupEnv(t, "kafka", "VIGIL_TEST_KAFKA")
	conn, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		unavailable(t, "kafka at %s is not reachable (%v); %s", addr, err, upHint)
	}
	conn.Close()
	return addr
}

// OpenSearch returns the base URL of the primary OpenSearch once it answers.
func OpenSearch(t testing.TB) string {
	t.Helper()
	return httpServer(t, "opensearch", "VIGIL_TEST_OPENSEARCH", "/")
}

// OpenSearchStandby returns the base URL of the standby OpenSearch (the
// failover target). It is not part of the default `infra.sh up` set, so the
// hint says how to start it.
func OpenSearchStandby(t testing.TB) string {
	t.Helper()
	return httpServer(t, "opensearch-standby", "VIGIL_TEST_OPENSEARCH_STANDBY", "/")
}

// Prometheus returns the base URL of Prometheus once it reports ready.
func Prometheus(t testing.TB) string {
	t.Helper()
	return httpServer(t, "prometheus", "VIGIL_TEST_PROMETHEUS", "/-/ready")
}

// PrometheusTargetsDir returns the file_sd directory Prometheus watches; a
// JSON file dropped there becomes a scrape target within ~5 s.
func PrometheusTargetsDir(t testing.TB) string {
	t.Helper()
	dir := lookupEnv(t, "prometheus", "VIGIL_TEST_PROMETHEUS_TARGETS")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		unavailable(t, "prometheus targets dir %s does not exist; %s", dir, upHint)
	}
	return dir
}

// ScrapeTarget makes the real Prometheus scrape addr (host:port) with
// labels, through a file_sd file named for name in PrometheusTargetsDir,
// removed when the test ends. The file is written aside and renamed, so
// Prometheus never reads half a file. Prometheus re-reads the directory
// every 5 s; a "__scrape_interval__" label overrides the scrape interval.
func ScrapeTarget(t testing.TB, name, addr string, labels map[string]string) {
	t.Helper()
	dir := PrometheusTargetsDir(t)
	sd, err := json.Marshal([]map[string]any{{"targets": []string{addr}, "labels": labels}})
	if err != nil {
		t.Fatalf("testinfra: scrape target %s: %v", name, err)
	}
	final := filepath.Join(dir, name+".json")
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, sd, 0o644); err != nil {
		t.Fatalf("testinfra: scrape target %s: %v", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatalf("testinfra: scrape target %s: %v", name, err)
	}
	t.Cleanup(func() { _ = os.Remove(final) })
}

func lookupEnv(t testing.TB, server, key string) string {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		hint := upHint
		if server == "opensearch-standby" {
			hint = "run `scripts/infra.sh up opensearch-standby` and eval \"$(scripts/env.sh)\""
		}
		unavailable(t, "%s: %s is not set; %s", server, key, hint)
	}
	return v
}

func httpServer(t testing.TB, server, key, path string) string {
	t.Helper()
	base := strings.TrimRight(lookupEnv(t, server, key), "/")
	client := &http.Client{Timeout: httpTimeout}
	resp, err := client.Get(base + path)
	if err != nil {
		unavailable(t, "%s at %s is not reachable (%v); %s", server, base, err, upHint)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		unavailable(t, "%s at %s answered %s on %s; %s", server, base, resp.Status, path, upHint)
	}
	return base
}

// Stop shuts a server down cleanly (SIGTERM) to simulate an outage; its data
// is kept, so Start brings it back with everything it had.
func Stop(t testing.TB, server string) { t.Helper(); infra(t, "stop", server) }

// Start starts a server and returns once it is ready. It is safe to call
// from t.Cleanup, which is where outage tests should restore the server.
func Start(t testing.TB, server string) { t.Helper(); infra(t, "start", server) }

// Kill SIGKILLs a server to simulate a crash; Start recovers it from disk.
func Kill(t testing.TB, server string) { t.Helper(); infra(t, "kill", server) }

func infra(t testing.TB, verb, server string) {
	t.Helper()
	script := os.Getenv("VIGIL_INFRA")
	if script == "" {
		t.Fatalf("VIGIL_INFRA is not set, cannot %s %s; eval \"$(scripts/env.sh)\" first", verb, server)
	}
	// Not t.Context(): it is already cancelled while Cleanup functions run,
	// and Start is meant to be called from one.
	ctx, cancel := context.WithTimeout(context.Background(), infraTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, verb, server)
	// infra.sh detaches the servers from its output, but if anything ever
	// inherits the pipe, don't wait on it forever.
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("infra.sh %s %s (%s):\n%s", verb, server, time.Since(start).Round(time.Millisecond), strings.TrimRight(string(out), "\n"))
	if err != nil {
		t.Fatalf("infra.sh %s %s failed: %v", verb, server, err)
	}
}

// Tool returns the path of a command-line tool (telemetrygen, kcat, helm)
// from PATH or the cache bin dir scripts/tools.sh installs into, so tests
// work whether or not scripts/env.sh put that dir on PATH.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dir := cacheBin()
	if dir != "" {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	unavailable(t, "tool %s not found on PATH or in %q; run `make tools` (scripts/tools.sh)", name, dir)
	return ""
}

// cacheBin finds <cache>/bin: from VIGIL_CACHE, else by walking up from the
// working directory (a package dir under `go test`) to the repo's .cache.
func cacheBin() string {
	if c := os.Getenv("VIGIL_CACHE"); c != "" {
		return filepath.Join(c, "bin")
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, ".cache", "bin")); err == nil && fi.IsDir() {
			return filepath.Join(dir, ".cache", "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Proxy is the TLS ingress with HTTP basic auth and a required client
// certificate in front of the real OpenSearch pair (scripts/infra.sh
// opensearch-proxy, Debian's nginx).
type Proxy struct {
	URL, StandbyURL string // https://127.0.0.1:port -> opensearch, opensearch-standby
	User            string
	PasswordFile    string
	CAFile          string // the throwaway CA that signed the proxy's and the client's certificates
	CertFile        string // a client certificate the proxy accepts
	KeyFile         string
}

// OpenSearchProxy returns the proxy's settings once it answers TLS (any
// HTTP status: without credentials it says 400 or 401).
func OpenSearchProxy(t testing.TB) Proxy {
	t.Helper()
	const hint = "run `scripts/infra.sh up opensearch-proxy` and eval \"$(scripts/env.sh)\""
	get := func(key string) string {
		v := os.Getenv(key)
		if v == "" {
			unavailable(t, "opensearch-proxy: %s is not set; %s", key, hint)
		}
		return v
	}
	p := Proxy{
		URL:          get("VIGIL_TEST_OPENSEARCH_PROXY"),
		StandbyURL:   get("VIGIL_TEST_OPENSEARCH_PROXY_STANDBY"),
		User:         get("VIGIL_TEST_OPENSEARCH_PROXY_USER"),
		PasswordFile: get("VIGIL_TEST_OPENSEARCH_PROXY_PASSWORD_FILE"),
		CAFile:       filepath.Join(get("VIGIL_TEST_TLS_DIR"), "ca.crt"),
		CertFile:     get("VIGIL_TEST_OPENSEARCH_PROXY_CERT"),
		KeyFile:      get("VIGIL_TEST_OPENSEARCH_PROXY_KEY"),
	}
	for _, f := range []string{p.PasswordFile, p.CAFile, p.CertFile, p.KeyFile} {
		if _, err := os.Stat(f); err != nil {
			unavailable(t, "opensearch-proxy: %v; %s", err, hint)
		}
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.URL, "https://"), dialTimeout)
	if err != nil {
		unavailable(t, "opensearch-proxy at %s is not reachable (%v); %s", p.URL, err, hint)
	}
	conn.Close()
	return p
}
