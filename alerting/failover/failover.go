package failover

import (
	"errors"
	"fmt"
	"time"

	ce "github.com/cloudevents/sdk-go/v2/event"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/events"
)

// Sides of a target.
const (
	Primary = "primary"
	Standby = "standby"
)

// Failback modes.
const (
	FailbackAuto   = "auto"
	FailbackManual = "manual"
)

// Policy is one target's failover policy.
type Policy struct {
	// Target is the primary's target name, as in health events.
	Target string `yaml:"target"`
	// Standby is the standby's target name; its health is the pre-check.
	Standby string `yaml:"standby"`
	// CriticalFor is how long the primary must stay CRITICAL before a
	// failover is requested. Required.
	CriticalFor time.Duration `yaml:"critical_for"`
	// BlockFor is how long after a switch or a failed attempt nothing
	// automatic happens unless acknowledged. Default 0 (no block).
	BlockFor time.Duration `yaml:"block_for"`
	// Failback is auto or manual. Default manual.
	Failback string `yaml:"failback"`
	// Dwell is how long the primary must stay HEALTHY before an automatic
	// failback. Required with failback: auto.
	Dwell time.Duration `yaml:"dwell"`
}

// Validate reports every problem.
func (p Policy) Validate() error {
	var pr config.Problems
	if p.Target == "" {
		pr.Addf("target", "must be set")
	}
	if p.Standby == "" || p.Standby == p.Target {
		pr.Addf("standby", "must be set and differ from target (got %q)", p.Standby)
	}
	if p.CriticalFor <= 0 {
		pr.Addf("critical_for", "must be > 0 (got %s)", p.CriticalFor)
	}
	if p.BlockFor < 0 {
		pr.Addf("block_for", "must be >= 0 (got %s)", p.BlockFor)
	}
	switch p.Failback {
	case FailbackAuto:
		if p.Dwell <= 0 {
			pr.Addf("dwell", "must be > 0 with failback: auto (got %s)", p.Dwell)
		}
	case FailbackManual, "":
	default:
		pr.Addf("failback", "must be auto or manual (got %q)", p.Failback)
	}
	return pr.Err()
}

// Side is what the machine knows of one side's health.
type Side struct {
	Status events.Status `json:"status"`
	// Since is when Status began.
	Since time.Time `json:"since"`
	// Generation is the last health generation seen.
	Generation uint64 `json:"generation"`
}

// State is a target's failover state; the controller persists it.
type State struct {
	// Active is the side serving: Primary or Standby.
	Active  string `json:"active"`
	Primary Side   `json:"primary"`
	Standby Side   `json:"standby"`
	// Generation is the last decision's generation.
	Generation uint64 `json:"generation"`
	// Pending is the type of the request in flight (FailoverRequestedType
	// or FailbackRequestedType), "" when none; its generation is Generation.
	Pending string `json:"pending,omitempty"`
	// BlockedUntil ends the block started by the last switch or failure.
	BlockedUntil time.Time `json:"blockedUntil,omitzero"`
	// Acked lifts the block until the next switch.
	Acked bool `json:"acked,omitempty"`
}

// Decision is an event to publish on vigil.failover.
type Decision struct {
	Type string
	Data events.Failover
}

// CloudEvent builds the event, with an ID unique per target and generation.
func (d Decision) CloudEvent(source string) (ce.Event, error) {
	id := fmt.Sprintf("%s/%d/%s", d.Data.Target, d.Data.Generation, d.Type)
	return events.New(id, source, d.Type, d.Data.Target, d.Data.At, d.Data)
}

// Machine applies inputs to a target's state. It is not safe for
// concurrent use; a controller runs one per target under its own lock.
type Machine struct {
	p  Policy
	st State
}

// New returns a machine for policy p starting from st (the zero State is a
// new target, serving from the primary).
func New(p Policy, st State) *Machine {
	if st.Active == "" {
		st.Active = Primary
	}
	if p.Failback == "" {
		p.Failback = FailbackManual
	}
	return &Machine{p: p, st: st}
}

// State returns the state to persist.
func (m *Machine) State() State { return m.st }

// Health applies a health event of the primary or the standby, then
// decides. Events for other targets, or not newer than the last seen for
// their side, change nothing.
func (m *Machine) Health(h events.Health, now time.Time) []Decision {
	if !m.Observe(h, now) {
		return nil
	}
	return m.decide(now, h.Generation)
}

// Observe applies a health event like Health but decides nothing, and
// reports whether it changed the state. A controller primes its machines
// with each target's latest event this way at start, so that older events
// replayed afterwards are dropped by generation instead of acting on a
// CRITICAL long past.
func (m *Machine) Observe(h events.Health, now time.Time) bool {
	side := &m.st.Primary
	switch h.Target {
	case m.p.Target:
	case m.p.Standby:
		side = &m.st.Standby
	default:
		return false
	}
	if h.Generation <= side.Generation {
		return false
	}
	since := h.Since
	if since.IsZero() {
		since = now
	}
	*side = Side{Status: h.Status, Since: since, Generation: h.Generation}
	return true
}

// Tick decides on the time alone (critical_for, dwell and blocks passing).
func (m *Machine) Tick(now time.Time) []Decision { return m.decide(now, 0) }

// Outcome applies a completed or failed event from the executor. Outcomes
// whose generation is not the request in flight are stale and ignored.
func (m *Machine) Outcome(typ string, f events.Failover, now time.Time) []Decision {
	if m.st.Pending == "" || f.Generation != m.st.Generation || f.Target != m.p.Target {
		return nil
	}
	switch {
	case typ == events.FailoverCompletedType && m.st.Pending == events.FailoverRequestedType:
		m.st.Active = Standby
	case typ == events.FailbackCompletedType && m.st.Pending == events.FailbackRequestedType:
		m.st.Active = Primary
	case typ == events.FailoverFailedType:
		// Active is unchanged; the block keeps a failing switch from looping.
	default:
		return nil
	}
	m.st.Pending = ""
	m.st.BlockedUntil, m.st.Acked = now.Add(m.p.BlockFor), false
	return m.decide(now, 0)
}

