package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// Service consumes the collector's topics and indexes them into OpenSearch.
type Service struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	kopt []kgo.Opt
	os   *opensearch.Client
	sink *sink

	cl       *kgo.Client
	tracker  *tracker
	inFlight atomic.Int64

	// mu serialises the consume loop's record handling with the rebalance
	// callbacks (BlockRebalanceOnPoll already keeps them apart; the lock
	// makes that explicit for the trace buffer).
	mu     sync.Mutex
	traces *traceBuffer
	// backlog holds polled records not yet taken in (over budget).
	backlog []*kgo.Record

	commitMu sync.Mutex
	// sinkCtx outlives the run context by the drain timeout, so that
	// bulks and DLQ produces in flight can finish on shutdown.
	sinkCtx context.Context

	// avgCost is the recent average in-flight cost of a record (consume
	// loop only).
	avgCost float64

	installed atomic.Bool
	osUp      atomic.Bool
	paused    bool // consume loop only
	// pausedNow mirrors paused for the admin API; operatorPause is set
	// through it.
	pausedNow     atomic.Bool
	operatorPause atomic.Bool
}

// New builds the service; it does no I/O.
func New(cfg Config, deps component.Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	osc, err := opensearch.NewClient(cfg.OpenSearch)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	s := &Service{cfg: cfg, log: log, m: newMetrics(reg), os: osc, tracker: newTracker(), traces: newTraceBuffer(cfg.TraceGroup, int(cfg.MaxInFlightBytes/2)), avgCost: initialRecordCost}
	if cfg.Sink == SinkOpenSearch {
		s.m.opensearchUp.WithLabelValues(osc.Name()).Set(0)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_pipeline_in_flight_bytes",
		Help: "Bytes of records taken from Kafka and not yet finished.",
	}, func() float64 { return float64(s.inFlight.Load()) }))
	var bulk bulkClient = osc
	switch {
	case cfg.DryRun:
		bulk = dryRunBulk{}
	case cfg.Sink == SinkDiscard:
		bulk = newDiscardBulk(cfg.OpenSearch.Gzip, s.m.discarded)
	}
	s.sink = newSink(cfg.Bulk, cfg.Retry, bulk, s.m, log)
	s.sink.done = s.itemDone
	s.sink.failed = s.itemFailed
	kopts, err := kafkaOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	s.kopt = append(kopts,
		kgo.ConsumerGroup(cfg.Kafka.Group),
		kgo.ConsumeTopics(cfg.topics()...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.FetchMaxBytes(cfg.Kafka.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(cfg.Kafka.FetchMaxPartitionBytes),
		kgo.FetchMaxWait(cfg.Kafka.FetchMaxWait),
		kgo.MaxConcurrentFetches(cfg.Kafka.MaxConcurrentFetches),
		// DLQ produces fail (and are retried with a logged warning)
		// rather than wait silently forever, e.g. on a missing topic.
		kgo.RecordDeliveryTimeout(time.Minute),
		// A DLQ record is a source record plus headers: let the broker's
		// message.max.bytes (of the DLQ topic) decide, not the client's
		// 1 MB default.
		kgo.ProducerBatchMaxBytes(32<<20),
		kgo.WithHooks(kprom.NewMetrics("vigil_pipeline", kprom.Subsystem("kafka"), kprom.Registerer(reg))),
	)
	if cfg.Kafka.ResetOffset == "latest" {
		s.kopt = append(s.kopt, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	} else {
		s.kopt = append(s.kopt, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	if deps.Admin != nil {
		deps.Admin.AddCheck("pipeline", s.ready)
		if cfg.AdminToken.IsSet() {
			token, err := cfg.AdminToken.Resolve()
			if err != nil {
				return nil, fmt.Errorf("pipeline: admin_token: %w", err)
			}
			s.mountAdmin(deps.Admin.Handle, token)
		}
	}
	return s, nil
}

// kafkaOpts are the connection options shared by the consumer and the DLQ
// tools; credentials are read here, so a missing one fails at start.
func kafkaOpts(k KafkaConfig) ([]kgo.Opt, error) {
	opts, err := k.Conn.Opts()
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return opts, nil
}

// ready is the readiness check: templates installed and the cluster up.
func (s *Service) ready() error {
	switch {
	case !s.installed.Load():
		return errors.New("index templates not installed yet")
	case !s.cfg.talksToOpenSearch():
		return nil
	case !s.osUp.Load():
		return errors.New("opensearch " + s.os.Name() + " is not reachable or red")
	}
	return nil
}

// Run consumes until ctx ends, then drains: bulks in flight finish (within
// DrainTimeout) and finished offsets are committed. It returns an error only
// when the pipeline cannot work at all (a template OpenSearch rejects).
func (s *Service) Run(ctx context.Context) error {
	defer s.os.Close()
	hctx, stopHealth := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	if s.cfg.Sink == SinkOpenSearch {
		go func() { s.healthLoop(hctx); close(healthDone) }()
	} else {
		close(healthDone)
	}
	defer func() { stopHealth(); <-healthDone }()
	if err := s.install(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cl, err := kgo.NewClient(s.kopt...)
	if err != nil {
		return fmt.Errorf("pipeline: kafka client: %w", err)
	}
	s.cl = cl

	sinkCtx, cancelSink := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSink()
	s.sinkCtx = sinkCtx
	sinkDone := make(chan struct{})
	go func() { s.sink.run(sinkCtx); close(sinkDone) }()
	commitDone := make(chan struct{})
	go func() { s.commitLoop(ctx); close(commitDone) }()

	s.log.Info("pipeline started", "topics", s.cfg.topics(), "group", s.cfg.Kafka.Group, "opensearch", s.cfg.OpenSearch.Addresses, "dry_run", s.cfg.DryRun, "sink", s.cfg.Sink)
	s.consume(ctx)

	// Drain: held spans are dropped (uncommitted, so read again after the
	// restart with their root); everything in the sink gets DrainTimeout.
	s.log.Info("pipeline draining")
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	s.mu.Lock()
	s.traces.drop(nil)
	s.backlog = nil
	s.m.heldSpans.Set(0)
	s.mu.Unlock()
	s.sink.flush()
	s.waitSink(dctx, nil)
	<-commitDone
	s.commit(dctx, nil)
	cancelSink()
	<-sinkDone
	cl.Close()
	s.log.Info("pipeline stopped")
	return nil
}

// install installs templates, retrying while OpenSearch is unreachable.
func (s *Service) install(ctx context.Context) error {
	if !s.cfg.Indices.InstallTemplates || !s.cfg.talksToOpenSearch() {
		s.installed.Store(true)
		return nil
	}
	in := &opensearch.Installer{
		Client: s.os,
		Names:  s.cfg.names(),
		Settings: opensearch.Settings{
			Shards: s.cfg.Indices.Shards, Replicas: s.cfg.Indices.Replicas,
			RefreshInterval: s.cfg.Indices.RefreshInterval, TotalFieldsLimit: s.cfg.Indices.TotalFieldsLimit,
		},
		Lifecycle: opensearch.Lifecycle{RolloverSize: s.cfg.Indices.RolloverSize, RolloverAge: s.cfg.Indices.RolloverAge, DeleteAfter: s.cfg.Indices.DeleteAfter},
		Log:       s.log,
	}
	for attempt := 0; ; attempt++ {
		err := in.Install(ctx)
		if err == nil {
			s.installed.Store(true)
			return nil
		}
		var se *opensearch.StatusError
		if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != 408 && se.Status != 429 {
			return fmt.Errorf("pipeline: install templates: %w", err)
		}
		s.log.Warn("installing index templates failed; retrying", "err", err, "attempt", attempt+1)
		if !sleep(ctx, s.sink.backoff(attempt)) {
			return ctx.Err()
		}
	}
}

func (s *Service) healthLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for {
		status, err := s.os.Health(ctx)
		up := err == nil && (status == "green" || status == "yellow")
		if up != s.osUp.Load() {
			if up {
				s.log.Info("opensearch reachable", "cluster", s.os.Name(), "status", status)
			} else {
				s.log.Warn("opensearch unreachable or red", "cluster", s.os.Name(), "status", status, "err", err)
			}
		}
		s.osUp.Store(up)
		v := 0.0
		if up {
			v = 1
		}
		s.m.opensearchUp.WithLabelValues(s.os.Name()).Set(v)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
