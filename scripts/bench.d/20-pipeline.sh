#!/usr/bin/env bash
# Macro run: a backlog of OTLP log records preloaded in the real Kafka, laid
# out as the collector's Kafka exporter writes it (scripts/bench.d/logload),
# drained by the real `vigil pipeline` binary (a) into the real OpenSearch,
# (b) into a null bulk endpoint (scripts/bench.d/nullbulk: every item
# answered "created" as OpenSearch answers it, nothing stored) and (c) into
# the discard sink (sink: discard: bulks built and dropped).
# Reports records/s, the pipeline process's CPU-seconds per million records
# (utime+stime from /proc/<pid>/stat, start-up included) and peak RSS
# (VmHWM), then profiles a second run into the null endpoint through
# /debug/pprof (behind the admin token) and prints where the time goes.
# Prints a markdown section.
# Environment: VIGIL_BENCH_PIPELINE_RECORDS (default 1000000),
# VIGIL_BENCH_PIPELINE_SINKS ("opensearch nullbulk discard"), VIGIL_BENCH_PIPELINE_PROFILE
# (0 skips the profiled run; a sink name profiles that one, default nullbulk),
# VIGIL_BENCH_PIPELINE_PPROF (keep the profile there), VIGIL_BENCH_NULLBULK_PORT
# (the null endpoint's port, default 9250),
# VIGIL_BENCH_PIPELINE_ROUTING (discard runs each with log routing off and on,
# alternating; default 5, 0 skips them; an empty SINKS runs only those),
# VIGIL_BENCH_PIPELINE_COMPRESSION (the backlog's codec; default zstd, the
# collector's).
set -euo pipefail
# shellcheck source=scripts/bench.d/lib.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
N=${VIGIL_BENCH_PIPELINE_RECORDS:-1000000}
SINKS=${VIGIL_BENCH_PIPELINE_SINKS-opensearch nullbulk discard}
PROFILE=${VIGIL_BENCH_PIPELINE_PROFILE:-nullbulk}
[[ $PROFILE == 1 ]] && PROFILE=nullbulk
NULL_URL="http://127.0.0.1:${VIGIL_BENCH_NULLBULK_PORT:-9250}"
CODEC=${VIGIL_BENCH_PIPELINE_COMPRESSION:-zstd}
ADMIN=127.0.0.1:${VIGIL_BENCH_PIPELINE_ADMIN_PORT:-18882}
RUN="benchpl$(date +%s)"
TOPIC="${RUN}_otlp_logs"
SPANS_TOPIC="${RUN}_otlp_spans"
NS=${VIGIL_BENCH_PIPELINE_SPANS:-1000000} # spans drained into the null endpoint (0: none)
SIG=logs # what drain reads: logs, or spans (into nullbulk only)
TICK=$(getconf CLK_TCK)
W="$(mktemp -d)"
export VIGIL_PIPELINE_ADMIN_TOKEN="bench-$RANDOM$RANDOM"
pid="" nullpid=""
cleanup() {
  [[ -n $pid ]] && { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  [[ -n $nullpid ]] && { kill -TERM "$nullpid" 2>/dev/null; wait "$nullpid" 2>/dev/null || true; }
  for s in $SINKS; do delete_indices "${RUN}${s}"; done
  for t in "$TOPIC" "$SPANS_TOPIC" "${RUN}_dlq"; do "$W/logload" -brokers "$BROKER" -topic "$t" -delete >/dev/null 2>&1 || true; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 143' INT TERM # so that cleanup runs when make bench is interrupted

load="go run ./scripts/bench.d/logload -brokers $BROKER -topic $TOPIC -records $N -compression $CODEC"
say "$load"
go build -o "$W/logload" ./scripts/bench.d/logload
loaded=$("$W/logload" -brokers "$BROKER" -topic "$TOPIC" -records "$N" -compression "$CODEC")
say "$loaded"
if [[ " $SINKS " == *" nullbulk "* && $NS -gt 0 ]]; then
  sload="go run ./scripts/bench.d/logload -signal traces -brokers $BROKER -topic $SPANS_TOPIC -records $NS -compression $CODEC"
  say "$sload"
  sloaded=$("$W/logload" -signal traces -brokers "$BROKER" -topic "$SPANS_TOPIC" -records "$NS" -compression "$CODEC")
  say "$sloaded"
  NS=$(awk '{print $1}' <<<"$sloaded") # whole traces: may round up
fi

if [[ " $SINKS " == *" nullbulk "* ]]; then
  go build -o "$W/nullbulk" ./scripts/bench.d/nullbulk
  "$W/nullbulk" -listen "${NULL_URL#http://}" 2>"$W/nullbulk.log" &
  nullpid=$!
  for _ in $(seq 1 100); do curl -fsS "$NULL_URL/" >/dev/null 2>&1 && break; sleep 0.05; done
fi

# config <sink> <group>: the shipped defaults except names, addresses and
# the admin token (which also turns on /debug/pprof). Sink nullbulk is
# sink: opensearch at the null endpoint's address.
config() {
  local url=$OS_URL sink=$1 ltopic=$TOPIC stopic='""'
  [[ $SIG == spans ]] && ltopic='""' stopic=$SPANS_TOPIC
  [[ $1 == nullbulk ]] && url=$NULL_URL sink=opensearch
  cat >"$W/$1-$2.yaml" <<YAML
admin:
  listen_address: $ADMIN
log:
  level: warn
kafka:
  brokers: ["$BROKER"]
  group: ${RUN}-$1-$2-$SIG
  logs: {topic: $ltopic}
  spans: {topic: $stopic}
  dlq_topic: ${RUN}_dlq
opensearch:
  addresses: ["$url"]
$(indices_yaml "${RUN}$1")
admin_token: {env: VIGIL_PIPELINE_ADMIN_TOKEN}
sink: $sink
${EXTRA:-}
YAML
  echo "$W/$1-$2.yaml"
}
cpu() { awk -v t="$TICK" '{printf "%.2f", ($14+$15)/t}' "/proc/$pid/stat"; }

# drain <sink> <group> [profile-seconds]: runs the pipeline until all N
# records count as indexed; sets secs, cpus, rss, anon (peak RssAnon in KiB,
# sampled every 0.1 s) and writes $W/cpu.pprof when profiling.
drain() {
  local cfg
  cfg=$(config "$1" "$2")
  local t0
  t0=$(date +%s.%N)
  "$BIN" pipeline --config "$cfg" >"$W/$1-$2.log" 2>&1 &
  pid=$!
  if [[ -n ${3:-} ]]; then
    for _ in $(seq 1 100); do curl -fsS "http://$ADMIN/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
    curl -fsS -H "Authorization: Bearer $VIGIL_PIPELINE_ADMIN_TOKEN" -o "$W/cpu.pprof" \
      "http://$ADMIN/debug/pprof/profile?seconds=$3" &
    local prof=$!
  fi
  local last=0 lastAt=$SECONDS got=0 i=0 want=$N kind=log
  [[ $SIG == spans ]] && want=$NS kind=span
  anon=0
  while :; do
    # A scrape of /metrics costs the process about 1.7 ms of CPU: every
    # 0.5 s until 90% are in, then every 0.1 s for the end's time.
    if ((i++ % 5 == 0 || got * 10 >= want * 9)); then
      got=$(metric "vigil_pipeline_documents_total{kind=\"$kind\",outcome=\"indexed\"}")
    fi
    a=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    ((${a:-0} > anon)) && anon=${a:-0}
    [[ $got -ge $want ]] && break
    watch_drain "$got" "$want" "$W/$1-$2.log"
    sleep 0.1
  done
  secs=$(calc "$(date +%s.%N) - $t0")
  cpus=$(cpu)
  rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")
  streams=$(metric vigil_pipeline_log_streams)
  [[ -n ${3:-} ]] && wait "$prof"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

# target <sink> <signal>: the CPU-s per million target, if there is one.
target() {
  case "$1 $2" in
    "nullbulk logs") echo 2.5 ;;
    "discard logs") echo 2 ;;
    *) echo "" ;;
  esac
}
# row <sink> <records>: a table row of the last drain.
row() {
  local per t verdict="no target"
  per=$(calc "$cpus * 1000000 / $2")
  t=$(target "$1" "$SIG")
  if [[ -n $t ]]; then
    verdict=$(awk -v p="$per" -v t="$t" 'BEGIN {print (p <= t ? "<= " t ": met" : "<= " t ": NOT met")}')
  fi
  rows+=("| $1 | $SIG | $2 | $(printf %.1f "$secs") | $(printf %.0f "$(calc "$2 / $secs")") | $(printf %.2f "$cpus") | $(printf %.2f "$per") | $verdict | $rss | $((anon / 1024)) | $(cut -d' ' -f1-3 /proc/loadavg) |")
}
rows=()
for s in $SINKS; do
  say "draining $N records into $s"
  drain "$s" measure
  row "$s" "$N"
  [[ $s == "$PROFILE" ]] && dsecs=$secs
