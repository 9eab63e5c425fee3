package pipeline

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/kafka"
	"github.com/vigil-dev/vigil/pipeline/canary"
	"github.com/vigil-dev/vigil/pipeline/eventindex"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// Config is the pipeline's configuration (configs/pipeline.yaml).
type Config struct {
	Kafka KafkaConfig `yaml:"kafka"`
	// OpenSearch is the primary cluster: where documents go unless a
	// failover moved writing to failover.standby.
	OpenSearch opensearch.Config `yaml:"opensearch"`
	// Failover makes the pipeline the executor of vigil.failover decisions
	// for its sink (docs/failover.md). Off unless failover.standby.addresses
	// is set.
	Failover   FailoverConfig   `yaml:"failover"`
	Indices    IndicesConfig    `yaml:"indices"`
	LogRouting LogRoutingConfig `yaml:"log_routing"` // routing.go
	Bulk       BulkConfig       `yaml:"bulk"`
	Retry      RetryConfig      `yaml:"retry"`
	TraceGroup TraceGroupConfig `yaml:"trace_group"`
	// APM derives what OpenSearch Dashboards' APM reads: the application
	// map into indices.apm_service_map and RED metrics by remote write
	// (docs/apm.md).
	APM APMConfig `yaml:"apm"`
	// Priority is the priority lane's budget (kafka.priority is its topic).
	Priority PriorityConfig `yaml:"priority"`
	// Events indexes vigil.health, vigil.failover and the DLQ's headers
	// into indices.health_events and indices.dlq (pipeline/eventindex).
	Events eventindex.Config `yaml:"events"`
	// Canary follows the collectors' heartbeats: freshness, sequence gaps
	// and per-window loss (pipeline/canary); documents go to
	// indices.canary.
	Canary canary.Config `yaml:"canary"`
	// MaxInFlightBytes bounds the bytes of records taken from Kafka and not
	// yet finished (their values plus their documents); fetching pauses
	// above it and resumes below it. Default 16 MiB.
	MaxInFlightBytes int64 `yaml:"max_in_flight_bytes"`
	// CommitInterval is how often finished offsets are committed (they are
	// also committed on partition revoke and shutdown). Default 2s.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// HealthInterval is how often _cluster/health is probed. Default 10s.
	HealthInterval time.Duration `yaml:"health_interval"`
	// MaxFutureSkew is how far ahead of the pipeline's clock an event time
	// may be before it is treated as wrong and replaced. Default 24h.
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// DrainTimeout bounds the wait for in-flight bulks on partition revoke
	// and on shutdown. Default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// AdminToken ({env: NAME} or {file: path}) enables the admin API
	// (POST /api/v1/pipeline/pause and /resume, GET /api/v1/pipeline/status)
	// for requests bearing it. Default unset: API not mounted.
	AdminToken config.Secret `yaml:"admin_token"`
	// DryRun consumes and builds documents but writes nothing: no
	// templates, no bulks, no DLQ records and no offset commits (every
	// document counts as indexed in the metrics). For checking what a topic
	// would produce. Default false.
	DryRun bool `yaml:"dry_run"`
	// Sink is where bulks go: "opensearch", or "discard", which batches,
	// renders (and gzips, with opensearch.gzip) every bulk body exactly as
	// for OpenSearch, then drops it and counts its documents as indexed, so
	// offsets commit (Vector's blackhole). It measures the pipeline's own
	// cost (make bench); it loses data and is not for production. With
	// discard nothing talks to OpenSearch: no templates, no health probes.
	// Default "opensearch".
	Sink string `yaml:"sink"`
}

// Sinks.
const (
	SinkOpenSearch = "opensearch"
	SinkDiscard    = "discard"
)

