#!/usr/bin/env bash
# Macro run: telemetrygen -> vigil collector (shipped configs/collector.yaml)
# -> real Kafka. Reports records/s, the collector process's CPU-seconds per
# million log records and its peak RSS. Prints a markdown section.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
BIN="${VIGIL_BIN:-$REPO/bin/vigil}"
N_WORKERS=4 PER_WORKER=${VIGIL_BENCH_COLLECTOR_LOGS:-125000} RATE=50000
TOTAL=$((N_WORKERS * PER_WORKER))
TOPIC="bench_otlp_logs_$(date +%s)"
TICK=$(getconf CLK_TCK)
Q="$(mktemp -d)"
export VIGIL_LOGS_TOPIC="$TOPIC" VIGIL_SPANS_TOPIC="${TOPIC/logs/spans}" VIGIL_COLLECTOR_QUEUE_DIR="$Q"
export VIGIL_KAFKA_BROKERS="${VIGIL_TEST_KAFKA:-127.0.0.1:9092}"
export VIGIL_OTLP_GRPC_ENDPOINT=127.0.0.1:14317 VIGIL_OTLP_HTTP_ENDPOINT=127.0.0.1:14318 VIGIL_COLLECTOR_ADMIN=127.0.0.1:18881
export VIGIL_COLLECTOR_HEALTH_ENDPOINT=127.0.0.1:23133 VIGIL_COLLECTOR_METRICS_ENDPOINT=127.0.0.1:18889 VIGIL_COLLECTOR_TELEMETRY_PORT=18888
"$BIN" collector --config configs/collector.yaml >"$Q/collector.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$Q"' EXIT
for _ in $(seq 1 120); do curl -fsS http://127.0.0.1:18881/readyz >/dev/null 2>&1 && break; sleep 0.5; done
cpu() { awk -v t="$TICK" '{printf "%.2f", ($14+$15)/t}' "/proc/$pid/stat"; }
sent() { curl -fsS http://127.0.0.1:18881/metrics | awk '$1 ~ /^otelcol_exporter_sent_log_records_total/ {s+=$NF} END {printf "%d", s}'; }
cpu0=$(cpu); t0=$(date +%s.%N)
gen="telemetrygen logs --otlp-insecure --otlp-endpoint 127.0.0.1:14317 --workers $N_WORKERS --logs $PER_WORKER --rate $RATE --body <200 bytes>"
telemetrygen logs --otlp-insecure --otlp-endpoint 127.0.0.1:14317 --workers "$N_WORKERS" --logs "$PER_WORKER" --rate "$RATE" \
  --body "$(head -c 200 /dev/zero | tr '\0' 'x')" >/dev/null 2>&1
for _ in $(seq 1 600); do [[ $(sent) -ge $TOTAL ]] && break; sleep 0.2; done
t1=$(date +%s.%N); cpu1=$(cpu); got=$(sent)
rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")
calc() { awk "BEGIN {printf \"%.4f\", $1}"; } # no bc on a new machine
secs=$(calc "$t1 - $t0")
echo "## Collector: telemetrygen -> vigil collector -> Kafka"
echo
echo "Command: \`make bench\` runs scripts/bench.d/10-collector.sh: \`vigil collector --config configs/collector.yaml\`"
echo "(persistent queue on, zstd, acks=all) on real Kafka; load: \`$gen\`."
echo
echo "| log records sent to Kafka | wall s | records/s | collector CPU-s | CPU-s per million | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
printf '| %d of %d | %.1f | %.0f | %.2f | %.2f | %s |\n' "$got" "$TOTAL" "$secs" "$(calc "$got / $secs")" \
  "$(calc "$cpu1 - $cpu0")" "$(calc "($cpu1 - $cpu0) * 1000000 / $got")" "$rss"
echo
echo "telemetrygen runs on the same 2 cores and is rate-limited to $((N_WORKERS * RATE))/s, so records/s is a floor, not the collector's ceiling."