done
if [[ " $SINKS " == *" nullbulk "* && $NS -gt 0 ]]; then
  say "draining $NS spans into nullbulk"
  SIG=spans
  drain nullbulk measure
  row nullbulk "$NS"
  SIG=logs
fi
if [[ " $SINKS " == *" $PROFILE "* ]]; then
  psecs=$(awk -v s="$dsecs" 'BEGIN {p = int(s * 0.8); print (p < 2 ? 2 : p)}')
  say "profiling a second $PROFILE run for ${psecs}s"
  drain "$PROFILE" profile "$psecs"
fi

# Log routing off and on: the same backlog drained into the discard sink,
# the runs alternating so that the machine's drift touches both alike.
# Routed, each resource's logs go to ss4o_logs-<service.name>-<k8s.namespace.name>
# (the backlog's 4 services, so every Kafka record spans 4 streams).
ROUTES=${VIGIL_BENCH_PIPELINE_ROUTING:-5}
route_off="log_routing: {enabled: false}"
route_on="log_routing: {dataset_attributes: [data_stream.dataset, service.name], namespace_attributes: [data_stream.namespace, k8s.namespace.name]}"
route_rows=() off_cpu=() on_cpu=()
for i in $(seq 1 "$ROUTES"); do
  for mode in off on; do
    say "routing $mode, run $i of $ROUTES: draining $N records into discard"
    if [[ $mode == off ]]; then EXTRA=$route_off; else EXTRA=$route_on; fi
    EXTRA=$EXTRA drain discard "route-$mode-$i"
    per=$(calc "$cpus * 1000000 / $N")
    if [[ $mode == off ]]; then off_cpu+=("$per"); else on_cpu+=("$per"); fi
    route_rows+=("| $i | $mode | $streams | $(printf %.1f "$secs") | $(printf %.2f "$cpus") | $(printf %.2f "$per") | $rss |")
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.4f", (v[NR/2]+v[NR/2+1])/2}'; }

