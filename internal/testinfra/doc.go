// Package testinfra lets tests find the real servers that scripts/infra.sh
// runs on loopback (Kafka, OpenSearch primary and standby, Prometheus) and
// the command-line tools that scripts/tools.sh installs, and lets outage
// tests stop, start and kill those servers.
//
// Tests learn where the servers are only from the environment printed by
// scripts/env.sh (the Makefile evals it):
//
//	VIGIL_TEST_KAFKA                 127.0.0.1:9092
//	VIGIL_TEST_KAFKA_CLUSTER         127.0.0.1:9192,...:9193,...:9194 (KafkaCluster)
//	VIGIL_TEST_OPENSEARCH            http://127.0.0.1:9200
//	VIGIL_TEST_OPENSEARCH_STANDBY    http://127.0.0.1:9201
//	VIGIL_TEST_PROMETHEUS            http://127.0.0.1:9090
//	VIGIL_TEST_PROMETHEUS_TARGETS    directory of file_sd target files
//	VIGIL_INFRA                      path of scripts/infra.sh
//	VIGIL_CACHE                      the cache dir (tools live in its bin/)
//
// A server that is not configured or not answering makes the test skip on a
// developer machine, so `go test ./...` stays usable without the
// infrastructure, but fail when CI=true, so CI can never pass by silently
// skipping the tests that matter. Either way the message names the server
// and the make target that brings it up.
//
// Outage tests take a server down and must bring it back for the tests that
// follow, typically:
//
//	testinfra.Stop(t, "kafka")
//	t.Cleanup(func() { testinfra.Start(t, "kafka") })
//
// Servers are shared by every test package, so such tests must not run in
// parallel with others that use the same server. infra.sh serialises its own
// invocations with a lock, which keeps state consistent but does not stop
// another package's test from seeing the outage.
//
// Prometheus scrapes whatever file_sd target files sit in
// PrometheusTargetsDir (re-read every 5 s), e.g. a file mytest.json holding
//
//	[{"targets": ["127.0.0.1:8888"], "labels": {"job": "mytest"}}]
//
// Write it under another name and rename it into place so Prometheus never
// reads half a file, and remove it in t.Cleanup.
package testinfra
