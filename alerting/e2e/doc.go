// Package e2e runs the real `vigil alerting` (and `vigil detector`)
// binaries against the real Kafka (and Prometheus), with Slack served by
// slackfake in the test process: restart after SIGKILL, takeover between
// two replicas under Slack 429s and 500s, and the detector-and-alerting HA
// drill. Build tag e2e; VIGIL_BIN names the binary (docs/testing.md).
package e2e
