#!/usr/bin/env bash
# Macro run: the reliability drills of pipeline/e2e (reliability_test.go)
# on real servers with the real vigil collector and pipeline processes: a
# broker of the three-node Kafka (infra.sh kafka-cluster, started and
# stopped by the test) SIGKILLed under load, and pipeline replicas
# SIGKILLed and added under load. Prints their figures as a markdown section.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
scripts/infra.sh up kafka opensearch >&2
eval "$(scripts/env.sh)"
REPORT="$(mktemp)" LOG="$(mktemp)"
trap 'rm -f "$REPORT" "$LOG"' EXIT
cmd="go test -count=1 -tags e2e -run '^(TestKafkaBrokerKilled|TestPipelineReplicasKilledAndAdded)\$' -v -timeout 20m ./pipeline/e2e"
export VIGIL_BIN="${VIGIL_BIN:-$REPO/bin/vigil}" VIGIL_RELIABILITY_REPORT="$REPORT" CI=true
echo "## Reliability: a Kafka broker and a pipeline replica SIGKILLed under load"
echo
echo "Command: \`scripts/bench.d/50-reliability.sh\`: \`$cmd\` (part of \`make test\`)."
echo "Run on $(date -u +%Y-%m-%d), $(nproc) cores shared with the servers."
echo "The shipped configs/collector.yaml (Kafka exporters: required_acks -1, so franz-go's idempotent producer; a"
echo "persistent queue) and \`vigil pipeline\` with default settings; a sender of the test's own sends uniquely"
echo "numbered log records (250 per OTLP request, 5 requests/s) until the drill ends. Exactly once: document count ="
echo "records sent, a \`terms\` aggregation with \`min_doc_count: 2\` on the unique trace id finds nothing, and a paged"
echo "\`composite\` aggregation counts as many distinct ids as documents."
echo
echo "Pauses are read from the consumer group's committed offsets, sampled every 500 ms: a partition stalls from the"
echo "first sample that finds records beyond its committed offset until that offset moves. The pipeline commits every"
echo "2 s, so stalls of 2-3 s are its ordinary cadence (the \"no event\" row). \"Index count flat\" is the longest time"
echo "the logs data stream's count did not grow while records were unindexed: no partition indexed at all."
echo
echo "What the stalls are: (a) while the killed broker's partitions have no new leader (KRaft moves leadership once the"
echo "controller stops hearing from the broker: broker.session.timeout.ms, 9 s by default), the collector's Kafka"
echo "exporter waits on them and little reaches Kafka; the records wait in its persistent queue and none is lost. The"
echo "restarted broker catches up as a follower and takes no leadership back within the drill (preferred leaders return"
echo "only with Kafka's 5-minute leader rebalance), so its return stalls little. (b) A SIGKILLed replica's partitions"
echo "wait until the group coordinator drops the member when its session times out, then move to the survivors; a"
echo "replica that joins takes its share in one cooperative rebalance."
echo
if eval "$cmd" >"$LOG" 2>&1; then
  cat "$REPORT"
else
  echo "A drill failed, so the figures are incomplete; the last lines:"
  echo
  echo '```'
  grep -v '^        ' "$LOG" | tail -40
  echo '```'
  echo
  cat "$REPORT"
fi
echo 'Stalls of 5 s or more and the events, in seconds after the load began:'
echo
echo '```'
grep -E '^=== RUN|^\s+reliability_test.go:[0-9]+: (stall|event|index count flat)' "$LOG" |
  sed -E 's/^=== RUN\s+//; s/^\s+reliability_test.go:[0-9]+: /    /'
echo '```'
