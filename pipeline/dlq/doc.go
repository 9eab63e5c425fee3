// Package dlq is the pipeline's dead-letter queue on Kafka: the record
// format (the original record's key and value, byte for byte, with headers
// saying where it came from and why it failed), and the operator's tools to
// summarise (List) and re-publish (Replay) what is in it.
//
// Replaying is safe to repeat: the pipeline gives every document a
// deterministic id and writes with bulk "create", so documents that made it
// into OpenSearch the first time come back as 409s, which count as success.
// A replayed record keeps the original record's timestamp, which log
// documents fall back on when their own timestamps are missing.
package dlq
