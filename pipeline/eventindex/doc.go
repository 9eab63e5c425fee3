// Package eventindex indexes Vigil's own event topics into OpenSearch so that
// Dashboards can show them beside the telemetry: the CloudEvents of
// vigil.health and vigil.failover into the health-events index
// (vigil-health-events), and the headers of dead-lettered records on
// vigil.dlq into the DLQ index (vigil-dlq). Their templates are
// pipeline/opensearch's EventsTemplate and DLQTemplate, installed with the
// others.
//
// Each document's _id is deterministic — the CloudEvent's type and id,
// or the DLQ record's partition and offset — and is written with bulk
// create, so a record delivered twice (after a rebalance, or a restart
// before the commit) is a harmless 409. Offsets are committed only after
// their documents are indexed. A record that is not a valid event is
// logged and counted (vigil_pipeline_events_skipped_total) and skipped: it
// is the producer's bug, and holding the partition for it would hide every
// later event.
//
// A DLQ document carries the headers only, never the payload (the original
// OTLP batch, often megabytes of protobuf): `vigil dlq list` and `vigil dlq
// replay` read and re-send the records themselves, addressed by the
// document's dlq.partition and dlq.offset.
package eventindex
