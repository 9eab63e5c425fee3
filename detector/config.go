package detector

import (
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/kafka"
)

// Config is the detector's configuration (configs/detector.yaml).
type Config struct {
	// Instance names this replica in the events' source attribute
	// ("vigil-detector/<instance>"). Default "" = the hostname.
	Instance string `yaml:"instance"`
	// Prometheus is where rules are evaluated.
	Prometheus PrometheusConfig `yaml:"prometheus"`
	// Kafka is where health events are published and leadership is held.
	Kafka KafkaConfig `yaml:"kafka"`
	// QueueSize bounds the transitions waiting to be published while Kafka is
	// unreachable; when full, evaluation waits rather than drop one.
	// Default 1024.
	QueueSize int `yaml:"queue_size"`
	// HeartbeatInterval is how often the leader publishes a heartbeat on
	// the health topic (events.DetectorHeartbeatType), so that alerting
	// can tell a quiet detector from a dead one. Default 15s.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Webhooks lets Alertmanager and Grafana drive targets.
	Webhooks WebhooksConfig `yaml:"webhooks"`
	// Defaults apply to every rule that leaves the field out.
	Defaults RuleDefaults `yaml:"defaults"`
	// Targets are the watched targets and their rules.
	Targets []Target `yaml:"targets"`
	// TargetTemplates expand to one target per label value found in
	// Prometheus (templates.go), e.g. one per service of the span-derived
	// RED metrics. Default none.
	TargetTemplates []TargetTemplate `yaml:"target_templates"`
}

// PrometheusConfig locates the Prometheus HTTP API.
type PrometheusConfig struct {
	// URL is the Prometheus base URL. Default http://127.0.0.1:9090.
	URL string `yaml:"url"`
	// QueryTimeout bounds each query; a slower answer counts as a query
	// error (see on_error). Default 10s.
	QueryTimeout time.Duration `yaml:"query_timeout"`
}

// KafkaConfig is the detector's Kafka connection, topics and leadership.
type KafkaConfig struct {
	// Conn is brokers, client_id, sasl and tls (internal/kafka). Default
	// brokers [127.0.0.1:9092], client id vigil-detector.
	kafka.Conn `yaml:",inline"`
	// HealthTopic receives health events (compacted, keyed by target): the
	// same key, kafka.health_topic, as alerting's and the pipeline's.
	// Default vigil.health.
	HealthTopic string `yaml:"health_topic"`
	// TopicPartitions is the partition count used when the detector creates
	// HealthTopic. Default 1.
	TopicPartitions int32 `yaml:"topic_partitions"`
	// LeaderTopic is the single-partition topic whose partition 0 makes its
	// owner in Group the leader. Default vigil.detector.leader.
	LeaderTopic string `yaml:"leader_topic"`
	// Group is the consumer group the replicas join to elect a leader.
	// Default vigil-detector.
	Group string `yaml:"group"`
	// TransactionalID is the one transactional.id every replica uses, so a
	// new leader fences the old one. Default vigil-detector.
	TransactionalID string `yaml:"transactional_id"`
	// SessionTimeout is how long the group waits for a silent leader before
	// another replica takes over (Kafka session.timeout.ms). Default 10s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// PublishTimeout bounds one publish attempt (one transaction); a failed
	// attempt is retried with backoff. Default 10s.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// CreateTopics creates HealthTopic (compacted) and LeaderTopic (one partition)
	// when they do not exist. Default true.
	CreateTopics bool `yaml:"create_topics"`
}

// WebhooksConfig configures the alert webhooks.
type WebhooksConfig struct {
	// Enabled mounts POST /api/v1/alerts/alertmanager and
	// /api/v1/alerts/grafana on the admin server. Default false.
	Enabled bool `yaml:"enabled"`
	// Token is the bearer token callers must send. Required when enabled.
	Token config.Secret `yaml:"token"`
	// Targets limits which targets webhooks may change; each must be a
	// configured target. Default [] = every configured target.
	Targets []string `yaml:"targets"`
}

