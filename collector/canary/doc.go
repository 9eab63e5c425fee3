// Package canary is the collector's heartbeat path: a receiver
// (vigil_canary) that emits one heartbeat record per partition of a Kafka
// topic on an interval, and an extension (vigil_canary_partitioner) that the
// Kafka exporters name as their record_partitioner, which sends each
// heartbeat to the partition it names and every other record where the
// exporter's default (Sarama-compatible key hash) would.
//
// A heartbeat travels the real data's way: the receiver feeds a pipeline
// whose exporter is the same kafka exporter instance the user data uses, so
// it waits in the same persistent sending queue and is produced by the same
// client. It carries the collector instance, the run (the process start), its
// topic and partition, a sequence number per (topic, partition), its emit time
// and the number of records the exporters had handed to Kafka for that
// (topic, partition) with success (otelcol_kafka_exporter_records_total, read
// from the collector's own telemetry endpoint), so that the pipeline can tell
// lost records from slow ones (pipeline/canary).
//
// The partition count of a topic is learned by the partitioner from the
// records it places (franz-go hands it the count), so the receiver needs no
// Kafka client of its own: until the first record of a topic is placed, the
// receiver heartbeats partition 0 only.
package canary
