package alerting

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/alerting/failover"
	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/internal/kafka"
)

// Config is the alerting component's configuration (configs/alerting.yaml).
type Config struct {
	// Kafka names the brokers and topics.
	Kafka KafkaConfig `yaml:"kafka"`
	// Slack selects bot, webhook or console mode and tunes delivery.
	Slack slack.Config `yaml:"slack"`
	// Routes send targets to channels; the first whose matchers all match
	// wins. Default none.
	Routes []Route `yaml:"routes"`
	// DefaultRoute takes every target no route matched; its matchers are
	// ignored.
	DefaultRoute Route `yaml:"default_route"`
	// Maintenance windows mute the targets they match while active. Default
	// none.
	Maintenance []MaintenanceWindow `yaml:"maintenance"`
	// Storm folds a burst of incidents opening in one channel into one
	// summary message.
	Storm StormConfig `yaml:"storm"`
	// API guards the silences HTTP API.
	API APIConfig `yaml:"api"`
	// Links names the event annotations that hold the links shown on an
	// incident.
	Links LinksConfig `yaml:"links"`
	// Failover configures the failover controller; without targets it is
	// off.
	Failover failover.Config `yaml:"failover"`
	// TickInterval is how often reminders, expired silences, mutes that
	// ended and storm summaries are looked at. Default 10s.
	TickInterval time.Duration `yaml:"tick_interval"`
	// DrainTimeout bounds the time spent, after stop is asked, finishing the
	// record in hand (its Slack messages) and committing. Default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// DetectorHeartbeatTimeout opens a CRITICAL incident for the target
	// vigil-detector when neither a detector heartbeat nor a health event
	// has been read for this long, and resolves it at the next one. Keep it
	// a few times the detector's heartbeat_interval (15s). 0 disables.
	// Default 1m.
	DetectorHeartbeatTimeout time.Duration `yaml:"detector_heartbeat_timeout"`
}

// KafkaConfig says how to reach Kafka and which topics alerting uses.
type KafkaConfig struct {
	// Conn is brokers, client_id (default vigil-alerting), sasl and tls,
	// shared with the other components.
	kafka.Conn `yaml:",inline"`
	// Group is the consumer group the replicas join to elect the active
	// one: the owner of partition 0 of LeaderTopic. The health and failover
	// topics are read by direct partition assignment, not through the group.
	// Default vigil-alerting.
	Group string `yaml:"group"`
	// LeaderTopic is the single-partition topic whose partition 0 makes its
	// owner in Group the active replica. Default vigil.alerting.leader.
	LeaderTopic string `yaml:"leader_topic"`
	// TransactionalID is shared by the replicas: the active one writes the
	// state topic in transactions under it, so that taking over fences the
	// previous active replica's writes. Default vigil-alerting.
	TransactionalID string `yaml:"transactional_id"`
	// SessionTimeout is how long the group waits for a silent active replica
	// before another takes over, or before a restarted single replica gets
	// its turn back (Kafka session.timeout.ms; the broker's minimum,
	// group.min.session.timeout.ms, is 6s by default). Default 6s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// HealthTopic carries health transitions. Default vigil.health.
	HealthTopic string `yaml:"health_topic"`
	// FailoverTopic carries failover decisions and outcomes; empty does not
	// consume it. Default vigil.failover.
	FailoverTopic string `yaml:"failover_topic"`
	// StateTopic is the compacted topic holding incidents and silences.
	// Default vigil.alerting.state.
	StateTopic string `yaml:"state_topic"`
	// CreateStateTopic creates StateTopic and LeaderTopic at start when they
	// are missing (one partition, cleanup.policy=compact, the broker's
	// replication factor). Default true.
	CreateStateTopic bool `yaml:"create_state_topic"`
}

