package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Topic is one Kafka topic Vigil needs.
type Topic struct {
	// Name of the topic.
	Name string `yaml:"name"`
	// Partitions is the partition count; an existing topic with fewer is
	// grown, one with more is left alone. Required.
	Partitions int32 `yaml:"partitions"`
	// ReplicationFactor applies when the topic is created; -1 uses the
	// broker's default.replication.factor. Default -1.
	ReplicationFactor int16 `yaml:"replication_factor"`
	// Configs are topic configs (cleanup.policy, retention.ms, ...) set on
	// creation and reconciled afterwards.
	Configs map[string]string `yaml:"configs"`
}

// Retention of the topics DefaultTopics lists.
const (
	day               = 24 * time.Hour
	otlpRetention     = 3 * day
	deadLetterRetains = 14 * day
	// otlpMaxMessageBytes is max.message.bytes of otlp_logs and otlp_spans:
	// the collector's Kafka exporters send batches of up to 8 MiB
	// (producer.max_message_bytes in configs/collector.yaml), and a broker
	// left at its 1 MiB default refuses every larger one.
	otlpMaxMessageBytes = "8388608"
	// dlqMaxMessageBytes leaves room for a dead-lettered record and the
	// headers that say why it failed.
	dlqMaxMessageBytes = "33554432"
)

// DefaultTopics are the topics Vigil's components use, as `vigil setup`
// creates them. The OTLP topics get enough partitions for a few pipeline
// replicas (replicas beyond the partition count idle); the event and state
// topics are compacted so they keep the latest record per key (target) for
// ever.
func DefaultTopics() []Topic {
	ms := func(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }
	compacted := map[string]string{"cleanup.policy": "compact"}
	otlp := map[string]string{"retention.ms": ms(otlpRetention), "max.message.bytes": otlpMaxMessageBytes}
	return []Topic{
		{Name: "otlp_logs", Partitions: 6, ReplicationFactor: -1, Configs: maps.Clone(otlp)},
		// The priority lane's: ERROR-and-above logs.
		{Name: "otlp_logs_priority", Partitions: 6, ReplicationFactor: -1, Configs: maps.Clone(otlp)},
		{Name: "otlp_spans", Partitions: 6, ReplicationFactor: -1, Configs: maps.Clone(otlp)},
		{Name: "vigil.dlq", Partitions: 3, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": ms(deadLetterRetains), "max.message.bytes": dlqMaxMessageBytes}},
		{Name: "vigil.health", Partitions: 1, ReplicationFactor: -1, Configs: maps.Clone(compacted)},
		{Name: "vigil.failover", Partitions: 1, ReplicationFactor: -1, Configs: maps.Clone(compacted)},
		{Name: "vigil.alerting.state", Partitions: 1, ReplicationFactor: -1, Configs: maps.Clone(compacted)},
		// One partition: its owner in the detector's group is the leader.
		{Name: "vigil.detector.leader", Partitions: 1, ReplicationFactor: -1},
	}
}

// Mode is what EnsureTopics may do to the cluster.
type Mode int

const (
	// Reconcile creates missing topics, grows partition counts and sets the
	// configs named: what `vigil setup` does.
	Reconcile Mode = iota
	// DryRun reports what Reconcile would do and changes nothing.
	DryRun
	// CreateMissing creates missing topics and leaves existing ones as they
	// are: what a component does at start when asked to create its own
	// topics, so that it never overrides an operator's tuning of a topic
	// `vigil setup` made.
	CreateMissing
)

// Change is one thing EnsureTopics did or would do.
type Change struct {
	Resource string // e.g. "topic vigil.health"
	Action   string // "created", "partitions 3 -> 6", "set retention.ms=...", "unchanged"
}

func (c Change) String() string { return c.Resource + ": " + c.Action }

// Changed reports whether the resource was (or, in a dry run, would be)
// changed: every action but "unchanged ..." and "skipped ...".
func (c Change) Changed() bool {
	return !strings.HasPrefix(c.Action, "unchanged") && !strings.HasPrefix(c.Action, "skipped")
}

// EnsureTopics creates missing topics and, in Reconcile mode, grows
// partition counts and reconciles configs. It returns what it changed (or,
// in DryRun mode, would change); an unchanged topic yields one "unchanged"
// entry. Topics are handled in name order for a stable report. A topic
// another client creates meanwhile counts as created.
func EnsureTopics(ctx context.Context, adm *kadm.Client, topics []Topic, mode Mode) ([]Change, error) {
	dryRun := mode == DryRun
	sorted := slices.Clone(topics)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	names := make([]string, len(sorted))
	for i, t := range sorted {
		names[i] = t.Name
	}
	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	var changes []Change
	var errs []error
	for _, t := range sorted {
		res := "topic " + t.Name
		d, exists := details[t.Name]
		if exists && errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			exists = false
		}
		if exists && d.Err != nil {
			errs = append(errs, fmt.Errorf("kafka: %s: %w", res, d.Err))
			continue
		}
		if !exists {
			if !dryRun {
				cfgs := make(map[string]*string, len(t.Configs))
				for k, v := range t.Configs {
					cfgs[k] = &v
				}
				resp, err := adm.CreateTopic(ctx, t.Partitions, t.ReplicationFactor, cfgs, t.Name)
				if err == nil {
					err = resp.Err
				}
				if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
					errs = append(errs, fmt.Errorf("kafka: create %s: %w", res, err))
					continue
				}
			}
			changes = append(changes, Change{res, fmt.Sprintf("created (%d partitions%s)", t.Partitions, describeConfigs(t.Configs))})
			continue
		}
		if mode == CreateMissing {
			changes = append(changes, Change{res, "unchanged"})
			continue
		}
		var did []Change
		if have := int32(len(d.Partitions)); have < t.Partitions {
			if !dryRun {
				resp, err := adm.UpdatePartitions(ctx, int(t.Partitions), t.Name)
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("kafka: grow %s: %w", res, err))
					continue
				}
			}
			did = append(did, Change{res, fmt.Sprintf("partitions %d -> %d", have, t.Partitions)})
		}
		cfgChanges, err := reconcileConfigs(ctx, adm, t, dryRun)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		did = append(did, cfgChanges...)
		if len(did) == 0 {
			did = []Change{{res, "unchanged"}}
		}
		changes = append(changes, did...)
	}
	return changes, errors.Join(errs...)
}

