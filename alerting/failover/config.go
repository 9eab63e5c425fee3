package failover

import (
	"fmt"
	"time"

	"github.com/vigil-dev/vigil/internal/config"
)

// Config is alerting's failover section: the policies its controller
// drives (see docs/failover.md).
type Config struct {
	// Targets are the per-target policies; none leaves the controller off.
	// Default none.
	Targets []Policy `yaml:"targets"`
	// Source is the CloudEvents source of the decisions published. Default
	// vigil/alerting.
	Source string `yaml:"source"`
	// TickInterval is how often critical_for, dwell and blocks are checked
	// when no event arrives. Default 5s.
	TickInterval time.Duration `yaml:"tick_interval"`
}

// DefaultConfig returns the failover defaults: no targets.
func DefaultConfig() Config {
	return Config{Source: "vigil/alerting", TickInterval: 5 * time.Second}
}

// Enabled reports whether any target has a policy.
func (c Config) Enabled() bool { return len(c.Targets) > 0 }

// Validate reports every problem; failoverTopic is alerting's
// kafka.failover_topic, which the controller needs when it has targets.
func (c Config) Validate(failoverTopic string) error {
	var p config.Problems
	seen := map[string]string{}
	for i, pol := range c.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		p.Merge(path, pol.Validate())
		if pol.Target == "" {
			continue
		}
		if prev, ok := seen[pol.Target]; ok {
			p.Addf(path+".target", "%q already has a policy (%s)", pol.Target, prev)
		}
		seen[pol.Target] = path
	}
	if c.Source == "" {
		p.Addf("source", "must be set")
	}
	if c.TickInterval <= 0 {
		p.Addf("tick_interval", "must be > 0 (got %s)", c.TickInterval)
	}
	if c.Enabled() && failoverTopic == "" {
		p.Addf("targets", "need kafka.failover_topic to publish on and read outcomes from")
	}
	return p.Err()
}
