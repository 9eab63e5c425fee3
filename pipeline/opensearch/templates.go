package opensearch

import (
	"strconv"
	"strings"
)

// TemplateVersion is the version of the index templates and ISM policies
// this build ships. Raise it whenever a template or policy changes: Install
// upgrades a cluster holding an older version and never touches a newer one
// (so a rolled-back pipeline does not downgrade what a newer one installed).
const TemplateVersion = 2

// Names are the indices the pipeline writes. Each template and policy name
// is derived from them, so that two pipelines (or two tests) with different
// names never share a template.
type Names struct {
	// SpanAlias is the write alias for spans; its indices are
	// SpanAlias-000001, -000002, ... (Dashboards reads otel-v1-apm-span-*).
	SpanAlias string
	// ServiceMap is the service-map index.
	ServiceMap string
	// APMServiceMap is the write alias of Dashboards APM's application map
	// (NodeOperationDetail documents); empty installs nothing for it.
	APMServiceMap string
	// LogsDataStream is the logs data stream; its template matches the part
	// before the first "-" followed by "-*" (ss4o_logs-*).
	LogsDataStream string
	// Events is the health-events index (vigil.health, vigil.failover);
	// empty installs no template for it.
	Events string
	// DLQ is the index of dead-lettered records' headers; empty installs no
	// template for it.
	DLQ string
	// Canary is the index of heartbeat and loss-window documents; empty
	// installs no template for it.
	Canary string
}

// SpanTemplate names the span indices' composable template.
func (n Names) SpanTemplate() string { return n.SpanAlias + "-template" }

// ServiceMapTemplate names the service-map index's template.
func (n Names) ServiceMapTemplate() string { return n.ServiceMap + "-template" }

// LogsTemplate names the logs data stream's template.
func (n Names) LogsTemplate() string { return n.logsPrefix() + "-template" }

// SpanPolicy names the span indices' ISM policy.
func (n Names) SpanPolicy() string { return n.SpanAlias + "-policy" }

// LogsPolicy names the logs data stream's ISM policy.
func (n Names) LogsPolicy() string { return n.logsPrefix() + "-policy" }

func (n Names) logsPrefix() string { p, _, _ := strings.Cut(n.LogsDataStream, "-"); return p }

// BootstrapIndex is the first span index, created with the write alias.
func (n Names) BootstrapIndex() string { return n.SpanAlias + "-000001" }

// Settings are the index settings every template carries.
type Settings struct {
	Shards           int
	Replicas         int
	RefreshInterval  string
	TotalFieldsLimit int
}

// Lifecycle is the ISM policy's rollover and retention.
type Lifecycle struct {
	RolloverSize string // e.g. "10gb"
	RolloverAge  string // e.g. "1d"
	DeleteAfter  string // e.g. "7d"
}

type m = map[string]any

func kw(ignoreAbove int) m { return m{"type": "keyword", "ignore_above": ignoreAbove} }

func indexSettings(s Settings, rolloverAlias string) m {
	idx := m{
		"number_of_shards":   s.Shards,
		"number_of_replicas": s.Replicas,
		"refresh_interval":   s.RefreshInterval,
		"mapping":            m{"total_fields": m{"limit": s.TotalFieldsLimit}},
	}
	if rolloverAlias != "" {
		// Only when the index-management plugin is present: without it the
		// setting is unknown and the whole template would be rejected.
		idx["plugins"] = m{"index_state_management": m{"rollover_alias": rolloverAlias}}
	}
	return m{"index": idx}
}

// fullValues maps vigil.full, the whole values of attributes that are
// indexed by their prefix (see document's long.go): kept in _source, not
// indexed, so it adds no fields and no terms.
var fullValues = m{"type": "object", "enabled": false}

// indexTemplate is a composable template of Vigil's matching pattern:
// settings with the rollover alias (none if empty) and mappings.
func indexTemplate(pattern string, s Settings, rolloverAlias string, mappings m) m {
	return m{
		"index_patterns": []string{pattern},
		"priority":       200,
		"version":        TemplateVersion,
		"_meta":          m{"managed_by": "vigil"},
		"template": m{
			"settings": indexSettings(s, rolloverAlias),
			"mappings": mappings,
		},
	}
}

