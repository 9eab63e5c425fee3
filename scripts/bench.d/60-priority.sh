#!/usr/bin/env bash
# Macro run: the priority lane under lag. A backlog of normal (INFO) log
# records is preloaded in the real Kafka (scripts/bench.d/logload, laid out
# as the collector writes it) and drained by the real `vigil pipeline` into
# the real OpenSearch, alone and while ERROR probes go through the real
# `vigil collector` (shipped configs/collector.yaml: the filter processor
# routes them to the priority topic), in rounds ordered alone, probed,
# probed, alone, ... so that a drift of the machine's load over the runs
# falls on both kinds alike. Reports each probe's time
# from its OTLP export to searchable (p50, p99, max; scripts/bench.d/probe
# polls _count without forcing a refresh) and the backlog's drain rate with
# and without probes. Prints a markdown section.
# Environment: VIGIL_BENCH_PRIORITY_RECORDS (default 1000000),
# VIGIL_BENCH_PRIORITY_PROBES (100), VIGIL_BENCH_PRIORITY_INTERVAL (500ms),
# VIGIL_BENCH_PRIORITY_ROUNDS (2: each a drain alone and one with probes),
# VIGIL_BENCH_PRIORITY_PORT_BASE (first of 8 local ports; default 18900).
set -euo pipefail
# shellcheck source=scripts/bench.d/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
N=${VIGIL_BENCH_PRIORITY_RECORDS:-1000000}
PROBES=${VIGIL_BENCH_PRIORITY_PROBES:-100}
INTERVAL=${VIGIL_BENCH_PRIORITY_INTERVAL:-500ms}
PB=${VIGIL_BENCH_PRIORITY_PORT_BASE:-18900}
ROUNDS=${VIGIL_BENCH_PRIORITY_ROUNDS:-2}
runs=()
for ((i = 1; i <= ROUNDS; i++)); do
  if ((i % 2)); then runs+=("alone$i" "probed$i"); else runs+=("probed$i" "alone$i"); fi
