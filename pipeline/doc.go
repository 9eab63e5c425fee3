// Package pipeline is Vigil's Kafka -> OpenSearch component (`vigil
// pipeline`): it consumes the collector's otlp_logs and otlp_spans topics
// (OTLP ExportLogsServiceRequest / ExportTraceServiceRequest, protobuf or
// JSON per topic) and bulk-indexes them so that OpenSearch Dashboards' Trace
// Analytics and Logs work unchanged: Data Prepper compatible span documents
// behind the otel-v1-apm-span write alias, otel-v1-apm-service-map
// relationships, and SS4O log documents in the ss4o_logs-<dataset>-<namespace>
// data stream of their resource, ss4o_logs-vigil-default without one
// (routing.go) (package document builds them; package opensearch installs the
// templates and talks to the cluster; package dlq is the dead-letter queue).
//
// # Delivery
//
// Effectively once: at-least-once consumption plus idempotent writes. Every
// document has a deterministic _id (see package document) and is written
// with bulk "create", so a redelivered document is a 409, counted as
// success. The consumer group (cooperative-sticky, autocommit off) commits
// per partition only up to the contiguous run of records whose documents are
// all indexed or whose record is in the DLQ (tracker): on an interval, when
// partitions are revoked (after their bulks in flight finish, bounded by
// drain_timeout) and at shutdown. A record is never committed past while
// any of its documents is unfinished, including spans held for their trace
// group. Deduplication holds within a backing index: a record redelivered
// after its index rolled over is indexed again in the new index.
//
// Per-document bulk errors are classified (opensearch.ClassifyItem): 409 is
// success; 429, 5xx and rejected-execution are retried with exponential
// backoff and jitter up to retry.max_item_retries, then dead-lettered as
// retries_exhausted; anything else (mapper_parsing_exception, 400, 413) is
// dead-lettered at once, so one bad document never blocks its partition.
// Whole-request failures (refused, timeout, 5xx) are retried without limit
// while fetching is paused. Records that cannot be decoded, and spans
// without ids, are dead-lettered too.
//
// The DLQ record is the original Kafka record (key and value byte for
// byte), one per failed record however many of its documents failed, with
// headers naming the source topic/partition/offset, error type and reason,
// HTTP status, target index (the concrete backing index that refused the
// document), attempts and failure times. ListDLQ and
// ReplayDLQ back `vigil dlq list|replay`.
//
// # Heartbeats
//
// A record with the vigil-canary header is a collector heartbeat
// (collector/canary): its one document goes to indices.canary, never to a
// user index, and package canary follows it and the records around it for
// freshness, sequence gaps and per-window loss (see there).
//
// # Trace groups
//
// Dashboards groups traces by the root span's name (traceGroup) and shows
// its end time, duration and status (traceGroupFields) on every span. A span
// whose root has not been seen waits up to trace_group.window for it; when
// the root arrives all waiting spans are indexed with the group, and later
// spans of the trace get it at once. After the window a span is indexed
// without group. The collector partitions spans by trace id, so one
// instance sees a whole trace and no state is shared. Memory is bounded by
// max_held_spans, max_traces and half of max_in_flight_bytes for the held
// spans' size (the oldest trace is released first): held spans count
// against the in-flight budget, and a budget filled with spans whose roots
// cannot be fetched would otherwise stall the pipeline for a window. When
// the budget is full, the sink is idle and spans are still held (their
// roots are in records that cannot be taken in, e.g. in another partition),
// the oldest quarter of them is released without group
// (vigil_pipeline_held_spans_forced_releases_total). A trace is remembered
// for three windows (at least 30s) so that late spans still get its group;
// for the service map only its client and server spans are kept.
//
// A span indexed without group is repaired once its root comes
// (trace_group.repair, groupRepairs): when the root arrives for a trace
// that released spans without group (the last max_traces such traces are
// remembered), or whose root lasted longer than the window, the pipeline
// searches the span indices, repair_delay later and again until none is
// left, for that trace's documents without traceGroup and updates them by
// _id (bulk "update" setting traceGroup and traceGroupFields exactly as the
// root would have lent them; never an upsert, so no document is ever
// added; the same update twice changes nothing). _update_by_query is not
// used: it needs the reindex module. The repair holds a reference on the
// root's record, so its offset is not committed until the repair is done;
// a pipeline killed before that reads the root again, and the root's
// duration asks for the repair again though the restarted pipeline has
// forgotten which traces released spans (pipeline/e2e
// TestTraceGroupRepair). A trace shorter than the window whose spans were
// released early to bound memory is repaired only while the pipeline that
// released them runs. Service-map relationships released without group
// are not repaired (a relationship with the group is added when the edge
// is seen again in a later trace).
//
// # Backpressure and memory
//
// Bytes in flight (record values plus their documents, from fetch until the
// record is finished) are bounded by max_in_flight_bytes: above it, or while
// OpenSearch refuses bulks, fetching is paused (PauseFetchTopics) and it
// resumes on its own. No poll is made while paused: franz-go drops what it
// has buffered of paused topics on a poll, and it would be fetched and
// decompressed again (TestPausedFetchesKept). While the budget is full the
// current bulk is sent without waiting out its linger: nothing can join it
// until bulks complete. Between the topics (fairShare): a topic that holds
// half of max_in_flight_bytes while the other topic has records waiting in
// Kafka (its lag as of the last fetch that named it) is paused alone
// (vigil_pipeline_fair_share_paused{topic}), so that a backlog of logs,
// whose records are large, cannot starve spans (or the reverse); a topic
// alone at lag still gets the whole budget (pipeline/e2e TestFairDrain). Fetch sizes are bounded (fetch_max_bytes,
// fetch_max_partition_bytes, max_concurrent_fetches) and bulks are bounded by
// bytes, documents, linger and concurrency.
//
// The large buffers go round rather than to the garbage collector: batches
// are decompressed into buffers lent to franz-go (fetchBuffers; zstd by
// kept decoders, without the frame checksum that the batch's CRC-32C
// already covers), a log record's value is read where its batch was
// decompressed until the record is finished (then recycled, the buffer
// returns once its batch's records all are), and log documents are rendered
// into chunks, each already as its line pair of a bulk request
// (opensearch.CreateHead), which the bulk request sends from where they are
// and which go back to a free list once their record is finished. A bulk
// body is thus a list of pieces, with no copy and no 5 MiB buffer per bulk.
// With the Go soft memory limit
// `vigil pipeline` runs with (DefaultMemoryLimit) that keeps the process's
// RSS within 128 MiB at any lag with the defaults: pipeline/e2e
// TestOpenSearchCrashAtLag reads the real process's peak (VmHWM) through an
// outage and the catch-up after it; BenchmarkPipelineAtLag and
// BenchmarkPipelineSpansAtLag report the in-process peak while draining a
// backlog (their test binary does not carry the collector's code), and
// scripts/bench.d/20-pipeline.sh the real binary's on collector-shaped
// records of 2048 logs each (docs/benchmarks.md).
//
// # Failover
//
// With failover.standby set, the pipeline is the executor of the failover
// controller's decisions for its sink (docs/failover.md): it learns the
// active side from the compacted failover topic at start, and on a request
// installs the templates on the other cluster, commits what is finished and
// moves writing there (sides is the sink's bulk client; bulks waiting on the
// old side are abandoned and re-sent), then publishes the outcome with the
// request's generation. pipeline/failoverexec owns the failover topic (which
// request to act on, the outcomes); switch.go owns the switch it calls.
// Offsets are committed only for finished records
// whichever side took them, and content ids with create keep a re-send to
// the same cluster harmless.
//
// # Metrics
//
// vigil_pipeline_records_total{signal,outcome},
// vigil_pipeline_documents_total{kind,outcome},
// vigil_pipeline_bulk_duration_seconds, vigil_pipeline_bulk_size_bytes,
// vigil_pipeline_bulk_request_failures_total{reason},
// vigil_pipeline_consumer_lag_records{topic,partition},
// vigil_pipeline_end_to_end_latency_seconds{signal} (from the Kafka record
// timestamp, i.e. when the collector produced it, to indexed),
// vigil_pipeline_in_flight_bytes, vigil_pipeline_paused,
// vigil_pipeline_held_spans, vigil_pipeline_fair_share_paused{topic},
// vigil_pipeline_trace_group_repairs_total{result} (repaired,
// nothing_found), vigil_pipeline_trace_group_repaired_spans_total,
// vigil_pipeline_trace_group_repair_errors_total,
// vigil_pipeline_trace_group_repairs_pending,
// vigil_pipeline_offset_commits_total{result},
// vigil_pipeline_opensearch_up{cluster} (periodic _cluster/health of the
// primary and the standby: 1 when reachable and green or yellow),
// vigil_pipeline_opensearch_active{cluster,side},
// vigil_pipeline_failover_switches_total{to,result},
// vigil_pipeline_discarded_bytes_total (sink: discard only), and franz-go's
// client metrics under vigil_pipeline_kafka_*. Readiness ("pipeline" check)
// requires the templates installed and the active cluster up.
//
// # Discard sink and profiling
//
// sink: discard batches and renders every bulk exactly as for OpenSearch
// (its pieces; gzipped with opensearch.gzip), then drops it and counts its documents as
// indexed so that offsets commit: it measures the pipeline's own cost (make
// bench) and loses data. With admin_token set, net/http/pprof is served
// under /debug/pprof/ behind the token (docs/operations.md).
package pipeline