// RuleDefaults are the values a rule inherits when it leaves a field out.
type RuleDefaults struct {
	// Interval between evaluations. Default 15s.
	Interval time.Duration `yaml:"interval"`
	// For is how long a worse condition must hold before its level is
	// entered. Default 1m.
	For time.Duration `yaml:"for"`
	// RecoverFor is how long a better condition must hold before a level is
	// left. Default 2m.
	RecoverFor time.Duration `yaml:"recover_for"`
	// OnNoData is unknown, healthy or keep_last. Default unknown.
	OnNoData Policy `yaml:"on_no_data"`
	// OnError is unknown, healthy or keep_last. Default unknown.
	OnError Policy `yaml:"on_error"`
	// Reduce picks one value from several series: worst, max or min.
	// Default worst (max for > and >=, min for < and <=).
	Reduce Reduce `yaml:"reduce"`
}

// Target is one watched dependency.
type Target struct {
	// Name is the target's identity: the event key and subject.
	Name string `yaml:"name"`
	// Labels are copied into every event of the target.
	Labels map[string]string `yaml:"labels"`
	// Rules decide the target's status: the worst of their levels.
	Rules []Rule `yaml:"rules"`
}

// Rule is one PromQL check of a target.
type Rule struct {
	// Name identifies the rule in events ("rule"). Unique within a target.
	Name string `yaml:"name"`
	// Expr is a PromQL expression returning a scalar or an instant vector.
	Expr string `yaml:"expr"`
	// Idle is an optional PromQL expression giving the traffic Expr is a
	// share of (e.g. the ratio's denominator). When Expr has no data (0/0
	// is NaN, or its series do not exist yet) and Idle returns 0, the rule
	// is healthy: an idle component has nothing to fail. When Idle has no
	// data too, on_no_data applies. Default "" (no idle check).
	Idle string `yaml:"idle"`
	// Caution and Critical are conditions "OP THRESHOLD" with OP one of
	// > >= < <= == !=, e.g. "> 0.5". At least one is required.
	Caution  Condition `yaml:"caution"`
	Critical Condition `yaml:"critical"`
	// The fields below default to the defaults section.
	Interval   *time.Duration `yaml:"interval"`
	For        *time.Duration `yaml:"for"`
	RecoverFor *time.Duration `yaml:"recover_for"`
	OnNoData   Policy         `yaml:"on_no_data"`
	OnError    Policy         `yaml:"on_error"`
	Reduce     Reduce         `yaml:"reduce"`
	// Annotations are copied into the rule's events.
	Annotations Annotations `yaml:"annotations"`
}

// Annotations describe a rule for the humans reading its events.
type Annotations struct {
	Summary       string `yaml:"summary"`
	RunbookURL    string `yaml:"runbook_url"`
	DashboardsURL string `yaml:"dashboards_url"`
}

// DefaultConfig returns the defaults; it watches no target (configs/detector.yaml
// holds the default rules for Vigil's own path).
func DefaultConfig() Config {
	return Config{
		Prometheus: PrometheusConfig{URL: "http://127.0.0.1:9090", QueryTimeout: 10 * time.Second},
		Kafka: KafkaConfig{
			Conn:            kafka.DefaultConn("vigil-detector"),
			HealthTopic:     events.HealthTopic,
			TopicPartitions: 1,
			LeaderTopic:     "vigil.detector.leader",
			Group:           "vigil-detector",
			TransactionalID: "vigil-detector",
			SessionTimeout:  10 * time.Second,
			PublishTimeout:  10 * time.Second,
			CreateTopics:    true,
		},
		QueueSize:         1024,
		HeartbeatInterval: 15 * time.Second,
		Defaults: RuleDefaults{
			Interval:   15 * time.Second,
			For:        time.Minute,
			RecoverFor: 2 * time.Minute,
			OnNoData:   PolicyUnknown,
			OnError:    PolicyUnknown,
			Reduce:     ReduceWorst,
		},
	}
}