// Ack lifts the block in force until the next switch.
func (m *Machine) Ack() { m.st.Acked = true }

// ErrNotPossible is returned by RequestFailback when failback cannot be
// requested now; the wrapped message says why.
var ErrNotPossible = errors.New("failover: not possible now")

// RequestFailback asks for a failback now (failback: manual, or to hurry an
// automatic one); the primary must be HEALTHY and nothing in flight. An
// operator's request is its own acknowledgement: no block applies.
func (m *Machine) RequestFailback(now time.Time) ([]Decision, error) {
	switch {
	case m.st.Pending != "":
		return nil, fmt.Errorf("%w: %s is in flight", ErrNotPossible, m.st.Pending)
	case m.st.Active != Standby:
		return nil, fmt.Errorf("%w: %s is served by its primary", ErrNotPossible, m.p.Target)
	case m.st.Primary.Status != events.Healthy:
		return nil, fmt.Errorf("%w: primary is %s, not HEALTHY", ErrNotPossible, m.st.Primary.Status)
	}
	return []Decision{m.request(events.FailbackRequestedType, "requested by an operator", now, 0)}, nil
}

func (m *Machine) blocked(now time.Time) bool {
	return !m.st.Acked && now.Before(m.st.BlockedUntil)
}

// decide returns the request the state calls for, if any.
func (m *Machine) decide(now time.Time, healthGen uint64) []Decision {
	if m.st.Pending != "" || m.blocked(now) {
		return nil
	}
	p, s := m.st.Primary, m.st.Standby
	switch m.st.Active {
	case Primary:
		if p.Status == events.Critical && now.Sub(p.Since) >= m.p.CriticalFor && s.Status == events.Healthy {
			reason := fmt.Sprintf("primary CRITICAL for %s; standby HEALTHY", now.Sub(p.Since).Round(time.Second))
			return []Decision{m.request(events.FailoverRequestedType, reason, now, healthGen)}
		}
	case Standby:
		if m.p.Failback == FailbackAuto && p.Status == events.Healthy && now.Sub(p.Since) >= m.p.Dwell {
			reason := fmt.Sprintf("primary HEALTHY for %s", now.Sub(p.Since).Round(time.Second))
			return []Decision{m.request(events.FailbackRequestedType, reason, now, healthGen)}
		}
	}
	return nil
}

func (m *Machine) request(typ, reason string, now time.Time, healthGen uint64) Decision {
	m.st.Generation++
	m.st.Pending = typ
	from, to := Primary, Standby
	if typ == events.FailbackRequestedType {
		from, to = Standby, Primary
	}
	if healthGen == 0 {
		healthGen = m.st.Primary.Generation
	}
	return Decision{Type: typ, Data: events.Failover{
		Target: m.p.Target, From: from, To: to, Reason: reason, At: now,
		Generation: m.st.Generation, HealthGeneration: healthGen,
	}}
}

// Reasons a due switch is held back, as returned by Held.
const (
	HeldStandbyNotHealthy = "standby_not_healthy"
	HeldBlocked           = "blocked"
)

// Held says why a switch the health alone calls for is not requested now:
// HeldStandbyNotHealthy when the primary has been CRITICAL for critical_for
// but the standby is not HEALTHY, HeldBlocked when a block is in force; ""
// when nothing is held (no switch is due, or one is in flight).
func (m *Machine) Held(now time.Time) string {
	if m.st.Pending != "" {
		return ""
	}
	p := m.st.Primary
	switch m.st.Active {
	case Primary:
		if p.Status != events.Critical || now.Sub(p.Since) < m.p.CriticalFor {
			return ""
		}
		if m.st.Standby.Status != events.Healthy {
			return HeldStandbyNotHealthy
		}
	case Standby:
		if m.p.Failback != FailbackAuto || p.Status != events.Healthy || now.Sub(p.Since) < m.p.Dwell {
			return ""
		}
	}
	if m.blocked(now) {
		return HeldBlocked
	}
	return ""
}

// Sync brings the state up to the latest event of the target found on
// vigil.failover at start, and reports whether it changed anything. It
// covers a crash between publishing a decision and persisting the state
// (the request is then in flight with its generation, so nothing is
// published twice) and outcomes reported while the controller was down.
// Events not newer than the state are ignored.
func (m *Machine) Sync(typ string, f events.Failover) bool {
	if f.Target != m.p.Target || f.Generation < m.st.Generation {
		return false
	}
	newer := f.Generation > m.st.Generation
	switch typ {
	case events.FailoverRequestedType, events.FailbackRequestedType:
		if !newer {
			return false
		}
		m.st.Generation, m.st.Pending = f.Generation, typ
		return true
	case events.FailoverCompletedType, events.FailbackCompletedType, events.FailoverFailedType:
		if !newer && m.st.Pending == "" {
			return false
		}
	default:
		return false
	}
	switch typ {
	case events.FailoverCompletedType:
		m.st.Active = Standby
	case events.FailbackCompletedType:
		m.st.Active = Primary
	}
	m.st.Generation, m.st.Pending = f.Generation, ""
	m.st.BlockedUntil, m.st.Acked = f.At.Add(m.p.BlockFor), false
	return true
}

// Policy returns the machine's policy, defaults applied.
func (m *Machine) Policy() Policy { return m.p }
