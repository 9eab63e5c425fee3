#!/usr/bin/env bash
# scripts/infra.sh — provision and run the real servers Vigil's tests talk to:
# Apache Kafka (KRaft), OpenSearch (primary + optional standby) and
# Prometheus, all bound to 127.0.0.1 and all living under the git-ignored
# cache dir ($VIGIL_CACHE, default <repo>/.cache).
#
# usage: scripts/infra.sh VERB [server...]
#   up      [server...]  install if needed, start what is not running, wait until ready
#   down    [server...]  stop (SIGTERM, then SIGKILL after a grace period)
#   status  [server...]  one line per server; exit 1 if any requested server is down
#   start   server...    like up, but a server must be named (tests: end an outage)
#   stop    server...    like down, but a server must be named (tests: begin an outage)
#   restart server...    stop then start
#   kill    server...    SIGKILL (tests: simulate a crash); data stays on disk
#   install [server...]  download / install only
#   wipe    server...    stop and delete the server's data and logs
#
# servers: kafka opensearch opensearch-standby prometheus
#          opensearch-2 opensearch-2-standby  (the same pair on the 2.x line,
#          VIGIL_OPENSEARCH2_VERSION: `make test` runs the OpenSearch-facing
#          integration tests against them too)
#          opensearch-proxy  (Debian's nginx in front of opensearch and
#          opensearch-standby: TLS, HTTP basic auth and a required client
#          certificate, see "opensearch-proxy" below)
#          kafka-1 kafka-2 kafka-3
#   kafka-cluster names kafka-1 kafka-2 kafka-3 together: a second, separate
#   Kafka of three combined broker+controller nodes (a 3-voter KRaft quorum,
#   default replication factor 3, min.insync.replicas 2) for the reliability
#   drills, which SIGKILL one node. Not in the default set. `up kafka-cluster`
#   starts the three nodes at once (none is ready before a quorum is); a
#   single node (`kill kafka-2`, `start kafka-2`) is handled on its own.
# Default set for up/down/status: kafka opensearch prometheus, plus
# opensearch-standby when VIGIL_INFRA_STANDBY=1 (down with no argument stops
# everything that runs, standby included).
#
# Layout under $VIGIL_CACHE:
#   dl/                      downloaded archives (OpenSearch zip)
#   kafka/libs/              Kafka jars resolved from Maven Central
#   kafka/server.properties  generated on every start
#   kafka/scram.password     the SCRAM-SHA-512 user's password (user "vigil"), generated once
#   kafka/broker-keystore.pem  the broker's key + certificate (PEM keystore)
#   tls/                     throwaway CA (ca.crt) and certificates: kafka-broker, kafka-client
#   kafka/kafka-N.properties generated on every start of cluster node N
#   opensearch-<ver>/        unpacked OpenSearch distribution (read-only use)
#   opensearch/<name>/       per-instance config/ and tmp/
#   data/<name>/<ver>/       an OpenSearch instance's data, one dir per version
#                            (switching VIGIL_OPENSEARCH_VERSION needs no wipe)
#   opensearch-proxy/        nginx.conf, htpasswd, user, password, temp dirs
#   prometheus/prometheus.yml  generated on every start (see below)
#   prometheus/targets/*.json  file_sd scrape targets, survive restarts
#   prometheus/rules/*.yml     rule files, survive restarts
#   data/<server>/           server data (kept across stop/start/kill)
#   logs/<server>.log        server stdout/stderr (+ logs/<server>.d/ for OpenSearch's own files)
#   run/<server>.pid         pid of the server's process (group leader)
#
# Prometheus scrape targets: tests add one by writing a JSON file into
# $VIGIL_CACHE/prometheus/targets/ (VIGIL_TEST_PROMETHEUS_TARGETS from
# scripts/env.sh), e.g. targets/mytest.json:
#   [{"targets": ["127.0.0.1:8888"], "labels": {"job": "vigil-mytest"}}]
# Prometheus re-reads that directory every 5 s; no reload needed. Write the
# file to a temp name and rename it, so Prometheus never sees half a file.
# A test that rewrites prometheus.yml itself can apply it with
#   curl -X POST http://127.0.0.1:9090/-/reload
# but note start/restart regenerate prometheus.yml.
#
# Environment (defaults in brackets):
#   VIGIL_CACHE [<repo>/.cache]
#   VIGIL_KAFKA_PORT [9092]  VIGIL_KAFKA_CONTROLLER_PORT [9093]
#   VIGIL_KAFKA_SASL_SSL_PORT [9094]  VIGIL_KAFKA_MTLS_PORT [9095]
#   VIGIL_KAFKA_CLUSTER_PORT [9192]: kafka-N listens on this + N - 1 (9192-9194)
#   VIGIL_KAFKA_CLUSTER_CONTROLLER_PORT [9195]: kafka-N's controller on this + N - 1
#   VIGIL_OPENSEARCH_PORT [9200]  VIGIL_OPENSEARCH_TRANSPORT_PORT [9300]
#   VIGIL_OPENSEARCH_STANDBY_PORT [9201]  VIGIL_OPENSEARCH_STANDBY_TRANSPORT_PORT [9301]
#   VIGIL_PROMETHEUS_PORT [9090]
#   VIGIL_OPENSEARCH2_PORT [9202]  VIGIL_OPENSEARCH2_TRANSPORT_PORT [9302]
#   VIGIL_OPENSEARCH2_STANDBY_PORT [9203]  VIGIL_OPENSEARCH2_STANDBY_TRANSPORT_PORT [9303]
#   VIGIL_OPENSEARCH_PROXY_PORT [9243] (-> opensearch)
#   VIGIL_OPENSEARCH_PROXY_STANDBY_PORT [9244] (-> opensearch-standby)
#   VIGIL_KAFKA_VERSION [4.3.1]  VIGIL_OPENSEARCH_VERSION [3.8.0]
#   VIGIL_OPENSEARCH2_VERSION [2.19.6]
#   VIGIL_INFRA_STANDBY [0]  VIGIL_INFRA_TIMEOUT (overrides every readiness wait, seconds)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VIGIL_CACHE:-$REPO/.cache}"
# Absolute, because OpenSearch is started from its instance dir and the
# generated configs embed these paths.
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
RUN="$CACHE/run"
LOGS="$CACHE/logs"
DATA="$CACHE/data"
DL="$CACHE/dl"

