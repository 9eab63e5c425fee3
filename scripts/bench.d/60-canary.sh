#!/usr/bin/env bash
# Macro run: heartbeat freshness at a steady load. telemetrygen sends log
# records at a fixed rate to `vigil collector` (shipped configs/collector.yaml,
# heartbeats every second into every partition), which writes them to the
# real Kafka; `vigil pipeline` (shipped defaults) indexes them into the real
# OpenSearch. Freshness is the pipeline's
# vigil_pipeline_canary_freshness_seconds: from a heartbeat's emission in the
# collector (so through its queue, Kafka and the pipeline) to its document
# indexed. p50 and p99 are read from the histogram's buckets over the load
# (linear within a bucket, as Prometheus' histogram_quantile). Prints a
# markdown section.
# Environment: VIGIL_BENCH_CANARY_RATES (logs/s, default "1000 5000"),
# VIGIL_BENCH_CANARY_SECONDS (per rate, default 60),
# VIGIL_BENCH_CANARY_PORT_BASE (first of the 8 loopback ports used, default 18900).
set -euo pipefail
# shellcheck source=scripts/bench.d/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
RATES=${VIGIL_BENCH_CANARY_RATES:-1000 5000}
SECS=${VIGIL_BENCH_CANARY_SECONDS:-60}
PB=${VIGIL_BENCH_CANARY_PORT_BASE:-18900}
RUN="benchcanary$(date +%s)"
W="$(mktemp -d)"
TG="${VIGIL_CACHE:-$REPO/.cache}/bin/telemetrygen"
command -v telemetrygen >/dev/null && TG=$(command -v telemetrygen)
cpid="" ppid_=""
cleanup() {
  for p in $ppid_ $cpid; do kill -INT "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  delete_indices "$RUN"
  # and the canary index and its template
  curl -fsS -XDELETE "$OS_URL/${RUN}-*?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true" >/dev/null 2>&1 || true
  curl -fsS -XDELETE "$OS_URL/_index_template/${RUN}-canary-template" >/dev/null 2>&1 || true
  go run ./scripts/bench.d/logload -brokers "$BROKER" -topic "${RUN}_otlp_logs" -delete >/dev/null 2>&1 || true
  go run ./scripts/bench.d/logload -brokers "$BROKER" -topic "${RUN}_otlp_spans" -delete >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

export VIGIL_LOGS_TOPIC="${RUN}_otlp_logs" VIGIL_SPANS_TOPIC="${RUN}_otlp_spans" VIGIL_COLLECTOR_QUEUE_DIR="$W/queue"
export VIGIL_KAFKA_BROKERS="$BROKER" VIGIL_CANARY_INTERVAL=1s HOSTNAME="$RUN-collector"
export VIGIL_OTLP_GRPC_ENDPOINT=127.0.0.1:$PB VIGIL_OTLP_HTTP_ENDPOINT=127.0.0.1:$((PB + 1)) VIGIL_COLLECTOR_ADMIN=127.0.0.1:$((PB + 2))
export VIGIL_COLLECTOR_HEALTH_ENDPOINT=127.0.0.1:$((PB + 3)) VIGIL_COLLECTOR_METRICS_ENDPOINT=127.0.0.1:$((PB + 4)) VIGIL_COLLECTOR_TELEMETRY_PORT=$((PB + 5))
PADMIN=127.0.0.1:$((PB + 6))
cat >"$W/pipeline.yaml" <<YAML
admin: {listen_address: $PADMIN}
log: {level: warn}
kafka:
  brokers: ["$BROKER"]
  group: ${RUN}-pipeline
  logs: {topic: $VIGIL_LOGS_TOPIC}
  spans: {topic: $VIGIL_SPANS_TOPIC}
  dlq_topic: ${RUN}_dlq
opensearch: {addresses: ["$OS_URL"]}
$(indices_yaml "$RUN")
  canary: ${RUN}-canary
YAML
# The collector first: its heartbeats create the topics (auto-created with the
# broker's num.partitions), so the pipeline finds them when it subscribes.
"$BIN" collector --config configs/collector.yaml >"$W/collector.log" 2>&1 &
cpid=$!
wait_for "http://$VIGIL_COLLECTOR_ADMIN/readyz" 240
sleep 3
"$BIN" pipeline --config "$W/pipeline.yaml" >"$W/pipeline.log" 2>&1 &
ppid_=$!
wait_for "http://$PADMIN/readyz" 240
# buckets: the logs topic's cumulative freshness buckets, "le count" per line.
buckets() {
  curl -fsS "http://$PADMIN/metrics" | awk -v t="$VIGIL_LOGS_TOPIC" '
    $1 ~ /^vigil_pipeline_canary_freshness_seconds_bucket/ && index($1, "topic=\"" t "\"") {
      match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5); print le, $NF }'
}
# quantile q before after: from two bucket snapshots.
quantile() {
  awk -v q="$1" 'NR == FNR { b[$1] = $2; next } { le[++n] = $1; c[n] = $2 - b[$1] }
    END { total = c[n]; if (total == 0) { print "n/a"; exit }
      rank = q * total; prev = 0; prevc = 0
      for (i = 1; i <= n; i++) { if (c[i] >= rank) { if (le[i] == "+Inf") { print ">" prev; exit }
          printf "%.3f", prev + (le[i] - prev) * (rank - prevc) / (c[i] - prevc); exit }
        prev = le[i]; prevc = c[i] } }' "$2" "$3"
}
accepted() { curl -fsS "http://$VIGIL_COLLECTOR_ADMIN/metrics" | awk '$1 ~ /^otelcol_receiver_accepted_log_records_total/ && /receiver="otlp"/ {s += $NF} END {printf "%d", s}'; }
indexed() { curl -fsS "http://$PADMIN/metrics" | awk '$1 ~ /^vigil_pipeline_documents_total/ && /kind="log"/ && /outcome="indexed"/ {s += $NF} END {printf "%d", s}'; }
# Warm up: heartbeats indexed, templates installed.
for _ in $(seq 1 120); do [[ -n $(buckets | awk '$1 == "+Inf" && $2 > 5') ]] && break; sleep 0.5; done
say "collector and pipeline up"
rows=""
for rate in $RATES; do
  workers=$(( (rate + 999) / 1000 ))
  per=$((rate / workers))
  buckets >"$W/b0"
  a0=$(accepted); d0=$(indexed); t0=$(date +%s.%N)
  gen="telemetrygen logs --otlp-insecure --otlp-endpoint $VIGIL_OTLP_GRPC_ENDPOINT --workers $workers --rate $per --duration ${SECS}s --body <200 bytes>"
  say "$gen"
  "$TG" logs --otlp-insecure --otlp-endpoint "$VIGIL_OTLP_GRPC_ENDPOINT" --workers "$workers" --rate "$per" --duration "${SECS}s" \
    --body "$(head -c 200 /dev/zero | tr '\0' 'x')" >/dev/null 2>&1
  t1=$(date +%s.%N); a1=$(accepted); d1=$(indexed)
  buckets >"$W/b1"
  n=$(awk '$1 == "+Inf" {print $2}' "$W/b1"); n0=$(awk '$1 == "+Inf" {print $2}' "$W/b0")
  rows+=$(printf '| %d | %.0f | %.0f | %d | %s | %s |' "$rate" "$(calc "($a1 - $a0) / ($t1 - $t0)")" "$(calc "($d1 - $d0) / ($t1 - $t0)")" "$((n - n0))" \
    "$(quantile 0.5 "$W/b0" "$W/b1")" "$(quantile 0.99 "$W/b0" "$W/b1")")$'\n'
  sleep 5 # the backlog, if any, drains before the next rate