// plainTemplate is an explicit and closed (dynamic false) template
// without a rollover alias: props are all the fields there are.
func plainTemplate(pattern string, s Settings, props m) m {
	return indexTemplate(pattern, s, "", m{
		"date_detection": false,
		"dynamic":        false,
		"properties":     props,
	})
}

// keywordTemplate maps every field under path to keyword.
func keywordTemplate(name, path string) m {
	return m{name: m{"path_match": path, "mapping": kw(1024)}}
}

// SpanTemplate is the composable template for span indices.
//
// Attributes: span, resource, scope, event and link attributes are mapped by
// dynamic templates to keyword (ignore_above 1024), never by type detection.
// The documents carry every attribute value as a scalar (arrays and maps are
// JSON strings), and a keyword field accepts strings, numbers and booleans
// alike, so an attribute that is a number in one span and a string in the
// next never rejects a document — the failure a typed dynamic mapping would
// turn into a DLQ entry. Dynamic templates (rather than dynamic: false) keep
// every attribute searchable in Dashboards, as with Data Prepper. Span
// attribute keys outside a known set (semantic conventions) are written
// into the span.attributes.overflow flat_object instead, one field however
// many keys, so that a flood of distinct keys cannot reach
// index.mapping.total_fields.limit and have every later span with a new
// key refused. A string longer than ignore_above is written cut to its
// prefix, which stays searchable, and whole in vigil.full (enabled: false). The catch-all strings_as_keyword
// template keeps any other new string field from becoming text+keyword.
func SpanTemplate(n Names, s Settings, ism bool) m {
	alias := ""
	if ism {
		alias = n.SpanAlias
	}
	date := m{"type": "date_nanos"}
	props := m{
		"traceId":      kw(256),
		"spanId":       kw(256),
		"parentSpanId": kw(256),
		"traceState":   kw(1024),
		"name":         kw(1024),
		"kind":         kw(128),
		"serviceName":  kw(1024),
		"traceGroup":   kw(1024),
		"traceGroupFields": m{"properties": m{
			"endTime":         date,
			"durationInNanos": m{"type": "long"},
			"statusCode":      m{"type": "integer"},
		}},
		"startTime":       date,
		"endTime":         date,
		"durationInNanos": m{"type": "long"},
		"status": m{"properties": m{
			"code":    m{"type": "integer"},
			"message": kw(1024),
		}},
		"droppedAttributesCount": m{"type": "long"},
		"droppedEventsCount":     m{"type": "long"},
		"droppedLinksCount":      m{"type": "long"},
		"instrumentationScope": m{"properties": m{
			"name":    kw(1024),
			"version": kw(256),
		}},
		"events": m{"type": "nested", "properties": m{
			"name":                   kw(1024),
			"time":                   date,
			"droppedAttributesCount": m{"type": "long"},
		}},
		"links": m{"type": "nested", "properties": m{
			"traceId":                kw(256),
			"spanId":                 kw(256),
			"traceState":             kw(1024),
			"droppedAttributesCount": m{"type": "long"},
		}},
		// Span attributes whose keys are not among the known ones
		// (document.knownSpanAttributes): one field however many keys.
		"span": m{"properties": m{"attributes": m{"properties": m{
			"overflow": m{"type": "flat_object"},
		}}}},
		"vigil": m{"properties": m{"sanitized": kw(1024), "full": fullValues}},
	}
	return indexTemplate(n.SpanAlias+"-*", s, alias, m{
		"date_detection":    false,
		"numeric_detection": false,
		"dynamic_templates": []m{
			keywordTemplate("span_attributes", "span.attributes.*"),
			keywordTemplate("resource_attributes", "resource.attributes.*"),
			keywordTemplate("scope_attributes", "instrumentationScope.attributes.*"),
			keywordTemplate("event_attributes", "events.attributes.*"),
			keywordTemplate("link_attributes", "links.attributes.*"),
			{"strings_as_keyword": m{"match_mapping_type": "string", "mapping": kw(1024)}},
		},
		"properties": props,
	})
}

