package eventindex

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/events"
	"github.com/vigil-dev/vigil/pipeline/dlq"
)

// kafkaPos is where a document's record was read.
type kafkaPos struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// EventDoc is a document of the health-events index (EventsTemplate).
type EventDoc struct {
	Timestamp   time.Time `json:"@timestamp"`
	EventID     string    `json:"eventId"`
	EventType   string    `json:"eventType"`
	EventSource string    `json:"eventSource"`
	// Kind is "health", "failover" or, for an event type this build does
	// not know, "other".
	Kind       string `json:"kind"`
	Target     string `json:"target"`
	Generation uint64 `json:"generation,omitempty"`
	Reason     string `json:"reason,omitempty"`

	Status         events.Status     `json:"status,omitempty"`
	PreviousStatus events.Status     `json:"previousStatus,omitempty"`
	Since          *time.Time        `json:"since,omitempty"`
	Rule           string            `json:"rule,omitempty"`
	Value          *float64          `json:"value,omitempty"`
	Threshold      *float64          `json:"threshold,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`

	From             string `json:"from,omitempty"`
	To               string `json:"to,omitempty"`
	HealthGeneration uint64 `json:"healthGeneration,omitempty"`
	Actor            string `json:"actor,omitempty"`
	Error            string `json:"error,omitempty"`

	Kafka kafkaPos `json:"kafka"`
}

var failoverTypes = map[string]bool{
	events.FailoverRequestedType: true, events.FailoverCompletedType: true, events.FailoverFailedType: true,
	events.FailbackRequestedType: true, events.FailbackCompletedType: true,
}

// EventDocument builds the document and _id of a vigil.health or
// vigil.failover record. The _id is the event's type and id: Vigil's ids
// name the target and generation (docs/events.md), so the same transition
// published twice — a retried publish, or two detector replicas racing over
// a leader change, with different sources — is one document.
// ErrHeartbeat is EventDocument's answer for a detector heartbeat: it shares
// the health topic but is a sign of life, not an event for the index (one
// every 15 s would bury the transitions).
var ErrHeartbeat = errors.New("events: a detector heartbeat, not indexed")

func EventDocument(r *kgo.Record) (id string, doc EventDoc, err error) {
	e, err := events.Parse(r)
	if err != nil {
		return "", doc, err
	}
	if e.Type() == events.DetectorHeartbeatType {
		return "", doc, ErrHeartbeat
	}
	doc = EventDoc{
		Timestamp: e.Time().UTC(), EventID: e.ID(), EventType: e.Type(), EventSource: e.Source(),
		Kind: "other", Target: e.Subject(),
		Kafka: kafkaPos{r.Topic, r.Partition, r.Offset},
	}
	switch {
	case e.Type() == events.HealthChangedType:
		h, err := events.Data[events.Health](e)
		if err != nil {
			return "", doc, err
		}
		doc.Kind, doc.Target, doc.Generation, doc.Reason = "health", h.Target, h.Generation, h.Reason
		doc.Status, doc.PreviousStatus, doc.Rule, doc.Value, doc.Threshold = h.Status, h.PreviousStatus, h.Rule, h.Value, h.Threshold
		doc.Labels, doc.Annotations = h.Labels, h.Annotations
		if !h.Since.IsZero() {
			since := h.Since.UTC()
			doc.Since = &since
		}
	case failoverTypes[e.Type()]:
		f, err := events.Data[events.Failover](e)
		if err != nil {
			return "", doc, err
		}
		doc.Kind, doc.Target, doc.Generation, doc.Reason = "failover", f.Target, f.Generation, f.Reason
		doc.From, doc.To, doc.HealthGeneration, doc.Actor, doc.Error = f.From, f.To, f.HealthGeneration, f.Actor, f.Error
		if !f.At.IsZero() {
			doc.Timestamp = f.At.UTC()
		}
	}
	if doc.Target == "" {
		return "", doc, fmt.Errorf("events: %s/%d@%d: %s %s has no target", r.Topic, r.Partition, r.Offset, e.Type(), e.ID())
	}
	return e.Type() + "/" + e.ID(), doc, nil
}

// DLQDoc is a document of the DLQ index (DLQTemplate).
type DLQDoc struct {
	Timestamp       time.Time  `json:"@timestamp"`
	ErrorType       string     `json:"errorType"`
	Reason          string     `json:"reason,omitempty"`
	HTTPStatus      int        `json:"httpStatus,omitempty"`
	TargetIndex     string     `json:"targetIndex,omitempty"`
	Attempts        int        `json:"attempts,omitempty"`
	FailedDocuments int        `json:"failedDocuments,omitempty"`
	FirstFailure    *time.Time `json:"firstFailure,omitempty"`
	LastFailure     *time.Time `json:"lastFailure,omitempty"`
	ReplayedFrom    *int64     `json:"replayedFrom,omitempty"`
	ValueBytes      int        `json:"valueBytes"`
	Source          dlqPos     `json:"source"`
	DLQ             dlqPos     `json:"dlq"`
}

type dlqPos struct {
	Topic     string     `json:"topic"`
	Partition int32      `json:"partition"`
	Offset    int64      `json:"offset"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
}

func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// DLQDocument builds the document and _id of a dead-lettered record from its
// headers; @timestamp is the last failure (else the record's time).
func DLQDocument(r *kgo.Record) (id string, doc DLQDoc, err error) {
	e, err := dlq.Parse(r.Headers)
	if err != nil {
		return "", doc, fmt.Errorf("events: dlq %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	doc = DLQDoc{
		Timestamp: r.Timestamp.UTC(), ErrorType: e.ErrorType, Reason: e.Reason, HTTPStatus: e.HTTPStatus,
		TargetIndex: e.TargetIndex, Attempts: e.Attempts, FailedDocuments: e.FailedDocuments,
		FirstFailure: ts(e.FirstFailure), LastFailure: ts(e.LastFailure), ValueBytes: len(r.Value),
		Source: dlqPos{e.SourceTopic, e.SourcePartition, e.SourceOffset, ts(e.SourceTimestamp)},
		DLQ:    dlqPos{r.Topic, r.Partition, r.Offset, ts(r.Timestamp)},
	}
	if !e.LastFailure.IsZero() {
		doc.Timestamp = e.LastFailure.UTC()
	}
	for _, h := range r.Headers {
		if h.Key == dlq.HeaderReplayedFrom {
			var v int64
			if _, err := fmt.Sscan(strings.TrimSpace(string(h.Value)), &v); err == nil {
				doc.ReplayedFrom = &v
			}
		}
	}
	return fmt.Sprintf("%s-%d-%d", r.Topic, r.Partition, r.Offset), doc, nil
}

func marshal(v any) []byte { b, _ := json.Marshal(v); return b }
