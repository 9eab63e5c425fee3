#!/usr/bin/env bash
# scripts/bench.sh — make bench: Go benchmarks, then every macro run in
# scripts/bench.d/*.sh (each prints a markdown section), written to
# docs/benchmarks.md with the command behind every figure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="${VIGIL_BENCH_OUT:-docs/benchmarks.md}"
TMP="$(mktemp)"
PROF="$(mktemp -d)"
trap 'rm -rf "$TMP" "$PROF"' EXIT
say() { printf 'bench: %s\n' "$*" >&2; }

# Micro benchmarks: every Benchmark that needs no server, five runs each.
micro="go test -run '^\$' -bench . -benchmem -count 5 ./pipeline/document/"
# The profile behind the span figure; <tmp> is a temporary directory for the
# profile and the test binary go test keeps with it.
spanprof="go test -run '^\$' -bench '^BenchmarkSpans\$' -benchtime 3s -count 1 -cpuprofile <tmp>/spans.prof -o <tmp>/document.test ./pipeline/document/ >/dev/null && go tool pprof -top -nodecount 20 <tmp>/document.test <tmp>/spans.prof"
# Reading bulk answers: the scan against encoding/json.
bulkmicro="go test -run '^\$' -bench BulkResults -benchmem -count 3 ./pipeline/opensearch/"
# Macro benchmarks on the real Kafka and OpenSearch: one run of a fixed size.
macro="go test -run '^\$' -bench AtLag -benchtime ${VIGIL_BENCH_AT_LAG:-100000}x -count 1 ./pipeline/"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh); do not edit by hand. Machine: $(nproc) cores,"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | awk '{print $3}'), $(date -u +%Y-%m-%d)."
  echo "No test asserts a time: these figures are measured here and only reported."
  echo
  echo "## Document building (Go benchmarks)"
  echo
  echo "Realistic records: 20 attributes, 200-byte body. Command: \`$micro\`"
  echo "Spans: 20 attributes and an event each, rendered with their trace group; BenchmarkSpans from the wire bytes (SpansOTLP),"
  echo "BenchmarkSpansPdata as before (pdata's decoder, then documents from pdata). Target: at most 1.5 us per span document."
  echo "cpu-ns/doc is the process's CPU (the garbage collector's included) per document, ns/doc the wall time: on a shared"
  echo "machine the wall time counts the waits for a core too."
  echo
  echo '```'
  say "micro: $micro"
  eval "$micro" 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|pkg)' || true
  echo '```'
  echo
  echo "Load average (1, 5, 15 min) after: $(awk '{print $1, $2, $3}' /proc/loadavg) on $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "Where a span document's CPU goes: BenchmarkSpans' CPU profile, the 20 heaviest functions (flat: in the function"
  echo "itself; runtime.gcBgMarkWorker, scanobject, mallocgc and the like are the garbage collector and the allocator)."
  echo "Command: \`$spanprof\`"
  echo
  echo '```'
  say "profile: $spanprof"
  eval "${spanprof//<tmp>/$PROF}" 2>&1 | sed -n '/^Showing\|flat%/,$p' | head -24 || true
  echo '```'
  echo
  echo "## Reading bulk answers (Go benchmarks)"
  echo
  echo "A bulk answer of 5000 created items, per item: as OpenSearch writes it with the pipeline's filter_path"
  echo "(errors,items.*.status,items.*.error,items.*._index) and in full; scanned (the pipeline's reading of an answer without errors)"
  echo "and decoded with encoding/json (what it did before, and still does for an answer with errors). Command: \`$bulkmicro\`"
  echo
  echo '```'
  say "micro: $bulkmicro"
  eval "$bulkmicro" 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|pkg)' || true
  echo '```'
  echo
  echo "## Pipeline draining a backlog (real Kafka -> real OpenSearch, default settings)"
  echo
  echo "docs/s and peak RSS of the draining process. Command: \`$macro\`"
  echo
  echo '```'
  say "macro: $macro"
  eval "$macro" 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|pkg)' || true
  echo '```'
  echo
  echo "BenchmarkPipelineRPCSpansAtLag/apm=false and /apm=true drain the same spans (every one a CLIENT or SERVER"
  echo "span, 20 attributes) with the pipeline's apm section off and on; the ratio of their cpu-µs/doc (the"
  echo "pipeline process's user+system CPU per span, stop included) is what Dashboards APM's derivation costs"
  echo "per span (docs/apm.md; budget: at most 20% more)."
  for m in scripts/bench.d/*.sh; do
    [[ -e $m ]] || continue
    say "macro run: $m"
    echo
    bash "$m"
  done
} >"$TMP"
mv "$TMP" "$OUT"
rm -rf "$PROF"
trap - EXIT
say "wrote $OUT"