KAFKA_PORT="${VIGIL_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${VIGIL_KAFKA_CONTROLLER_PORT:-9093}"
# The secured listeners beside PLAINTEXT: SASL_SSL with SCRAM-SHA-512, and
# SSL that requires a client certificate (mTLS). See write_kafka_config.
KAFKA_SASL_SSL_PORT="${VIGIL_KAFKA_SASL_SSL_PORT:-9094}"
KAFKA_MTLS_PORT="${VIGIL_KAFKA_MTLS_PORT:-9095}"
KAFKA_CLUSTER_PORT="${VIGIL_KAFKA_CLUSTER_PORT:-9192}"
KAFKA_CLUSTER_CONTROLLER_PORT="${VIGIL_KAFKA_CLUSTER_CONTROLLER_PORT:-9195}"
OPENSEARCH_PORT="${VIGIL_OPENSEARCH_PORT:-9200}"
OPENSEARCH_TRANSPORT_PORT="${VIGIL_OPENSEARCH_TRANSPORT_PORT:-9300}"
OPENSEARCH_STANDBY_PORT="${VIGIL_OPENSEARCH_STANDBY_PORT:-9201}"
OPENSEARCH_STANDBY_TRANSPORT_PORT="${VIGIL_OPENSEARCH_STANDBY_TRANSPORT_PORT:-9301}"
PROMETHEUS_PORT="${VIGIL_PROMETHEUS_PORT:-9090}"
OPENSEARCH2_PORT="${VIGIL_OPENSEARCH2_PORT:-9202}"
OPENSEARCH2_TRANSPORT_PORT="${VIGIL_OPENSEARCH2_TRANSPORT_PORT:-9302}"
OPENSEARCH2_STANDBY_PORT="${VIGIL_OPENSEARCH2_STANDBY_PORT:-9203}"
OPENSEARCH2_STANDBY_TRANSPORT_PORT="${VIGIL_OPENSEARCH2_STANDBY_TRANSPORT_PORT:-9303}"
PROXY_PORT="${VIGIL_OPENSEARCH_PROXY_PORT:-9243}"
PROXY_STANDBY_PORT="${VIGIL_OPENSEARCH_PROXY_STANDBY_PORT:-9244}"

# 4.4.0 is on Maven Central but incomplete there (kafka-tools-api:4.4.0 is
# missing), so the newest release that fully resolves is the default.
KAFKA_VERSION="${VIGIL_KAFKA_VERSION:-4.3.1}"
# OpenSearch comes from the integ-test-zip, the only distribution on Maven
# Central. The default is the newest 3.x published there (3.9.0's
# integ-test-zip does not resolve from Maven Central yet; move up when it
# does). 3.x needs a JDK >= 21, found at run time (opensearch_java_home).
# The 2.x line (VIGIL_OPENSEARCH2_VERSION, servers opensearch-2 and
# opensearch-2-standby) stays supported and tested. Beware: the 2.x
# integ-test-zip ships a single module (transport-netty4); install_painless
# adds lang-painless (Dashboards' Trace Analytics queries need it), but 2.19
# still has no reindex (_delete_by_query, _update_by_query, _reindex),
# ingest-common processors, mapper-extras (scaled_float, ...) or
# analysis-common. The 3.x zip ships all standard modules. Neither has
# plugins: no security, no ISM.
OPENSEARCH_VERSION="${VIGIL_OPENSEARCH_VERSION:-3.8.0}"
OPENSEARCH1_VERSION=$OPENSEARCH_VERSION
OPENSEARCH2_VERSION="${VIGIL_OPENSEARCH2_VERSION:-2.19.6}"

ALL_SERVERS=(kafka opensearch opensearch-standby prometheus opensearch-2 opensearch-2-standby opensearch-proxy kafka-1 kafka-2 kafka-3)
KAFKA_CLUSTER=(kafka-1 kafka-2 kafka-3)
HOST=127.0.0.1

