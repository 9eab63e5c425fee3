package events

import (
	"encoding/json"
	"fmt"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics.
const (
	HealthTopic   = "vigil.health"
	FailoverTopic = "vigil.failover"
)

// ContentType is the record header value for structured CloudEvents.
const ContentType = "application/cloudevents+json"

// Status is a target's health.
type Status string

// Statuses, from best to worst; Unknown means no data or a query error and is
// never acted upon by failover.
const (
	Healthy  Status = "HEALTHY"
	Caution  Status = "CAUTION"
	Critical Status = "CRITICAL"
	Unknown  Status = "UNKNOWN"
)

// Rank orders statuses for "worst of": HEALTHY < UNKNOWN < CAUTION < CRITICAL.
func (s Status) Rank() int {
	switch s {
	case Healthy:
		return 0
	case Unknown:
		return 1
	case Caution:
		return 2
	case Critical:
		return 3
	}
	return -1
}

// Valid reports whether s is one of the four statuses.
func (s Status) Valid() bool { return s.Rank() >= 0 }

// HealthChangedType is the CloudEvents type of a health transition.
const HealthChangedType = "dev.vigil.health.changed.v1"

// DetectorHeartbeatType is the CloudEvents type of the leading detector's
// heartbeat, published on the health topic under HeartbeatKey every
// heartbeat_interval. Consumers of health events skip it by its type;
// alerting watches it to notice a detector that went silent.
const DetectorHeartbeatType = "dev.vigil.detector.heartbeat.v1"

// HeartbeatKey is the Kafka key of heartbeats on the (compacted) health
// topic: compaction keeps the last one. No target may take this name.
const HeartbeatKey = "_vigil.detector.heartbeat"

// Heartbeat is the data of a detector heartbeat.
type Heartbeat struct {
	// Instance is the leading detector's instance name.
	Instance string `json:"instance"`
	// IntervalSeconds is the detector's heartbeat_interval: the next
	// heartbeat is due this long after this one.
	IntervalSeconds float64 `json:"intervalSeconds"`
	// Targets is how many targets the leader evaluates.
	Targets int `json:"targets"`
}

// Health is the data of a health transition event.
type Health struct {
	Target         string            `json:"target"`
	Status         Status            `json:"status"`
	PreviousStatus Status            `json:"previousStatus"`
	Since          time.Time         `json:"since"`
	Rule           string            `json:"rule,omitempty"`
	Value          *float64          `json:"value,omitempty"`
	Threshold      *float64          `json:"threshold,omitempty"`
	Reason         string            `json:"reason"`
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	// Generation increases by one per target per transition and survives
	// restarts and leader changes; consumers drop events whose generation is
	// not above the last one they applied for the target.
	Generation uint64 `json:"generation"`
}

// Failover event types.
const (
	FailoverRequestedType = "dev.vigil.failover.requested.v1"
	FailoverCompletedType = "dev.vigil.failover.completed.v1"
	FailoverFailedType    = "dev.vigil.failover.failed.v1"
	FailbackRequestedType = "dev.vigil.failback.requested.v1"
	FailbackCompletedType = "dev.vigil.failback.completed.v1"
)

// Failover is the data of a failover decision or its outcome.
type Failover struct {
	Target string `json:"target"`
	// From and To name the sides (e.g. "primary", "standby").
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Generation fences decisions per target, as for Health.
	Generation uint64 `json:"generation"`
	// HealthGeneration is the health event that caused the decision, if any.
	HealthGeneration uint64 `json:"healthGeneration,omitempty"`
	// Actor names who executed a completed/failed step (e.g. "pipeline/host-1").
	Actor string `json:"actor,omitempty"`
	Error string `json:"error,omitempty"`
}

// New builds a CloudEvent with data encoded as JSON.
func New(id, source, typ, subject string, at time.Time, data any) (ce.Event, error) {
	e := ce.New(ce.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(source)
	e.SetType(typ)
	e.SetSubject(subject)
	e.SetTime(at)
	if err := e.SetData(ce.ApplicationJSON, data); err != nil {
		return e, fmt.Errorf("events: encode data: %w", err)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("events: %w", err)
	}
	return e, nil
}

// Record maps an event to a Kafka record in structured mode, keyed by subject
// (the target) so a compacted topic keeps each target's latest event.
func Record(topic string, e ce.Event) (*kgo.Record, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: marshal %s: %w", e.Type(), err)
	}
	return &kgo.Record{
		Topic:   topic,
		Key:     []byte(e.Subject()),
		Value:   v,
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte(ContentType)}},
	}, nil
}

// Parse decodes a record's CloudEvent and validates it.
func Parse(r *kgo.Record) (ce.Event, error) {
	var e ce.Event
	if err := json.Unmarshal(r.Value, &e); err != nil {
		return e, fmt.Errorf("events: %s/%d@%d: not a CloudEvent: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("events: %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return e, nil
}

// Data decodes e's data into T.
func Data[T any](e ce.Event) (T, error) {
	var v T
	if err := e.DataAs(&v); err != nil {
		return v, fmt.Errorf("events: %s %s: data: %w", e.Type(), e.ID(), err)
	}
	return v, nil
}