// KafkaConfig is where records come from.
type KafkaConfig struct {
	// Conn is brokers, client_id, sasl and tls (internal/kafka). Default
	// brokers ["127.0.0.1:9092"], client id "vigil-pipeline".
	kafka.Conn `yaml:",inline"`
	// Group is the consumer group. Default "vigil-pipeline".
	Group string `yaml:"group"`
	// SessionTimeout is how long the group waits for a silent member before
	// its partitions go to the others (Kafka session.timeout.ms). A replica
	// SIGKILLed and restarted gets partitions back only once its dead
	// self has timed out, so this bounds how long indexing stops; the cost
	// of a short one is a rebalance when a member cannot heartbeat that
	// long (heartbeats run beside indexing, so only a stalled process or
	// network does). The broker refuses values below
	// group.min.session.timeout.ms (6s by default). Default 6s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// Logs and Spans are the topics the collector writes.
	Logs  TopicConfig `yaml:"logs"`
	Spans TopicConfig `yaml:"spans"`
	// Priority is the collector's topic of log records of severity ERROR
	// and above (the priority lane, docs/architecture.md), read by a
	// consumer of its own (priority.*). Empty topic: no priority lane.
	// Default "otlp_logs_priority".
	Priority PriorityTopicConfig `yaml:"priority"`
	// DLQTopic receives records that cannot be indexed. Default "vigil.dlq".
	DLQTopic string `yaml:"dlq_topic"`
	// HealthTopic carries the detector's health events, which the events
	// indexer (events.enabled) indexes; empty skips it. The same key,
	// kafka.health_topic, as the detector's and alerting's. Default
	// "vigil.health".
	HealthTopic string `yaml:"health_topic"`
	// FetchMaxBytes is fetch.max.bytes per fetch request. The client keeps
	// up to one fetch per broker buffered, decompressed (OTLP compresses
	// 4-10x), so this is the main lever on memory. Default 1 MiB.
	FetchMaxBytes int32 `yaml:"fetch_max_bytes"`
	// FetchMaxPartitionBytes is max.partition.fetch.bytes. Default 512 KiB.
	FetchMaxPartitionBytes int32 `yaml:"fetch_max_partition_bytes"`
	// FetchMaxWait is fetch.max.wait.ms: low for freshness. Default 250ms.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// MaxConcurrentFetches bounds fetch requests in flight (and so buffered
	// fetch memory: about this times FetchMaxBytes). Default 2.
	MaxConcurrentFetches int `yaml:"max_concurrent_fetches"`
	// MaxPollRecords is how many records one poll hands over. Default 500.
	MaxPollRecords int `yaml:"max_poll_records"`
	// ResetOffset is where a group without committed offsets starts:
	// "earliest" or "latest". Default "earliest".
	ResetOffset string `yaml:"reset_offset"`
}

// TopicConfig is one input topic.
type TopicConfig struct {
	// Topic name; empty disables the signal. Defaults "otlp_logs" and
	// "otlp_spans".
	Topic string `yaml:"topic"`
	// Encoding is "otlp_proto" or "otlp_json". Default "otlp_proto".
	Encoding string `yaml:"encoding"`
}

// PriorityTopicConfig is the priority lane's input topic.
type PriorityTopicConfig struct {
	TopicConfig `yaml:",inline"`
	// Group is the lane's consumer group: a group of its own, so that its
	// rebalances, fetches and commits never wait for the normal topics'.
	// Default: kafka.group with "-priority" appended.
	Group string `yaml:"group"`
}

// PriorityConfig is the priority lane's own budget: its records never
// count against max_in_flight_bytes, and its documents go in bulks of
// their own, so that a backlog of normal records cannot hold them back.
type PriorityConfig struct {
	// MaxInFlightBytes bounds the priority lane's bytes of records taken
	// and not finished, apart from max_in_flight_bytes. Default 4 MiB.
	MaxInFlightBytes int64 `yaml:"max_in_flight_bytes"`
	// Linger flushes the lane's non-empty bulk this long after its first
	// document. Default 20ms.
	Linger time.Duration `yaml:"linger"`
	// Concurrency bounds the lane's bulk requests in flight, besides
	// bulk.concurrency. Default 1.
	Concurrency int `yaml:"concurrency"`
}

