#!/usr/bin/env bash
# scripts/run.sh — the README's first command (make run): the whole appliance
# on one machine. Real OpenSearch and Prometheus from scripts/infra.sh, Kafka
# embedded in `vigil all` (franz-go's kfake), `vigil setup`, sample logs from
# telemetrygen and a multi-service trace set, then a report of what was
# indexed. VIGIL_RUN_KEEP=1 leaves vigil running afterwards.
# VIGIL_RUN_SECURED=1 goes to OpenSearch through scripts/infra.sh's
# opensearch-proxy (nginx: TLS, basic auth, required client certificate):
# the pipeline, `vigil setup` and the report all connect with the CA, the
# client certificate and the password file.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
CACHE="${VIGIL_CACHE:-$REPO/.cache}"
BIN="${VIGIL_BIN:-$REPO/bin/vigil}"
ADMIN="${VIGIL_ADMIN:-127.0.0.1:8880}"
OTLP="${VIGIL_OTLP_GRPC_ENDPOINT:-127.0.0.1:4317}"
# Its own port, so a real Kafka from `make infra-up` on 9092 can stay up.
KAFKA="${VIGIL_RUN_KAFKA:-127.0.0.1:19092}"
OPENSEARCH="${VIGIL_TEST_OPENSEARCH:-http://127.0.0.1:9200}"
PROMETHEUS="${VIGIL_TEST_PROMETHEUS:-http://127.0.0.1:9090}"
LOGS="${VIGIL_RUN_LOGS:-2000}"
TRACES="${VIGIL_RUN_TRACES:-100}"
RUN_DIR="$CACHE/run"
LOG_FILE="$CACHE/logs/vigil-all.log"
mkdir -p "$RUN_DIR" "$CACHE/logs"

say() { printf 'run: %s\n' "$*" >&2; }
die() { printf 'run: error: %s\n' "$*" >&2; exit 1; }

export VIGIL_ADMIN="$ADMIN" VIGIL_OTLP_GRPC_ENDPOINT="$OTLP"
export VIGIL_OTLP_HTTP_ENDPOINT="${VIGIL_OTLP_HTTP_ENDPOINT:-127.0.0.1:4318}"
export VIGIL_COLLECTOR_QUEUE_DIR="${VIGIL_COLLECTOR_QUEUE_DIR:-$CACHE/data/collector-queue}"
export VIGIL_EMBEDDED_KAFKA=true VIGIL_EMBEDDED_KAFKA_ADDRESS="$KAFKA" VIGIL_KAFKA_BROKERS="$KAFKA"
# curl and the report reach OpenSearch with these (empty: plain HTTP).
CURL_OS=() REPORT_OS=()
if [[ ${VIGIL_RUN_SECURED:-0} == 1 ]]; then
  scripts/infra.sh up opensearch opensearch-proxy prometheus
  OPENSEARCH="${VIGIL_TEST_OPENSEARCH_PROXY:-https://127.0.0.1:9243}"
  tls="$CACHE/tls"
  export VIGIL_OPENSEARCH_USERNAME=vigil VIGIL_OPENSEARCH_PASSWORD_FILE="$CACHE/opensearch-proxy/password"
  export VIGIL_OPENSEARCH_CA_FILE="$tls/ca.crt" VIGIL_OPENSEARCH_CERT_FILE="$tls/opensearch-client.crt" VIGIL_OPENSEARCH_KEY_FILE="$tls/opensearch-client.key"
  CURL_OS=(--cacert "$VIGIL_OPENSEARCH_CA_FILE" --cert "$VIGIL_OPENSEARCH_CERT_FILE" --key "$VIGIL_OPENSEARCH_KEY_FILE"
    -u "vigil:$(<"$VIGIL_OPENSEARCH_PASSWORD_FILE")")
  REPORT_OS=(--username vigil --password-file "$VIGIL_OPENSEARCH_PASSWORD_FILE" --ca-file "$VIGIL_OPENSEARCH_CA_FILE"
    --cert-file "$VIGIL_OPENSEARCH_CERT_FILE" --key-file "$VIGIL_OPENSEARCH_KEY_FILE")
  say "OpenSearch through the TLS + basic-auth proxy at $OPENSEARCH"
else
  scripts/infra.sh up opensearch prometheus