// RenamedKeys names the keys that moved: the health topic has one name,
// kafka.health_topic, in every component.
func (Config) RenamedKeys() map[string]string {
	return map[string]string{"kafka.topic": "kafka.health_topic"}
}

// Validate reports every problem with its path.
func (c Config) Validate() error {
	var p config.Problems
	p.Merge("prometheus", c.Prometheus.Validate())
	p.Merge("kafka", c.Kafka.Validate())
	if c.QueueSize <= 0 {
		p.Addf("queue_size", "must be > 0 (got %d)", c.QueueSize)
	}
	if c.HeartbeatInterval <= 0 {
		p.Addf("heartbeat_interval", "must be > 0 (got %s)", c.HeartbeatInterval)
	}
	p.Merge("defaults", c.Defaults.Validate())
	names := map[string]int{}
	for i, t := range c.Targets {
		path := fmt.Sprintf("targets[%d]", i)
		if j, dup := names[t.Name]; dup && t.Name != "" {
			p.Addf(path+".name", "duplicate target %q (also targets[%d])", t.Name, j)
		}
		names[t.Name] = i
		p.Merge(path, t.validate())
	}
	for i, tt := range c.TargetTemplates {
		p.Merge(fmt.Sprintf("target_templates[%d]", i), tt.validate())
	}
	if c.Webhooks.Enabled && !c.Webhooks.Token.IsSet() {
		p.Addf("webhooks.token", "required when webhooks are enabled")
	}
	for i, n := range c.Webhooks.Targets {
		if _, ok := names[n]; !ok {
			p.Addf(fmt.Sprintf("webhooks.targets[%d]", i), "unknown target %q", n)
		}
	}
	return p.Err()
}

// Validate reports every problem.
func (c PrometheusConfig) Validate() error {
	var p config.Problems
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Addf("url", "must be an http(s) URL (got %q)", c.URL)
	}
	if c.QueryTimeout <= 0 {
		p.Addf("query_timeout", "must be > 0 (got %s)", c.QueryTimeout)
	}
	return p.Err()
}

// Validate reports every problem.
func (c KafkaConfig) Validate() error {
	var p config.Problems
	p.Merge("", c.Conn.Validate())
	for name, v := range map[string]string{"health_topic": c.HealthTopic, "leader_topic": c.LeaderTopic, "group": c.Group, "transactional_id": c.TransactionalID} {
		if v == "" {
			p.Addf(name, "must not be empty")
		}
	}
	if c.HealthTopic != "" && c.HealthTopic == c.LeaderTopic {
		p.Addf("leader_topic", "must differ from health_topic (both %q)", c.HealthTopic)
	}
	if c.TopicPartitions <= 0 {
		p.Addf("topic_partitions", "must be > 0 (got %d)", c.TopicPartitions)
	}
	// Kafka's group.min.session.timeout.ms defaults to 6s; a leader must be
	// replaced within 30s, so the session may not exceed 20s.
	if c.SessionTimeout < 6*time.Second || c.SessionTimeout > 20*time.Second {
		p.Addf("session_timeout", "must be between 6s and 20s (got %s)", c.SessionTimeout)
	}
	if c.PublishTimeout <= 0 {
		p.Addf("publish_timeout", "must be > 0 (got %s)", c.PublishTimeout)
	}
	return p.Err()
}

