# scripts/bench.d/lib.bash — sourced by the macro runs in scripts/bench.d/
# (bench.sh runs only *.sh, so this file is no run of its own): what they
# share. Sourcing it moves to the repository's root and sets REPO, BIN (the
# vigil binary, built if missing), BROKER and OS_URL (the real Kafka and
# OpenSearch: VIGIL_TEST_KAFKA, VIGIL_TEST_OPENSEARCH).
# shellcheck shell=bash
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit
BIN="${VIGIL_BIN:-$REPO/bin/vigil}"
[[ -x $BIN ]] || make -s build >&2
# shellcheck disable=SC2034 # read by the runs that source this file
BROKER="${VIGIL_TEST_KAFKA:-127.0.0.1:9092}"
OS_URL="${VIGIL_TEST_OPENSEARCH:-http://127.0.0.1:9200}"

# say: progress on stderr, tagged with the run's name (stdout is the report).
say() { printf 'bench %s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# calc <expression>: awk's arithmetic to 4 decimals (no bc on a new machine).
calc() { awk "BEGIN {printf \"%.4f\", $1}"; }

# metric <prefix> [format]: the sum of the series at http://$ADMIN/metrics
# whose name and labels start with prefix, printed with format (default %d);
# 0 when the process does not answer.
metric() {
  { curl -fsS "http://$ADMIN/metrics" 2>/dev/null || true; } |
    awk -v m="$1" -v f="${2:-%d}" 'index($1, m) == 1 {s+=$NF} END {printf f, s}'
}

# wait_for <url> [tries]: until url answers 2xx, every 0.5 s, at most tries
# times (default 120); returns 0 either way: the run's own checks say what
# did not come up.
wait_for() {
  for _ in $(seq 1 "${2:-120}"); do curl -fsS "$1" >/dev/null 2>&1 && break; sleep 0.5; done
  return 0
}

# watch_drain <got> <of> <log>: ends the run (exit 1, the tail of log on
# stderr) when the pipeline ($pid) has exited, or when got has not grown
# for 3 minutes; its state is the caller's last and lastAt.
# shellcheck disable=SC2154 # pid, last and lastAt are the caller's
watch_drain() {
  if ! kill -0 "$pid" 2>/dev/null; then say "pipeline exited early:"; tail -20 "$3" >&2; exit 1; fi
  if [[ $1 -gt $last ]]; then last=$1 lastAt=$SECONDS; elif ((SECONDS - lastAt > 180)); then
    say "no progress for 3 minutes at $1 of $2"; tail -20 "$3" >&2; exit 1
  fi
}

# indices_yaml <prefix>: a pipeline configuration's indices section naming
# everything after prefix, as delete_indices removes it.
indices_yaml() {
  printf 'indices:\n  span_alias: %s-span\n  service_map: %s-servicemap\n  logs_data_stream: %s_logs-vigil-default\n' "$1" "$1" "$1"
}

# delete_indices <prefix>: what a pipeline with indices.span_alias
# <prefix>-span, service_map <prefix>-servicemap and logs_data_stream
# <prefix>_logs-vigil-default leaves in OpenSearch: the data stream, the
# indices, their templates and ISM policies. What is not there is skipped.
delete_indices() {
  local p=$1 t
  curl -fsS -XDELETE "$OS_URL/_data_stream/${p}_logs-vigil-default" >/dev/null 2>&1 || true
  curl -fsS -XDELETE "$OS_URL/${p}-span-*,${p}-servicemap?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true" >/dev/null 2>&1 || true
  for t in "${p}-span-template" "${p}-servicemap-template" "${p}_logs-template"; do
    curl -fsS -XDELETE "$OS_URL/_index_template/$t" >/dev/null 2>&1 || true
  done
  for t in "${p}-span-policy" "${p}_logs-policy"; do
    curl -fsS -XDELETE "$OS_URL/_plugins/_ism/policies/$t" >/dev/null 2>&1 || true
  done
}