done
lost=$(curl -fsS "http://$PADMIN/metrics" | awk -v t="$VIGIL_LOGS_TOPIC" '$1 ~ /^vigil_pipeline_canary_lost_records_total/ && index($1, t) {s += $NF} END {printf "%d", s}')
echo "## Heartbeat freshness: telemetrygen -> collector -> Kafka -> pipeline -> OpenSearch"
echo
echo "Command: \`make bench\` runs scripts/bench.d/60-canary.sh: the shipped collector (heartbeats every 1 s into"
echo "each partition of the logs topic, 3 here) and pipeline on real Kafka and OpenSearch; ${SECS} s of load per rate"
echo "(\`telemetrygen logs --workers N --rate R --duration ${SECS}s\`, 200-byte bodies). Freshness: from a heartbeat's"
echo "emission in the collector to its document indexed (vigil_pipeline_canary_freshness_seconds, quantiles"
echo "interpolated within buckets as Prometheus' histogram_quantile does)."
echo
echo "| offered logs/s | accepted by the collector /s | indexed during the run /s | heartbeats indexed | freshness p50 s | freshness p99 s |"
echo "|---|---|---|---|---|---|"
printf '%s' "$rows"
echo
echo "Records lost over the run (vigil_pipeline_canary_lost_records_total): $lost. Everything (telemetrygen, collector,"
echo "Kafka, pipeline, OpenSearch) shares the machine's $(nproc) cores, and other jobs may run on it at the same time:"
echo "the figures are what this machine gave, not a ceiling."
