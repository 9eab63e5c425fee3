package alerting

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/vigil-dev/vigil/internal/events"
)

// Store keeps alerting's state: one value per key, the latest write wins,
// nil deletes. The Kafka implementation is a compacted topic
// (alerting/statetopic); keys are "target/<target>" and "silence/<id>".
type Store interface {
	// Load returns every live key's latest value.
	Load(ctx context.Context) (map[string][]byte, error)
	// Put writes value under key; a nil value deletes the key.
	Put(ctx context.Context, key string, value []byte) error
}

const (
	targetPrefix  = "target/"
	silencePrefix = "silence/"
)

// targetState is what alerting remembers of a target, stored as JSON under
// "target/<target>".
type targetState struct {
	Target string `json:"target"`
	// Generation is the last health generation applied; older or equal
	// events are dropped.
	Generation uint64 `json:"generation"`
	// FailoverGeneration is the last failover generation applied.
	FailoverGeneration uint64 `json:"failoverGeneration,omitempty"`
	// FailoverStep is the step of that generation applied: 1 the request,
	// 2 its outcome; 0 (state from before steps were kept) lets either in.
	FailoverStep int `json:"failoverStep,omitempty"`
	// Last is the last health event applied.
	Last events.Health `json:"last"`
	// Incident is the open incident, if any.
	Incident *incident `json:"incident,omitempty"`
	// Pending is the key of a Slack post that was started and may or may
	// not have completed before a crash: a retry of the same post first looks
	// for a message with that key.
	Pending string `json:"pending,omitempty"`
	// PendingAt is when the Pending post was started.
	PendingAt time.Time `json:"pendingAt,omitzero"`
}

// incident is one incident: opened by CRITICAL (or CAUTION where the route
// says so), closed by HEALTHY, one Slack thread for its whole life.
type incident struct {
	// ID is "<target>#<generation that opened it>", unique and stable.
	ID      string `json:"id"`
	Route   string `json:"route"`
	Channel string `json:"channel"`
	// TS is the thread: the parent message, or the storm summary when
	// Folded.
	TS     string `json:"ts,omitempty"`
	Folded bool   `json:"folded,omitempty"`
	// Posted reports the parent (or the summary) was posted; replies need it.
	Posted bool `json:"posted,omitempty"`
	// Muted reports the incident opened while silenced or in maintenance
	// and is posted only if it is still open when the mute ends.
	Muted    bool          `json:"muted,omitempty"`
	OpenedAt time.Time     `json:"openedAt"`
	Status   events.Status `json:"status"`
	// Opening is the event that opened the incident; the parent shows it.
	Opening events.Health `json:"opening"`
	// LastNotified is when the thread last got a message; reminders count
	// from it.
	LastNotified time.Time `json:"lastNotified"`
	Reminders    int       `json:"reminders,omitempty"`
}

func (s *targetState) clone() *targetState {
	c := *s
	if s.Incident != nil {
		inc := *s.Incident
		c.Incident = &inc
	}
	return &c
}

func decodeTarget(b []byte) (*targetState, error) {
	var s targetState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// MemStore is an in-memory Store, for tests and for runs that need no
// durability.
type MemStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{m: map[string][]byte{}} }

// Load returns a copy of every value.
func (s *MemStore) Load(context.Context) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m), nil
}

// Put stores or, for nil, deletes.
func (s *MemStore) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == nil {
		delete(s.m, key)
		return nil
	}
	s.m[key] = append([]byte(nil), value...)
	return nil
}

// Keys returns the keys with the prefix.
func (s *MemStore) Keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}
