package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/pipeline/canary"
	"github.com/vigil-dev/vigil/pipeline/document"
	"github.com/vigil-dev/vigil/pipeline/eventindex"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// Service consumes the collector's topics and indexes them into OpenSearch.
type Service struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	kopt []kgo.Opt
	// sides are the primary and, with failover, the standby cluster; the
	// sink writes to the active one.
	sides *sides
	sink  *sink
	// execOpts are the Kafka connection options of the failover executor.
	execOpts []kgo.Opt
	// switchMu serialises switches.
	switchMu sync.Mutex
	// events indexes vigil.health, vigil.failover and DLQ headers (nil: off).
	events *eventindex.Indexer
	// canaries follows the collectors' heartbeats (nil: canary.enabled off).
	canaries *canary.Tracker

	cl       *kgo.Client
	tracker  *tracker
	inFlight atomic.Int64
	// inFlightBy splits inFlight by topic: logs, spans (fairShare).
	inFlightBy [2]atomic.Int64
	fair       *fairShare
	// prio is the priority lane (nil: kafka.priority.topic empty).
	prio *priorityLane

	// mu serialises the consume loop's record handling with the rebalance
	// callbacks (BlockRebalanceOnPoll already keeps them apart; the lock
	// makes that explicit for the trace buffer).
	mu     sync.Mutex
	traces *traceBuffer
	// repairs gives spans indexed without group their group once the
	// root comes (nil: trace_group.repair off, or no OpenSearch).
	repairs *groupRepairs
	// apm derives Dashboards APM's documents and metrics (nil: apm off).
	apm *apmFeed
	// backlog holds polled records not yet taken in (over budget).
	backlog []*kgo.Record

	commitMu sync.Mutex
	// sinkCtx outlives the run context by the drain timeout, so that
	// bulks and DLQ produces in flight can finish on shutdown.
	sinkCtx context.Context

	// avgCost is the recent average in-flight cost of a record (consume
	// loop only).
	avgCost float64

	// Buffers of log records indexed in full, for the next records: the
	// chunks their documents were written into (the largest allocation
	// per record, zeroed each time and pacing the garbage collector).
	// Enough for the in-flight budget's worth (16 x 1 MiB): the heap
	// they take is what 5 MiB bulk bodies took before documents were
	// sent from their chunks (sink.body).
	chunks *freeList
	// spanChunks are span records' chunks, kept apart: a span record's are
	// smaller (the collector writes a record per trace and batch), and
	// among the log records' they would only be taken and dropped as too
	// small.
	spanChunks *freeList

	// logHead is the bulk action line log documents are rendered after,
	// their id at logHeadID (document.Options.Head).
	logHead   []byte
	logHeadID int
	// router picks log documents' data streams; nil: log_routing is off.
	router *router
	route  func(dataset, namespace string) *document.Stream
	// spanFields are the span attribute keys that are fields of their
	// own (indices.span_attribute_fields and the known ones).
	spanFields map[string]struct{}

	installed atomic.Bool
	// consuming is set once cl is (a switch commits through it).
	consuming atomic.Bool
	// osUp is whether the active side answered its last health probe; up
	// is the same per side.
	osUp   atomic.Bool
	up     []atomic.Bool
	paused bool // consume loop only
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
	clients, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	// Repairs update documents in OpenSearch: not for a dry run or the
	// discard sink.
	tg := cfg.TraceGroup
	tg.Repair = tg.Repair && cfg.talksToOpenSearch()
	s := &Service{cfg: cfg, log: log, m: newMetrics(reg), sides: newSides(clients...), tracker: newTracker(), traces: newTraceBuffer(tg, int(cfg.MaxInFlightBytes/2)), avgCost: initialRecordCost,
		chunks: newFreeList(16), spanChunks: newFreeList(16), fair: newFairShare(cfg.Kafka.Logs.Topic, cfg.Kafka.Spans.Topic)}
	s.initDocuments()
	s.initSink(clients, reg)
	s.initFeeds(tg, reg)
	kopts, err := kafkaOpts(cfg.Kafka)
	if err != nil {
		return nil, err
	}
	kopts = append(kopts, cfg.Kafka.Watch(log))
	s.kopt = s.consumerOpts(kopts, reg)
	s.execOpts = kopts
	if cfg.Kafka.Priority.Topic != "" {
		s.prio = s.newPriorityLane(kopts)
		s.sink.yield = func() bool { return !s.prio.sink.idle() }
		registerPriorityInFlight(reg, s.prio.inFlight.Load)
	}
	if s.events, err = newEvents(cfg, kopts, s.sides.activeClient, log, reg); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if err := s.mount(deps.Admin); err != nil {
		return nil, err
	}
	return s, nil
}

