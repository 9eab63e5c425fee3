//go:build e2e

// Package e2e runs the vigil collector binary against the real Kafka from
// `make infra-up`, with telemetrygen as the OTLP client. Some tests stop
// Kafka, so the package is built only with -tags e2e and make test runs it
// after the other packages, one package at a time.
package e2e
