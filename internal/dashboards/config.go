package dashboards

import (
	"net/url"
	"time"

	"github.com/vigil-dev/vigil/internal/config"
)

// Config is how to reach OpenSearch Dashboards. Authentication and TLS
// take the same shape as the OpenSearch client's configuration.
type Config struct {
	// URL is Dashboards' base URL, including any server.basePath
	// (https://dashboards.example.com/dashboards). Empty skips Dashboards.
	// Default empty.
	URL string `yaml:"url"`
	// Username for HTTP basic auth. Default none.
	Username string `yaml:"username"`
	// Password for HTTP basic auth ({env: NAME} or {file: path}). Default none.
	Password config.Secret `yaml:"password"`
	// Tenant is the security plugin's tenant to import into ("global",
	// "private" or a custom tenant), sent as the securitytenant header.
	// Default empty: the user's default tenant.
	Tenant string `yaml:"tenant"`
	// TLS settings for an https URL.
	TLS TLSConfig `yaml:"tls"`
	// RequestTimeout bounds each HTTP request. Default 30s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// TLSConfig configures server verification.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	// Default none.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify disables certificate checks (tests only). Default false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// DefaultConfig returns the defaults: no URL, so nothing is imported.
func DefaultConfig() Config { return Config{RequestTimeout: 30 * time.Second} }

// Enabled reports whether a URL is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("url", "must be an http:// or https:// URL (got %q)", c.URL)
		}
	}
	if c.RequestTimeout <= 0 {
		p.Addf("request_timeout", "must be > 0 (got %s)", c.RequestTimeout)
	}
	if c.Password.IsSet() && c.Username == "" {
		p.Addf("username", "must be set when password is")
	}
	return p.Err()
}
