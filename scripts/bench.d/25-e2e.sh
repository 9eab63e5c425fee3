#!/usr/bin/env bash
# Macro run: end to end at fixed offered rates. scripts/bench.d/rateload
# offers log records over OTLP/gRPC to `vigil collector` (shipped
# configs/collector.yaml) -> real Kafka -> `vigil pipeline` (shipped
# defaults) -> real OpenSearch, at each rate for a fixed time, and measures
# each record's freshness (its send time to the poll that first finds it
# searchable). Reports the achieved rates, freshness p50/p99/max, and each
# process's CPU (% of one core over the step) and peak RSS. Prints a
# markdown section.
# Environment: VIGIL_BENCH_E2E_RATES (default "2000 5000 10000" records/s),
# VIGIL_BENCH_E2E_SECONDS (60), VIGIL_BENCH_E2E_PROFILE_RATE (5000: the step whose
# OpenSearch hot threads are printed), VIGIL_BENCH_E2E_PORT_BASE (14300: the
# collector's OTLP gRPC port is base+17, HTTP base+18, admin base+81, health
# base+33, metrics base+89, telemetry base+88; the pipeline's admin base+82).
set -euo pipefail
# shellcheck source=scripts/bench.d/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
RATES=${VIGIL_BENCH_E2E_RATES:-2000 5000 10000}
SECS=${VIGIL_BENCH_E2E_SECONDS:-60}
PROF_RATE=${VIGIL_BENCH_E2E_PROFILE_RATE:-5000} # the step whose OpenSearch hot threads are printed
B=${VIGIL_BENCH_E2E_PORT_BASE:-14300}
RUNDIR="${VIGIL_CACHE:-$REPO/.cache}/run"
RUN="benche2e$(date +%s)"
DS="${RUN}_logs-vigil-default"
TICK=$(getconf CLK_TCK)
W="$(mktemp -d)"
cpid="" ppid_=""
cleanup() {
  [[ -n $ppid_ ]] && { kill -TERM "$ppid_" 2>/dev/null; wait "$ppid_" 2>/dev/null || true; }
  [[ -n $cpid ]] && { kill -TERM "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null || true; }
  delete_indices "$RUN"
  for t in "${RUN}_otlp_logs" "${RUN}_otlp_spans" "${RUN}_dlq"; do "$W/logload" -brokers "$BROKER" -topic "$t" -delete >/dev/null 2>&1 || true; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' INT TERM
go build -o "$W/rateload" ./scripts/bench.d/rateload
go build -o "$W/logload" ./scripts/bench.d/logload

export VIGIL_LOGS_TOPIC="${RUN}_otlp_logs" VIGIL_SPANS_TOPIC="${RUN}_otlp_spans" VIGIL_COLLECTOR_QUEUE_DIR="$W/queue"
export VIGIL_KAFKA_BROKERS="$BROKER"
export VIGIL_OTLP_GRPC_ENDPOINT=127.0.0.1:$((B + 17)) VIGIL_OTLP_HTTP_ENDPOINT=127.0.0.1:$((B + 18)) VIGIL_COLLECTOR_ADMIN=127.0.0.1:$((B + 81))
export VIGIL_COLLECTOR_HEALTH_ENDPOINT=127.0.0.1:$((B + 33)) VIGIL_COLLECTOR_METRICS_ENDPOINT=127.0.0.1:$((B + 89)) VIGIL_COLLECTOR_TELEMETRY_PORT=$((B + 88))
mkdir -p "$W/queue"
"$BIN" collector --config configs/collector.yaml >"$W/collector.log" 2>&1 &
cpid=$!
wait_for "http://$VIGIL_COLLECTOR_ADMIN/readyz"

cat >"$W/pipeline.yaml" <<YAML
admin:
  listen_address: 127.0.0.1:$((B + 82))
log:
  level: warn
kafka:
  brokers: ["$BROKER"]
  group: ${RUN}
  logs: {topic: ${RUN}_otlp_logs}
  spans: {topic: ${RUN}_otlp_spans}
  dlq_topic: ${RUN}_dlq
opensearch:
  addresses: ["$OS_URL"]
$(indices_yaml "$RUN")
YAML
"$BIN" pipeline --config "$W/pipeline.yaml" >"$W/pipeline.log" 2>&1 &
ppid_=$!
wait_for "http://127.0.0.1:$((B + 82))/healthz"

# procs: name=pid of every process measured.
procs=("collector=$cpid" "pipeline=$ppid_")
for s in opensearch kafka; do
  [[ -f $RUNDIR/$s.pid ]] && procs+=("$s=$(cat "$RUNDIR/$s.pid")")
done
# lat sum|count: the pipeline's Kafka-record-timestamp-to-indexed histogram for logs.
lat() { { curl -fsS "http://127.0.0.1:$((B + 82))/metrics" 2>/dev/null || true; } | awk -v m="vigil_pipeline_end_to_end_latency_seconds_$1" 'index($1, m) == 1 && $1 ~ /signal="logs"/ {s+=$NF} END {printf "%.3f", s}'; }
# pm <metric>: a pipeline metric's value (summed over labels).
pm() { { curl -fsS "http://127.0.0.1:$((B + 82))/metrics" 2>/dev/null || true; } | awk -v m="$1" 'index($1, m) == 1 && (length($1) == length(m) || substr($1, length(m) + 1, 1) == "{") {s+=$NF} END {printf "%.3f", s}'; }
cpu() { awk -v t="$TICK" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rssnow() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# A warm-up: templates installed, topics created, the data stream rolled.
say "warm-up: 10 s at 500/s"
"$W/rateload" -otlp "$VIGIL_OTLP_GRPC_ENDPOINT" -opensearch "$OS_URL" -index "$DS" -rate 500 -duration 10s -drain 60s >"$W/warmup.txt"
say "warm-up: $(cat "$W/warmup.txt")"

# lag: records in the logs topic the pipeline has not fetched yet.
lag() { { curl -fsS "http://127.0.0.1:$((B + 82))/metrics" 2>/dev/null || true; } | awk 'index($1, "vigil_pipeline_consumer_lag_records") == 1 && $1 ~ /otlp_logs/ {s+=$NF} END {printf "%d", s}'; }

rows=()
for r in $RATES; do
  # A step starts on an idle system: what the one before left is drained first (at most 5 minutes).
  for _ in $(seq 1 300); do [[ $(lag) -eq 0 ]] && break; sleep 1; done
  left=$(lag)
  say "offering $r log records/s for ${SECS}s (backlog at start: $left)"
  declare -A c0=() peak=()
  for p in "${procs[@]}"; do c0[${p%%=*}]=$(cpu "${p#*=}"); peak[${p%%=*}]=0; done
  ls0=$(lat sum) lc0=$(lat count)
  bd0=$(pm vigil_pipeline_bulk_duration_seconds_sum) bn0=$(pm vigil_pipeline_bulk_duration_seconds_count) bb0=$(pm vigil_pipeline_bulk_size_bytes_sum)
  t0=$(date +%s.%N)
  "$W/rateload" -otlp "$VIGIL_OTLP_GRPC_ENDPOINT" -opensearch "$OS_URL" -index "$DS" -rate "$r" -duration "${SECS}s" -drain 120s >"$W/step.txt" &
  lp=$!
  tsend=""
  while kill -0 "$lp" 2>/dev/null; do
    for p in "${procs[@]}"; do
      v=$(rssnow "${p#*=}"); ((v > peak[${p%%=*}])) && peak[${p%%=*}]=$v
    done
    # Where OpenSearch's time goes, two thirds into the profiled step.
    if [[ $r == "$PROF_RATE" && ! -s $W/hot.txt ]] && (($(awk -v a="$(date +%s.%N)" -v b="$t0" -v s="$SECS" 'BEGIN {print (a - b >= s * 2 / 3)}'))); then
      curl -fsS "$OS_URL/_nodes/hot_threads?threads=3&interval=1s&snapshots=10" >"$W/hot.txt" 2>/dev/null || true
    fi
    # CPU over the sending window only (the drain that follows is idle or catching up).
    if [[ -z $tsend ]] && (($(awk -v a="$(date +%s.%N)" -v b="$t0" -v s="$SECS" 'BEGIN {print (a - b >= s)}'))); then
      tsend=$(date +%s.%N)
      declare -A c1=()
      for p in "${procs[@]}"; do c1[${p%%=*}]=$(cpu "${p#*=}"); done
    fi
    sleep 0.5
  done
  wait "$lp"
  if [[ -z $tsend ]]; then
    tsend=$(date +%s.%N)
    declare -A c1=()
    for p in "${procs[@]}"; do c1[${p%%=*}]=$(cpu "${p#*=}"); done
  fi
  line=$(cat "$W/step.txt")
  bulks=$(awk -v d="$(pm vigil_pipeline_bulk_duration_seconds_sum)" -v d0="$bd0" -v n="$(pm vigil_pipeline_bulk_duration_seconds_count)" -v n0="$bn0" -v b="$(pm vigil_pipeline_bulk_size_bytes_sum)" -v b0="$bb0" \
    'BEGIN {if (n > n0) printf "%d, %.1f MiB, %.2f s", n - n0, (b - b0) / (n - n0) / 1048576, (d - d0) / (n - n0); else printf "-"}')
  kmean=$(awk -v a="$(lat sum)" -v b="$ls0" -v c="$(lat count)" -v d="$lc0" 'BEGIN {printf "%.2f", (c > d ? (a - b) / (c - d) : 0)}')
  say "$line"
  get() { tr ' ' '\n' <<<"$line" | awk -F= -v k="$1" '$1 == k {print $2}'; }
  win=$(calc "$tsend - $t0")
  procsCol=""
  for p in "${procs[@]}"; do
    n=${p%%=*}
    procsCol+="$n $(printf %.0f "$(calc "(${c1[$n]} - ${c0[$n]}) * 100 / $win")")% / $((peak[$n] / 1024)) MiB; "
  done
  target="no target"
  if [[ $r == 5000 ]]; then
    target=$(awk -v p="$(get p99)" 'BEGIN {print (p != "-" && p < 2 ? "p99 < 2 s: met" : "p99 < 2 s: NOT met")}')
  fi
  if [[ -z ${saturated:-} ]] && awk -v m="$(get missing)" -v p="$(get p99)" 'BEGIN {exit !(m > 0 || p == "-" || p > 10)}'; then
    saturated=$r
  fi
  rows+=("| $r | $left | $(get sent_rate) | $(get sent) | $(get searchable) | $(get missing) | $(get p50) | $(get p99) | $(get max) | $kmean | $bulks | $target | ${procsCol%; } | $(cut -d' ' -f1-3 /proc/loadavg) |")
done

echo "## End to end: rateload -> vigil collector -> Kafka -> vigil pipeline -> OpenSearch at fixed rates"
echo
echo "Command: \`make bench\` runs scripts/bench.d/25-e2e.sh: \`go run ./scripts/bench.d/rateload -otlp <collector> -opensearch <url> -index <logs data stream> -rate R -duration ${SECS}s\`"
echo "for R in $RATES, against \`vigil collector --config configs/collector.yaml\` (persistent queue, zstd, acks=all) and"
echo "\`vigil pipeline\` with the shipped defaults (refresh_interval 1s), on the real Kafka and OpenSearch, all on the same cores."
echo "Each record is one of internal/demo.Logs' (20 attributes, a 200-byte body; about 1 KB), its timestamp set to the nanosecond it is sent"
echo "(one OTLP request every 10 ms). Freshness = the answer time of the first poll (every 200 ms, @timestamp >= the oldest unseen record,"
echo "search_after) that finds the record, minus its send time: OTLP send (the collector on the same machine receives it) to searchable,"
echo "including the 1 s refresh interval and up to one poll interval. CPU is utime+stime over the ${SECS} s of sending, in % of one core;"
echo "RSS is the peak VmRSS sampled every 0.5 s. \"Kafka record -> indexed\" is the pipeline's vigil_pipeline_end_to_end_latency_seconds{signal=\"logs\"}"
echo "over the step (sum/count; from the Kafka record's timestamp, set when the collector produced it, to the bulk answer)."
echo "A step starts once the pipeline has fetched everything before it (consumer lag 0; at most 5 minutes, else the backlog left"
echo "is in the table). After a warm-up of 10 s at 500/s. Target: freshness p99 < 2 s at 5000 logs/s."
echo
echo "| offered logs/s | backlog at start | sent logs/s | sent | searchable | never searchable (120 s) | freshness p50 s | p99 s | max s | Kafka record -> indexed, mean s | bulks: count, mean size, mean duration | target | CPU % of a core / peak RSS per process | load average |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [[ -n ${saturated:-} ]]; then
  echo "Saturated (records left unsearchable after 120 s, or p99 over 10 s) from $saturated logs/s on this machine at the load averages shown."
else
  echo "Not saturated at any rate offered (every record searchable, p99 under 10 s)."
fi
if [[ -s $W/hot.txt ]]; then
  echo
  echo "Where OpenSearch's time goes two thirds into the $PROF_RATE logs/s step: \`curl '$OS_URL/_nodes/hot_threads?threads=3&interval=1s&snapshots=10'\`"
  echo "(the 3 busiest threads and the first 4 OpenSearch or Lucene frames of each stack):"
  echo
  echo '```'
  awk '/% \(/ {n = 0; print; next} /app\/\// && n++ < 4' "$W/hot.txt" | cut -c1-170 | head -20 >"$W/hot-top.txt"
  [[ -s $W/hot-top.txt ]] || head -25 "$W/hot.txt" | cut -c1-170 >"$W/hot-top.txt" # no thread busy enough to list: the answer as it came
  cat "$W/hot-top.txt"
  echo '```'
fi
echo "CPU pressure at the end (/proc/pressure/cpu, \"some\": the share of time some runnable task waited for a core): $(awk '/^some/ {print $2, $3, $4}' /proc/pressure/cpu 2>/dev/null)."