log() { printf 'infra: %s\n' "$*" >&2; }
die() { printf 'infra: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers --

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# A JDK whose major version is at least $1. Kafka and OpenSearch 2.x are
# happy on the system Java 17; OpenSearch 3.x needs 21+, which on these
# machines means Temurin under /usr/lib/jvm. Candidates: $JAVA_HOME, the
# java on PATH, then every JDK in the system's JVM directory (the system
# default 17 first, so 2.x keeps running where it always did). FOUND_JDKS
# lists what was seen, for the error message when none fits.
FOUND_JDKS=""
java_home_at_least() {
  local want=$1 d v j
  local -a cands=()
  [[ -n ${JAVA_HOME:-} ]] && cands+=("$JAVA_HOME")
  if j=$(command -v java 2>/dev/null); then
    j=$(readlink -f "$j")
    cands+=("${j%/bin/java}")
  fi
  cands+=(/usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/*/)
  FOUND_JDKS=""
  for d in "${cands[@]}"; do
    d=${d%/}
    [[ -x "$d/bin/java" ]] || continue
    v=$("$d/bin/java" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java.specification.version = //p')
    [[ " $FOUND_JDKS " == *" $d (${v:-?})"* ]] || FOUND_JDKS+=" $d (${v:-?})"
    [[ -n "$v" && "${v%%.*}" -ge "$want" ]] && { echo "$d"; return 0; }
  done
  return 1
}

# Exactly one `apt-get update` per invocation, and only if we really need
# to install something: it is slow and the package lists may be stale.
# Output is shown only on failure (debconf chatter otherwise).
APT_UPDATED=0
apt_install() {
  local out
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt: updating package lists"
    out=$(DEBIAN_FRONTEND=noninteractive apt-get update -qq 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
    APT_UPDATED=1
  fi
  log "apt: installing $*"
  out=$(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" 2>&1) ||
    { printf '%s\n' "$out" | tail -n 30 >&2; return 1; }
}

# Maven prints colour resets and progress even with -q; show its output
# only when it fails, where it is the only clue.
mvn_quiet() {
  local out
  if ! out=$(mvn -q -B -Dstyle.color=never "$@" 2>&1); then
    printf '%s\n' "$out" | tail -n 30 >&2
    return 1
  fi
}

pidfile() { echo "$RUN/$1.pid"; }

# Something in the process's argv that only our instance of this server has,
# so a recycled pid (or someone else's server) is never mistaken for ours.
marker() {
  case $1 in
    kafka) echo "$CACHE/kafka/server.properties" ;;
    kafka-[123]) echo "$CACHE/kafka/$1.properties" ;;
    opensearch*proxy) echo "$CACHE/opensearch-proxy/nginx.conf" ;;
    opensearch*) echo "-Enode.name=$1" ;;
    prometheus) echo "--config.file=$CACHE/prometheus/prometheus.yml" ;;
  esac
}

# pid_alive PID: exists and is not a zombie (an exited child we have not
# reaped yet is as dead as it gets).
pid_alive() {
  [[ -n $1 && -e /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# server_pid NAME: print the pid if our process for NAME is alive.
server_pid() {
  local pf pid
  pf=$(pidfile "$1")
  [[ -f $pf ]] || return 1
  pid=$(<"$pf")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  if [[ $1 == opensearch-proxy ]]; then
    # nginx rewrites its argv into one title string ("nginx: master
    # process /usr/sbin/nginx ... -c <conf>"), so match within it.
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(marker "$1")" || return 1
  else
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$(marker "$1")" || return 1
  fi
  echo "$pid"
}

server_port() {
  case $1 in
    kafka) echo "$KAFKA_PORT" ;;
    kafka-[123]) echo $((KAFKA_CLUSTER_PORT + ${1#kafka-} - 1)) ;;
    opensearch) echo "$OPENSEARCH_PORT" ;;
    opensearch-standby) echo "$OPENSEARCH_STANDBY_PORT" ;;
    opensearch-2) echo "$OPENSEARCH2_PORT" ;;
    opensearch-2-standby) echo "$OPENSEARCH2_STANDBY_PORT" ;;
    opensearch-proxy) echo "$PROXY_PORT" ;;
    prometheus) echo "$PROMETHEUS_PORT" ;;
  esac
}

server_addr() {
  case $1 in
    kafka | kafka-[123]) echo "$HOST:$(server_port "$1")" ;;
    opensearch-proxy) echo "https://$HOST:$PROXY_PORT" ;;
    *) echo "http://$HOST:$(server_port "$1")" ;;
  esac
}

# Running means: our pid is alive AND it serves its port. Either alone can
# lie (a half-dead JVM; a foreign process on the port).
is_running() {
  server_pid "$1" >/dev/null && port_open "$(server_port "$1")"
}

# spawn NAME CMD...: start CMD detached in its own session, so that it
# outlives this script and so that stop/kill can signal the whole process
# group (wrappers such as bin/opensearch exec java, but be safe anyway).
spawn() {
  local name=$1; shift
  local logf="$LOGS/$name.log"
  printf '\n=== %s infra: starting %s ===\n' "$(date -u +%FT%TZ)" "$name" >>"$logf"
  # 9>&- : the server must not inherit (and so hold forever) our lock fd.
  setsid "$@" </dev/null >>"$logf" 2>&1 9>&- &
  echo $! >"$(pidfile "$name")"
}

# A server that failed to come up is killed, so the next `up` starts it
# afresh instead of calling a half-started process "already running".
fail_with_log() {
  local name=$1 msg=$2 pid
  log "$name: $msg; last lines of $LOGS/$name.log:"
  tail -n 40 "$LOGS/$name.log" >&2 || true
  pid=$(cat "$(pidfile "$name")" 2>/dev/null || true)
  if pid_alive "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pidfile "$name")"
  exit 1
}

# wait_ready NAME TIMEOUT PROBE...: poll PROBE until it succeeds, giving up
# early if the process died, so a broken config fails fast instead of
# burning the whole timeout.
wait_ready() {
  local name=$1 timeout=${VIGIL_INFRA_TIMEOUT:-$2}; shift 2
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    # Not server_pid: right after spawn the process may still be setsid or
    # a wrapper script that has not exec'd the server yet, so its argv does
    # not carry the marker. Liveness of the spawned pid is what matters here.
    pid_alive "$(<"$(pidfile "$name")")" || fail_with_log "$name" "process exited during startup"
    if port_open "$(server_port "$name")" && "$@" >/dev/null 2>&1; then
      [[ ${READY_QUIET:-0} == 1 ]] || log "$name: ready at $(server_addr "$name") (pid $(server_pid "$name"))"
      return 0
    fi
    sleep 1
  done
  fail_with_log "$name" "not ready after ${timeout}s"
}

# stop_server NAME SIGNAL: SIGTERM waits for a clean shutdown (Kafka flushes
# and closes its logs; OpenSearch flushes translogs) before escalating.
stop_server() {
  local name=$1 sig=${2:-TERM} pid grace=60 i
  if ! pid=$(server_pid "$name"); then
    rm -f "$(pidfile "$name")"
    log "$name: not running"
    return 0
  fi
  if [[ $sig == KILL ]]; then
    log "$name: killing pid $pid (SIGKILL)"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  else
    log "$name: stopping pid $pid"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < grace * 5; i++)); do
    pid_alive "$pid" || break
    sleep 0.2
  done
  if pid_alive "$pid"; then
    log "$name: still alive after ${grace}s, sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  # The port must be free before a test's "start" tries to bind it again.
  for ((i = 0; i < 50; i++)); do
    port_open "$(server_port "$name")" || break
    sleep 0.2
  done
  rm -f "$(pidfile "$name")"
}

# Refuse to start on a port someone else holds: otherwise tests would
# silently talk to a stranger (e.g. a distro-started Prometheus).
check_port_free() {
  local name=$1 port
  port=$(server_port "$name")
  if port_open "$port"; then
    die "$name: 127.0.0.1:$port is already in use by another process (not ours: no live pid in $(pidfile "$name"))"
  fi
}

# -------------------------------------------------------------------- tls --

# A throwaway certificate authority for the secured listeners (Kafka
# SASL_SSL and mTLS, the TLS proxy in front of OpenSearch, OTLP over TLS).
# Generated into the cache on first use and never committed (delete
# $CACHE/tls for a new one). Every certificate is for 127.0.0.1 and localhost.
TLS_DIR="$CACHE/tls"

ensure_ca() {
  [[ -s $TLS_DIR/ca.crt && -s $TLS_DIR/ca.key ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$TLS_DIR"
  log "tls: generating a throwaway CA in $TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Vigil test CA" \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1 || die "tls: openssl could not create the CA"
  chmod 600 "$TLS_DIR/ca.key"
}

# issue_cert NAME CN: NAME.crt and NAME.key signed by the throwaway CA,
# usable as a server certificate (SAN 127.0.0.1, localhost) and as a client
# certificate (mTLS). Kept across starts; regenerated when the CA changed.
issue_cert() {
  local name=$1 cn=$2 crt="$TLS_DIR/$1.crt" key="$TLS_DIR/$1.key"
  ensure_ca
  if [[ -s $crt && -s $key ]] && openssl verify -CAfile "$TLS_DIR/ca.crt" "$crt" >/dev/null 2>&1; then
    return 0
  fi
  log "tls: issuing $name ($cn)"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$key" -out "$TLS_DIR/$name.csr" \
    >/dev/null 2>&1 || die "tls: openssl could not create a key for $name"
  openssl x509 -req -in "$TLS_DIR/$name.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 3650 -out "$crt" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n') \
    >/dev/null 2>&1 || die "tls: openssl could not sign $name"
  rm -f "$TLS_DIR/$name.csr"
  chmod 644 "$key" # read by servers running as other users (OpenSearch's, nginx's)
}

# ------------------------------------------------------------------ kafka --

KAFKA_HOME="$CACHE/kafka"

install_kafka() {
  local stamp="$KAFKA_HOME/libs/.version"
  [[ -f $stamp && $(<"$stamp") == "$KAFKA_VERSION" ]] && return 0
  command -v mvn >/dev/null || die "kafka: mvn not found (apt-get install maven)"
  log "kafka: resolving Kafka $KAFKA_VERSION jars from Maven Central"
  local t0=$SECONDS tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$KAFKA_HOME"
  mvn_quiet -f "$REPO/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" ||
    die "kafka: mvn could not resolve Kafka $KAFKA_VERSION"
  # Different versions must never share a classpath directory.
  rm -rf "$KAFKA_HOME/libs"
  mv "$tmp" "$KAFKA_HOME/libs"
  echo "$KAFKA_VERSION" >"$stamp"
  log "kafka: installed $KAFKA_VERSION ($((SECONDS - t0))s)"
}

kafka_java() {
  if [[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]]; then
    echo /usr/lib/jvm/java-17-openjdk-amd64/bin/java
  else
    command -v java || die "kafka: no java found"
  fi
}

write_kafka_config() {
  mkdir -p "$KAFKA_HOME" "$DATA/kafka"
  # Regenerated on every start so port changes take effect. The controller
  # quorum is static (controller.quorum.voters), not the KIP-853 dynamic
  # kind: a dynamic quorum records the controller endpoint in the metadata
  # log at format time, which would break if the port were ever changed.
  cat >"$KAFKA_HOME/server.properties" <<EOF
# Generated by scripts/infra.sh on every start; edits are lost.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT,SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT,MTLS://$HOST:$KAFKA_MTLS_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT,MTLS://$HOST:$KAFKA_MTLS_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,MTLS:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA/kafka

# Secured listeners (clients only; brokers and controller talk PLAINTEXT).
# The certificates are PEM files from the throwaway CA in $TLS_DIR.
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_HOME/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
ssl.endpoint.identification.algorithm=https
# SASL_SSL: SCRAM-SHA-512 users live in the cluster metadata (added at
# format time, or by ensure_kafka_scram_user for older data dirs).
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# MTLS: a client must present a certificate signed by the CA.
listener.name.mtls.ssl.client.auth=required

# Single node: every internal topic must live with one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

EOF
  kafka_common_properties >>"$KAFKA_HOME/server.properties"
  write_kafka_log4j
}

# The settings the single broker and the cluster's nodes share.
kafka_common_properties() {
  cat <<'EOF'

auto.create.topics.enable=true
num.partitions=3
# Tests create consumer groups constantly; the default 3 s delay per new
# group only slows them down.
group.initial.rebalance.delay.ms=0

# The log cleaner's dedupe buffer is allocated whole at start (128 MiB by
# default): in a cluster node's 256 MiB heap that once failed with
# OutOfMemoryError during startup. The compacted topics here are small.
log.cleaner.dedupe.buffer.size=16777216

# Large-record tests send ~20 MB records; allow 32 MiB per batch.
message.max.bytes=33554432
replica.fetch.max.bytes=33554432
socket.request.max.bytes=104857600
EOF
}

write_kafka_log4j() {
  cat >"$KAFKA_HOME/log4j2.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/infra.sh. stdout is appended to logs/kafka.log. -->
<Configuration status="WARN">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="stdout"/></Root>
    <!-- Per-request and per-partition chatter drowns the useful lines. -->
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.clients.NetworkClient" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

# The secured listeners' material: the broker's certificate (a PEM keystore
# is key + certificate in one file), a client certificate for the mTLS
# listener, and the SCRAM user's password, generated once into the cache.
KAFKA_SCRAM_USER=vigil
KAFKA_SCRAM_PASSWORD_FILE="$KAFKA_HOME/scram.password"
kafka_tls() {
  issue_cert kafka-broker localhost
  issue_cert kafka-client vigil-kafka-client
  mkdir -p "$KAFKA_HOME"
  (umask 077 && cat "$TLS_DIR/kafka-broker.key" "$TLS_DIR/kafka-broker.crt" >"$KAFKA_HOME/broker-keystore.pem")
  if [[ ! -s $KAFKA_SCRAM_PASSWORD_FILE ]]; then
    (umask 077 && openssl rand -hex 24 >"$KAFKA_SCRAM_PASSWORD_FILE") ||
      die "kafka: openssl could not generate the SCRAM password"
  fi
}

# What the data dir's SCRAM user was created with, so a new password (or a
# data dir formatted before the secured listeners existed) is noticed.
kafka_scram_stamp() {
  printf '%s:%s' "$KAFKA_SCRAM_USER" "$(<"$KAFKA_SCRAM_PASSWORD_FILE")" | sha256sum | cut -c1-64
}

# ensure_kafka_scram_user: once the broker serves, (re)create the SCRAM user
# through the admin API on the PLAINTEXT listener when the data dir does not
# have it with the current password. Fresh data dirs get it at format time.
ensure_kafka_scram_user() {
  local stamp="$DATA/kafka/.vigil-scram"
  [[ -f $stamp && $(<"$stamp") == "$(kafka_scram_stamp)" ]] && return 0
  log "kafka: adding SCRAM-SHA-512 user $KAFKA_SCRAM_USER"
  "$(kafka_java)" -Xmx128m -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
    kafka.admin.ConfigCommand --bootstrap-server "$HOST:$KAFKA_PORT" --alter \
    --add-config "SCRAM-SHA-512=[password=$(<"$KAFKA_SCRAM_PASSWORD_FILE")]" \
    --entity-type users --entity-name "$KAFKA_SCRAM_USER" >>"$LOGS/kafka.log" 2>&1 ||
    fail_with_log kafka "could not add the SCRAM user"
  kafka_scram_stamp >"$stamp"
}

# Storage is formatted once; after that the same log dir (and so every
# produced record) is reused across stop/start/kill.
format_kafka_storage() {
  [[ -f $DATA/kafka/meta.properties ]] && return 0
  local java cid
  java=$(kafka_java)
  cid=$("$java" -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
        kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka.log" | tail -n1)
  [[ -n $cid ]] || fail_with_log kafka "could not generate a cluster id"
  log "kafka: formatting storage (cluster id $cid)"
  "$java" -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
    kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_HOME/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$(<"$KAFKA_SCRAM_PASSWORD_FILE")]" \
    >>"$LOGS/kafka.log" 2>&1 || fail_with_log kafka "storage format failed"
  kafka_scram_stamp >"$DATA/kafka/.vigil-scram"
}

# A metadata round trip proves the broker is serving, not just listening.
kafka_probe() {
  local port=${1:-$KAFKA_PORT}
  if command -v kcat >/dev/null; then
    kcat -b "$HOST:$port" -L -m 5 >/dev/null 2>&1
  else
    "$(kafka_java)" -Xmx128m -cp "$KAFKA_HOME/libs/*" \
      -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
      org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$port" --list >/dev/null 2>&1
  fi
}

# The single broker is ready when PLAINTEXT serves metadata and both secured
# listeners accept connections.
kafka_secured_probe() {
  kafka_probe && port_open "$KAFKA_SASL_SSL_PORT" && port_open "$KAFKA_MTLS_PORT"
}

start_kafka() {
  install_kafka
  kafka_tls
  write_kafka_config
  format_kafka_storage
  log "kafka: starting on $HOST:$KAFKA_PORT, SASL_SSL $KAFKA_SASL_SSL_PORT, mTLS $KAFKA_MTLS_PORT (Kafka $KAFKA_VERSION)"
  spawn kafka "$(kafka_java)" -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_HOME/server.properties"
  ready_probe kafka
  ensure_kafka_scram_user
}

# ---------------------------------------------------------- kafka-cluster --

# Node N of the three-node cluster: broker and controller in one process,
# like the single node, but voting in a quorum of three, so any one node
# can die and the cluster keeps a controller and two in-sync replicas.
write_kafka_node_config() {
  local name=$1 n=${1#kafka-} i voters=""
  local port=$((KAFKA_CLUSTER_PORT + n - 1)) cport=$((KAFKA_CLUSTER_CONTROLLER_PORT + n - 1))
  for i in 1 2 3; do
    voters+="${voters:+,}$i@$HOST:$((KAFKA_CLUSTER_CONTROLLER_PORT + i - 1))"
  done
  mkdir -p "$KAFKA_HOME" "$DATA/$name"
  cat >"$KAFKA_HOME/$name.properties" <<EOF
# Generated by scripts/infra.sh on every start; edits are lost.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA/$name

# Every record on three nodes; a write with acks=all needs two of them, so
# one node may be down without refusing writes or losing any.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false

EOF
  kafka_common_properties >>"$KAFKA_HOME/$name.properties"
  write_kafka_log4j
}

# All three nodes share one cluster id, made once and kept beside their
# data, so a wiped node rejoins the cluster the others still form.
format_kafka_node_storage() {
  local name=$1 java cid idf="$DATA/kafka-cluster.id"
  [[ -f $DATA/$name/meta.properties ]] && return 0
  java=$(kafka_java)
  if [[ ! -s $idf ]]; then
    cid=$("$java" -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
          kafka.tools.StorageTool random-uuid 2>>"$LOGS/$name.log" | tail -n1)
    [[ -n $cid ]] || fail_with_log "$name" "could not generate a cluster id"
    echo "$cid" >"$idf"
  fi
  cid=$(<"$idf")
  log "$name: formatting storage (cluster id $cid)"
  "$java" -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
    kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_HOME/$name.properties" \
    >>"$LOGS/$name.log" 2>&1 || fail_with_log "$name" "storage format failed"
}

# spawn_kafka_node starts node N without waiting: a lone node is never
# ready (no quorum), so starting the cluster spawns all three first and
# then waits for each (see main).
spawn_kafka_node() {
  local name=$1
  install_kafka
  write_kafka_node_config "$name"
  format_kafka_node_storage "$name"
  log "$name: starting on $(server_addr "$name") (Kafka $KAFKA_VERSION, cluster node)"
  # 256 MiB is plenty for test traffic, and three of them share the
  # machine with OpenSearch.
  spawn "$name" "$(kafka_java)" -Xms128m -Xmx256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.xml" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_HOME/$name.properties"
}

# ------------------------------------------------------------- opensearch --

# OpenSearch refuses to run as root, and these machines run everything as
# root, so the server runs as an unprivileged system user.
OPENSEARCH_USER=vigil

# OS_ROOT holds everything OpenSearch itself reads or writes (distribution,
# per-instance config, data, its own logs). Normally that is the cache, but a
# checkout under a private directory (mktemp -d makes 0700 ones, as a CI
# clone may be) is out of the unprivileged user's reach; then OpenSearch's
# files live in a per-cache directory under /var/tmp instead.
OS_ROOT="$CACHE"
OPENSEARCH_HOME="$OS_ROOT/opensearch-$OPENSEARCH_VERSION"
init_os_root() {
  OPENSEARCH_HOME="$OS_ROOT/opensearch-$OPENSEARCH_VERSION"
  [[ $EUID -eq 0 ]] || return 0
  ensure_opensearch_user
  if ! setpriv --reuid="$OPENSEARCH_USER" --regid="$OPENSEARCH_USER" --init-groups test -x "$CACHE" 2>/dev/null; then
    OS_ROOT="/var/tmp/vigil-opensearch-$(printf '%s' "$CACHE" | sha256sum | cut -c1-12)"
    mkdir -p "$OS_ROOT"
    chmod 755 "$OS_ROOT"
  fi
  OPENSEARCH_HOME="$OS_ROOT/opensearch-$OPENSEARCH_VERSION"
}

opensearch_java_home() {
  local want=21
  [[ $OPENSEARCH_VERSION == 2.* ]] && want=17
  java_home_at_least "$want" && return 0
  die "opensearch: OpenSearch $OPENSEARCH_VERSION needs a JDK >= $want; found only:${FOUND_JDKS:- none}; install one (apt-get install openjdk-$want-jdk-headless, or Temurin $want+ under /usr/lib/jvm) or point JAVA_HOME at it"
}

# use_os_version NAME: the OpenSearch version server NAME runs (the 2.x
# pair has its own), with OPENSEARCH_HOME to match. Every opensearch
# function works on these two globals, so set them before each server.
use_os_version() {
  case $1 in
    opensearch-2 | opensearch-2-standby) OPENSEARCH_VERSION=$OPENSEARCH2_VERSION ;;
    *) OPENSEARCH_VERSION=$OPENSEARCH1_VERSION ;;
  esac
  init_os_root
}

install_opensearch() {
  init_os_root
  if [[ -x $OPENSEARCH_HOME/bin/opensearch ]]; then
    install_painless
    return 0
  fi
  command -v mvn >/dev/null || die "opensearch: mvn not found"
  command -v unzip >/dev/null || apt_install unzip
  local t0=$SECONDS zip="$DL/opensearch-$OPENSEARCH_VERSION.zip"
  mkdir -p "$DL"
  if [[ ! -s $zip ]]; then
    # The integ-test-zip is the OpenSearch distribution that is published to
    # Maven Central (the full tarballs are not). It has no bundled JDK and
    # no plugins, so: plain HTTP, no security plugin.
    log "opensearch: downloading OpenSearch $OPENSEARCH_VERSION (integ-test-zip) from Maven Central"
    mvn_quiet org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip" \
      -DoutputDirectory="$DL" -Dmdep.stripVersion=false ||
      die "opensearch: mvn could not fetch OpenSearch $OPENSEARCH_VERSION"
  fi
  log "opensearch: unpacking into $OPENSEARCH_HOME"
  rm -rf "$OPENSEARCH_HOME.tmp"
  mkdir -p "$OPENSEARCH_HOME.tmp"
  unzip -q "$zip" -d "$OPENSEARCH_HOME.tmp"
  mv "$OPENSEARCH_HOME.tmp/opensearch-$OPENSEARCH_VERSION" "$OPENSEARCH_HOME"
  rm -rf "$OPENSEARCH_HOME.tmp"
  log "opensearch: installed $OPENSEARCH_VERSION ($((SECONDS - t0))s)"
  install_painless
}

# install_painless adds the lang-painless module to a 2.x integ-test-zip,
# which ships without it: OpenSearch Dashboards' Trace Analytics queries
# (scripted max aggregations, bucket_script) need painless, as every real
# distribution has it. The module's jars come from Maven Central (the
# lang-painless jar and its runtime dependencies, without the server jar the
# distribution already has); its descriptor and security policy are those of
# OpenSearch's modules/lang-painless.
install_painless() {
  [[ $OPENSEARCH_VERSION == 2.* ]] || return 0
  local mod="$OPENSEARCH_HOME/modules/lang-painless"
  [[ -f $mod/plugin-descriptor.properties ]] && return 0
  local pom="$DL/lang-painless-$OPENSEARCH_VERSION" t0=$SECONDS
  log "opensearch: adding the lang-painless module $OPENSEARCH_VERSION from Maven Central"
  mkdir -p "$pom"
  cat >"$pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.vigil.infra</groupId>
  <artifactId>lang-painless-module</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.opensearch.plugin</groupId>
      <artifactId>lang-painless</artifactId>
      <version>$OPENSEARCH_VERSION</version>
      <exclusions>
        <exclusion><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId></exclusion>
      </exclusions>
    </dependency>
  </dependencies>
</project>
POM
  rm -rf "$mod.tmp"
  mvn_quiet -f "$pom/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$mod.tmp" ||
    die "opensearch: mvn could not fetch lang-painless $OPENSEARCH_VERSION"
  cat >"$mod.tmp/plugin-descriptor.properties" <<DESC
description=An easy, safe and fast scripting language for OpenSearch
version=$OPENSEARCH_VERSION
name=lang-painless
classname=org.opensearch.painless.PainlessPlugin
java.version=11
opensearch.version=$OPENSEARCH_VERSION
custom.foldername=
extended.plugins=
has.native.controller=false
DESC
  cat >"$mod.tmp/plugin-security.policy" <<'POLICY'
grant {
  // needed to generate runtime classes
  permission java.lang.RuntimePermission "createClassLoader";
  // needed to find the classloader to load whitelisted classes from
  permission java.lang.RuntimePermission "getClassLoader";
};
POLICY
  mv "$mod.tmp" "$mod"
  log "opensearch: lang-painless module added ($((SECONDS - t0))s): $(cd "$mod" && ls *.jar | tr '\n' ' ')"
}

ensure_opensearch_user() {
  [[ $EUID -eq 0 ]] || return 0
  id -u "$OPENSEARCH_USER" >/dev/null 2>&1 && return 0
  log "opensearch: creating system user $OPENSEARCH_USER (OpenSearch will not run as root)"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$OPENSEARCH_USER"
}

# Per-instance dirs: each instance gets a private copy of the distribution's
# config (OPENSEARCH_PATH_CONF) so the two can never step on each other.
prepare_opensearch_instance() {
  local name=$1 http=$2 transport=$3
  # One data dir per version: a downgrade cannot read the data at all (2.x
  # cannot open 3.x indices) and an upgrade would migrate it one way, so a
  # version switch simply starts on (or returns to) that version's own data.
  local inst="$OS_ROOT/opensearch/$name" data="$OS_ROOT/data/$name/$OPENSEARCH_VERSION" logs="$OS_ROOT/logs/$name.d"
  mkdir -p "$inst" "$data" "$logs" "$inst/tmp"
  echo "$OPENSEARCH_VERSION" >"$data/.vigil-version"

  if [[ ! -f $inst/config/.version || $(<"$inst/config/.version") != "$OPENSEARCH_VERSION" ]]; then
    rm -rf "$inst/config"
    cp -r "$OPENSEARCH_HOME/config" "$inst/config"
    # Drop the distribution's heap and GC-log lines: heap comes from
    # OPENSEARCH_JAVA_OPTS, and the GC log path is relative to the working
    # directory, which would litter wherever the script was run from.
    sed -i -E '/^-Xm[sx]/d; /Xlog:gc/d; /^-XX:(HeapDumpPath|ErrorFile)/d' "$inst/config/jvm.options"
    echo "$OPENSEARCH_VERSION" >"$inst/config/.version"
  fi

  cat >"$inst/config/opensearch.yml" <<EOF
# Generated by scripts/infra.sh on every start; edits are lost.
cluster.name: vigil-$name
discovery.type: single-node
network.host: $HOST
http.port: $http
transport.port: $transport
path.data: $data
path.logs: $logs
# Dev machines often run with nearly full disks; the watermarks would make
# every index read-only mid-test.
cluster.routing.allocation.disk.threshold_enabled: false
EOF

  if [[ $EUID -eq 0 ]]; then
    ensure_opensearch_user
    chown "$OPENSEARCH_USER:" "$OS_ROOT/data/$name"
    chown -R "$OPENSEARCH_USER:" "$inst" "$data" "$logs"
    # The user must be able to reach everything through the cache dir.
    setpriv --reuid="$OPENSEARCH_USER" --regid="$OPENSEARCH_USER" --init-groups \
      test -r "$OPENSEARCH_HOME/lib" -a -w "$data" ||
      die "$name: user $OPENSEARCH_USER cannot reach $OS_ROOT"
  fi
}

opensearch_probe() {
  curl -s --max-time 3 "http://$HOST:$1/_cluster/health" | grep -Eq '"status":"(green|yellow)"'
}

start_opensearch_instance() {
  local name=$1 http=$2 transport=$3 jh
  install_opensearch
  prepare_opensearch_instance "$name" "$http" "$transport"
  jh=$(opensearch_java_home)
  local -a as_user=()
  [[ $EUID -eq 0 ]] && as_user=(setpriv --reuid="$OPENSEARCH_USER" --regid="$OPENSEARCH_USER" --init-groups)
  log "$name: starting on $HOST:$http (OpenSearch $OPENSEARCH_VERSION, $(basename "$jh"))"
  # Relative paths inside OpenSearch (heap dumps, hs_err files) land in the
  # instance dir, never in the caller's working directory.
  (
    cd "$OS_ROOT/opensearch/$name"
    export OPENSEARCH_PATH_CONF="$OS_ROOT/opensearch/$name/config"
    export OPENSEARCH_JAVA_HOME="$jh" JAVA_HOME="$jh"
    export OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m"
    export OPENSEARCH_TMPDIR="$OS_ROOT/opensearch/$name/tmp"
    export HOME="$OS_ROOT/opensearch/$name"
    spawn "$name" "${as_user[@]}" "$OPENSEARCH_HOME/bin/opensearch" "-Enode.name=$name"
  )
  ready_probe "$name"
}

# ------------------------------------------------------- opensearch-proxy --

# The OpenSearch security plugin is not on Maven Central, so a secured
# cluster is modelled the way many are deployed: Debian's nginx as a
# TLS-terminating ingress with HTTP basic auth in front of the real
# OpenSearch. Both ports require a client certificate signed by the
# throwaway CA (ssl_verify_client on) AND a valid user/password:
#   VIGIL_OPENSEARCH_PROXY_PORT          -> opensearch (primary)
#   VIGIL_OPENSEARCH_PROXY_STANDBY_PORT  -> opensearch-standby
# Certificates: $TLS_DIR/opensearch-proxy.{crt,key} (server) and
# $TLS_DIR/opensearch-client.{crt,key} (client). The user name is fixed
# (vigil); the password is generated once into opensearch-proxy/password.
# The proxy starts without its upstreams: it answers 502 while one is down.
PROXY_DIR="$CACHE/opensearch-proxy"
NGINX_BIN=/usr/sbin/nginx
PROXY_USER=vigil

install_proxy() {
  [[ -x $NGINX_BIN ]] && return 0
  local t0=$SECONDS
  apt_install nginx
  [[ -x $NGINX_BIN ]] || die "opensearch-proxy: $NGINX_BIN missing after apt-get install nginx"
  log "opensearch-proxy: installed $("$NGINX_BIN" -v 2>&1) ($((SECONDS - t0))s)"
}

write_proxy_config() {
  mkdir -p "$PROXY_DIR/tmp"
  issue_cert opensearch-proxy "Vigil test OpenSearch proxy"
  issue_cert opensearch-client "vigil-pipeline"
  if [[ ! -s $PROXY_DIR/password ]]; then
    (umask 077; openssl rand -hex 16 >"$PROXY_DIR/password")
  fi
  echo "$PROXY_USER" >"$PROXY_DIR/user"
  printf '%s:%s\n' "$PROXY_USER" "$(openssl passwd -apr1 -in "$PROXY_DIR/password")" >"$PROXY_DIR/htpasswd"
  local user_line="" blocks="" pair port up
  # As root, nginx's workers would otherwise drop to nobody, who cannot
  # read the cache.
  [[ $EUID -eq 0 ]] && user_line="user root;"
  for pair in "$PROXY_PORT:$OPENSEARCH_PORT" "$PROXY_STANDBY_PORT:$OPENSEARCH_STANDBY_PORT"; do
    port=${pair%%:*} up=${pair##*:}
    blocks+="
  server {
    listen $HOST:$port ssl;
    ssl_certificate     $TLS_DIR/opensearch-proxy.crt;
    ssl_certificate_key $TLS_DIR/opensearch-proxy.key;
    ssl_client_certificate $TLS_DIR/ca.crt;
    ssl_verify_client on;
    auth_basic \"vigil test OpenSearch\";
    auth_basic_user_file $PROXY_DIR/htpasswd;
    location / {
      proxy_pass http://$HOST:$up;
      proxy_set_header Authorization \"\";
    }
  }"
  done
  cat >"$PROXY_DIR/nginx.conf" <<EOF
# Generated by scripts/infra.sh on every start; edits are lost.
$user_line
daemon off;
master_process on;
worker_processes 1;
pid $PROXY_DIR/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $PROXY_DIR/tmp/body;
  proxy_temp_path $PROXY_DIR/tmp/proxy;
  fastcgi_temp_path $PROXY_DIR/tmp/fastcgi;
  uwsgi_temp_path $PROXY_DIR/tmp/uwsgi;
  scgi_temp_path $PROXY_DIR/tmp/scgi;
  # Bulk bodies of large-record tests reach ~32 MiB.
  client_max_body_size 64m;
  proxy_request_buffering off;
  proxy_http_version 1.1;
  proxy_read_timeout 120s;
$blocks
}
EOF
}

# Any HTTP answer (400: no client certificate) proves nginx serves TLS.
proxy_probe() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$TLS_DIR/ca.crt" "https://$HOST:$PROXY_PORT/")
  [[ $code != 000 ]]
}

start_proxy() {
  install_proxy
  write_proxy_config
  "$NGINX_BIN" -t -q -e stderr -p "$PROXY_DIR" -c "$PROXY_DIR/nginx.conf" 2>>"$LOGS/opensearch-proxy.log" ||
    fail_with_log opensearch-proxy "nginx rejected $PROXY_DIR/nginx.conf"
  log "opensearch-proxy: starting on https://$HOST:$PROXY_PORT (-> :$OPENSEARCH_PORT) and :$PROXY_STANDBY_PORT (-> :$OPENSEARCH_STANDBY_PORT)"
  spawn opensearch-proxy "$NGINX_BIN" -e stderr -p "$PROXY_DIR" -c "$PROXY_DIR/nginx.conf"
  ready_probe opensearch-proxy
}

# ------------------------------------------------------------- prometheus --

PROMETHEUS_BIN=/usr/bin/prometheus

install_prometheus() {
  [[ -x $PROMETHEUS_BIN ]] && return 0
  local t0=$SECONDS
  apt_install prometheus
  [[ -x $PROMETHEUS_BIN ]] || die "prometheus: $PROMETHEUS_BIN missing after apt-get install"
  stop_distro_prometheus
  log "prometheus: installed $("$PROMETHEUS_BIN" --version 2>&1 | head -n1) ($((SECONDS - t0))s)"
}

# The package's maintainer scripts may launch the distro service, which
# listens on 9090 outside our control. Stop exactly that process: the
# /usr/bin/prometheus listening on our port as the package's `prometheus`
# user. Ours run as whoever runs this script, so another checkout's (or
# another VIGIL_CACHE's) Prometheus is never touched.
stop_distro_prometheus() {
  if command -v invoke-rc.d >/dev/null; then
    invoke-rc.d prometheus stop >/dev/null 2>&1 || true
  fi
  local pid
  for pid in $(ss -Hltnp "sport = :$PROMETHEUS_PORT" 2>/dev/null | grep -oE 'pid=[0-9]+' | cut -d= -f2 | sort -u); do
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$PROMETHEUS_BIN" ]] || continue
    [[ $(stat -c %U "/proc/$pid" 2>/dev/null) == prometheus ]] || continue
    log "prometheus: stopping the distro-started prometheus (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    sleep 2
  done
}

write_prometheus_config() {
  local dir="$CACHE/prometheus"
  mkdir -p "$dir/targets" "$dir/rules" "$DATA/prometheus"
  # Scrape targets come from targets/*.json (file_sd, re-read every 5 s) so
  # tests can add/remove targets without touching this file.
  cat >"$dir/prometheus.yml" <<EOF
# Generated by scripts/infra.sh on every start; edits are lost on restart.
# Add scrape targets by dropping JSON files into $dir/targets/.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
  scrape_timeout: 4s

rule_files:
  - $dir/rules/*.yml

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["$HOST:$PROMETHEUS_PORT"]
  - job_name: file_sd
    file_sd_configs:
      - files:
          - $dir/targets/*.json
        refresh_interval: 5s
EOF
}

prometheus_probe() {
  curl -sf --max-time 3 "http://$HOST:$PROMETHEUS_PORT/-/ready"
}

start_prometheus() {
  install_prometheus
  write_prometheus_config
  log "prometheus: starting on $HOST:$PROMETHEUS_PORT"
  spawn prometheus "$PROMETHEUS_BIN" \
    "--config.file=$CACHE/prometheus/prometheus.yml" \
    "--storage.tsdb.path=$DATA/prometheus" \
    "--web.listen-address=$HOST:$PROMETHEUS_PORT" \
    --web.enable-lifecycle \
    --web.enable-remote-write-receiver
  ready_probe prometheus
}

# --------------------------------------------------------------- dispatch --

install_server() {
  case $1 in
    kafka | kafka-[123]) install_kafka ;;
    opensearch-proxy) install_proxy ;;
    opensearch*) use_os_version "$1"; install_opensearch ;;
    prometheus) install_prometheus ;;
  esac
}

start_server() {
  local name=$1
  local is_os=0
  [[ $name == opensearch* && $name != opensearch-proxy ]] && is_os=1
  [[ $is_os == 1 ]] && use_os_version "$name"
  # A running OpenSearch of another version than asked for is restarted on
  # the asked one (each version has its own data dir, so nothing is lost).
  if [[ $is_os == 1 ]] && is_running "$name" && ! running_version_is "$name" "$OPENSEARCH_VERSION"; then
    log "$name: running another version than $OPENSEARCH_VERSION; restarting it on $OPENSEARCH_VERSION"
    stop_server "$name" TERM
  fi
  if is_running "$name"; then
    # A broker started before the secured listeners existed (or with other
    # ports) never opens them: restart it with the current configuration
    # rather than wait for a probe that cannot succeed.
    if [[ $name == kafka ]] && ! grep -qF "SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT,MTLS://$HOST:$KAFKA_MTLS_PORT" "$KAFKA_HOME/server.properties" 2>/dev/null; then
      log "kafka: running without the secured listeners on $KAFKA_SASL_SSL_PORT/$KAFKA_MTLS_PORT; restarting it"
      stop_server kafka TERM
      start_kafka
      return 0
    fi
    # Still probe: a running server may not be ready yet (e.g. another
    # caller's start timed out, or it is recovering after a kill).
    READY_QUIET=1 ready_probe "$name"
    log "$name: already running at $(server_addr "$name") (pid $(server_pid "$name"))"
    return 0
  fi
  # A live pid that is not (yet/any more) serving its port: a hung or
  # half-started server. Replace it rather than wait on it forever.
  if server_pid "$name" >/dev/null; then
    log "$name: process alive but port $(server_port "$name") closed; restarting it"
    stop_server "$name" TERM
  fi
  rm -f "$(pidfile "$name")"
  [[ $name == prometheus ]] && stop_distro_prometheus
  check_port_free "$name"
  case $name in
    kafka) start_kafka ;;
    kafka-[123])
      spawn_kafka_node "$name"
      [[ ${DEFER_READY:-0} == 1 ]] || ready_probe "$name"
      ;;
    opensearch) start_opensearch_instance opensearch "$OPENSEARCH_PORT" "$OPENSEARCH_TRANSPORT_PORT" ;;
    opensearch-standby) start_opensearch_instance opensearch-standby "$OPENSEARCH_STANDBY_PORT" "$OPENSEARCH_STANDBY_TRANSPORT_PORT" ;;
    opensearch-2) start_opensearch_instance opensearch-2 "$OPENSEARCH2_PORT" "$OPENSEARCH2_TRANSPORT_PORT" ;;
    opensearch-2-standby) start_opensearch_instance opensearch-2-standby "$OPENSEARCH2_STANDBY_PORT" "$OPENSEARCH2_STANDBY_TRANSPORT_PORT" ;;
    opensearch-proxy) start_proxy ;;
    prometheus) start_prometheus ;;
  esac
}

# Timeouts are generous: Kafka and OpenSearch are ready in ~5-15 s here;
# the margin is for a loaded CI box recovering logs after a kill.
# running_version_is NAME VERSION: false only when the server answers with
# another version number (no answer: let the readiness probe judge).
running_version_is() {
  local v
  v=$(curl -s --max-time 3 "$(server_addr "$1")/" | sed -n 's/.*"number" *: *"\([^"]*\)".*/\1/p')
  [[ -z $v || $v == "$2" ]]
}

ready_probe() {
  case $1 in
    kafka) wait_ready kafka 90 kafka_secured_probe ;;
    kafka-[123]) wait_ready "$1" 120 kafka_probe "$(server_port "$1")" ;;
    opensearch) wait_ready opensearch 120 opensearch_probe "$OPENSEARCH_PORT" ;;
    opensearch-standby) wait_ready opensearch-standby 120 opensearch_probe "$OPENSEARCH_STANDBY_PORT" ;;
    opensearch-2) wait_ready opensearch-2 120 opensearch_probe "$OPENSEARCH2_PORT" ;;
    opensearch-2-standby) wait_ready opensearch-2-standby 120 opensearch_probe "$OPENSEARCH2_STANDBY_PORT" ;;
    opensearch-proxy) wait_ready opensearch-proxy 30 proxy_probe ;;
    prometheus) wait_ready prometheus 60 prometheus_probe ;;
  esac
}

