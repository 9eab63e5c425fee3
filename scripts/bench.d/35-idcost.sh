#!/usr/bin/env bash
# Macro run: the price of exactly-once in OpenSearch. scripts/bench.d/idcost
# indexes the same Vigil log documents into fresh logs data streams with the
# pipeline's explicit _id + create and with automatic ids, and reports the
# OpenSearch process's CPU-seconds per million documents for each. Prints a
# markdown section.
# Environment: VIGIL_BENCH_IDCOST_RECORDS (default 300000 per run),
# VIGIL_BENCH_IDCOST_ROUNDS (2 rounds of the three kinds of id).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
N=${VIGIL_BENCH_IDCOST_RECORDS:-300000}
ROUNDS=${VIGIL_BENCH_IDCOST_ROUNDS:-2}
OS_URL="${VIGIL_TEST_OPENSEARCH:-http://127.0.0.1:9200}"
PIDFILE="${VIGIL_CACHE:-$REPO/.cache}/run/opensearch.pid"
say() { printf 'bench 35-idcost: %s\n' "$*" >&2; }
[[ -f $PIDFILE ]] || { say "no $PIDFILE: OpenSearch must be started by scripts/infra.sh"; exit 1; }
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
go build -o "$W/idcost" ./scripts/bench.d/idcost
cmd="go run ./scripts/bench.d/idcost -opensearch $OS_URL -pid <opensearch pid> -records $N -rounds $ROUNDS"
say "$cmd"
"$W/idcost" -opensearch "$OS_URL" -pid "$(cat "$PIDFILE")" -records "$N" -rounds "$ROUNDS" >"$W/out.txt"
ver=$(curl -fsS "$OS_URL/" | awk -F'"' '/"number"/ {print $4}')
echo "## The price of exactly-once: OpenSearch's CPU with explicit ids and with automatic ids"
echo
echo "Command: \`make bench\` runs scripts/bench.d/35-idcost.sh: \`$cmd\`. OpenSearch $ver, one node, the shipped logs template"
echo "(1 shard, 0 replicas, refresh_interval 1s). Each run indexes the same $N Vigil log documents (internal/demo.Logs rendered by"
echo "pipeline/document: 20 attributes, a 200-byte body, about 1.2 KB) into a fresh data stream in bulks of 5000, then refreshes;"
echo "CPU-s = utime+stime of the OpenSearch process over the run (its own background work included). \"ids\" is what the pipeline"
echo "sends: \`create\` with the content-derived 32-hex-digit \`_id\` (so a redelivered record is a 409, not a duplicate);"
echo "\"auto\" is \`create\` without \`_id\` (OpenSearch makes a time-based id and can skip the lookup for an existing one);"
echo "\"ordered\" is \`create\` with a deterministic id that sorts by time: the event time's 16 hex digits, then 16 of the content id."
echo "Store bytes: the data stream's primary store after the run (_stats/store; not force-merged)."
echo "Runs alternate so that the machine's other load falls on all. Run on $(date -u +%Y-%m-%d); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| run | ids | documents | wall s | docs/s | OpenSearch CPU-s | CPU-s per million documents | store bytes per document |"
echo "|---|---|---|---|---|---|---|---|"
i=0
while read -r line; do
  i=$((i + 1))
  get() { tr ' ' '\n' <<<"$line" | awk -F= -v k="$1" '$1 == k {print $2}'; }
  echo "| $i | $(get mode) | $(get records) | $(get secs) | $(get docs_per_s) | $(get opensearch_cpu_s) | $(get cpu_s_per_million) | $(get store_bytes_per_doc) |"
done <"$W/out.txt"
awk '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]} s[v["mode"]] += v["cpu_s_per_million"]; n[v["mode"]]++}
  END {if (n["ids"] && n["auto"]) printf "\nMean CPU-s per million documents: explicit ids %.2f, automatic ids %.2f, time-ordered ids %.2f: explicit ids cost %+.0f%% against automatic ones.\n",
    s["ids"]/n["ids"], s["auto"]/n["auto"], (n["ordered"] ? s["ordered"]/n["ordered"] : 0), (s["ids"]/n["ids"] / (s["auto"]/n["auto"]) - 1) * 100}' "$W/out.txt"
