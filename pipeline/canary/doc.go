// Package canary follows the collector's heartbeats (collector/canary)
// through the pipeline: freshness (emit to indexed), sequence gaps, and
// per-window accounting of what each collector handed to Kafka against what
// the pipeline indexed or dead-lettered.
//
// Accounting is per (collector instance, topic, partition) and per segment:
// the records of one collector between two of its consecutive heartbeats in
// a partition. A heartbeat carries the exporters' cumulative count of records
// written with success to its partition, read just before it was emitted, so
// a segment's produced count is the difference of its two heartbeats' counts
// and its consumed count the records of that collector the pipeline finished
// (indexed or dead-lettered) at offsets from the first heartbeat to just
// before the second. A record already written but not yet acknowledged when
// a count was read lands before the heartbeat yet is counted after it: the
// surplus it makes in one segment is carried into the next, so it is not
// taken for loss. The first segment after a pipeline or collector start (and
// the one whose carry is unknown) only establishes the carry. Duplicates
// (at-least-once delivery) add to the carry: a loss smaller than recent
// duplicates can go unseen, never the other way round.
//
// A segment is judged once its closing heartbeat was read and every record
// in it finished, and counts toward the window (default 5 minutes) that holds
// the closing heartbeat's emit time. A window closes when every collector
// partition heard from within idle_after has been judged past the window's
// end: a lagging pipeline delays the verdict rather than faking one. What a
// closed window did not get back is loss.
package canary
