//go:build e2e

// Package e2e is the pipeline's end-to-end run on real servers: the real
// `vigil collector` and `vigil pipeline` processes against the real Kafka
// and OpenSearch from scripts/infra.sh, fed by telemetrygen, kcat and a
// small OTLP sender of the tests' own (for records that carry a unique
// sequence number, so duplicates can be counted exactly). Each test uses
// its own topics, consumer group and index names, so tests never see each
// other's data. Some tests kill and restart OpenSearch: run the package
// with -p 1 (make test does).
package e2e
