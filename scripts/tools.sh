#!/usr/bin/env bash
# scripts/tools.sh — install the command-line tools Vigil's tests drive.
#
# usage: scripts/tools.sh [tool...]      (default: kcat telemetrygen)
#   kcat          Kafka CLI (Debian package)
#   telemetrygen  OTLP load generator (go install, pinned)
#   helm          Helm 3 CLI (go install, pinned; compiling it takes minutes,
#                 so only when asked for by name or with `all`)
#   all           everything above
#
# Go-built tools land in $VIGIL_CACHE/bin (default <repo>/.cache/bin), which
# scripts/env.sh puts on PATH. Idempotent: a tool already present (on PATH
# or in the cache bin dir) is skipped.
#
# Versions are pinned because the Go module proxy these machines reach is a
# filtered mirror: "@latest" can resolve to something it does not serve.
#   VIGIL_TELEMETRYGEN_VERSION [v0.161.0]  VIGIL_HELM_VERSION [v3.22.0]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VIGIL_CACHE:-$REPO/.cache}"
BIN="$CACHE/bin"

TELEMETRYGEN_VERSION="${VIGIL_TELEMETRYGEN_VERSION:-v0.161.0}"
HELM_VERSION="${VIGIL_HELM_VERSION:-v3.22.0}"

log() { printf 'tools: %s\n' "$*" >&2; }
die() { printf 'tools: error: %s\n' "$*" >&2; exit 1; }

have() { [[ -x $BIN/$1 ]] || command -v "$1" >/dev/null; }

# Output is shown only on failure: apt and go are chatty when they succeed.
run_quiet() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" | tail -n 30 >&2
    return 1
  fi
}

APT_UPDATED=0
apt_install() {
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt: updating package lists"
    DEBIAN_FRONTEND=noninteractive run_quiet apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt: installing $*"
  DEBIAN_FRONTEND=noninteractive run_quiet apt-get install -y -qq --no-install-recommends "$@"
}

# go_install NAME PACKAGE@VERSION: build into the cache bin dir. Run from a
# scratch dir so the repo's own go.mod never enters into it.
go_install() {
  local name=$1 pkg=$2 t0=$SECONDS
  command -v go >/dev/null || die "$name: go not found"
  mkdir -p "$BIN"
  log "$name: go install $pkg (into $BIN)"
  (cd / && GOBIN="$BIN" run_quiet go install "$pkg") ||
    die "$name: go install $pkg failed"
  log "$name: installed ($((SECONDS - t0))s)"
}

install_kcat() {
  have kcat && { log "kcat: present"; return 0; }
  local t0=$SECONDS
  apt_install kcat
  log "kcat: installed ($((SECONDS - t0))s)"
}

install_telemetrygen() {
  have telemetrygen && { log "telemetrygen: present"; return 0; }
  go_install telemetrygen \
    "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@$TELEMETRYGEN_VERSION"
}

install_helm() {
  have helm && { log "helm: present"; return 0; }
  go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

main() {
  local -a tools=("$@") t
  [[ ${#tools[@]} -gt 0 ]] || tools=(kcat telemetrygen)
  [[ " ${tools[*]} " == *" all "* ]] && tools=(kcat telemetrygen helm)
  for t in "${tools[@]}"; do
    case $t in
      kcat) install_kcat ;;
      telemetrygen) install_telemetrygen ;;
      helm) install_helm ;;
      -h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
      *) die "unknown tool '$t' (kcat telemetrygen helm all)" ;;
    esac
  done
}

main "$@"