done
ADMIN=127.0.0.1:$PB
RUN="benchprio$(date +%s)"
TOPIC="${RUN}_otlp_logs"
PRIO="${RUN}_otlp_logs_priority"
W="$(mktemp -d)"
pid="" cpid=""
cleanup() {
  [[ -n $pid ]] && { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  [[ -n $cpid ]] && { kill -INT "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null || true; }
  for r in "${runs[@]}"; do delete_indices "${RUN}${r}"; done
  for t in "$TOPIC" "${runs[@]/#/${PRIO}_}" "${RUN}_collector_logs" "${RUN}_dlq"; do "$W/logload" -brokers "$BROKER" -topic "$t" -delete >/dev/null 2>&1 || true; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

go build -o "$W/logload" ./scripts/bench.d/logload
go build -o "$W/probe" ./scripts/bench.d/probe
load="go run ./scripts/bench.d/logload -brokers $BROKER -topic $TOPIC -records $N"
say "$load"
loaded=$("$W/logload" -brokers "$BROKER" -topic "$TOPIC" -records "$N")
say "$loaded"
# The collector: shipped file; normal logs would go to a topic of their own
# (the probes are all ERROR: none does).
export VIGIL_KAFKA_BROKERS="$BROKER" VIGIL_LOGS_TOPIC="${RUN}_collector_logs" VIGIL_SPANS_TOPIC="${RUN}_collector_spans"

export VIGIL_OTLP_GRPC_ENDPOINT=127.0.0.1:$((PB + 1)) VIGIL_OTLP_HTTP_ENDPOINT=127.0.0.1:$((PB + 2))
export VIGIL_COLLECTOR_ADMIN=127.0.0.1:$((PB + 3)) VIGIL_COLLECTOR_HEALTH_ENDPOINT=127.0.0.1:$((PB + 4))
export VIGIL_COLLECTOR_METRICS_ENDPOINT=127.0.0.1:$((PB + 5)) VIGIL_COLLECTOR_TELEMETRY_PORT=$((PB + 6))

# collector <run>: (re)starts the collector with the run's own priority
# topic (made as `vigil setup` makes it, 4 partitions like the backlog's),
# so that no run's pipeline reads another run's probes.
collector() {
  if [[ -n $cpid ]]; then
    kill -INT "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null || true
    cpid=""
  fi
  "$W/probe" -brokers "$BROKER" -create-topic "${PRIO}_$1"
  VIGIL_LOGS_PRIORITY_TOPIC="${PRIO}_$1" VIGIL_COLLECTOR_QUEUE_DIR="$W/queue-$1" "$BIN" collector --config configs/collector.yaml >"$W/collector-$1.log" 2>&1 &
  cpid=$!
  wait_for "http://$VIGIL_COLLECTOR_ADMIN/readyz"
}

# config <run>: the shipped defaults except names and addresses.
config() {
  cat >"$W/$1.yaml" <<YAML
admin:
  listen_address: $ADMIN
log:
  level: warn
kafka:
  brokers: ["$BROKER"]
  group: ${RUN}-$1
  logs: {topic: $TOPIC}
  spans: {topic: ""}
  priority: {topic: ${PRIO}_$1}
  dlq_topic: ${RUN}_dlq
opensearch:
  addresses: ["$OS_URL"]
$(indices_yaml "${RUN}$1")
YAML
  echo "$W/$1.yaml"
}

# drain <run> [probe]: runs the pipeline until the N backlog records count
# as indexed by the normal lane; sets secs (from the first to the last
# backlog document indexed) and, with probe, probes (the probe summary).
drain() {
  local cfg
  cfg=$(config "$1")
  "$BIN" pipeline --config "$cfg" >"$W/$1.log" 2>&1 &
  pid=$!
  local got=0 t0="" last=0 lastAt=$SECONDS ppid="" want=$N
  [[ -n ${2:-} ]] && want=$((N + PROBES))
  while :; do
    got=$(metric 'vigil_pipeline_documents_total{kind="log",outcome="indexed"}')
    if [[ -z $t0 && $got -gt 0 ]]; then
      t0=$(date +%s.%N)
      if [[ -n ${2:-} ]]; then
        # Probes while the backlog drains (every INTERVAL; 100 x 0.5 s is
        # 50 s, well inside a million-record drain).
        "$W/probe" -otlp "$VIGIL_OTLP_GRPC_ENDPOINT" -opensearch "$OS_URL" -index "${RUN}$1_logs-vigil-default" \
          -n "$PROBES" -interval "$INTERVAL" >"$W/probe.out" 2>"$W/probe.err" &
        ppid=$!
      fi
    fi
    [[ $got -ge $want ]] && break
    watch_drain "$got" "$N" "$W/$1.log"
    sleep 0.2
  done
  secs=$(calc "$(date +%s.%N) - $t0")
  if [[ -n $ppid ]]; then
    wait "$ppid" || { say "probe failed:"; tail -5 "$W/probe.err" >&2; exit 1; }
    probes=$(cat "$W/probe.out")
    slowest=$(grep 'searchable after' "$W/probe.err" | sort -k5 -g -r | head -5 | awk '{printf "%s%s s (probe %s)", (NR > 1 ? ", " : ""), $5, $2}')
    prio=$(metric 'vigil_pipeline_lane_records_total{lane="priority",outcome="indexed"}')
    # In the pipeline: from the probe's Kafka timestamp to its bulk answered.
    lanelat=$(calc "$(metric 'vigil_pipeline_lane_end_to_end_latency_seconds_sum{lane="priority"}' %.4f) / $prio")
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  # Every record once: the stream holds the backlog (and the probes).
  curl -fsS -XPOST "$OS_URL/${RUN}$1_logs-vigil-default/_refresh" >/dev/null
  docs=$(curl -fsS "$OS_URL/${RUN}$1_logs-vigil-default/_count" | sed 's/.*"count":\([0-9]*\).*/\1/')
}

load1() { awk '{print $1}' /proc/loadavg; }
declare -A secsOf docsOf probesOf slowestOf prioOf latOf
loads="$(load1)"
for r in "${runs[@]}"; do
  collector "$r"
  if [[ $r == probed* ]]; then
    say "$r: draining $N records while $PROBES ERROR probes go through the collector"
    drain "$r" probe
    probesOf[$r]=$probes slowestOf[$r]=$slowest prioOf[$r]=$prio latOf[$r]=$lanelat
  else
    say "$r: draining $N records alone"
    drain "$r"
  fi
  secsOf[$r]=$secs docsOf[$r]=$docs
  loads="$loads, $(load1)"
done

echo "## Priority lane: ERROR logs under lag"
echo
echo "Command: \`make bench\` runs scripts/bench.d/60-priority.sh. Backlog: \`$load\` ($loaded;"
echo "INFO records, 2048 per Kafka record, as the collector writes them), drained by \`vigil pipeline\` (the shipped defaults; names and addresses set)"
echo "into OpenSearch, alone and while $PROBES ERROR log records, one every $INTERVAL, go through \`vigil collector --config configs/collector.yaml\`"
echo "(filter processor -> the priority topic -> the pipeline's priority lane, which refreshes the data stream after its bulks, at most every 0.5 s)."
echo "$ROUNDS rounds of a drain alone and a drain with probes, in the order of the table (alone, probed, probed, alone, ...: a drift of the"
echo "machine's load falls on both kinds alike). Each run is a fresh consumer group and data stream. Time to searchable:"
echo "from a probe's OTLP export to the first search that finds it (one \`_search\` every 0.1 s for all probes not found yet; the probe does not refresh; scripts/bench.d/probe)."
echo "Drain rate: backlog records / time from the first to the last backlog document counted indexed. The drains run one after the"
echo "other on the same cores as Kafka, OpenSearch and the collector: other work on the machine moves the rates (see the load average)."
echo "Load average (1 min) on the $(nproc) cores before the first run and after each: $loads."
echo "Targets: p99 time to searchable < 5 s; drain rate drops < 10% with probes."
echo
echo "| run | backlog records | documents in the stream after | drain s | drain records/s | ERROR probes | probe p50 s | probe p99 s | probe max s |"
echo "|---|---|---|---|---|---|---|---|---|"
sumA=0 sumP=0 worst=0
for r in "${runs[@]}"; do
  rate=$(calc "$N / ${secsOf[$r]}")
  if [[ $r == probed* ]]; then
    read -r _ np _ p50 _ p99 _ pmax <<<"${probesOf[$r]}"
    sumP=$(calc "$sumP + $rate")
    worst=$(calc "($p99 > $worst) ? $p99 : $worst")
    printf '| %s | %d | %d | %.1f | %.0f | %d (%d Kafka records by the priority lane, collector heartbeats included) | %.2f | %.2f | %.2f |\n' "$r" "$N" "${docsOf[$r]}" "${secsOf[$r]}" "$rate" "$np" "${prioOf[$r]}" "$p50" "$p99" "$pmax"
  else
    sumA=$(calc "$sumA + $rate")
    printf '| %s | %d | %d | %.1f | %.0f | - | - | - | - |\n' "$r" "$N" "${docsOf[$r]}" "${secsOf[$r]}" "$rate"
  fi
done
echo
for r in "${runs[@]}"; do
  [[ $r == probed* ]] || continue
  echo "Slowest probes of $r (numbered in sending order, one every $INTERVAL from the drain's first indexed document): ${slowestOf[$r]}."
  echo
  printf 'In the pipeline, %s (Kafka record timestamp to bulk answered, vigil_pipeline_lane_end_to_end_latency_seconds{lane="priority"}): mean %.2f s per Kafka record of the lane (collector heartbeats included, so not a figure of the probes alone).\n' "$r" "${latOf[$r]}"
  echo
done
printf 'Worst probe p99 of the runs: %.2f s. Mean drain rate with probes: %.1f%% of the mean rate alone (%+.1f%%).\n' "$worst" "$(calc "100 * $sumP / $sumA")" "$(calc "100 * ($sumP - $sumA) / $sumA")"
