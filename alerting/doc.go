// Package alerting is Vigil's alerting component: it consumes health
// transitions from vigil.health (and failover decisions from vigil.failover)
// and keeps Slack up to date with one thread per incident.
//
// An incident opens when a target turns CRITICAL (or CAUTION, on routes with
// open_on_caution). Its parent message is Block Kit: status, target,
// summary, value against threshold, since when, links to the runbook,
// Dashboards and the Prometheus graph (from the event's annotations), and
// for CRITICAL a mention of the route's on-call user group. Every later
// change — CAUTION and CRITICAL back and forth, UNKNOWN, failover requested,
// completed or failed — is a reply in its thread; while it stays CRITICAL a
// reminder is posted every repeat_interval. HEALTHY closes it: a reply
// "recovered after 12m30s" and the parent updated to show it resolved.
// UNKNOWN never opens an incident.
//
// Routes pick the channel by target and labels (first match wins, then
// default_route). Silences (HTTP API, see api.go; Client calls it) and
// maintenance windows (configuration) mute targets. Storm control folds
// more than storm.threshold incidents opening in a channel within
// storm.window into one summary message.
//
// State — per target the last generation applied and the open incident
// (channel, thread ts, opened at), the storms and the silences — lives in a
// compacted Kafka topic (vigil.alerting.state; keys "target/<target>",
// "storm/<channel>" and "silence/<id>"), read whole when a replica becomes
// active and written on every change. Events whose generation is not above
// the target's last are dropped, so reading the health topic again from its
// start, redelivery and reordering are harmless. Before every post its
// idempotency key is written to the target's record; after a crash the
// event applied again derives the same key and, in bot mode, the post first
// looks for a message carrying it (see alerting/slack).
//
// With failover.targets configured, a Controller (controller.go) drives the
// failover state machine of alerting/failover: health events and the
// executor's outcomes (consumed here too) go in, failover and failback
// requests go out on vigil.failover, timers run on their own ticker, and
// its state lives in the state topic under "failover/<target>". The failover
// API beside the silences API shows and steers it (failover_api.go);
// docs/failover.md is the contract.
//
// Replicas elect one active replica: the owner of partition 0 of
// vigil.alerting.leader in group vigil-alerting, with a short session (6s)
// so that a SIGKILLed one is replaced, or a restarted one gets its turn
// back, within seconds. Only the active replica loads the state, reads the
// health and failover topics (direct partition assignment, from the start:
// no consumer group to wait for) and calls Slack. Its state writes are
// transactions under a transactional ID the replicas share, so the replica
// that takes over fences the previous one (service.go; docs/operations.md).
//
// In bot mode channel names are resolved to IDs at start
// (conversations.list), since the duplicate check works only with IDs.
//
// In incoming-webhook mode there are no threads and no updates: every reply
// is a message of its own naming the target, and the parent is not marked
// resolved. Without a Slack token or webhook the console mode logs what
// would be posted.
package alerting
