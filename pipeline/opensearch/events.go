package opensearch

// Health and failover events (vigil.health, vigil.failover) and the headers
// of dead-lettered records (vigil.dlq) are indexed by pipeline/eventindex into
// one plain index each. Both are low volume (a handful of transitions a day;
// a DLQ record per failed batch), so there is no rollover: the index name is
// the template's only pattern, and Dashboards reads it directly.

// EventsTemplate names the health-events index's template.
func (n Names) EventsTemplate() string { return n.Events + "-template" }

// DLQTemplate names the DLQ index's template.
func (n Names) DLQTemplate() string { return n.DLQ + "-template" }

func text() m { return m{"type": "text", "fields": m{"keyword": kw(1024)}} }

// EventsTemplate is the template of the health-events index: one document
// per CloudEvent on vigil.health or vigil.failover, its _id the event's id.
// Health and failover data share the top level (target, generation,
// reason); fields of the other kind are absent. labels and annotations are
// flat_object so that rule authors' keys never change the mapping.
func EventsTemplate(n Names, s Settings) m {
	date := m{"type": "date"}
	return plainTemplate(n.Events, s, m{
		"@timestamp":  date,
		"eventId":     kw(256),
		"eventType":   kw(256),
		"eventSource": kw(256),
		"kind":        kw(32),
		"target":      kw(256),
		"generation":  m{"type": "long"},
		"reason":      text(),
		// health
		"status":         kw(32),
		"previousStatus": kw(32),
		"since":          date,
		"rule":           kw(256),
		"value":          m{"type": "double"},
		"threshold":      m{"type": "double"},
		"labels":         m{"type": "flat_object"},
		"annotations":    m{"type": "flat_object"},
		// failover
		"from":             kw(256),
		"to":               kw(256),
		"healthGeneration": m{"type": "long"},
		"actor":            kw(256),
		"error":            text(),
		"kafka": m{"properties": m{
			"topic":     kw(256),
			"partition": m{"type": "integer"},
			"offset":    m{"type": "long"},
		}},
	})
}

// DLQTemplate is the template of the DLQ index: one document per
// dead-lettered record, made from its headers (never its payload, which is
// the original OTLP batch: read or replay it with `vigil dlq`). _id is the
// DLQ record's partition and offset.
func DLQTemplate(n Names, s Settings) m {
	date := m{"type": "date"}
	pos := func() m {
		return m{"properties": m{
			"topic":     kw(256),
			"partition": m{"type": "integer"},
			"offset":    m{"type": "long"},
			"timestamp": date,
		}}
	}
	return plainTemplate(n.DLQ, s, m{
		"@timestamp":      date,
		"errorType":       kw(256),
		"reason":          text(),
		"httpStatus":      m{"type": "integer"},
		"targetIndex":     kw(256),
		"attempts":        m{"type": "integer"},
		"failedDocuments": m{"type": "integer"},
		"firstFailure":    date,
		"lastFailure":     date,
		"replayedFrom":    m{"type": "long"},
		"valueBytes":      m{"type": "long"},
		"source":          pos(),
		"dlq":             pos(),
	})
}