// Route sends the targets it matches to a channel.
type Route struct {
	// Name labels the route in state and logs. Required for routes.
	Name string `yaml:"name"`
	// Matchers select targets (see Matcher); every one must match.
	Matchers []Matcher `yaml:"matchers"`
	// Channel is a channel ID (C...) in bot mode, or a key of
	// slack.webhooks in webhook mode. Required.
	Channel string `yaml:"channel"`
	// MentionGroup is a Slack user-group ID (S...) mentioned as
	// <!subteam^ID> when an incident opens or escalates to CRITICAL.
	// Default none.
	MentionGroup string `yaml:"mention_group"`
	// OpenOnCaution opens incidents on CAUTION as well as on CRITICAL.
	// Default false.
	OpenOnCaution bool `yaml:"open_on_caution"`
	// RepeatInterval is how long an incident may stay CRITICAL before a
	// reminder is posted in its thread, and between reminders; 0 disables
	// reminders. Default 1h.
	RepeatInterval time.Duration `yaml:"repeat_interval"`
}

// StormConfig configures storm control.
type StormConfig struct {
	// Threshold is the number of incidents that may open in one channel
	// within Window before further ones are folded into one summary message.
	// 0 disables storm control. Default 10.
	Threshold int `yaml:"threshold"`
	// Window is the sliding window for Threshold; a storm ends when no
	// incident opened in the channel for a Window. Default 5m.
	Window time.Duration `yaml:"window"`
}

// APIConfig guards the silences API.
type APIConfig struct {
	// Token is the bearer token the silences API requires; unset leaves the
	// API unmounted. Default unset.
	Token config.Secret `yaml:"token"`
}

// LinksConfig names annotations of health events that hold URLs.
type LinksConfig struct {
	// Runbook is the annotation with the runbook URL. Default runbook_url.
	Runbook string `yaml:"runbook"`
	// Dashboards is the annotation with the Dashboards URL. Default
	// dashboard_url.
	Dashboards string `yaml:"dashboards"`
	// Graph is the annotation with the Prometheus graph URL. Default
	// graph_url.
	Graph string `yaml:"graph"`
	// Summary is the annotation whose text, when present, is shown instead
	// of the event's reason. Default summary.
	Summary string `yaml:"summary"`
}

// StateTopic is the default state topic.
const StateTopic = "vigil.alerting.state"

// LeaderTopic is the default leader-election topic.
const LeaderTopic = "vigil.alerting.leader"

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Kafka: KafkaConfig{
			Conn:             kafka.DefaultConn("vigil-alerting"),
			Group:            "vigil-alerting",
			LeaderTopic:      LeaderTopic,
			TransactionalID:  "vigil-alerting",
			SessionTimeout:   6 * time.Second,
			HealthTopic:      events.HealthTopic,
			FailoverTopic:    events.FailoverTopic,
			StateTopic:       StateTopic,
			CreateStateTopic: true,
		},
		Slack:        slack.DefaultConfig(),
		DefaultRoute: Route{Name: "default", Channel: "alerts", RepeatInterval: time.Hour},
		Storm:        StormConfig{Threshold: 10, Window: 5 * time.Minute},
		Links:        LinksConfig{Runbook: "runbook_url", Dashboards: "dashboard_url", Graph: "graph_url", Summary: "summary"},
		Failover:     failover.DefaultConfig(),
		TickInterval: 10 * time.Second,
		DrainTimeout: 30 * time.Second,

		DetectorHeartbeatTimeout: time.Minute,
	}
}

