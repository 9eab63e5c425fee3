package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	records        *prometheus.CounterVec // signal, outcome
	documents      *prometheus.CounterVec // kind, outcome
	bulkDuration   prometheus.Histogram
	bulkBytes      prometheus.Histogram
	bulkFailures   *prometheus.CounterVec // reason
	lag            *prometheus.GaugeVec   // topic, partition
	latency        *prometheus.HistogramVec
	paused         prometheus.Gauge
	heldSpans      prometheus.Gauge
	forcedReleases prometheus.Counter
	repairs        *prometheus.CounterVec // result
	repairErrors   prometheus.Counter
	repairedSpans  prometheus.Counter
	repairsPending prometheus.Gauge
	fairPaused     *prometheus.GaugeVec   // topic
	opensearchUp   *prometheus.GaugeVec   // cluster
	commits        *prometheus.CounterVec // result
	active         *prometheus.GaugeVec   // cluster, side
	switches       *prometheus.CounterVec // to, result
	discarded      prometheus.Counter
	emptyRecords   *prometheus.CounterVec // signal, reason
	streamOverflow *prometheus.CounterVec // reason
	logStreams     prometheus.Gauge
	laneRecords    *prometheus.CounterVec // lane, outcome
	laneLatency    *prometheus.HistogramVec
	laneLag        *prometheus.GaugeVec // lane
	// indexedDocs caches documents{kind,outcome="indexed"} per kind: it is
	// counted once per document, the hottest label lookup there is.
	indexedDocs map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_records_total",
			Help: "Kafka records finished, by signal (logs, spans) and outcome (indexed, dead_lettered).",
		}, []string{"signal", "outcome"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_documents_total",
			Help: "Documents by kind (log, span, service_map) and outcome (indexed, duplicate, retried, dead_lettered).",
		}, []string{"kind", "outcome"}),
		bulkDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_pipeline_bulk_duration_seconds",
			Help:    "Duration of bulk requests, including failed ones.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		bulkBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_pipeline_bulk_size_bytes",
			Help:    "Body size of bulk requests.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		bulkFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_bulk_request_failures_total",
			Help: "Bulk requests that failed as a whole and were retried, by reason (unreachable, http_<status>, too_large).",
		}, []string{"reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_consumer_lag_records",
			Help: "Records between the last fetched offset and the partition's high watermark.",
		}, []string{"topic", "partition"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_pipeline_end_to_end_latency_seconds",
			Help:    "Time from the Kafka record's timestamp (when the collector produced it) to its documents being indexed.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"signal"}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_pipeline_paused",
			Help: "1 while fetching is paused (in-flight bytes over the limit or OpenSearch unreachable).",
		}),
		heldSpans: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_pipeline_held_spans",
			Help: "Spans waiting for their trace's root span.",
		}),
		forcedReleases: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pipeline_held_spans_forced_releases_total",
			Help: "Times held spans were released before their window because the in-flight budget was full of them (roots in other partitions, or a window too long for the budget).",
		}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_trace_group_repairs_total",
			Help: "Trace group repairs finished (a root came for a trace whose spans may have been indexed without group), by result (repaired, nothing_found).",
		}, []string{"result"}),
		repairErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pipeline_trace_group_repair_errors_total",
			Help: "Trace group repair passes that failed (search or update refused or unreachable) and are made again.",
		}),
		repairedSpans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pipeline_trace_group_repaired_spans_total",
			Help: "Span documents given their trace group after they were indexed without it (updates; a span updated twice counts twice).",
		}),
		fairPaused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_fair_share_paused",
			Help: "1 while the topic's fetching is paused because it holds half the in-flight budget and the other topic has records waiting.",
		}, []string{"topic"}),
		repairsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_pipeline_trace_group_repairs_pending",
			Help: "Trace group repairs not finished yet; each keeps its root span's record uncommitted.",
		}),
		opensearchUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_opensearch_up",
			Help: "1 when the cluster answered _cluster/health with green or yellow.",
		}, []string{"cluster"}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_offset_commits_total",
			Help: "Offset commits by result (ok, error).",
		}, []string{"result"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_opensearch_active",
			Help: "1 for the cluster that receives writes (side primary or standby), 0 for the other.",
		}, []string{"cluster", "side"}),
		switches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_failover_switches_total",
			Help: "Failover requests carried out, by the side switched to (primary, standby) and result (completed, failed).",
		}, []string{"to", "result"}),
		discarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pipeline_discarded_bytes_total",
			Help: "Bulk body bytes the discard sink dropped, as they would have gone on the wire (gzipped when opensearch.gzip is set).",
		}),
		emptyRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_empty_records_total",
			Help: "Kafka records finished without a document because they hold no data, by signal (logs, spans) and reason (null: no value, a tombstone; empty: a zero-length value).",
		}, []string{"signal", "reason"}),
		streamOverflow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_log_stream_overflow_total",
			Help: "Log documents written to indices.logs_data_stream instead of their own data stream, by reason (max_streams: log_routing.max_streams streams exist; refused: the cluster refused to create or list streams).",
		}, []string{"reason"}),
		logStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_pipeline_log_streams",
			Help: "Log data streams known to exist besides indices.logs_data_stream (counted against log_routing.max_streams).",
		}),
		laneRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pipeline_lane_records_total",
			Help: "Kafka records finished, by lane (normal; priority: log records of severity ERROR and above) and outcome (indexed, dead_lettered).",
		}, []string{"lane", "outcome"}),
		laneLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_pipeline_lane_end_to_end_latency_seconds",
			Help:    "Time from a Kafka record's timestamp to its last document indexed, by lane.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900},
		}, []string{"lane"}),
		laneLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_pipeline_lane_lag_records",
			Help: "Records behind the high watermarks of the lane's topics, summed over its partitions, as of the last fetch.",
		}, []string{"lane"}),
	}
	for _, reason := range []string{overflowMaxStreams, overflowRefused} {
		m.streamOverflow.WithLabelValues(reason) // present at 0 from the start
	}
	for _, lane := range []string{laneNormal, lanePriority} {
		for _, o := range []string{"indexed", "dead_lettered"} {
			m.laneRecords.WithLabelValues(lane, o) // present at 0 from the start
		}
	}
	for _, sig := range []string{signalLogs, signalSpans} {
		for _, reason := range []string{emptyNull, emptyZeroLength} {
			m.emptyRecords.WithLabelValues(sig, reason) // present at 0 from the start
		}
	}
	m.indexedDocs = map[string]prometheus.Counter{}
	for _, k := range []string{kindLog, kindSpan, kindServiceMap} {
		m.indexedDocs[k] = m.documents.WithLabelValues(k, "indexed")
	}
	if reg != nil {
		reg.MustRegister(m.records, m.documents, m.bulkDuration, m.bulkBytes, m.bulkFailures, m.lag, m.latency,
			m.paused, m.heldSpans, m.forcedReleases, m.repairs, m.repairErrors, m.repairedSpans, m.repairsPending, m.fairPaused, m.opensearchUp, m.commits, m.active, m.switches, m.discarded, m.emptyRecords,
			m.streamOverflow, m.logStreams, m.laneRecords, m.laneLatency, m.laneLag)
	}
	return m
}

// registerInFlight registers the gauge of bytes in flight, read from the
// service's counter when scraped (the counter is the service's own: it
// bounds fetching).
func registerInFlight(reg prometheus.Registerer, load func() int64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_pipeline_in_flight_bytes",
		Help: "Bytes of records taken from Kafka and not yet finished.",
	}, func() float64 { return float64(load()) }))
}

// registerPriorityInFlight is registerInFlight for the priority lane.
func registerPriorityInFlight(reg prometheus.Registerer, load func() int64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_pipeline_priority_in_flight_bytes",
		Help: "Bytes of the priority lane's records taken from Kafka and not yet finished (priority.max_in_flight_bytes bounds them).",
	}, func() float64 { return float64(load()) }))
}
