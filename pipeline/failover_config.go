package pipeline

import (
	"os"
	"time"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// FailoverConfig is the pipeline's side of the failover contract: the
// standby cluster, the target name it answers to on the failover topic, and
// how it reports outcomes.
type FailoverConfig struct {
	// Standby is the cluster writing moves to on `failover requested`; its
	// name labels it in metrics and must differ from opensearch.name.
	// Failover is off while standby.addresses is empty. Default name
	// "standby", no addresses.
	Standby opensearch.Config `yaml:"standby"`
	// Target is the name this pipeline answers to in failover events (their
	// data.target and record key): the primary's health target in the
	// detector and alerting's failover policy. Default "opensearch-primary",
	// the shipped detector's target for this pipeline's primary.
	Target string `yaml:"target"`
	// Topic is the failover topic, read from its start at every start-up to
	// learn the active side. Default "vigil.failover".
	Topic string `yaml:"topic"`
	// Source is the CloudEvents source of the outcomes this pipeline
	// publishes. Default "vigil/pipeline".
	Source string `yaml:"source"`
	// Actor names this replica in outcomes (data.actor). Default empty:
	// "pipeline/<hostname>".
	Actor string `yaml:"actor"`
	// SwitchTimeout bounds a switch (installing templates on the new side)
	// before it is reported as failed. Default 60s.
	SwitchTimeout time.Duration `yaml:"switch_timeout"`
}

// DefaultFailoverConfig returns the defaults: failover off.
func DefaultFailoverConfig() FailoverConfig {
	sb := opensearch.DefaultConfig()
	sb.Name, sb.Addresses = "standby", nil
	return FailoverConfig{Standby: sb, Target: "opensearch-primary", Topic: events.FailoverTopic, Source: "vigil/pipeline", SwitchTimeout: time.Minute}
}

// Enabled reports whether a standby is configured.
func (f FailoverConfig) Enabled() bool { return len(f.Standby.Addresses) > 0 }

func (f FailoverConfig) validate(p *config.Problems, primary opensearch.Config) {
	if !f.Enabled() {
		return
	}
	p.Merge("failover.standby", f.Standby.Validate())
	if f.Standby.Name == primary.Name {
		p.Addf("failover.standby.name", "must differ from opensearch.name (got %q for both)", f.Standby.Name)
	}
	for _, x := range []struct{ path, v string }{{"failover.target", f.Target}, {"failover.topic", f.Topic}, {"failover.source", f.Source}} {
		if x.v == "" {
			p.Addf(x.path, "must not be empty")
		}
	}
	if f.SwitchTimeout <= 0 {
		p.Addf("failover.switch_timeout", "must be > 0 (got %s)", f.SwitchTimeout)
	}
}

// target is the failover target name.
func (c Config) target() string { return c.Failover.Target }

// actor is the failover actor name: failover.actor or pipeline/<hostname>.
func (c Config) actor() string {
	if c.Failover.Actor != "" {
		return c.Failover.Actor
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "unknown"
	}
	return "pipeline/" + h
}