cmd="${BIN#"$REPO"/} pipeline --config <the shipped defaults; names, addresses and admin_token set; sink: opensearch | discard>"
if [[ -n $SINKS ]]; then
echo "## Pipeline: a backlog in Kafka drained by \`vigil pipeline\` into OpenSearch, a null bulk endpoint and the discard sink"
echo
echo "Command: \`make bench\` runs scripts/bench.d/20-pipeline.sh. Backlog: \`$load\`"
echo "($loaded; 4 partitions, one otlp_proto batch of 2048 records per Kafka record, $CODEC, as configs/collector.yaml's"
echo "batch processor and Kafka exporter write them; 20 attributes and a 200-byte body per record)."
if [[ -n ${sloaded:-} ]]; then
  echo "Spans: \`$sload\` ($sloaded; the demo trace set: 5 spans of 3 services per trace, about 2048 spans per Kafka record)."
fi
echo "Each run is a fresh consumer group"
echo "draining it with \`$cmd\`: default bulk, fetch and memory settings. The null bulk endpoint (\`nullbulk\`) is"
echo "\`go run ./scripts/bench.d/nullbulk\` with \`sink: opensearch\` pointed at it: it answers every bulk item as OpenSearch answers a"
echo "created document (honouring filter_path), stores nothing, and runs on the same cores. Wall time from process start to the last record counted"
echo "indexed (vigil_pipeline_documents_total, scraped every 0.5 s, then every 0.1 s from 90%); CPU-s = utime+stime of the pipeline process (/proc/<pid>/stat, start-up included);"
echo "peak RSS = VmHWM, which includes the pages of the (all-components) binary mapped from disk (RssFile; start-up's are released, the rest is about 50 MiB) that the"
echo "kernel can reclaim; peak anonymous RSS (RssAnon, sampled every 0.1 s) is the process's own memory. The load average is the machine's at"
echo "the end of the run (other work shares the cores: records/s depends on it, CPU-s per million much less). Run on $(date -u +%Y-%m-%d)."
echo
echo "| sink | signal | records | wall s | records/s | pipeline CPU-s | CPU-s per million | target | peak RSS MiB | peak anonymous RSS MiB | load average |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [[ -f $W/cpu.pprof ]]; then
  [[ -n ${VIGIL_BENCH_PIPELINE_PPROF:-} ]] && cp "$W/cpu.pprof" "$VIGIL_BENCH_PIPELINE_PPROF"
  echo
  echo "Where the time goes: a CPU profile of a second $PROFILE run of the logs (\`curl -H 'Authorization: Bearer <admin_token>'"
  echo "http://<admin>/debug/pprof/profile?seconds=$psecs\`), read with \`go tool pprof -top\` (flat, then cumulative):"
  echo
  echo '```'
  go tool pprof -top -nodecount 30 "$BIN" "$W/cpu.pprof" 2>/dev/null | sed -n '/^Duration\|^Showing nodes\|flat%/,$p' | head -34
  echo
  go tool pprof -top -cum -nodecount 40 "$BIN" "$W/cpu.pprof" 2>/dev/null | sed -n '/flat%/,$p' | head -41
  echo '```'
