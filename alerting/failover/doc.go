// Package failover decides when a target fails over to its standby and when
// it fails back, as a pure state machine: no I/O, no clock of its own. A
// controller feeds it health events of the primary and the standby, the
// outcomes the executor (the pipeline) reports, operator commands and clock
// ticks, publishes the Decisions it returns as CloudEvents on vigil.failover
// (events.Failover* types), and persists its State. Config is alerting's
// failover section: the Policy of each target.
//
// Rules, per target Policy:
//
//   - Failover is requested when the primary has been CRITICAL without a
//     break for critical_for, the standby is HEALTHY (pre-check), no request
//     is in flight, and no block is in force. UNKNOWN never triggers
//     anything and interrupts a CRITICAL streak: the streak restarts at the
//     next CRITICAL transition.
//   - A request stays in flight until a completed or failed event with its
//     generation arrives; other outcomes are stale and ignored.
//   - Every switch and every failed attempt starts a block of block_for
//     during which nothing automatic happens, unless an operator
//     acknowledges it (Ack), which lifts the block until the next switch.
//   - Failback is automatic (failback: auto) once the primary has been
//     HEALTHY without a break for dwell and no block is in force, or manual
//     (failback: manual) on an operator's RequestFailback; either way the
//     primary must be HEALTHY (pre-check).
//   - Held says why a switch the health calls for is held back (standby
//     not HEALTHY, blocked); Sync brings a restored State up to the latest
//     event on vigil.failover, so a decision published just before a crash
//     is in flight after it rather than published again.
//   - Each decision carries the next generation of the target's failover
//     sequence, and the health generation that caused it. Health events at
//     or below the last generation seen for that side are dropped.
package failover
