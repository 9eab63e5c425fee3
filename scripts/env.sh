#!/usr/bin/env bash
# scripts/env.sh — print the environment that points tests at the servers
# scripts/infra.sh runs. Usage (Makefile, shell): eval "$(scripts/env.sh)"
#
# Honours the same VIGIL_*_PORT and VIGIL_CACHE variables as infra.sh, so a
# non-default port set once in the environment reaches both sides.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${VIGIL_CACHE:-$REPO/.cache}"

# %q keeps paths with spaces intact through eval; the ";" keeps an
# unquoted `eval $(scripts/env.sh)` (newlines folded to spaces) correct.
emit() { printf 'export %s=%q;\n' "$1" "$2"; }

emit VIGIL_CACHE "$CACHE"
emit VIGIL_TEST_KAFKA "127.0.0.1:${VIGIL_KAFKA_PORT:-9092}"
# The three-node Kafka of the reliability drills (infra.sh kafka-cluster),
# started on demand by the tests that need it.
cport=${VIGIL_KAFKA_CLUSTER_PORT:-9192}
emit VIGIL_TEST_KAFKA_CLUSTER "127.0.0.1:$cport,127.0.0.1:$((cport + 1)),127.0.0.1:$((cport + 2))"
emit VIGIL_TEST_OPENSEARCH "http://127.0.0.1:${VIGIL_OPENSEARCH_PORT:-9200}"
emit VIGIL_TEST_OPENSEARCH_STANDBY "http://127.0.0.1:${VIGIL_OPENSEARCH_STANDBY_PORT:-9201}"
emit VIGIL_TEST_PROMETHEUS "http://127.0.0.1:${VIGIL_PROMETHEUS_PORT:-9090}"
emit VIGIL_TEST_PROMETHEUS_TARGETS "$CACHE/prometheus/targets"
emit VIGIL_INFRA "$REPO/scripts/infra.sh"
# The throwaway CA and certificates of the secured listeners (infra.sh issue_cert).
emit VIGIL_TEST_TLS_DIR "$CACHE/tls"
# Kafka's secured listeners (infra.sh write_kafka_config): SASL_SSL with
# SCRAM-SHA-512, and SSL requiring a client certificate (kafka-client.crt/.key
# in VIGIL_TEST_TLS_DIR). Both present the CA's kafka-broker certificate.
emit VIGIL_TEST_KAFKA_SASL_SSL "127.0.0.1:${VIGIL_KAFKA_SASL_SSL_PORT:-9094}"
emit VIGIL_TEST_KAFKA_MTLS "127.0.0.1:${VIGIL_KAFKA_MTLS_PORT:-9095}"
emit VIGIL_TEST_KAFKA_SCRAM_USER vigil
emit VIGIL_TEST_KAFKA_SCRAM_PASSWORD_FILE "$CACHE/kafka/scram.password"
# The 2.x pair (infra.sh opensearch-2, opensearch-2-standby); `make test`
# reruns the OpenSearch-facing tests with VIGIL_TEST_OPENSEARCH(_STANDBY)
# set to these.
# The versions infra.sh runs (its defaults), so a test can prove which one
# it talks to.
emit VIGIL_TEST_OPENSEARCH_VERSION "${VIGIL_OPENSEARCH_VERSION:-3.8.0}"
emit VIGIL_TEST_OPENSEARCH2_VERSION "${VIGIL_OPENSEARCH2_VERSION:-2.19.6}"
emit VIGIL_TEST_OPENSEARCH2 "http://127.0.0.1:${VIGIL_OPENSEARCH2_PORT:-9202}"
emit VIGIL_TEST_OPENSEARCH2_STANDBY "http://127.0.0.1:${VIGIL_OPENSEARCH2_STANDBY_PORT:-9203}"
# nginx with TLS, basic auth and a required client certificate in front of
# opensearch / opensearch-standby (infra.sh opensearch-proxy).
emit VIGIL_TEST_OPENSEARCH_PROXY "https://127.0.0.1:${VIGIL_OPENSEARCH_PROXY_PORT:-9243}"
emit VIGIL_TEST_OPENSEARCH_PROXY_STANDBY "https://127.0.0.1:${VIGIL_OPENSEARCH_PROXY_STANDBY_PORT:-9244}"
emit VIGIL_TEST_OPENSEARCH_PROXY_USER vigil
emit VIGIL_TEST_OPENSEARCH_PROXY_PASSWORD_FILE "$CACHE/opensearch-proxy/password"
emit VIGIL_TEST_OPENSEARCH_PROXY_CERT "$CACHE/tls/opensearch-client.crt"
emit VIGIL_TEST_OPENSEARCH_PROXY_KEY "$CACHE/tls/opensearch-client.key"
# Prepend once: re-running eval must not keep growing PATH.
case ":$PATH:" in
  *":$CACHE/bin:"*) emit PATH "$PATH" ;;
  *) emit PATH "$CACHE/bin:$PATH" ;;
esac