// ServiceMapTemplate is the template for the service-map index.
func ServiceMapTemplate(n Names, s Settings) m {
	endpoint := m{"properties": m{"domain": kw(1024), "resource": kw(1024)}}
	return plainTemplate(n.ServiceMap, s, m{
		"hashId":         kw(1024),
		"serviceName":    kw(1024),
		"kind":           kw(1024),
		"destination":    endpoint,
		"target":         endpoint,
		"traceGroupName": kw(1024),
	})
}

// LogsTemplate is the template for the logs data stream, after the SS4O
// logs schema. attributes, resource and instrumentationScope.attributes are
// flat_object: each is one field however many keys it holds and whatever
// their types, so neither explosion nor type conflicts are possible, and
// dotted paths (attributes.http.method) still query. body is the only text
// field; dynamic: false keeps unknown top-level fields in _source only.
func LogsTemplate(n Names, s Settings) m {
	flat := m{"type": "flat_object"}
	t := plainTemplate(n.logsPrefix()+"-*", s, m{
		"@timestamp":        m{"type": "date_nanos"},
		"time":              m{"type": "date_nanos"},
		"observedTimestamp": m{"type": "date_nanos"},
		"traceId":           kw(256),
		"spanId":            kw(256),
		"serviceName":       kw(1024),
		"severity": m{"properties": m{
			"text":   kw(128),
			"number": m{"type": "integer"},
		}},
		"flags":      m{"type": "long"},
		"event":      m{"properties": m{"name": kw(256)}},
		"body":       m{"type": "text"},
		"attributes": flat,
		"resource":   flat,
		"instrumentationScope": m{"properties": m{
			"name":                   kw(1024),
			"version":                kw(256),
			"attributes":             flat,
			"droppedAttributesCount": m{"type": "long"},
		}},
		"schemaUrl":              kw(1024),
		"droppedAttributesCount": m{"type": "long"},
		"vigil":                  m{"properties": m{"sanitized": kw(1024), "full": fullValues}},
	})
	t["data_stream"] = m{}
	t["_meta"].(m)["schema"] = "ss4o_logs-1.0.0"
	return t
}

// Policy is an ISM policy: roll over at a size or age, delete after the
// retention. The ism_template attaches it to every new index matching the
// pattern, so the bootstrap index and every rollover get it.
func Policy(description, pattern string, l Lifecycle, rollover bool) m {
	var hot []m
	if rollover {
		hot = append(hot, m{"rollover": m{"min_size": l.RolloverSize, "min_index_age": l.RolloverAge}})
	}
	return m{"policy": m{
		"description":   description,
		"default_state": "hot",
		"states": []m{
			{
				"name":        "hot",
				"actions":     hot,
				"transitions": []m{{"state_name": "delete", "conditions": m{"min_index_age": l.DeleteAfter}}},
			},
			{
				"name":        "delete",
				"actions":     []m{{"delete": m{}}},
				"transitions": []m{},
			},
		},
		"ism_template": []m{{"index_patterns": []string{pattern}, "priority": 200}},
	}}
}

// policyDescription carries the template version: ISM policies have no
// version field of their own, and Install compares it.
func policyDescription(what string) string {
	return "vigil " + what + " lifecycle (vigil-version " + strconv.Itoa(TemplateVersion) + ")"
}

// SpanPolicy is the span indices' ISM policy.
func SpanPolicy(n Names, l Lifecycle) m {
	return Policy(policyDescription("span"), n.SpanAlias+"-*", l, true)
}

// LogsPolicy is the logs data stream's ISM policy (its backing indices are
// .ds-<stream>-NNNNNN; a data stream rolls over without a rollover alias).
func LogsPolicy(n Names, l Lifecycle) m {
	return Policy(policyDescription("logs"), ".ds-"+n.logsPrefix()+"-*", l, true)
}
