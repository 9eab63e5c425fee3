package alerting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Silence mutes the targets its matchers select until it expires: no
// incident is opened for them (one that opens meanwhile is posted when the
// silence ends, if it is still open), and open incidents get no changes or
// reminders. A recovery still closes an incident already posted, so that no
// thread is left looking open.
type Silence struct {
	ID        string    `json:"id"`
	Matchers  []Matcher `json:"matchers"`
	StartsAt  time.Time `json:"startsAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

// SilenceRequest asks for a silence; set ExpiresAt or Duration.
type SilenceRequest struct {
	// Matchers in the string form of Matcher, e.g. "target=db-1",
	// "env=~prod-.*".
	Matchers  []string  `json:"matchers"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Duration is a Go duration such as "2h", counted from creation.
	Duration  string `json:"duration,omitempty"`
	Reason    string `json:"reason"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// MaxSilence is the longest a silence may last; longer mutes belong in a
// maintenance window in configuration, where they are reviewed.
const MaxSilence = 30 * 24 * time.Hour

// silence validates r and builds the silence it asks for.
func (r SilenceRequest) silence(now time.Time) (Silence, error) {
	var errs []error
	ms, err := ParseMatchers(r.Matchers)
	if err != nil {
		errs = append(errs, err)
	}
	if len(r.Matchers) == 0 {
		errs = append(errs, errors.New("matchers: at least one is required"))
	}
	exp := r.ExpiresAt
	switch {
	case r.Duration != "" && !exp.IsZero():
		errs = append(errs, errors.New("set expiresAt or duration, not both"))
	case r.Duration != "":
		d, err := time.ParseDuration(r.Duration)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("duration: must be a positive Go duration (got %q)", r.Duration))
		}
		exp = now.Add(d)
	case exp.IsZero():
		errs = append(errs, errors.New("expiresAt or duration is required"))
	}
	if !exp.IsZero() && !exp.After(now) {
		errs = append(errs, fmt.Errorf("expiresAt: must be in the future (got %s)", exp.Format(time.RFC3339)))
	}
	if exp.Sub(now) > MaxSilence {
		errs = append(errs, fmt.Errorf("a silence lasts at most %s; use a maintenance window", MaxSilence))
	}
	if r.Reason == "" {
		errs = append(errs, errors.New("reason: is required"))
	}
	if len(errs) > 0 {
		return Silence{}, errors.Join(errs...)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return Silence{ID: hex.EncodeToString(id[:]), Matchers: ms, StartsAt: now, ExpiresAt: exp, Reason: r.Reason, CreatedBy: r.CreatedBy}, nil
}

// silences is the set of silences; its own lock lets the API work while the
// engine is busy posting.
type silences struct {
	mu sync.RWMutex
	m  map[string]Silence
}

func (s *silences) put(x Silence) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[x.ID] = x
}

func (s *silences) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	delete(s.m, id)
	return ok
}

func (s *silences) matches(target string, labels map[string]string, now time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, x := range s.m {
		if now.Before(x.ExpiresAt) && !now.Before(x.StartsAt) && matchAll(x.Matchers, target, labels) {
			return true
		}
	}
	return false
}

func (s *silences) active(now time.Time) []Silence {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []Silence{}
	for _, x := range s.m {
		if now.Before(x.ExpiresAt) {
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	return out
}

func (s *silences) expired(now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for id, x := range s.m {
		if !now.Before(x.ExpiresAt) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// AddSilence validates and stores a silence.
func (e *Engine) AddSilence(ctx context.Context, r SilenceRequest) (Silence, error) {
	x, err := r.silence(e.now())
	if err != nil {
		return Silence{}, &RequestError{Err: err}
	}
	b, err := json.Marshal(x)
	if err != nil {
		return Silence{}, err
	}
	if err := e.store.Put(ctx, silencePrefix+x.ID, b); err != nil {
		return Silence{}, fmt.Errorf("alerting: write silence: %w", err)
	}
	e.sil.put(x)
	return x, nil
}

// DeleteSilence ends a silence now; found is false for an unknown ID.
func (e *Engine) DeleteSilence(ctx context.Context, id string) (found bool, err error) {
	e.sil.mu.RLock()
	_, found = e.sil.m[id]
	e.sil.mu.RUnlock()
	if !found {
		return false, nil
	}
	if err := e.store.Put(ctx, silencePrefix+id, nil); err != nil {
		return true, fmt.Errorf("alerting: delete silence: %w", err)
	}
	e.sil.remove(id)
	return true, nil
}

// Silences returns the silences in force, soonest to expire first.
func (e *Engine) Silences() []Silence { return e.sil.active(e.now()) }

// RequestError is a silence request that is not valid; the API answers 400.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return "invalid silence: " + e.Err.Error() }

func (e *RequestError) Unwrap() error { return e.Err }
