package events

// The collector's heartbeat records (collector/canary), as the pipeline
// reads them (pipeline/canary): OTLP logs or traces with one resource whose
// attributes are these, on a Kafka record with the HeaderCanary header.
const (
	// HeaderCanary marks a heartbeat record. The collector's partitioner
	// sets it (OTLP clients cannot set Kafka headers); the pipeline still
	// takes the record for a heartbeat only if its resource carries the
	// attributes below, which the collector deletes from clients' data.
	HeaderCanary = "vigil-canary"
	// HeaderCollector names the collector instance on every record the
	// collector writes (the exporters' record_headers).
	HeaderCollector = "vigil-collector"

	CanaryInstance  = "vigil.canary.instance"          // collector instance
	CanaryRun       = "vigil.canary.run"               // the collector process's start, unix nanoseconds
	CanaryTopic     = "vigil.canary.topic"             // the Kafka topic
	CanaryPartition = "vigil.canary.partition"         // int: the partition it was sent to
	CanarySeq       = "vigil.canary.seq"               // int: 1, 2, ... per (run, topic, partition)
	CanaryEmitted   = "vigil.canary.emitted_unix_nano" // int: when it was made
	CanaryAcked     = "vigil.canary.acked"             // int: records written with success to the partition before; -1 unknown
)
