package opensearch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	opensearchgo "github.com/opensearch-project/opensearch-go/v4"

	"github.com/vigil-dev/vigil/internal/config"
)

// Config is how to reach one OpenSearch cluster. It is deliberately small
// and self-contained so that a standby sink (and the alerting component) can
// reuse it.
type Config struct {
	// Name labels the cluster in metrics (vigil_pipeline_opensearch_up).
	// Default "primary".
	Name string `yaml:"name"`
	// Addresses are the cluster's HTTP(S) endpoints. Default
	// ["http://127.0.0.1:9200"].
	Addresses []string `yaml:"addresses"`
	// Username for HTTP basic auth. Default none.
	Username string `yaml:"username"`
	// Password for HTTP basic auth ({env: NAME} or {file: path}). Default none.
	Password config.Secret `yaml:"password"`
	// TLS settings for https addresses.
	TLS TLSConfig `yaml:"tls"`
	// RequestTimeout bounds each HTTP request. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Gzip compresses request bodies. Default false.
	Gzip bool `yaml:"gzip"`
}

// TLSConfig configures server verification and the client certificate.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	// Default none.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// clusters (or the ingress in front of them) that require one. Set both
	// or neither. Default none.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables certificate checks (tests only). Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Name: "primary", Addresses: []string{"http://127.0.0.1:9200"}, RequestTimeout: 30 * time.Second}
}

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	if c.Name == "" {
		p.Addf("name", "must not be empty")
	}
	if len(c.Addresses) == 0 {
		p.Addf("addresses", "must name at least one address")
	}
	for i, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf(fmt.Sprintf("addresses[%d]", i), "must be an http:// or https:// URL (got %q)", a)
		}
	}
	if c.RequestTimeout <= 0 {
		p.Addf("request_timeout", "must be > 0 (got %s)", c.RequestTimeout)
	}
	if c.Password.IsSet() && c.Username == "" {
		p.Addf("username", "must be set when password is")
	}
	c.TLS.validate(&p)
	return p.Err()
}

// validate reports missing or unreadable files here, not at the first
// connection: a mistyped path should stop `--check`, not a running pipeline.
func (t TLSConfig) validate(p *config.Problems) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		p.Addf("tls", "set both cert_file and key_file, or neither")
	}
	unreadable := false
	for _, f := range []struct{ path, file string }{
		{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile},
	} {
		if f.file == "" {
			continue
		}
		b, err := os.ReadFile(f.file)
		if err != nil {
			p.Addf(f.path, "cannot read %s: %v", f.file, errors.Unwrap(err))
			unreadable = true
			continue
		}
		if f.path == "tls.ca_file" && !x509.NewCertPool().AppendCertsFromPEM(b) {
			p.Addf(f.path, "no PEM certificate in %s", f.file)
		}
	}
	if t.CertFile != "" && t.KeyFile != "" && !unreadable {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			p.Addf("tls.cert_file", "with tls.key_file: %v", err)
		}
	}
}