// Validate reports every problem.
func (d RuleDefaults) Validate() error {
	var p config.Problems
	if d.Interval <= 0 {
		p.Addf("interval", "must be > 0 (got %s)", d.Interval)
	}
	if d.For < 0 {
		p.Addf("for", "must be >= 0 (got %s)", d.For)
	}
	if d.RecoverFor < 0 {
		p.Addf("recover_for", "must be >= 0 (got %s)", d.RecoverFor)
	}
	if !d.OnNoData.valid() || d.OnNoData == "" {
		p.Addf("on_no_data", "must be one of unknown, healthy, keep_last (got %q)", d.OnNoData)
	}
	if !d.OnError.valid() || d.OnError == "" {
		p.Addf("on_error", "must be one of unknown, healthy, keep_last (got %q)", d.OnError)
	}
	if !d.Reduce.valid() || d.Reduce == "" {
		p.Addf("reduce", "must be one of worst, max, min (got %q)", d.Reduce)
	}
	return p.Err()
}

func (t Target) validate() error {
	var p config.Problems
	if t.Name == "" {
		p.Addf("name", "must not be empty")
	}
	if len(t.Rules) == 0 {
		p.Addf("rules", "must have at least one rule")
	}
	names := map[string]int{}
	for i, r := range t.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		if j, dup := names[r.Name]; dup && r.Name != "" {
			p.Addf(path+".name", "duplicate rule %q (also rules[%d])", r.Name, j)
		}
		names[r.Name] = i
		p.Merge(path, r.validate())
	}
	return p.Err()
}

// promqlParser parses rule expressions exactly as Prometheus does.
var promqlParser = parser.NewParser(parser.Options{})

func (r Rule) validate() error {
	var p config.Problems
	if r.Name == "" {
		p.Addf("name", "must not be empty")
	}
	if r.Expr == "" {
		p.Addf("expr", "must not be empty")
	} else if expr, err := promqlParser.ParseExpr(r.Expr); err != nil {
		p.Addf("expr", "invalid PromQL: %v", err)
	} else if t := expr.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
		name := string(t)
		if t == parser.ValueTypeMatrix {
			name = "range vector"
		}
		p.Addf("expr", "must return an instant vector or a scalar (returns a %s)", name)
	}
	if r.Idle != "" {
		if expr, err := promqlParser.ParseExpr(r.Idle); err != nil {
			p.Addf("idle", "invalid PromQL: %v", err)
		} else if t := expr.Type(); t != parser.ValueTypeVector && t != parser.ValueTypeScalar {
			p.Addf("idle", "must return an instant vector or a scalar (returns a %s)", t)
		}
	}
	caution, cerr := r.Caution.Parse()
	critical, rerr := r.Critical.Parse()
	if cerr != nil {
		p.Addf("caution", "%v", cerr)
	}
	if rerr != nil {
		p.Addf("critical", "%v", rerr)
	}
	if cerr == nil && rerr == nil {
		switch {
		case caution == nil && critical == nil:
			p.Addf("critical", "a rule needs a caution or a critical condition (or both)")
		case caution != nil && critical != nil:
			if err := checkOrder(*caution, *critical); err != nil {
				p.Addf("critical", "%v", err)
			}
		}
	}
	for name, d := range map[string]*time.Duration{"interval": r.Interval, "for": r.For, "recover_for": r.RecoverFor} {
		if d == nil {
			continue
		}
		if *d < 0 || (name == "interval" && *d == 0) {
			op := ">="
			if name == "interval" {
				op = ">"
			}
			p.Addf(name, "must be %s 0 (got %s)", op, *d)
		}
	}
	if !r.OnNoData.valid() {
		p.Addf("on_no_data", "must be one of unknown, healthy, keep_last (got %q)", r.OnNoData)
	}
	if !r.OnError.valid() {
		p.Addf("on_error", "must be one of unknown, healthy, keep_last (got %q)", r.OnError)
	}
	if !r.Reduce.valid() {
		p.Addf("reduce", "must be one of worst, max, min (got %q)", r.Reduce)
	}
	for name, v := range map[string]string{"runbook_url": r.Annotations.RunbookURL, "dashboards_url": r.Annotations.DashboardsURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("annotations."+name, "must be an absolute http(s) URL (got %q)", v)
		}
	}
	return p.Err()
}
