#!/usr/bin/env bash
# Macro run: span throughput at lag. A backlog of spans preloaded in the real
# Kafka, laid out as the collector's Kafka exporter writes them with
# partition_traces_by_id (one record per trace and batch; 10-span traces of
# 20 attributes each, the 9 children in one record and the root in a later
# one, so the children are held until it comes), drained by the pipeline
# (in process: pipeline.BenchmarkPipelineSpansAtLag) into the real
# OpenSearch with default settings, trace groups and service map on.
# Reports spans/s, the process's CPU-seconds per million spans while
# draining and its peak RSS; then the same into the discard sink (bulks built
# and dropped), the pipeline's own cost. Prints a markdown section.
# Environment: VIGIL_BENCH_SPANS (default 1000000 spans).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
N=${VIGIL_BENCH_SPANS:-1000000}
cmd="go test -run '^\$' -bench PipelineSpansAtLag -benchtime ${N}x -count 1 -timeout 60m ./pipeline/"
run() {
  printf 'bench 25-spans: %s\n' "$1" >&2
  local out
  out=$(eval "$1" 2>&1) || { printf '%s\n' "$out" >&2; exit 1; }
  printf '%s\n' "$out" | grep -E '^Benchmark' || true
  echo "(load average at the end: $(awk '{print $1, $2, $3}' /proc/loadavg); $(date -u +%Y-%m-%d))"
}
os=$(run "$cmd")
discard=$(run "VIGIL_BENCH_AT_LAG_SINK=discard $cmd")
echo "## Pipeline: spans at lag (real Kafka -> real OpenSearch, default settings)"
echo
echo "Command: \`make bench\` runs scripts/bench.d/25-spans.sh: \`$cmd\`."
echo "$N spans preloaded as the collector's Kafka exporter writes them with partition_traces_by_id (one record per trace and"
echo "batch; 10-span traces, 20 attributes per span, the root in a later record than its 9 children, which are held for it),"
echo "drained by the pipeline with trace groups and the service map on. CPU-s/M-docs is the test process's CPU (utime+stime)"
echo "while draining, per million spans, but for the benchmark's own polling; OpenSearch's CPU is not in it. The machine's"
echo "$(nproc) cores are shared with OpenSearch, Kafka and whatever else runs: the load average (1, 5, 15 min) is given."
echo
echo "Into OpenSearch: \`$cmd\`"
echo
echo '```'
printf '%s\n' "$os"
echo '```'
echo
echo "Into the discard sink: \`VIGIL_BENCH_AT_LAG_SINK=discard $cmd\`"
echo
echo '```'
printf '%s\n' "$discard"
echo '```'
