// Package admin serves a component's operational HTTP endpoints: /metrics
// from the process's own Prometheus registry, /healthz (liveness: the process
// is serving) and /readyz (readiness: every registered check passes and
// shutdown has not begun). Components mount their own APIs on the same
// server with Handle.
package admin
