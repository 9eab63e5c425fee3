package collector

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// How often a Kafka failure that persists is logged again: after
// calmFirstRepeat, then twice as long each time up to calmMaxRepeat.
const (
	calmFirstRepeat = 10 * time.Second
	calmMaxRepeat   = 5 * time.Minute
)

// calmKafkaLogs keeps a Kafka exporter that cannot reach or authenticate
// to its brokers from flooding the log: franz-go and the exporter log the
// failure (with a stack trace) on every retry, every few seconds, for as
// long as the password or certificate is wrong. The first line of each
// kind per exporter is kept at its level; the same line again only at Warn,
// after 10 s, then after twice as long each time up to 5 min. None of these
// lines carries a stack trace: the message says what is wrong, the stack
// only where the exporter noticed.
//
// franz-go names a seed broker only by its index ("seed_0"); such lines get
// the exporter's brokers (from brokers(), by exporter id) as a field, so
// the line says which cluster refused.
func calmKafkaLogs(brokers func() map[string][]string) zap.Option {
	st := &calmState{seen: map[calmKey]*calmSeen{}, now: time.Now, brokers: sync.OnceValue(brokers)}
	return zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &calmCore{Core: c, st: st, id: st.ids.Add(1)} })
}

type calmKey struct {
	core uint64 // one per logger.With: per exporter
	msg  string
}

type calmSeen struct {
	next  time.Time
	every time.Duration
}

type calmState struct {
	ids     atomic.Uint64
	now     func() time.Time
	brokers func() map[string][]string
	mu      sync.Mutex
	seen    map[calmKey]*calmSeen
}

// admit says whether to write a Kafka failure line and at which level.
func (s *calmState) admit(k calmKey, lvl zapcore.Level) (zapcore.Level, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.seen[k]
	if v == nil {
		s.seen[k] = &calmSeen{next: now.Add(calmFirstRepeat), every: calmFirstRepeat}
		return lvl, true
	}
	if now.Before(v.next) {
		return 0, false
	}
	v.every = min(2*v.every, calmMaxRepeat)
	v.next = now.Add(v.every)
	return min(lvl, zapcore.WarnLevel), true
}

type calmCore struct {
	zapcore.Core
	st       *calmState
	id       uint64
	exporter string // otelcol.component.id, once a With has set it
}

func (c *calmCore) With(fields []zapcore.Field) zapcore.Core {
	exporter := c.exporter
	for _, f := range fields {
		if f.Key == "otelcol.component.id" {
			exporter = fieldString(f)
		}
	}
	return &calmCore{Core: c.Core.With(fields), st: c.st, id: c.st.ids.Add(1), exporter: exporter}
}

func fieldString(f zapcore.Field) string {
	if f.Type == zapcore.StringType {
		return f.String
	}
	if s, ok := f.Interface.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprint(f.Interface)
}

func (c *calmCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !kafkaFailure(e) {
		return c.Core.Check(e, ce)
	}
	lvl, ok := c.st.admit(calmKey{c.id, e.Message}, e.Level)
	if !ok || !c.Core.Enabled(lvl) {
		return ce
	}
	e.Level = lvl
	return ce.AddCore(e, c)
}

// Write drops the stack trace zap adds to Error lines.
// and names the exporter's brokers when the line has no address.
func (c *calmCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	e.Stack = ""
	if slices.ContainsFunc(fields, func(f zapcore.Field) bool { return f.Key == "addr" }) {
		return c.Core.Write(e, fields)
	}
	exporter := c.exporter
	for _, f := range fields {
		if f.Key == "otelcol.component.id" {
			exporter = fieldString(f)
		}
	}
	all := c.st.brokers()
	bs := all[exporter]
	if exporter == "" {
		// The component's attributes may be added outside this core: name
		// every Kafka exporter's brokers (usually one cluster).
		for _, v := range all {
			bs = append(bs, v...)
		}
		slices.Sort(bs)
		bs = slices.Compact(bs)
	}
	if len(bs) > 0 {
		fields = append(slices.Clip(fields), zap.String("brokers", strings.Join(bs, ",")))
	}
	return c.Core.Write(e, fields)
}

// kafkaFailure is a line franz-go (the Kafka client, logger "franz") logs
// at Warn or above, or the Kafka exporter's failed export.
func kafkaFailure(e zapcore.Entry) bool {
	if e.Level < zapcore.WarnLevel {
		return false
	}
	return e.LoggerName == "franz" || strings.HasPrefix(e.Message, "kafka records export failed")
}
