// Package telemetry builds the process's logger and Prometheus registry, the
// two things every component is handed.
package telemetry
