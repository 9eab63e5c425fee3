// Package apm derives what OpenSearch Dashboards' Application Performance
// Monitoring (3.6+) reads from spans: NodeOperationDetail documents for the
// application map (index otel-v2-apm-service-map) and the span-derived RED
// metrics (request, error, fault, latency_seconds) sent to Prometheus by
// remote write. The derivation follows Data Prepper's otel_apm_service_map
// processor; docs/apm.md lists where Vigil differs and why.
//
// Spans are aggregated per Kafka partition in fixed windows of Kafka record
// time. The collector keys spans by trace id, so one partition holds a whole
// trace, and a partition has one owner at a time: series carry the partition
// as a label, so two pipeline replicas never add to the same series, and a
// window re-emitted after a restart or a rebalance is the same sample (same
// series, same timestamp) or is refused by Prometheus as a duplicate, never
// counted twice. Documents have deterministic ids and are created, never
// overwritten, for the same reason.
package apm
