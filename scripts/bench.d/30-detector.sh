#!/usr/bin/env bash
# Macro run: the real `vigil detector` with 1,000 rules at a 15 s interval
# against the real Prometheus (rules over Prometheus' own metrics, which it
# scrapes from itself) and publishing on the real Kafka. After a warm-up it
# measures, over a fixed window, the detector process's CPU (utime+stime from
# /proc/<pid>/stat) as % of one core and the rule evaluation latency
# percentiles from its vigil_detector_rule_evaluation_duration_seconds histogram.
# Prints a markdown section.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
BIN="${VIGIL_BIN:-$REPO/bin/vigil}"
PROM="${VIGIL_TEST_PROMETHEUS:-http://127.0.0.1:9090}"
BROKER="${VIGIL_TEST_KAFKA:-127.0.0.1:9092}"
TARGETS=100 PER_TARGET=10 INTERVAL=15s
RULES=$((TARGETS * PER_TARGET))
WARMUP="${VIGIL_BENCH_DETECTOR_WARMUP:-30}"
MEASURE="${VIGIL_BENCH_DETECTOR_SECONDS:-180}"
TICK=$(getconf CLK_TCK)
SUFFIX="bench.$(date +%s)"
W="$(mktemp -d)"
say() { printf 'bench: %s\n' "$*" >&2; }
calc() { awk "BEGIN {printf \"%.4f\", $1}"; } # no bc on a new machine

# A free loopback port for the admin server (other processes may hold the
# usual ones).
port=18883
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
ADMIN="127.0.0.1:$port"

# Ten rule shapes a platform team writes over a Prometheus server's own
# metrics: instant selectors, rates over ranges, a histogram quantile, a
# ratio. Each of the 100 targets has all ten, with its own thresholds, so
# every rule is evaluated on its own, as users' rules are.
exprs=(
  'max(up{job="prometheus"})||< 1'
  'sum(rate(prometheus_http_requests_total{job="prometheus",code=~"5.."}[1m])) or vector(0)|> 10|> 100'
  'histogram_quantile(0.99, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket{job="prometheus"}[1m])))|> 1|> 5'
  'max(process_resident_memory_bytes{job="prometheus"})|> 4e9|> 8e9'
  'max(rate(process_cpu_seconds_total{job="prometheus"}[1m]))|> 1|> 1.5'
  'max(go_goroutines{job="prometheus"})|> 5000|> 20000'
  'sum(rate(prometheus_tsdb_head_samples_appended_total{job="prometheus"}[1m]))||< 0'
  'max(prometheus_tsdb_head_series{job="prometheus"})|> 5e6|> 1e7'
  '(sum(rate(prometheus_http_requests_total{job="prometheus",code=~"5.."}[5m])) or vector(0)) / clamp_min(sum(rate(prometheus_http_requests_total{job="prometheus"}[5m])), 1)|> 0.01|> 0.05'
  'max(scrape_duration_seconds)|> 2|> 4'
)
{
  cat <<EOF
admin: {listen_address: "$ADMIN"}
log: {level: warn}
instance: bench
prometheus: {url: "$PROM"}
kafka:
  brokers: ["$BROKER"]
  health_topic: vigil.health.$SUFFIX
  leader_topic: vigil.detector.leader.$SUFFIX
  group: vigil-detector-$SUFFIX
  transactional_id: vigil-detector-$SUFFIX
defaults: {interval: $INTERVAL}
targets:
EOF
  for ((t = 0; t < TARGETS; t++)); do
    printf '  - name: bench-%03d\n    rules:\n' "$t"
    for ((r = 0; r < PER_TARGET; r++)); do
      IFS='|' read -r expr caution critical <<<"${exprs[$r]}"
      printf "      - name: r%d\n        expr: '%s'\n" "$r" "$expr"
      if [[ -n $caution ]]; then printf '        caution: "%s"\n' "$caution"; fi
      if [[ -n $critical ]]; then printf '        critical: "%s"\n' "$critical"; fi
    done
  done
} >"$W/detector.yaml"

"$BIN" detector --config "$W/detector.yaml" >"$W/detector.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$W"' EXIT
metrics() { curl -fsS "http://$ADMIN/metrics"; }
for _ in $(seq 1 240); do
  [[ $(metrics 2>/dev/null | awk '$1 == "vigil_detector_leader" {print $2}') == 1 ]] && break
  # An exited child stays a zombie (state Z) until waited for.
  if [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == [ZX]* ]] || ! kill -0 "$pid" 2>/dev/null; then
    cat "$W/detector.log" >&2
    exit 1
  fi
  sleep 0.5