// tlsConfig is the client side of TLSConfig; files were checked by
// validate, but may have changed since, so errors name them again.
func (t TLSConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, tests only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file/tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// basicAuth sets the credentials on every request. The password secret is
// resolved again on each request (one small file read or env lookup, next
// to a bulk request's megabytes), so a password fixed in its file or
// rotated by Kubernetes takes effect on the next retry without a restart.
type basicAuth struct {
	user string
	pass config.Secret
	next http.RoundTripper
}

func (b basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	pw, err := b.pass.Resolve()
	if err != nil {
		return nil, fmt.Errorf("password: %w", err)
	}
	req = req.Clone(req.Context())
	req.SetBasicAuth(b.user, pw)
	return b.next.RoundTrip(req)
}

// Client is a thin wrapper over opensearch-go's transport: the pipeline needs
// raw status codes and bodies (to classify bulk failures itself), not typed
// responses, and it does its own retries.
type Client struct {
	name    string
	tr      *opensearchgo.Client
	timeout time.Duration
}

// NewClient builds a client; it does no I/O.
func NewClient(c Config) (*Client, error) {
	rt, err := c.Transport()
	if err != nil {
		return nil, err
	}
	oc := opensearchgo.Config{
		Addresses:           c.Addresses,
		DisableRetry:        true,
		CompressRequestBody: c.Gzip,
		Transport:           rt,
	}
	tr, err := opensearchgo.NewClient(oc)
	if err != nil {
		return nil, fmt.Errorf("opensearch client: %w", err)
	}
	return &Client{name: c.Name, tr: tr, timeout: c.RequestTimeout}, nil
}

// Transport is an HTTP transport with the TLS settings and basic auth of c,
// for other HTTP clients of the same cluster (the `make run` report).
func (c Config) Transport() (http.RoundTripper, error) {
	tc, err := c.TLS.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("opensearch %s: %w", c.Name, err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tc
	if c.Username == "" {
		return base, nil // Validate refuses a password without a user
	}
	// Resolved once here too, so a missing secret stops the start instead
	// of surfacing as endless retries (an unset one is the empty password).
	if _, err := c.Password.Resolve(); err != nil {
		return nil, fmt.Errorf("opensearch %s: password: %w", c.Name, err)
	}
	return basicAuth{user: c.Username, pass: c.Password, next: base}, nil
}

// Name is the cluster's configured name.
func (c *Client) Name() string { return c.name }

// Close releases idle connections.
func (c *Client) Close() error { return c.tr.Close() }

// Response is a raw HTTP answer.
type Response struct {
	Status int
	Body   []byte
}

// Do sends one request. A transport failure (refused, timeout) is an error;
// any HTTP answer, whatever its status, is a Response.
func (c *Client) Do(ctx context.Context, method, path string, body []byte) (*Response, error) {
	if body == nil {
		return c.do(ctx, method, path, nil)
	}
	return c.do(ctx, method, path, [][]byte{body})
}

// do is Do with the body given in pieces, sent one after the other (a bulk
// body is its documents' lines, each where it was rendered).
func (c *Client) do(ctx context.Context, method, path string, body [][]byte) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	size := 0
	for _, b := range body {
		size += len(b)
	}
	if body != nil && size == 0 {
		req.Body = http.NoBody
	} else if body != nil {
		// net/http may still read a request body after the round trip
		// returns (it closes it asynchronously); detaching lets the caller
		// reuse body's buffers once Do returns.
		db := &detachableBody{b: body}
		defer db.detach()
		req.ContentLength = int64(size)
		req.GetBody = func() (io.ReadCloser, error) { return &bodyReader{d: db}, nil }
		req.Body, _ = req.GetBody()
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		}
	}
	res, err := c.tr.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	return &Response{Status: res.StatusCode, Body: b}, nil
}

// detachableBody is a request body that no reader can read after detach:
// nothing touches the caller's buffer once the request is over.
type detachableBody struct {
	mu sync.Mutex
	b  [][]byte
}

func (d *detachableBody) detach() {
	d.mu.Lock()
	d.b = nil
	d.mu.Unlock()
}

// bodyReader is one read of a detachableBody (GetBody makes a new one per
// attempt).
type bodyReader struct {
	d   *detachableBody
	seg int // the piece being read
	off int // within it
}

// Read fills p from as many pieces as fit: net/http reads a body in
// buffer-sized reads, and pieces (documents) are mostly smaller.
func (r *bodyReader) Read(p []byte) (int, error) {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	if r.d.b == nil {
		return 0, errDetached
	}
	n := 0
	for n < len(p) && r.seg < len(r.d.b) {
		m := copy(p[n:], r.d.b[r.seg][r.off:])
		n += m
		r.off += m
		if r.off == len(r.d.b[r.seg]) {
			r.seg, r.off = r.seg+1, 0
		}
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *bodyReader) Close() error { return nil }

var errDetached = errors.New("request body read after the request ended")

// StatusError is an unexpected HTTP answer.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	b := e.Body
	if len(b) > 300 {
		b = b[:300] + "..."
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return fmt.Sprintf("%s %s: HTTP 401 Unauthorized: the cluster refused the credentials (check username and password): %s", e.Method, e.Path, b)
	case http.StatusForbidden:
		return fmt.Sprintf("%s %s: HTTP 403 Forbidden: the user lacks a permission for this request: %s", e.Method, e.Path, b)
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, b)
}

// expect returns a *StatusError unless the response status is one of ok.
func expect(method, path string, res *Response, ok ...int) error {
	for _, s := range ok {
		if res.Status == s {
			return nil
		}
	}
	return &StatusError{Method: method, Path: path, Status: res.Status, Body: string(res.Body)}
}
