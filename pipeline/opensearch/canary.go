package opensearch

// CanaryTemplate names the canary index's template.
func (n Names) CanaryTemplate() string { return n.Canary + "-template" }

// CanaryTemplate is the template of the canary index: one document per
// collector heartbeat (kind heartbeat, _id its collector, run, topic,
// partition and sequence number) and one per closed loss window and
// pipeline (kind window). Explicit and closed (dynamic false) like every
// Vigil index: heartbeats never reach the user indices.
func CanaryTemplate(n Names, s Settings) m {
	date := m{"type": "date"}
	long := m{"type": "long"}
	return plainTemplate(n.Canary, s, m{
		"@timestamp": date,
		"kind":       kw(32),
		"topic":      kw(256),
		// heartbeat
		"collector": kw(256),
		"run":       kw(64),
		"partition": m{"type": "integer"},
		"seq":       long,
		"acked":     long,
		"offset":    long,
		// window
		"window_end": date,
		"produced":   long,
		"consumed":   long,
		"lost":       long,
		"gaps":       long,
		"segments":   m{"type": "integer"},
		"pipeline":   kw(256),
		"closed_at":  date,
	})
}