// IndicesConfig names the indices and sets their settings.
type IndicesConfig struct {
	// SpanAlias is the span write alias. Default "otel-v1-apm-span".
	SpanAlias string `yaml:"span_alias"`
	// ServiceMap is the service-map index. Default "otel-v1-apm-service-map".
	ServiceMap string `yaml:"service_map"`
	// APMServiceMap is the write alias of Dashboards APM's application map
	// (apm.enabled); its indices are APMServiceMap-000001, ... Default
	// "otel-v2-apm-service-map".
	APMServiceMap string `yaml:"apm_service_map"`
	// LogsDataStream is the logs data stream. Default "ss4o_logs-vigil-default".
	LogsDataStream string `yaml:"logs_data_stream"`
	// HealthEvents is the index of vigil.health and vigil.failover events
	// (pipeline/eventindex). Default "vigil-health-events".
	HealthEvents string `yaml:"health_events"`
	// Canary is the index of heartbeat and loss-window documents
	// (pipeline/canary). Default "vigil-canary".
	Canary string `yaml:"canary"`
	// DLQ is the index of dead-lettered records' headers (pipeline/eventindex).
	// Default "vigil-dlq".
	DLQ string `yaml:"dlq"`
	// Shards is index.number_of_shards. Default 1.
	Shards int `yaml:"shards"`
	// Replicas is index.number_of_replicas. Default 0.
	Replicas int `yaml:"replicas"`
	// RefreshInterval is index.refresh_interval. Default "1s".
	RefreshInterval string `yaml:"refresh_interval"`
	// TotalFieldsLimit is index.mapping.total_fields.limit. Default 5000.
	TotalFieldsLimit int `yaml:"total_fields_limit"`
	// SpanAttributeFields are span attribute keys written as fields of
	// their own ("span.attributes.<key>", aggregatable keywords) besides
	// the semantic conventions' (pipeline/document/known.go); every other
	// key goes into the span.attributes.overflow flat_object, so that
	// distinct keys cannot fill the mapping (docs/operations.md). At most
	// half of total_fields_limit. Default none.
	SpanAttributeFields []string `yaml:"span_attribute_fields"`
	// RolloverSize and RolloverAge trigger ISM rollover. Defaults "10gb", "1d".
	RolloverSize string `yaml:"rollover_size"`
	RolloverAge  string `yaml:"rollover_age"`
	// DeleteAfter is ISM retention. Default "7d".
	DeleteAfter string `yaml:"delete_after"`
	// InstallTemplates installs templates, ISM policies and the span
	// bootstrap index at start. Default true.
	InstallTemplates bool `yaml:"install_templates"`
}

// BulkConfig shapes bulk requests.
type BulkConfig struct {
	// MaxBytes flushes a bulk at this body size. Default 5 MiB.
	MaxBytes int `yaml:"max_bytes"`
	// MaxDocs flushes a bulk at this many documents. Default 5000.
	MaxDocs int `yaml:"max_docs"`
	// Linger flushes a non-empty bulk this long after its first document,
	// once a bulk slot (Concurrency) is free for it: while every slot is
	// busy it keeps filling up to MaxDocs or MaxBytes. Default 200ms.
	Linger time.Duration `yaml:"linger"`
	// Concurrency bounds bulk requests in flight. Default 2.
	Concurrency int `yaml:"concurrency"`
}

// RetryConfig is the backoff for retryable failures.
type RetryConfig struct {
	// InitialBackoff is the first wait. Default 100ms.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps the wait. Default 30s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxItemRetries is how often one document is retried after a
	// retryable item error (429, 5xx) before it is dead-lettered as
	// retries_exhausted. Whole-request failures (cluster unreachable) are
	// retried without limit. Default 10.
	MaxItemRetries int `yaml:"max_item_retries"`
}

