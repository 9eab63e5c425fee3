package canary

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/vigil-dev/vigil/internal/events"
)

// The heartbeat's resource attributes (internal/events).
const (
	AttrInstance  = events.CanaryInstance
	AttrRun       = events.CanaryRun
	AttrTopic     = events.CanaryTopic
	AttrPartition = events.CanaryPartition
	AttrSeq       = events.CanarySeq
	AttrEmitted   = events.CanaryEmitted
	AttrAcked     = events.CanaryAcked
)

// run identifies this process's heartbeats: sequence numbers and
// acknowledged counts start again with every run.
var run = strconv.FormatInt(time.Now().UnixNano(), 10)

// emitter sends the heartbeats of one receiver (one topic, one signal).
type emitter struct {
	cfg    *Config
	log    *zap.Logger
	logs   consumer.Logs
	traces consumer.Traces
	client *http.Client

	seq    map[int]int64
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func (e *emitter) Start(_ context.Context, _ component.Host) error {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done, e.seq = cancel, make(chan struct{}), map[int]int64{}
	go e.loop(ctx)
	return nil
}

// Shutdown stops the heartbeats; one already handed to the pipeline stays
// in the exporter's queue like any record. Safe twice.
func (e *emitter) Shutdown(context.Context) error {
	e.once.Do(func() {
		if e.cancel != nil {
			e.cancel()
			<-e.done
		}
	})
	return nil
}

func (e *emitter) loop(ctx context.Context) {
	defer close(e.done)
	for {
		// On multiples of the interval, so that heartbeats of several
		// collectors (and the windows the pipeline closes) line up.
		now := time.Now()
		next := now.Truncate(e.cfg.Interval).Add(e.cfg.Interval)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		e.beat(ctx)
	}
}

// beat sends one heartbeat per partition of the topic.
func (e *emitter) beat(ctx context.Context) {
	acked, err := e.acked(ctx)
	if err != nil {
		e.log.Warn("reading the exporters' acknowledged counts; heartbeats carry -1", zap.Error(err))
	}
	n := partitionCount(e.cfg.Topic)
	for p := range n {
		e.seq[p]++
		a := int64(-1)
		if acked != nil {
			a = acked[p]
		}
		res := pcommon.NewResource()
		attrs := res.Attributes()
		attrs.PutStr(AttrInstance, e.cfg.Instance)
		attrs.PutStr(AttrRun, run)
		attrs.PutStr(AttrTopic, e.cfg.Topic)
		attrs.PutInt(AttrPartition, int64(p))
		attrs.PutInt(AttrSeq, e.seq[p])
		now := time.Now()
		attrs.PutInt(AttrEmitted, now.UnixNano())
		attrs.PutInt(AttrAcked, a)
		attrs.PutStr(routeKey, route(p))
		if err := e.send(ctx, res, now); err != nil {
			e.log.Warn("heartbeat not accepted", zap.String("topic", e.cfg.Topic), zap.Int("partition", p), zap.Error(err))
		}
	}
}

func (e *emitter) send(ctx context.Context, res pcommon.Resource, now time.Time) error {
	ts := pcommon.NewTimestampFromTime(now)
	if e.logs != nil {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		res.CopyTo(rl.Resource())
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(ts)
		lr.SetObservedTimestamp(ts)
		lr.Body().SetStr("vigil canary")
		return e.logs.ConsumeLogs(ctx, ld)
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res.CopyTo(rs.Resource())
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetName("vigil canary")
	sp.SetStartTimestamp(ts)
	sp.SetEndTimestamp(ts)
	return e.traces.ConsumeTraces(ctx, td)
}

// acked reads, from the collector's own telemetry, how many records of the
// topic each partition has had written with success, summed over brokers and
// exporters (otelcol_kafka_exporter_records_total{outcome="success"}).
func (e *emitter) acked(ctx context.Context) (map[int]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.cfg.TelemetryURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", e.cfg.TelemetryURL, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", e.cfg.TelemetryURL, err)
	}
	out := map[int]int64{}
	f := fams["otelcol_kafka_exporter_records_total"]
	if f == nil {
		if e.seq[0] > 1 {
			// Heartbeats were written, so the series would exist.
			return nil, fmt.Errorf("%s has no otelcol_kafka_exporter_records_total: service::telemetry::metrics::level must be detailed", e.cfg.TelemetryURL)
		}
		return out, nil // nothing written yet
	}
	for _, m := range f.GetMetric() {
		var topic, outcome string
		part := -1
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "topic":
				topic = l.GetValue()
			case "outcome":
				outcome = l.GetValue()
			case "partition":
				part, _ = strconv.Atoi(l.GetValue())
			}
		}
		if topic != e.cfg.Topic || outcome != "success" || part < 0 {
			continue
		}
		out[part] += int64(m.GetCounter().GetValue())
	}
	return out, nil
}
