package opensearch

// The application map of OpenSearch Dashboards' APM (3.6+): NodeOperationDetail
// documents written through the alias Names.APMServiceMap into indices
// <alias>-000001, ..., which roll over by ISM. The mapping is Data Prepper's
// otel-v2-apm-service-map template, so Dashboards' PPL queries (dedup on the
// connection hashes, filters on keyAttributes) see the same field types.

// APMServiceMapTemplate names the application map's template.
func (n Names) APMServiceMapTemplate() string { return n.APMServiceMap + "-template" }

// APMServiceMapPolicy names the application map's ISM policy.
func (n Names) APMServiceMapPolicy() string { return n.APMServiceMap + "-policy" }

// APMBootstrapIndex is the application map's first index.
func (n Names) APMBootstrapIndex() string { return n.APMServiceMap + "-000001" }

// APMServiceMapTemplate is the template for the application map's indices.
func APMServiceMapTemplate(n Names, s Settings, ism bool) m {
	alias := ""
	if ism {
		alias = n.APMServiceMap
	}
	node := m{"properties": m{
		"type":              m{"type": "keyword"},
		"keyAttributes":     m{"properties": m{"environment": m{"type": "keyword"}, "name": m{"type": "keyword"}}},
		"groupByAttributes": m{"type": "object", "dynamic": "true"},
	}}
	op := m{"properties": m{
		"name":       m{"type": "keyword"},
		"attributes": m{"type": "object", "dynamic": "true"},
	}}
	typed := func(name, path, match, typ string) m {
		return m{name: m{"path_match": path, "match_mapping_type": match, "mapping": m{"type": typ}}}
	}
	return indexTemplate(n.APMServiceMap+"-*", s, alias, m{
		"date_detection": false,
		"dynamic_templates": []m{
			typed("long_group_by_attributes", "*.groupByAttributes.*", "long", "long"),
			typed("double_group_by_attributes", "*.groupByAttributes.*", "double", "double"),
			typed("string_group_by_attributes", "*.groupByAttributes.*", "string", "keyword"),
			typed("long_operation_attributes", "*.attributes.*", "long", "long"),
			typed("double_operation_attributes", "*.attributes.*", "double", "double"),
			typed("string_operation_attributes", "*.attributes.*", "string", "keyword"),
		},
		"properties": m{
			"sourceNode":              node,
			"targetNode":              node,
			"sourceOperation":         op,
			"targetOperation":         op,
			"nodeConnectionHash":      m{"type": "keyword"},
			"operationConnectionHash": m{"type": "keyword"},
			"timestamp":               m{"type": "date", "format": "strict_date_optional_time||epoch_millis"},
		},
	})
}

// APMServiceMapPolicyBody is the application map's ISM policy: rollover
// and retention as for spans.
func APMServiceMapPolicyBody(n Names, l Lifecycle) m {
	return Policy(policyDescription("apm service map"), n.APMServiceMap+"-*", l, true)
}