// TraceGroupConfig bounds the wait for a trace's root span.
type TraceGroupConfig struct {
	// Window is how long a span waits for its trace's root span before it
	// is indexed without traceGroup; 0 indexes at once. Default 10s.
	Window time.Duration `yaml:"window"`
	// MaxHeldSpans bounds the spans waiting; past it (or past half of
	// max_in_flight_bytes of them) the oldest trace's spans are indexed
	// without waiting. Default 20000.
	MaxHeldSpans int `yaml:"max_held_spans"`
	// MaxTraces bounds the traces remembered (root known, or spans held),
	// each for up to 3 windows (at least 30s) after its first span. Default
	// 20000.
	MaxTraces int `yaml:"max_traces"`
	// ServiceMap derives service-map documents. Default true.
	ServiceMap bool `yaml:"service_map"`
	// Repair gives spans indexed without group (their root came after the
	// window) the group once the root arrives: their documents are
	// updated in place. Default true.
	Repair bool `yaml:"repair"`
	// RepairDelay is how long after the root a repair looks for the
	// trace's spans without group, and then again until none is left. It
	// must exceed the span indices' refresh_interval (and a bulk's
	// linger), so that spans released just before the root are
	// searchable. Default 5s.
	RepairDelay time.Duration `yaml:"repair_delay"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Kafka: KafkaConfig{
			Conn:                   kafka.DefaultConn("vigil-pipeline"),
			Group:                  "vigil-pipeline",
			SessionTimeout:         6 * time.Second,
			Logs:                   TopicConfig{Topic: "otlp_logs", Encoding: EncodingProto},
			Spans:                  TopicConfig{Topic: "otlp_spans", Encoding: EncodingProto},
			Priority:               PriorityTopicConfig{TopicConfig: TopicConfig{Topic: "otlp_logs_priority", Encoding: EncodingProto}},
			DLQTopic:               "vigil.dlq",
			HealthTopic:            eventindex.DefaultConfig().HealthTopic,
			FetchMaxBytes:          1 << 20,
			FetchMaxPartitionBytes: 512 << 10,
			FetchMaxWait:           250 * time.Millisecond,
			MaxConcurrentFetches:   2,
			MaxPollRecords:         500,
			ResetOffset:            "earliest",
		},
		OpenSearch: opensearch.DefaultConfig(),
		Failover:   DefaultFailoverConfig(),
		Indices: IndicesConfig{
			SpanAlias:        "otel-v1-apm-span",
			ServiceMap:       "otel-v1-apm-service-map",
			APMServiceMap:    "otel-v2-apm-service-map",
			LogsDataStream:   "ss4o_logs-vigil-default",
			HealthEvents:     "vigil-health-events",
			DLQ:              "vigil-dlq",
			Canary:           "vigil-canary",
			Shards:           1,
			Replicas:         0,
			RefreshInterval:  "1s",
			TotalFieldsLimit: 5000,
			RolloverSize:     "10gb",
			RolloverAge:      "1d",
			DeleteAfter:      "7d",
			InstallTemplates: true,
		},
		LogRouting:       DefaultLogRoutingConfig(),
		Priority:         PriorityConfig{MaxInFlightBytes: 4 << 20, Linger: 20 * time.Millisecond, Concurrency: 1},
		Bulk:             BulkConfig{MaxBytes: 5 << 20, MaxDocs: defaultBulkDocs, Linger: 200 * time.Millisecond, Concurrency: 2},
		Retry:            RetryConfig{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, MaxItemRetries: 10},
		Events:           eventindex.DefaultConfig(),
		Canary:           canary.DefaultConfig(),
		TraceGroup:       TraceGroupConfig{Window: 10 * time.Second, MaxHeldSpans: 20000, MaxTraces: 20000, ServiceMap: true, Repair: true, RepairDelay: 5 * time.Second},
		APM:              DefaultAPMConfig(),
		MaxInFlightBytes: 16 << 20,
		CommitInterval:   2 * time.Second,
		HealthInterval:   10 * time.Second,
		MaxFutureSkew:    24 * time.Hour,
		DrainTimeout:     30 * time.Second,
		Sink:             SinkOpenSearch,
	}
}

// DefaultMemoryLimit and DefaultGCPercent are the Go runtime's soft memory
// limit and GOGC for `vigil pipeline` run alone, unless its file sets
// memory_limit (a process key, beside admin and log) or the environment
// sets GOMEMLIMIT or GOGC. About 50 MiB of the process's RSS is the binary's
// own code and read-only data even after start-up's pages are released, so
// the heap must stay near its live data (in-flight bytes, fetch buffers,
// bulk bodies) for the process to stay within 128 MiB at any lag
// (pipeline/e2e TestOpenSearchCrashAtLag reads the real process's VmHWM).
// GOGC 200 spends the room below the limit on fewer collections: on
// collector-shaped records (scripts/bench.d/20-pipeline.sh) a 48 MiB limit
// cost about a quarter more CPU than 64 MiB with GOGC 200, for 14 MiB less
// heap. Above the limit the collector runs more often (Go caps it at about
// half the CPU); it never fails an allocation.
const (
	DefaultMemoryLimit = 64 << 20
	DefaultGCPercent   = 200
)

// Encodings of the input topics.
const (
	EncodingProto = "otlp_proto"
	EncodingJSON  = "otlp_json"
)

// RenamedKeys names the keys that moved: the health topic has one name,
// kafka.health_topic, in every component.
func (Config) RenamedKeys() map[string]string {
	return map[string]string{"events.health_topic": "kafka.health_topic"}
}

// events is the events section with the health topic it indexes, which
// is set as kafka.health_topic.
func (c Config) events() eventindex.Config {
	ev := c.Events
	ev.HealthTopic = c.Kafka.HealthTopic
	return ev
}

// Validate reports every problem.
func (c Config) Validate() error {
	var p config.Problems
	k := c.Kafka
	p.Merge("kafka", k.Conn.Validate())
	for _, x := range []struct{ path, v string }{{"kafka.client_id", k.ClientID}, {"kafka.group", k.Group}, {"kafka.dlq_topic", k.DLQTopic}} {
		if x.v == "" {
			p.Addf(x.path, "must not be empty")
		}
	}
	if k.Logs.Topic == "" && k.Spans.Topic == "" {
		p.Addf("kafka", "at least one of logs.topic and spans.topic must be set")
	}
	for _, t := range []struct {
		path string
		tc   TopicConfig
	}{{"kafka.logs", k.Logs}, {"kafka.spans", k.Spans}, {"kafka.priority", k.Priority.TopicConfig}} {
		if t.tc.Encoding != EncodingProto && t.tc.Encoding != EncodingJSON {
			p.Addf(t.path+".encoding", "must be %s or %s (got %q)", EncodingProto, EncodingJSON, t.tc.Encoding)
		}
	}
	if k.Logs.Topic != "" && k.Logs.Topic == k.Spans.Topic {
		p.Addf("kafka.spans.topic", "must differ from logs.topic (got %q)", k.Spans.Topic)
	}
	if t := k.Priority.Topic; t != "" && (t == k.Logs.Topic || t == k.Spans.Topic) {
		p.Addf("kafka.priority.topic", "must differ from logs.topic and spans.topic (got %q)", t)
	}
	if k.Priority.Topic != "" && k.Priority.Group != "" && k.Priority.Group == k.Group {
		p.Addf("kafka.priority.group", "must differ from kafka.group: the lane commits on its own (got %q)", k.Priority.Group)
	}
	if k.FetchMaxBytes <= 0 {
		p.Addf("kafka.fetch_max_bytes", "must be > 0 (got %d)", k.FetchMaxBytes)
	}
	if k.FetchMaxPartitionBytes <= 0 || k.FetchMaxPartitionBytes > k.FetchMaxBytes {
		p.Addf("kafka.fetch_max_partition_bytes", "must be > 0 and <= fetch_max_bytes (got %d)", k.FetchMaxPartitionBytes)
	}
	if k.FetchMaxWait <= 0 {
		p.Addf("kafka.fetch_max_wait", "must be > 0 (got %s)", k.FetchMaxWait)
	}
	if k.MaxConcurrentFetches <= 0 {
		p.Addf("kafka.max_concurrent_fetches", "must be > 0 (got %d)", k.MaxConcurrentFetches)
	}
	if k.SessionTimeout < 6*time.Second || k.SessionTimeout > 5*time.Minute {
		p.Addf("kafka.session_timeout", "must be between 6s (the broker's default minimum) and 5m (got %s)", k.SessionTimeout)
	}
	if k.MaxPollRecords <= 0 {
		p.Addf("kafka.max_poll_records", "must be > 0 (got %d)", k.MaxPollRecords)
	}
	if k.ResetOffset != "earliest" && k.ResetOffset != "latest" {
		p.Addf("kafka.reset_offset", "must be earliest or latest (got %q)", k.ResetOffset)
	}
	p.Merge("opensearch", c.OpenSearch.Validate())
	c.Failover.validate(&p, c.OpenSearch)

	p.Merge("indices", c.Indices.Validate())
	if strings.Contains(c.Indices.LogsDataStream, "-") { // else reported above
		c.LogRouting.validate(&p, c.Indices.LogsDataStream)
	}
	p.Merge("events", c.events().Validate())
	p.Merge("canary", c.Canary.Validate())
	if c.Bulk.MaxBytes < 1024 {
		p.Addf("bulk.max_bytes", "must be >= 1024 (got %d)", c.Bulk.MaxBytes)
	}
	if c.Bulk.MaxDocs <= 0 {
		p.Addf("bulk.max_docs", "must be > 0 (got %d)", c.Bulk.MaxDocs)
	}
	if c.Bulk.Linger <= 0 {
		p.Addf("bulk.linger", "must be > 0 (got %s)", c.Bulk.Linger)
	}
	if c.Bulk.Concurrency <= 0 {
		p.Addf("bulk.concurrency", "must be > 0 (got %d)", c.Bulk.Concurrency)
	}
	if c.Retry.InitialBackoff <= 0 {
		p.Addf("retry.initial_backoff", "must be > 0 (got %s)", c.Retry.InitialBackoff)
	}
	if c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		p.Addf("retry.max_backoff", "must be >= initial_backoff (got %s)", c.Retry.MaxBackoff)
	}
	if c.Retry.MaxItemRetries < 0 {
		p.Addf("retry.max_item_retries", "must be >= 0 (got %d)", c.Retry.MaxItemRetries)
	}
	c.APM.validate(&p)
	if c.TraceGroup.Window < 0 {
		p.Addf("trace_group.window", "must be >= 0 (got %s)", c.TraceGroup.Window)
	}
	if c.TraceGroup.MaxHeldSpans <= 0 {
		p.Addf("trace_group.max_held_spans", "must be > 0 (got %d)", c.TraceGroup.MaxHeldSpans)
	}
	if c.TraceGroup.MaxTraces <= 0 {
		p.Addf("trace_group.max_traces", "must be > 0 (got %d)", c.TraceGroup.MaxTraces)
	}
	if c.TraceGroup.Repair && c.TraceGroup.RepairDelay <= 0 {
		p.Addf("trace_group.repair_delay", "must be > 0 when trace_group.repair is on (got %s)", c.TraceGroup.RepairDelay)
	}
	if c.Kafka.Priority.Topic != "" {
		if c.Priority.MaxInFlightBytes < 1<<20 {
			p.Addf("priority.max_in_flight_bytes", "must be >= 1048576 (got %d)", c.Priority.MaxInFlightBytes)
		}
		if c.Priority.Linger <= 0 {
			p.Addf("priority.linger", "must be > 0 (got %s)", c.Priority.Linger)
		}
		if c.Priority.Concurrency <= 0 {
			p.Addf("priority.concurrency", "must be > 0 (got %d)", c.Priority.Concurrency)
		}
	}
	if c.MaxInFlightBytes < int64(c.Bulk.MaxBytes) {
		p.Addf("max_in_flight_bytes", "must be >= bulk.max_bytes (got %d)", c.MaxInFlightBytes)
	}
	for _, x := range []struct {
		path string
		v    time.Duration
	}{{"commit_interval", c.CommitInterval}, {"health_interval", c.HealthInterval}, {"max_future_skew", c.MaxFutureSkew}, {"drain_timeout", c.DrainTimeout}} {
		if x.v <= 0 {
			p.Addf(x.path, "must be > 0 (got %s)", x.v)
		}
	}
	if c.Sink != SinkOpenSearch && c.Sink != SinkDiscard {
		p.Addf("sink", "must be %s or %s (got %q)", SinkOpenSearch, SinkDiscard, c.Sink)
	}
	return p.Err()
}

func (c Config) names() opensearch.Names { return c.Indices.Names() }

// Names are the indices, as pipeline/opensearch takes them.
func (ix IndicesConfig) Names() opensearch.Names {
	return opensearch.Names{SpanAlias: ix.SpanAlias, ServiceMap: ix.ServiceMap, APMServiceMap: ix.APMServiceMap, LogsDataStream: ix.LogsDataStream, Events: ix.HealthEvents, DLQ: ix.DLQ, Canary: ix.Canary}
}

// Installer is what installs the templates, ISM policies and bootstrap
// index for these indices: the pipeline runs it at start and `vigil setup`
// runs the very same, so both install (and upgrade, never downgrade) the
// same versions.
func (ix IndicesConfig) Installer(c *opensearch.Client, log *slog.Logger) *opensearch.Installer {
	return &opensearch.Installer{
		Client: c,
		Names:  ix.Names(),
		Settings: opensearch.Settings{
			Shards: ix.Shards, Replicas: ix.Replicas,
			RefreshInterval: ix.RefreshInterval, TotalFieldsLimit: ix.TotalFieldsLimit,
		},
		Lifecycle: opensearch.Lifecycle{RolloverSize: ix.RolloverSize, RolloverAge: ix.RolloverAge, DeleteAfter: ix.DeleteAfter},
		Log:       log,
	}
}

// talksToOpenSearch reports whether the pipeline uses the cluster at all.
func (c Config) talksToOpenSearch() bool { return !c.DryRun && c.Sink == SinkOpenSearch }

// priorityGroup is the priority lane's consumer group.
func (c Config) priorityGroup() string {
	if g := c.Kafka.Priority.Group; g != "" {
		return g
	}
	return c.Kafka.Group + "-priority"
}

func (c Config) topics() []string {
	var ts []string
	for _, t := range []string{c.Kafka.Logs.Topic, c.Kafka.Spans.Topic} {
		if t != "" {
			ts = append(ts, t)
		}
	}
	return ts
}

// Validate reports every problem (paths relative to indices).
func (ix IndicesConfig) Validate() error {
	var p config.Problems
	for _, x := range []struct{ path, v string }{{"span_alias", ix.SpanAlias}, {"service_map", ix.ServiceMap}, {"apm_service_map", ix.APMServiceMap}, {"logs_data_stream", ix.LogsDataStream}, {"health_events", ix.HealthEvents}, {"dlq", ix.DLQ}, {"canary", ix.Canary}} {
		if x.v == "" || x.v != strings.ToLower(x.v) || strings.ContainsAny(x.v, ` ,*?"<>|/\#`) {
			p.Addf(x.path, "must be a non-empty lowercase index name (got %q)", x.v)
		}
	}
	if !strings.Contains(ix.LogsDataStream, "-") {
		p.Addf("logs_data_stream", "must contain '-' (the template matches <prefix>-*) (got %q)", ix.LogsDataStream)
	}
	if ix.Shards <= 0 {
		p.Addf("shards", "must be > 0 (got %d)", ix.Shards)
	}
	if ix.Replicas < 0 {
		p.Addf("replicas", "must be >= 0 (got %d)", ix.Replicas)
	}
	if ix.RefreshInterval == "" {
		p.Addf("refresh_interval", "must not be empty")
	}
	if ix.TotalFieldsLimit < 100 {
		p.Addf("total_fields_limit", "must be >= 100 (got %d)", ix.TotalFieldsLimit)
	}
	if n := len(ix.SpanAttributeFields); n > ix.TotalFieldsLimit/2 {
		p.Addf("span_attribute_fields", "must list at most %d keys, half of total_fields_limit: each is a field of the span index (got %d)", ix.TotalFieldsLimit/2, n)
	}
	seen := map[string]bool{}
	for i, k := range ix.SpanAttributeFields {
		switch {
		case k == "":
			p.Addf(fmt.Sprintf("span_attribute_fields[%d]", i), "must not be empty")
		case seen[k]:
			p.Addf(fmt.Sprintf("span_attribute_fields[%d]", i), "repeats %q", k)
		}
		seen[k] = true
	}
	for _, x := range []struct{ path, v string }{{"rollover_size", ix.RolloverSize}, {"rollover_age", ix.RolloverAge}, {"delete_after", ix.DeleteAfter}} {
		if x.v == "" {
			p.Addf(x.path, "must not be empty")
		}
	}
	return p.Err()
}

// defaultBulkDocs is bulk.max_docs' default.
const defaultBulkDocs = 5000