fi
export VIGIL_OPENSEARCH_URL="$OPENSEARCH" VIGIL_PROMETHEUS_URL="$PROMETHEUS"
# Dashboards APM (docs/apm.md): the application map and RED metrics by
# remote write, in 10 s windows so that the report has them soon.
export VIGIL_APM_ENABLED=true VIGIL_APM_REMOTE_WRITE_URL="$PROMETHEUS/api/v1/write" VIGIL_APM_WINDOW="${VIGIL_APM_WINDOW:-10s}"
# The detector's per-service targets: the trace set's environment only.
export VIGIL_APM_ENVIRONMENTS="${VIGIL_APM_ENVIRONMENTS:-demo}"
# vigil all is one process in one scrape job ("vigil" below): the detector's
# liveness rules watch that job for every component.
export VIGIL_COLLECTOR_SCRAPE_JOB=vigil VIGIL_PIPELINE_SCRAPE_JOB=vigil VIGIL_DETECTOR_SCRAPE_JOB=vigil VIGIL_ALERTING_SCRAPE_JOB=vigil
"$BIN" all --config configs/vigil.yaml --check >/dev/null

# Prometheus scrapes the one admin endpoint: Vigil's metrics and the
# collector's, which the detector's default rules watch.
targets="$CACHE/prometheus/targets"
mkdir -p "$targets"
printf '[{"targets": ["%s"], "labels": {"job": "vigil"}}]\n' "$ADMIN" >"$targets/.vigil-run.json.tmp"
mv "$targets/.vigil-run.json.tmp" "$targets/vigil-run.json"

if [[ -f $RUN_DIR/vigil-all.pid ]] && kill -0 "$(cat "$RUN_DIR/vigil-all.pid")" 2>/dev/null; then
  say "stopping the vigil all left running by an earlier run"
  kill -INT "$(cat "$RUN_DIR/vigil-all.pid")" || true
  sleep 3
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

for _ in $(seq 1 240); do
  curl -fsS "http://$ADMIN/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$LOG_FILE" >&2; die "vigil all exited"; }
  sleep 0.5
done
curl -fsS "http://$ADMIN/readyz" >/dev/null || { curl -sS "http://$ADMIN/readyz" >&2 || true; die "vigil all not ready at http://$ADMIN/readyz"; }
say "ready; running vigil setup"
"$BIN" setup --config configs/setup.yaml | sed 's/^/  /'

count() { curl -fsS "${CURL_OS[@]}" "$OPENSEARCH/$1/_count" 2>/dev/null | sed -E 's/.*"count":([0-9]+).*/\1/' || echo 0; }
logs0=$(count ss4o_logs-vigil-default); spans0=$(count otel-v1-apm-span)
apm0=$(go run ./scripts/demo apm-requests --prometheus "$PROMETHEUS" 2>/dev/null || echo 0)
say "sending $LOGS log records (telemetrygen) and $TRACES traces across frontend, checkout and payment"
telemetrygen logs --otlp-insecure --otlp-endpoint "$OTLP" --logs "$LOGS" --rate 2000 \
  --service checkout --body "order placed" --severity-text Info >/dev/null 2>&1
go run ./scripts/demo traces --otlp "$OTLP" --count "$TRACES"

echo
echo "Vigil run report"
echo "================"
go run ./scripts/demo report --opensearch "$OPENSEARCH" "${REPORT_OS[@]}" --brokers "$KAFKA" --admin "$ADMIN" \
  --prometheus "$PROMETHEUS" --want-services 3 --want-apm-requests $((apm0 + TRACES * 3)) \
  --want-logs $((logs0 + LOGS)) --want-spans $((spans0 + TRACES * 5)) --wait 3m
echo
echo "Where to look next"
echo "  admin:       http://$ADMIN/metrics  /healthz  /readyz"
echo "  OTLP:        grpc $OTLP, http $VIGIL_OTLP_HTTP_ENDPOINT"
echo "  OpenSearch:  $OPENSEARCH (point OpenSearch Dashboards here: Trace Analytics reads otel-v1-apm-*, Logs reads ss4o_logs-*)"
if [[ -n ${VIGIL_DASHBOARDS_URL:-} ]]; then
  echo "  Dashboards:  $VIGIL_DASHBOARDS_URL/app/dashboards#/view/vigil-pipeline-and-incidents (imported by vigil setup)"
else
  echo "  Dashboards:  set VIGIL_DASHBOARDS_URL and re-run for vigil setup to import the index patterns, searches and"
  echo "               the \"Vigil — pipeline and incidents\" dashboard (configs/dashboards)"
fi
echo "  Prometheus:  $PROMETHEUS/graph?g0.expr=vigil_pipeline_records_total"
echo "  APM:         ${VIGIL_DASHBOARDS_URL:-<dashboards>}/app/observability-apm-services#/services (Dashboards 3.6+; setup in docs/apm.md)"
echo "  Slack:       no token set, so the console notifier logs what it would post:"
grep -E 'console|would post' "$LOG_FILE" | tail -n 5 | sed 's/^/               /' || echo "               (nothing to post: no target left HEALTHY)"
echo "  vigil log:   $LOG_FILE"
[[ ${VIGIL_RUN_KEEP:-0} == 1 ]] && echo "  running:     pid $pid (kill -INT $pid to stop)"
exit 0