// Validate reports every problem, each with its path.
func (c Config) Validate() error {
	var p config.Problems
	p.Merge("kafka", c.Kafka.validate())
	p.Merge("failover", c.Failover.Validate(c.Kafka.FailoverTopic))
	p.Merge("slack", c.Slack.Validate())
	p.Merge("default_route", c.DefaultRoute.validate(false))
	names := map[string]bool{"default": true}
	for i, r := range c.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		p.Merge(path, r.validate(true))
		if r.Name != "" && names[r.Name] {
			p.Addf(path+".name", "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
	}
	if c.Slack.Mode() == slack.ModeWebhook {
		for i, r := range append([]Route{c.DefaultRoute}, c.Routes...) {
			if _, ok := c.Slack.Webhooks[r.Channel]; ok || r.Channel == "" {
				continue
			}
			path := "default_route.channel"
			if i > 0 {
				path = fmt.Sprintf("routes[%d].channel", i-1)
			}
			p.Addf(path, "no slack.webhooks entry for channel %q", r.Channel)
		}
	}
	for i, w := range c.Maintenance {
		p.Merge(fmt.Sprintf("maintenance[%d]", i), w.Validate())
	}
	if c.Storm.Threshold < 0 {
		p.Addf("storm.threshold", "must be >= 0 (got %d)", c.Storm.Threshold)
	}
	if c.Storm.Threshold > 0 && c.Storm.Window <= 0 {
		p.Addf("storm.window", "must be > 0 (got %s)", c.Storm.Window)
	}
	for path, v := range map[string]string{"links.runbook": c.Links.Runbook, "links.dashboards": c.Links.Dashboards, "links.graph": c.Links.Graph, "links.summary": c.Links.Summary} {
		if v == "" {
			p.Addf(path, "must be set")
		}
	}
	if c.TickInterval <= 0 {
		p.Addf("tick_interval", "must be > 0 (got %s)", c.TickInterval)
	}
	if c.DrainTimeout <= 0 {
		p.Addf("drain_timeout", "must be > 0 (got %s)", c.DrainTimeout)
	}
	if c.DetectorHeartbeatTimeout < 0 {
		p.Addf("detector_heartbeat_timeout", "must be >= 0 (got %s)", c.DetectorHeartbeatTimeout)
	}
	return p.Err()
}

func (k KafkaConfig) validate() error {
	var p config.Problems
	p.Merge("", k.Conn.Validate())
	for path, v := range map[string]string{"client_id": k.ClientID, "group": k.Group, "health_topic": k.HealthTopic, "state_topic": k.StateTopic, "leader_topic": k.LeaderTopic, "transactional_id": k.TransactionalID} {
		if v == "" {
			p.Addf(path, "must be set")
		}
	}
	if k.LeaderTopic != "" && (k.LeaderTopic == k.HealthTopic || k.LeaderTopic == k.FailoverTopic || k.LeaderTopic == k.StateTopic) {
		p.Addf("leader_topic", "must differ from the health, failover and state topics (got %q)", k.LeaderTopic)
	}
	// The broker refuses a session below group.min.session.timeout.ms (6s by
	// default); above 20s a SIGKILLed active replica is not replaced within
	// the 30s alerting promises.
	if k.SessionTimeout < 6*time.Second || k.SessionTimeout > 20*time.Second {
		p.Addf("session_timeout", "must be between 6s and 20s (got %s)", k.SessionTimeout)
	}
	if k.StateTopic != "" && (k.StateTopic == k.HealthTopic || k.StateTopic == k.FailoverTopic) {
		p.Addf("state_topic", "must differ from the health and failover topics (got %q)", k.StateTopic)
	}
	return p.Err()
}

func (r Route) validate(named bool) error {
	var p config.Problems
	if named && r.Name == "" {
		p.Addf("name", "must be set")
	}
	if named && r.Name == "default" {
		p.Addf("name", `"default" is the default route's name`)
	}
	if named && len(r.Matchers) == 0 {
		p.Addf("matchers", "must have at least one matcher (default_route takes the rest)")
	}
	if r.Channel == "" {
		p.Addf("channel", "must be set")
	}
	if r.MentionGroup != "" && !strings.HasPrefix(r.MentionGroup, "S") {
		p.Addf("mention_group", "must be a user-group ID such as S0123ABCD (got %q)", r.MentionGroup)
	}
	if r.RepeatInterval < 0 {
		p.Addf("repeat_interval", "must be >= 0 (got %s)", r.RepeatInterval)
	}
	return p.Err()
}

// route returns the route for a target: the first that matches, else the
// default.
func (c Config) route(target string, labels map[string]string) Route {
	for _, r := range c.Routes {
		if matchAll(r.Matchers, target, labels) {
			return r
		}
	}
	r := c.DefaultRoute
	r.Name = "default"
	return r
}

// routeNamed returns the route an incident was opened on, or the default
// when configuration no longer has it.
func (c Config) routeNamed(name string) Route {
	for _, r := range c.Routes {
		if r.Name == name {
			return r
		}
	}
	r := c.DefaultRoute
	r.Name = "default"
	return r
}

// opens reports whether status opens an incident on route r.
func (r Route) opens(s events.Status) bool {
	return s == events.Critical || (s == events.Caution && r.OpenOnCaution)
}