fi
fi
if ((ROUTES > 0)); then
  moff=$(median "${off_cpu[@]}") mon=$(median "${on_cpu[@]}")
  [[ -n $SINKS ]] && echo
  echo "## Pipeline: log routing on vs off (CPU per million logs)"
  echo
  echo "Command: \`make bench\` (scripts/bench.d/20-pipeline.sh; alone: \`VIGIL_BENCH_PIPELINE_SINKS= scripts/bench.d/20-pipeline.sh\`). The backlog above"
  echo "($loaded) drained $ROUTES times each into the discard sink with"
  echo "\`$route_off\` and with \`$route_on\`, alternating, each run a fresh consumer group;"
  echo "routed, the 4 services' logs go to 4 streams ss4o_logs-<service>-shop (all 4 in every Kafka record; with the discard sink no stream is created in a cluster)."
  echo "CPU-s = utime+stime of the pipeline process, start-up included. Target: routing on within 10% of routing off."
  echo
  echo "| run | routing | streams (vigil_pipeline_log_streams) | wall s | pipeline CPU-s | CPU-s per million | peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${route_rows[@]}"
  echo
  echo "Median CPU-s per million logs: routing off $(printf %.2f "$moff"), routing on $(printf %.2f "$mon"): on/off = $(printf %.3f "$(calc "$mon / $moff")")."
fi
