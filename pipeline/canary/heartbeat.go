package canary

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	ev "github.com/vigil-dev/vigil/internal/events"
)

// Heartbeat is one collector heartbeat, as read from its record.
type Heartbeat struct {
	Instance  string
	Run       string
	Topic     string
	Partition int32
	Seq       int64
	// Acked is the collector's count of records written with success to
	// this partition before the heartbeat was emitted; -1 if unknown.
	Acked   int64
	Emitted time.Time
}

// Key identifies one collector's records in one partition.
type Key struct {
	Instance  string
	Topic     string
	Partition int32
}

// ErrNotHeartbeat is returned for a record that does not hold a heartbeat.
var ErrNotHeartbeat = errors.New("not a heartbeat")

// Parse reads a heartbeat from a record value (OTLP logs or traces, protobuf
// or JSON).
func Parse(spans, json bool, v []byte) (Heartbeat, error) {
	var res pcommon.Resource
	if spans {
		var u ptrace.Unmarshaler = &ptrace.ProtoUnmarshaler{}
		if json {
			u = &ptrace.JSONUnmarshaler{}
		}
		td, err := u.UnmarshalTraces(v)
		if err != nil {
			return Heartbeat{}, fmt.Errorf("decode heartbeat: %w", err)
		}
		if td.ResourceSpans().Len() != 1 {
			return Heartbeat{}, ErrNotHeartbeat
		}
		res = td.ResourceSpans().At(0).Resource()
	} else {
		var u plog.Unmarshaler = &plog.ProtoUnmarshaler{}
		if json {
			u = &plog.JSONUnmarshaler{}
		}
		ld, err := u.UnmarshalLogs(v)
		if err != nil {
			return Heartbeat{}, fmt.Errorf("decode heartbeat: %w", err)
		}
		if ld.ResourceLogs().Len() != 1 {
			return Heartbeat{}, ErrNotHeartbeat
		}
		res = ld.ResourceLogs().At(0).Resource()
	}
	a := res.Attributes()
	str := func(k string) string { v, _ := a.Get(k); return v.Str() }
	num := func(k string) (int64, bool) {
		v, ok := a.Get(k)
		return v.Int(), ok && v.Type() == pcommon.ValueTypeInt
	}
	h := Heartbeat{Instance: str(ev.CanaryInstance), Run: str(ev.CanaryRun), Topic: str(ev.CanaryTopic)}
	p, ok1 := num(ev.CanaryPartition)
	seq, ok2 := num(ev.CanarySeq)
	em, ok3 := num(ev.CanaryEmitted)
	acked, ok4 := num(ev.CanaryAcked)
	if h.Instance == "" || h.Run == "" || !ok1 || !ok2 || !ok3 || !ok4 {
		return Heartbeat{}, ErrNotHeartbeat
	}
	h.Partition, h.Seq, h.Acked, h.Emitted = int32(p), seq, acked, time.Unix(0, em)
	return h, nil
}

// Doc is a heartbeat's document in the canary index. There is one per
// collector run and partition, the latest heartbeat's (indexed with the
// sequence number as external version, so a heartbeat delivered again
// never replaces a later one): the index stays as small as the number of
// collector partitions, however long they run.
func (h Heartbeat) Doc(offset int64) (id string, doc map[string]any) {
	id = fmt.Sprintf("hb/%s/%s/%s/%d", h.Instance, h.Run, h.Topic, h.Partition)
	return id, map[string]any{
		"@timestamp": h.Emitted.UTC().Format(time.RFC3339Nano),
		"kind":       "heartbeat",
		"collector":  h.Instance,
		"run":        h.Run,
		"topic":      h.Topic,
		"partition":  h.Partition,
		"seq":        h.Seq,
		"acked":      h.Acked,
		"offset":     offset,
	}
}