status_server() {
  local name=$1 pid
  if is_running "$name"; then
    pid=$(server_pid "$name")
    printf '%-20s %-5s %-24s pid %s\n' "$name" up "$(server_addr "$name")" "$pid"
    return 0
  fi
  pid=$(server_pid "$name" || echo -)
  printf '%-20s %-5s %-24s pid %s\n' "$name" down "$(server_addr "$name")" "$pid"
  return 1
}

wipe_server() {
  stop_server "$1" TERM
  init_os_root
  log "$1: deleting $DATA/$1 and its logs"
  rm -rf "${DATA:?}/$1" "$LOGS/$1.log" "$LOGS/$1.d" "${OS_ROOT:?}/data/$1" "$OS_ROOT/logs/$1.d"
}

default_servers() {
  local -a s=(kafka opensearch prometheus)
  [[ ${VIGIL_INFRA_STANDBY:-0} == 1 ]] && s=(kafka opensearch opensearch-standby prometheus)
  echo "${s[@]}"
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

main() {
  [[ $# -ge 1 ]] || usage
  local verb=$1; shift
  local -a servers=() s
  for s in "$@"; do
    if [[ $s == kafka-cluster ]]; then servers+=("${KAFKA_CLUSTER[@]}"); else servers+=("$s"); fi
  done
  for s in "${servers[@]}"; do
    [[ " ${ALL_SERVERS[*]} " == *" $s "* ]] || die "unknown server '$s' (known: ${ALL_SERVERS[*]} kafka-cluster)"
  done
  case $verb in
    up | status | install) [[ ${#servers[@]} -gt 0 ]] || read -r -a servers <<<"$(default_servers)" ;;
    down) [[ ${#servers[@]} -gt 0 ]] || servers=("${ALL_SERVERS[@]}") ;;
    start | stop | restart | kill | wipe) [[ ${#servers[@]} -gt 0 ]] || die "$verb: name a server (${ALL_SERVERS[*]})" ;;
    -h | --help | help) usage ;;
    *) die "unknown verb '$verb' (up down status start stop restart kill install wipe)" ;;
  esac

  mkdir -p "$RUN" "$LOGS" "$DATA" "$DL"

  if [[ $verb == status ]]; then
    local rc=0
    for s in "${servers[@]}"; do status_server "$s" || rc=1; done
    return $rc
  fi

  # Tests may call start/stop from parallel packages; serialise every
  # mutating verb so two callers never race on one pidfile.
  exec 9>"$RUN/infra.lock"
  flock 9

  # Cluster nodes started together are waited for together: each needs
  # two of the three up to elect a controller.
  local -a deferred=()
  # Stopped together too: a node stopped after the others has no quorum
  # left to confirm its controlled shutdown and would wait out the whole
  # grace period. So all of them get SIGTERM first; stop_server then waits.
  if [[ $verb == down || $verb == stop ]]; then
    local pid
    for s in "${servers[@]}"; do
      [[ $s == kafka-[123] ]] && pid=$(server_pid "$s") && { kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; }
    done
  fi
  for s in "${servers[@]}"; do
    case $verb in
      up | start)
        if [[ $s == kafka-[123] ]] && ! is_running "$s"; then
          DEFER_READY=1 start_server "$s"
          deferred+=("$s")
        else
          start_server "$s"
        fi
        ;;
      down | stop) stop_server "$s" TERM ;;
      kill) stop_server "$s" KILL ;;
      restart) stop_server "$s" TERM; start_server "$s" ;;
      install) install_server "$s" ;;
      wipe) wipe_server "$s" ;;
    esac
  done
  for s in "${deferred[@]}"; do ready_probe "$s"; done
}

main "$@"