done
say "detector: $RULES rules every $INTERVAL; warm-up ${WARMUP}s, then measuring ${MEASURE}s"
sleep "$WARMUP"
cpu() { awk -v t="$TICK" '{printf "%.2f", ($14+$15)/t}' "/proc/$pid/stat"; }
H=vigil_detector_rule_evaluation_duration_seconds
cpu0=$(cpu); t0=$(date +%s.%N); metrics >"$W/m0"
sleep "$MEASURE"
cpu1=$(cpu); t1=$(date +%s.%N); metrics >"$W/m1"
load=$(cut -d' ' -f1-3 /proc/loadavg)
rss=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")
secs=$(calc "$t1 - $t0")
counter() { awk -v n="$1" -v l="$2" 'index($1, n) == 1 && index($1, l) {s += $NF} END {printf "%d", s}' "$3"; }
evals() { echo $(($(counter vigil_detector_rule_evaluations_total "result=\"$1\"" "$W/m1") - $(counter vigil_detector_rule_evaluations_total "result=\"$1\"" "$W/m0"))); }
ok=$(evals ok) nodata=$(evals no_data) errs=$(evals error)
# Percentiles from the histogram's bucket increases over the window,
# interpolated linearly within a bucket as histogram_quantile does; max is
# the upper bound of the highest bucket that grew.
pct() {
  awk -v h="${H}_bucket" -v q="$1" '
    FNR == 1 { f++ }
    index($1, h "{") == 1 {
      match($1, /le="[^"]+"/); le = substr($1, RSTART + 4, RLENGTH - 5)
      if (f == 1) { a[le] = $NF } else { b[le] = $NF; order[++n] = le }
    }
    END {
      total = b["+Inf"] - a["+Inf"]
      if (total <= 0) { print "n/a"; exit }
      prev = 0; prevc = 0
      for (i = 1; i <= n; i++) {
        le = order[i]; c = b[le] - a[le]
        if (q == "max") { if (c > prevc) m = le; prevc = c; continue }
        if (c >= q * total) {
          if (le == "+Inf") { printf "> %s s", prev; exit }
          frac = (c == prevc) ? 1 : (q * total - prevc) / (c - prevc)
          printf "%.1f ms", (prev + (le - prev) * frac) * 1000; exit
        }
        prev = le; prevc = c
      }
      if (q == "max") { if (m == "+Inf") printf "> %s s", prev; else printf "<= %.1f ms", m * 1000 }
    }' "$W/m0" "$W/m1"
}
sum() { awk -v n="$1" '$1 == n {print $NF}' "$W/m$2"; }
mean=$(calc "($(sum "${H}_sum" 1) - $(sum "${H}_sum" 0)) * 1000 / ($(sum "${H}_count" 1) - $(sum "${H}_count" 0))")
echo "## Detector: $RULES rules every $INTERVAL on real Prometheus"
echo
echo "Command: \`make bench\` runs scripts/bench.d/30-detector.sh: \`vigil detector\` with a generated file of $TARGETS targets x"
echo "$PER_TARGET rules (PromQL over Prometheus' own metrics: selectors, rates, a histogram quantile, a ratio), every rule at"
echo "interval $INTERVAL, on the real Prometheus ($PROM) and Kafka; ${WARMUP}s warm-up, then a ${MEASURE}s window. CPU is"
echo "utime+stime of the detector process from /proc/<pid>/stat over the window; latencies are one rule's query, from"
echo "the detector's \`$H\` histogram (bucket-interpolated)."
echo
echo "| rules | window s | evaluations ok / no data / error | evaluations/s | detector CPU % of one core | p50 | p90 | p99 | max | mean | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '| %d | %.0f | %d / %d / %d | %.1f | %.2f | %s | %s | %s | %s | %.1f ms | %s |\n' "$RULES" "$secs" "$ok" "$nodata" "$errs" \
  "$(calc "($ok + $nodata + $errs) / $secs")" "$(calc "($cpu1 - $cpu0) * 100 / $secs")" \
  "$(pct 0.5)" "$(pct 0.9)" "$(pct 0.99)" "$(pct max)" "$mean" "$rss"
echo
echo "Prometheus, Kafka and the detector share the machine's $(nproc) cores (load average $load at the end of the"
echo "window); the target is under 5% of one core."