// reconcileConfigs sets each wanted config whose current value differs.
// Configs not named are left as they are: an operator's own tuning stays.
func reconcileConfigs(ctx context.Context, adm *kadm.Client, t Topic, dryRun bool) ([]Change, error) {
	if len(t.Configs) == 0 {
		return nil, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, t.Name)
	if err != nil {
		return nil, fmt.Errorf("kafka: describe configs of topic %s: %w", t.Name, err)
	}
	rc, err := rcs.On(t.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("kafka: describe configs of topic %s: %w", t.Name, err)
	}
	have := map[string]string{}
	for _, c := range rc.Configs {
		if c.Value != nil {
			have[c.Key] = *c.Value
		}
	}
	var alter []kadm.AlterConfig
	var changes []Change
	for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
		want := t.Configs[k]
		if cur, ok := have[k]; ok && cur == want {
			continue
		}
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &want})
		changes = append(changes, Change{"topic " + t.Name, fmt.Sprintf("set %s=%s (was %q)", k, want, have[k])})
	}
	if len(alter) == 0 || dryRun {
		return changes, nil
	}
	resp, err := adm.AlterTopicConfigs(ctx, alter, t.Name)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: alter configs of topic %s: %w", t.Name, err)
	}
	return changes, nil
}

func describeConfigs(c map[string]string) string {
	if len(c) == 0 {
		return ""
	}
	s := ""
	for _, k := range slices.Sorted(maps.Keys(c)) {
		s += ", " + k + "=" + c[k]
	}
	return s
}
