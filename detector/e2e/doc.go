//go:build e2e

// Package e2e runs real `vigil detector` processes against the real
// Prometheus (scraping a gauge this test process exports) and the real
// Kafka, and reads what they publish on the health topic: the
// scenarios that need real processes (flapping, a Prometheus outage, the
// leader killed mid-`for`, a restart while CRITICAL, webhooks publishing).
// Built only with -tags
// e2e; some tests stop the shared Prometheus, so make test runs e2e packages
// one at a time.
package e2e
