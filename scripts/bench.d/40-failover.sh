#!/usr/bin/env bash
# Macro run: the failover drill (e2e/failover_drill_test.go) on real Kafka,
# primary and standby OpenSearch and Prometheus, with vigil collector,
# pipeline, detector and alerting processes: the primary is SIGKILLed under
# load. Prints the drill's timings (primary death -> Slack post, -> first
# document on the standby) and timeline as a markdown section.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
scripts/infra.sh up kafka opensearch opensearch-standby prometheus >&2
eval "$(scripts/env.sh)"
REPORT="$(mktemp)" LOG="$(mktemp)"
trap 'rm -f "$REPORT" "$LOG"' EXIT
cmd="go test -count=1 -tags e2e -run '^TestFailoverDrill\$' -v -timeout 20m ./e2e/"
export VIGIL_BIN="${VIGIL_BIN:-$REPO/bin/vigil}" VIGIL_DRILL_REPORT="$REPORT" CI=true
if eval "$cmd" >"$LOG" 2>&1; then
  cat "$REPORT"
else
  echo "## Failover drill: primary OpenSearch SIGKILLed under load"
  echo
  echo "The drill failed (\`$cmd\`), so there are no timings; its last lines:"
  echo
  echo '```'
  grep -v '^        ' "$LOG" | tail -40
  echo '```'
fi