// newClients are the OpenSearch clients: the primary, and the standby when
// failover is on.
func newClients(cfg Config) ([]*opensearch.Client, error) {
	osc, err := opensearch.NewClient(cfg.OpenSearch)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	clients := []*opensearch.Client{osc}
	if cfg.Failover.Enabled() {
		sb, err := opensearch.NewClient(cfg.Failover.Standby)
		if err != nil {
			return nil, fmt.Errorf("pipeline: failover.standby: %w", err)
		}
		clients = append(clients, sb)
	}
	return clients, nil
}

// initDocuments sets what building documents needs: the logs' bulk head,
// their data stream router, the span fields.
func (s *Service) initDocuments() {
	cfg := s.cfg
	s.logHead, s.logHeadID = opensearch.CreateHead(cfg.Indices.LogsDataStream, document.IDLen)
	if cfg.LogRouting.Enabled {
		var dir streamDirectory
		if cfg.talksToOpenSearch() {
			dir = clusterStreams{client: s.sides.activeClient}
		}
		s.router = newRouter(cfg.LogRouting, cfg.Indices.LogsDataStream, cfg.Retry, dir, s.m, s.log)
		s.route = s.router.route // once: a method value per record would allocate
	}
	s.spanFields = document.SpanFields(cfg.Indices.SpanAttributeFields)
}

// initSink builds the sink over the clusters (or the dry-run or discard
// sink) and its metrics.
func (s *Service) initSink(clients []*opensearch.Client, reg prometheus.Registerer) {
	cfg := s.cfg
	s.up = make([]atomic.Bool, len(clients))
	if cfg.Sink == SinkOpenSearch {
		for _, c := range clients {
			s.m.opensearchUp.WithLabelValues(c.Name()).Set(0)
		}
		s.setActiveMetric(0)
	}
	registerInFlight(reg, s.inFlight.Load)
	var bulk bulkClient = s.sides
	switch {
	case cfg.DryRun:
		bulk = dryRunBulk{}
	case cfg.Sink == SinkDiscard:
		bulk = newDiscardBulk(cfg.OpenSearch.Gzip, s.m.discarded)
	}
	s.sink = newSink(cfg.Bulk, cfg.Retry, bulk, s.m, s.log)
	if len(clients) > 1 {
		s.sink.switched = s.sides.switched
	}
	s.sink.done = s.itemsDone
	s.sink.failed = s.itemFailed
}

// initFeeds builds the optional parts fed beside the documents: APM's
// service map, trace group repairs, canaries.
func (s *Service) initFeeds(tg TraceGroupConfig, reg prometheus.Registerer) {
	cfg := s.cfg
	if cfg.APM.Enabled {
		var client func() *opensearch.Client
		if cfg.talksToOpenSearch() {
			client = s.sides.activeClient
		}
		s.apm = newAPMFeed(cfg.APM, cfg.Indices.APMServiceMap, client, reg, s.log)
	}
	if tg.Repair {
		s.repairs = newGroupRepairs(s.sides.activeClient, cfg.Indices.SpanAlias, tg.RepairDelay, s.m, s.log)
	}
	if cfg.Canary.Enabled {
		host, _ := os.Hostname()
		s.canaries = canary.New(cfg.Canary, host, s.log.With("part", "canary"), reg)
	}
}

// consumerOpts are the main consumer's client options: kopts (the
// connection) and the group, fetch and DLQ producer settings.
func (s *Service) consumerOpts(kopts []kgo.Opt, reg prometheus.Registerer) []kgo.Opt {
	cfg := s.cfg
	// Few: what a free list keeps is heap that the 64 MiB soft limit
	// counts, and keeping a fetch's worth (16 buffers) made the
	// collector run so often that indexing into OpenSearch slowed by
	// half (BenchmarkPipelineAtLag, 5479 -> 2819 docs/s).
	fb := &fetchBuffers{free: newFreeList(2 * cfg.Kafka.MaxConcurrentFetches)}
	opts := append(kopts, groupOpts(cfg.Kafka, cfg.Kafka.Group, cfg.topics(), s.onRevoked, s.onLost)...)
	opts = append(opts,
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
		kgo.WithPools(fb),
		kgo.WithDecompressor(newDecompressor(fb)),
	)
	if cfg.Kafka.ResetOffset == "latest" {
		s.fair.atEnd = true
	}
	return opts
}

