#!/usr/bin/env bash
# scripts/bench.sh — make bench: Go benchmarks, then every macro run in
# scripts/bench.d/*.sh (each prints a markdown section), written to
# docs/benchmarks.md with the command behind every figure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="${VIGIL_BENCH_OUT:-docs/benchmarks.md}"
TMP="$(mktemp)"
trap 'rm -f "$TMP"' EXIT
say() { printf 'bench: %s\n' "$*" >&2; }

pkgs=$(grep -rl --include='*_test.go' '^func Benchmark' . | xargs -r -n1 dirname | sort -u | sed 's#^\./#./#')
gocmd="go test -run '^\$' -bench . -benchmem -count 5 $(echo "$pkgs" | tr '\n' ' ')"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh); do not edit by hand. Machine: $(nproc) cores,"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | awk '{print $3}'), $(date -u +%Y-%m-%d)."
  echo "No test asserts a time: these figures are measured here and only reported."
  echo
  echo "## Go benchmarks"
  echo
  if [[ -n $pkgs ]]; then
    say "go benchmarks: $gocmd"
    echo "Command: \`$gocmd\`"
    echo
    echo '```'
    eval "$gocmd" 2>&1 | grep -E '^(Benchmark|goos|goarch|cpu|pkg)' || true
    echo '```'
  else
    echo "No Go benchmarks yet."
  fi
  for m in scripts/bench.d/*.sh; do
    [[ -e $m ]] || continue
    say "macro run: $m"
    echo
    bash "$m"
  done
} >"$TMP"
mv "$TMP" "$OUT"
trap - EXIT
say "wrote $OUT"
