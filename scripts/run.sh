#!/usr/bin/env bash
# scripts/run.sh — the README's first command (make run): run `vigil all`
# against the real servers from scripts/infra.sh, send sample logs and traces
# with telemetrygen, and print what arrived. Set VIGIL_RUN_KEEP=1 to leave
# vigil running afterwards (stop it with: kill $(cat .cache/run/vigil-all.pid)).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CACHE="${VIGIL_CACHE:-$REPO/.cache}"
BIN="${VIGIL_BIN:-$REPO/bin/vigil}"
ADMIN="${VIGIL_ADMIN:-127.0.0.1:8880}"
OTLP="${VIGIL_OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}"
LOGS="${VIGIL_RUN_LOGS:-2000}"
TRACES="${VIGIL_RUN_TRACES:-200}"
RUN_DIR="$CACHE/run"
LOG_FILE="$CACHE/logs/vigil-all.log"
mkdir -p "$RUN_DIR" "$CACHE/logs"

say() { printf 'run: %s\n' "$*" >&2; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

export VIGIL_ADMIN="$ADMIN" VIGIL_OTLP_GRPC_ENDPOINT="$OTLP"
export VIGIL_OTLP_HTTP_ENDPOINT="${VIGIL_OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}"
export VIGIL_COLLECTOR_QUEUE_DIR="${VIGIL_COLLECTOR_QUEUE_DIR:-$CACHE/data/collector-queue}"
export VIGIL_KAFKA_BROKERS="${VIGIL_TEST_KAFKA:-127.0.0.1:9092}"

"$BIN" all --config configs/vigil.yaml --check >/dev/null

if [[ -f $RUN_DIR/vigil-all.pid ]] && kill -0 "$(cat "$RUN_DIR/vigil-all.pid")" 2>/dev/null; then
  say "stopping the vigil all left running by an earlier run"
  kill -INT "$(cat "$RUN_DIR/vigil-all.pid")" || true
  sleep 2
fi
say "starting vigil all (log: $LOG_FILE)"
"$BIN" all --config configs/vigil.yaml >"$LOG_FILE" 2>&1 &
pid=$!
echo "$pid" >"$RUN_DIR/vigil-all.pid"
cleanup() {
  if [[ ${VIGIL_RUN_KEEP:-0} != 1 ]] && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"; wait "$pid" || true
  fi
}
trap cleanup EXIT

for _ in $(seq 1 120); do
  curl -fsS "http://$ADMIN/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$LOG_FILE" >&2; die "vigil all exited"; }
  sleep 0.5
done
curl -fsS "http://$ADMIN/readyz" >/dev/null || die "vigil all not ready at http://$ADMIN/readyz"
say "ready; sending $LOGS logs and $TRACES traces with telemetrygen"

telemetrygen logs --otlp-insecure --otlp-endpoint "$OTLP" --logs "$LOGS" --rate 2000 \
  --service checkout --body "order placed" >/dev/null 2>&1
telemetrygen traces --otlp-insecure --otlp-endpoint "$OTLP" --traces "$TRACES" --child-spans 2 --rate 200 \
  --service frontend >/dev/null 2>&1

metric() { # sum of a counter's series on the admin endpoint
  curl -fsS "http://$ADMIN/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s+=$NF} END {printf "%d", s}'
}
want_logs=$LOGS want_spans=$((TRACES * 3))
for _ in $(seq 1 60); do
  [[ $(metric otelcol_exporter_sent_log_records_total) -ge $want_logs && $(metric otelcol_exporter_sent_spans_total) -ge $want_spans ]] && break
  sleep 0.5
done

echo
echo "Vigil run report"
echo "  admin:            http://$ADMIN (/metrics, /healthz, /readyz)"
echo "  OTLP:             grpc $OTLP, http $VIGIL_OTLP_HTTP_ENDPOINT"
printf '  log records:      %s accepted, %s sent to Kafka (%s sent by telemetrygen)\n' \
  "$(metric otelcol_receiver_accepted_log_records_total)" "$(metric otelcol_exporter_sent_log_records_total)" "$want_logs"
printf '  spans:            %s accepted, %s sent to Kafka (%s sent by telemetrygen)\n' \
  "$(metric otelcol_receiver_accepted_spans_total)" "$(metric otelcol_exporter_sent_spans_total)" "$want_spans"
for topic in otlp_logs otlp_spans; do
  n=$(kcat -b "$VIGIL_KAFKA_BROKERS" -C -t "$topic" -e -q -f '%o\n' 2>/dev/null | wc -l)
  printf '  kafka %-11s %s Kafka records (OTLP batches) in the topic so far\n' "$topic:" "$n"
done
echo "  vigil log:        $LOG_FILE"
[[ ${VIGIL_RUN_KEEP:-0} == 1 ]] && echo "  still running:    pid $pid (kill -INT $pid to stop)"
[[ $(metric otelcol_exporter_sent_log_records_total) -ge $want_logs ]] || die "not every log record reached Kafka"