// groupOpts are the options the main consumer and the priority lane share:
// a member of group reading topics that commits its offsets itself, holds
// rebalances while a poll's records are taken in, and starts where
// reset_offset says when the group has none.
func groupOpts(k KafkaConfig, group string, topics []string, revoked, lost func(context.Context, *kgo.Client, map[string][]int32)) []kgo.Opt {
	reset := kgo.NewOffset().AtStart()
	if k.ResetOffset == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	return []kgo.Opt{
		kgo.ConsumerGroup(group),
		// A short session rather than static membership (kgo.InstanceID):
		// an instance ID must be unique per replica and stable across its
		// restarts, which neither a Deployment's pod names nor several
		// replicas on one host give without configuration, and two
		// replicas sharing one fence each other. With 6s a SIGKILLed
		// replica's partitions move, or come back to it restarted, within
		// about 6s instead of the 45s default.
		kgo.SessionTimeout(k.SessionTimeout),
		kgo.HeartbeatInterval(k.SessionTimeout / 10),
		kgo.ConsumeTopics(topics...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(revoked),
		kgo.OnPartitionsLost(lost),
		kgo.FetchMaxBytes(k.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(k.FetchMaxPartitionBytes),
		kgo.ConsumeResetOffset(reset),
	}
}

// mount adds the readiness check and, with an admin token, the admin API
// to the admin server (none in tests).
func (s *Service) mount(admin component.Admin) error {
	if admin == nil {
		return nil
	}
	admin.AddCheck("pipeline", s.ready)
	if s.cfg.AdminToken.IsSet() {
		token, err := s.cfg.AdminToken.Resolve()
		if err != nil {
			return fmt.Errorf("pipeline: admin_token: %w", err)
		}
		s.mountAdmin(admin.Handle, token)
	}
	return nil
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
		return errors.New("opensearch " + s.sides.activeClient().Name() + " is not reachable or red")
	}
	return nil
}

// Run consumes until ctx ends, then drains: bulks in flight finish (within
// DrainTimeout) and finished offsets are committed. It returns an error only
// when the pipeline cannot work at all (a template OpenSearch rejects).
func (s *Service) Run(ctx context.Context) error {
	defer s.sides.close()
	hctx, stopHealth := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	if s.cfg.Sink == SinkOpenSearch {
		go func() { s.healthLoop(hctx); close(healthDone) }()
	} else {
		close(healthDone)
	}
	defer func() { stopHealth(); <-healthDone }()
	if s.cfg.Failover.Enabled() {
		x, err := s.restoreSide(ctx)
		if err != nil {
			return nil // ctx ended
		}
		defer x.Close()
		// A request decided while the pipeline was down is carried out
		// before anything is written (and before the install, which would
		// retry for as long as a dead primary stays down); later ones while
		// the install runs.
		x.HandlePending(ctx)
		xctx, stopExec := context.WithCancel(ctx)
		execDone := make(chan struct{})
		go func() { x.Run(xctx); close(execDone) }()
		defer func() { stopExec(); <-execDone }()
	}
	if s.router != nil {
		// Set before the poll loop starts; its lookups and creations
		// end with the pipeline.
		s.router.ctx = ctx
	}
	if err := s.install(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer s.runEvents(ctx)()
	cl, err := kgo.NewClient(s.kopt...)
	if err != nil {
		return fmt.Errorf("pipeline: kafka client: %w", err)
	}
	s.cl = cl
	s.fair.committed = cl.CommittedOffsets
	if s.prio != nil {
		// Before the commit loop, which commits through it.
		pcl, err := kgo.NewClient(s.prio.kopt...)
		if err != nil {
			cl.Close()
			return fmt.Errorf("pipeline: kafka client of the priority lane: %w", err)
		}
		s.prio.cl = pcl
	}
	s.consuming.Store(true)

	sinkCtx, cancelSink := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSink()
	s.sinkCtx = sinkCtx
	sinkDone := make(chan struct{})
	go func() { s.sink.run(sinkCtx); close(sinkDone) }()
	repairsDone := make(chan struct{})
	if s.repairs != nil {
		go func() { s.repairs.run(sinkCtx); close(repairsDone) }()
	} else {
		close(repairsDone)
	}
	apmDone, apmStop := make(chan struct{}), make(chan struct{})
	if s.apm != nil {
		go func() { s.apm.run(sinkCtx, apmStop); close(apmDone) }()
	} else {
		close(apmDone)
	}
	commitDone := make(chan struct{})
	go func() { s.commitLoop(ctx); close(commitDone) }()
	prioDone, prioSinkDone := make(chan struct{}), make(chan struct{})
	if s.prio != nil {
		go func() { s.prio.sink.run(sinkCtx); close(prioSinkDone) }()
		if s.cfg.talksToOpenSearch() {
			go s.refreshLoop(sinkCtx, s.prio)
		}
		go func() { s.consumePriority(ctx, s.prio); close(prioDone) }()
	} else {
		close(prioDone)
		close(prioSinkDone)
	}

	s.log.Info("pipeline started", "topics", s.cfg.topics(), "group", s.cfg.Kafka.Group, "priority_topic", s.cfg.Kafka.Priority.Topic, "opensearch", s.cfg.OpenSearch.Addresses, "active", s.sides.activeClient().Name(), "dry_run", s.cfg.DryRun, "sink", s.cfg.Sink)
	s.consume(ctx)
	<-prioDone

	// Drain: held spans are dropped (uncommitted, so read again after the
	// restart with their root); everything in the sink gets DrainTimeout.
	s.log.Info("pipeline draining")
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	s.mu.Lock()
	s.traces.drop(nil)
	s.backlog = nil
	s.m.heldSpans.Set(0)
	if s.apm != nil {
		s.apm.close(nil)
	}
	s.mu.Unlock()
	close(apmStop)
	s.sink.flush()
	if s.prio != nil {
		s.prio.mu.Lock()
		s.prio.backlog = nil
		s.prio.mu.Unlock()
		s.prio.sink.flush()
	}
	s.waitSink(dctx, nil)
	<-commitDone
	s.commit(dctx, nil)
	select { // the APM writes get what is left of the drain timeout
	case <-apmDone:
	case <-dctx.Done():
	}
	cancelSink()
	<-sinkDone
	<-prioSinkDone
	<-repairsDone
	<-apmDone
	if s.prio != nil {
		s.prio.cl.Close()
	}
	cl.Close()
	s.log.Info("pipeline stopped")
	return nil
}

// install installs templates on the active side at start, retrying while
// it is unreachable. A switch meanwhile installs on its new side itself,
// which ends this loop.
func (s *Service) install(ctx context.Context) error {
	if !s.cfg.Indices.InstallTemplates || !s.cfg.talksToOpenSearch() {
		s.installed.Store(true)
		return nil
	}
	for attempt := 0; !s.installed.Load(); attempt++ {
		c := s.sides.activeClient()
		err := s.installer(c).Install(ctx)
		if err == nil {
			s.installed.Store(true)
			return nil
		}
		if permanent(err) {
			return fmt.Errorf("pipeline: install templates on %s: %w", c.Name(), err)
		}
		s.log.Warn("installing index templates failed; retrying", "cluster", c.Name(), "err", err, "attempt", attempt+1)
		if !sleep(ctx, s.sink.backoff(attempt)) {
			return ctx.Err()
		}
	}
	return nil
}

// installOn installs on c (a switch's new side), retrying until it works,
// OpenSearch rejects a template, or ctx ends.
func (s *Service) installOn(ctx context.Context, c *opensearch.Client) error {
	for attempt := 0; ; attempt++ {
		err := s.installer(c).Install(ctx)
		if err == nil {
			return nil
		}
		if permanent(err) || ctx.Err() != nil || !sleep(ctx, s.sink.backoff(attempt)) {
			return fmt.Errorf("pipeline: install templates on %s: %w", c.Name(), err)
		}
		s.log.Warn("installing index templates failed; retrying", "cluster", c.Name(), "err", err, "attempt", attempt+1)
	}
}

func (s *Service) installer(c *opensearch.Client) *opensearch.Installer {
	return s.cfg.Indices.Installer(c, s.log)
}

// permanent reports an install error that retrying cannot fix: OpenSearch
// rejected a template (a 4xx other than a timeout or throttling). A refused
// login (401) or a missing permission (403) is not: an operator fixes the
// secret or the role, and the pipeline, still running and holding its
// Kafka offsets, carries on then instead of crash-looping.
func permanent(err error) bool {
	var se *opensearch.StatusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Status {
	case 401, 403, 408, 429:
		return false
	}
	return se.Status >= 400 && se.Status < 500
}

func (s *Service) healthLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for i, c := range s.sides.clients {
			wg.Go(func() { s.probe(ctx, i, c) })
		}
		wg.Wait()
		active, _, _ := s.sides.current()
		s.osUp.Store(s.up[active].Load())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe checks one cluster's health and records it.
func (s *Service) probe(ctx context.Context, i int, c *opensearch.Client) {
	status, err := c.Health(ctx)
	if ctx.Err() != nil {
		return
	}
	up := err == nil && (status == "green" || status == "yellow")
	if up != s.up[i].Load() {
		if up {
			s.log.Info("opensearch reachable", "cluster", c.Name(), "status", status)
		} else {
			s.log.Warn("opensearch down: unreachable, refusing this client, or red", "cluster", c.Name(), "status", status, "err", err)
		}
	}
	s.up[i].Store(up)
	v := 0.0
	if up {
		v = 1
	}
	s.m.opensearchUp.WithLabelValues(c.Name()).Set(v)
}
