// Package detector watches metrics and publishes the health of each watched
// target (a dependency such as opensearch-primary or kafka, or the pipeline
// itself) as CloudEvents on the compacted Kafka topic vigil.health.
//
// A target has rules. A rule is a PromQL expression evaluated against
// Prometheus at its own interval, with a CAUTION and a CRITICAL condition
// ("> 0.5"). A rule's level changes only after the worse condition has held
// for `for`, and leaves a level only after the better condition has held for
// `recover_for` (hysteresis); a target's status is the worst of its rules'
// levels. Only transitions are published, each with a per-target generation
// that increases by one per transition and survives restarts and leader
// changes: at start the detector reads vigil.health from the beginning to
// restore every target's last status and generation.
//
// Alertmanager and Grafana can drive targets too, through webhooks mounted on
// the admin server (POST /api/v1/alerts/alertmanager and
// /api/v1/alerts/grafana).
//
// Two replicas may run. Leadership is ownership of partition 0 of the
// single-partition topic vigil.detector.leader through the consumer group
// vigil-detector; only the leader evaluates and publishes. Every transition
// is published in a Kafka transaction under one fixed transactional.id, so
// the new leader's InitProducerID bumps the producer epoch and any write of a
// deposed leader is rejected (fencing).
//
// The state machine (TargetState) is pure: it is given every observation with
// its time, so that it is tested with a fake clock.
package detector
