// Package document turns OTLP logs and spans into the JSON documents the
// pipeline indexes. Everything here is a pure function of its input, so that
// the same record always yields byte-identical documents and ids.
//
// # Spans
//
// Span documents are field-for-field those of Data Prepper's
// trace-analytics-raw pipeline (otel-v1-apm-span-*), because that is what
// OpenSearch Dashboards' Trace Analytics reads: hex traceId/spanId/
// parentSpanId, kind as "SPAN_KIND_SERVER", startTime/endTime as RFC 3339
// strings with nanoseconds (date_nanos), durationInNanos, top-level dotted
// keys "status.code", "status.message", "instrumentationScope.name", and
// every span and resource attribute as a top-level key
// "span.attributes.<key>" / "resource.attributes.<key>" with dots in the
// key written as "@" (so "http.method" and "http" never collide as object
// and value). Array and map attribute values are written as JSON strings,
// so every attribute is a scalar. traceGroup and traceGroupFields come from
// the trace's root span and are filled in by the pipeline (see Span.Render).
//
// # Span attributes
//
// Data Prepper makes every span attribute key a field. Keys are the
// applications' to invent (a tenant id, a header name, a feature flag in a
// key), and an index's fields are bounded (index.mapping.total_fields.limit,
// 5000): once a flood of distinct keys has reached it, every span with one
// more new key is refused and dead-lettered until the next rollover. The
// pipeline cannot know the live mapping's field count cheaply, so the split
// is fixed by configuration, not data: keys in knownSpanAttributes (known.go:
// OpenTelemetry's semantic conventions, current and older names, what Trace
// Analytics users filter on) and in Options.SpanFields (the pipeline's
// indices.span_attribute_fields) are fields of their own as with Data
// Prepper, "span.attributes.<key>";
// every other key goes into one flat_object field, span.attributes.overflow,
// as {"<key>": value} with its dots kept (searchable as
// span.attributes.overflow.<key>). That bounds the span index's attribute
// fields by the list whatever the data, and a key's place never depends on
// the data. Resource, scope, event and link attribute keys stay fields of
// their own: they come from deployments and instrumentations, not requests.
//
// # Long values
//
// A string an index takes as one term is indexed by its prefix, and kept
// whole in the document's "vigil.full" object (not indexed); see long.go.
// Each cut is listed in vigil.sanitized.
//
// # Logs
//
// Log documents follow the SS4O logs schema (ss4o_logs-*): @timestamp,
// observedTimestamp, body (text), severity.{text,number}, traceId, spanId,
// attributes, resource and instrumentationScope.attributes as objects (mapped
// as flat_object), plus top-level serviceName, traceId, spanId and time,
// the fields Dashboards correlates a trace's logs by.
//
// # From the wire
//
// Log records and spans in protobuf are rendered straight from the Kafka
// record's bytes (LogsOTLP in log.go, SpansOTLP in spanwire.go, both over
// the reader in wire.go) rather than from pdata's decoded objects, which
// cost a string and a struct per attribute. pdata stays the arbiter: bytes
// the wire reader does not take whole are decoded by pdata, whose error
// names what is wrong, and FuzzLogsOTLP and FuzzSpansOTLP hold the two
// paths to identical documents. otlp_json is decoded by pdata and
// re-encoded in protobuf (Logs, Spans), so it is rendered by the same code.
// Attribute values nested deeper than 128 levels are refused (ErrTooDeep):
// rendering them would exhaust the stack.
//
// Rendering takes the usual shapes in one step: an attribute in pdata's
// layout (pdataKV), and, while a record's attribute keys repeat the last
// record's in order (one instrumentation's records do), each key without
// the escaping and duplicate checks, and each attribute whose bytes are the
// last record's as the output it had then (keyMemo, memoWalk; for span
// attributes the memo also keeps each key's member name and whether it goes
// to the overflow). With Options.Head each log document is rendered as its
// bulk line pair, the id written into the action line, so that the pipeline
// sends it from where it is.
//
// # Where a rendering rule lives
//
// Each rule has one home, used by both signals; the pdata renderers kept
// in the tests (oracle_test.go, log_oracle_test.go, span_oracle_test.go)
// state the same rules in pdata's terms. A rule change goes into its home
// and into the oracle alike, and the fuzz targets named fail until the two
// agree (go test -fuzz=FuzzSpansOTLP, -fuzz=FuzzLogsOTLP; a minute each):
//
//	rule                                  home                                   proven by
//	which bytes are read, or left to pdata wire.go next, parseKV, pdataKV,          FuzzLogsOTLP, FuzzSpansOTLP,
//	                                       kvReader; log.go countRecords,          FuzzParseKV, FuzzPdataKV
//	                                       wlog.parse; spanwire.go wspan.parse
//	strings: escaping, invalid UTF-8       json.go appendString                    TestAppendStringBodyMatchesReference, both fuzz targets
//	attribute keys: empty, invalid UTF-8,  json.go sanitizeKey, keySet, appendKey    TestDuplicateKeysAfterDotReplacement, both fuzz targets
//	  repeats, dots as "@"
//	structured values (log attributes,     wire.go wctx.appendMap, appendValue     both fuzz targets, TestKeyMemo
//	  body, resource, scope; span event
//	  and link attributes)
//	scalar values (span, resource and      wire.go wctx.appendScalar               FuzzSpansOTLP
//	  scope attributes of spans)
//	numbers (NaN, two-decimal fast path)   json.go appendFloat                     TestAppendFloat, both fuzz targets
//	nesting: 8 levels, then a string;      json.go maxDepth, wire.go maxNesting    TestDeepNesting, both fuzz targets
//	  past 128 refused
//	timestamps: format                     fixes.go timeText, appendSecond,        TestTimeText
//	                                       appendFraction
//	timestamps: repairs                    fixes.go Options.validTime,             both fuzz targets
//	                                       recordNanos
//	span attributes: fields or overflow    flat.go flatAttrs, known.go             FuzzSpansOTLP, TestSpanAttributes
//	long values: flat_object (logs)        long.go cutFlat                         TestLongLogValues, FuzzLogsOTLP
//	long values: keyword (spans)           flat.go flatValue, long.go cutString    TestSpanAttributes, FuzzSpansOTLP
//	serviceName from the resource          wire.go wServiceName                    both fuzz targets
//	the resource's members                 log.go resourceLogs (an object),        both fuzz targets
//	                                       spanwire.go resourceSpans (flat)
//	repairs listed in vigil.sanitized      fixes.go fixes                          both fuzz targets, TestBadInputSanitized
//	log ids, repeats in a request          log.go hexID, distinguishRepeats        TestLogIDsOfRepeats, FuzzLogsOTLP
//	the documents' own members and order   log.go logWriter.log, spanwire.go       golden files (go test -update),
//	                                       spanWriter.span, span.go Render         both fuzz targets
//	the trace group members (a span's      span.go appendGroup                     golden files, TestTimeText,
//	  last, and a repair's update)                                                 TestUpdateDocMatchesRender
//	document buffers: a request's chunks   arena.go arena (Options.Chunk)          both fuzz targets
//
// # Service map
//
// A client span in one service whose child is a server span in another
// yields two otel-v1-apm-service-map relationships (Edge), with Data
// Prepper's hashId as document id.
//
// # IDs
//
// Spans: traceId + "-" + spanId. Service map: Data Prepper's hashId. Logs
// have no id of their own, so a log's id is the 128-bit XXH3 hash of its
// rendered document: a redelivered or replayed record, or a request the
// collector sends again after a restart, renders the same documents and so
// the same ids, and the bulk "create" turns the repeat into a harmless 409.
// Byte-identical documents within one request (same resource, time to the
// nanosecond, body and attributes: a load generator or a coarse clock makes
// them) are distinct events, since no client puts one event in a request
// twice: the n-th repeat's id is the hash of the first's id and n, which a
// re-sent request reproduces. Only identical documents in different
// requests are stored once. An id from the Kafka offset would never merge
// but would change on DLQ replay or on a collector re-send (a new offset),
// duplicating every log of such a record. XXH3 is not a cryptographic
// hash: 128 bits make an accidental collision (two different logs, one id,
// one of them dropped as a 409) vanishingly rare (about 10^-15 for 10^12
// logs in one index), but somebody who can write logs could craft one
// that collides with another log, if they knew that log's every byte,
// nanosecond timestamps included, before it was written. SHA-256 would
// close that for about 1 CPU-second per million logs (8% of the pipeline's
// profile when it was used, docs/benchmarks.md); its
// ids are not the ones XXH3 gives, so a record indexed by a version before
// the change and redelivered after it is stored twice.
//
// What the ids cost OpenSearch: with an explicit _id, indexing looks the id
// up first (to answer 409 for one already there), which an automatic id
// skips. Measured on the same Vigil log documents (docs/benchmarks.md, "The
// price of exactly-once", scripts/bench.d/35-idcost.sh), OpenSearch spent
// about 12% more CPU per document with these ids than with automatic ones,
// and ids that sort by event time (its 16 hex digits, then 16 of the hash)
// saved nothing over them. Automatic ids would turn every redelivery (a
// pipeline restart before its offsets were committed, a collector re-send, a
// DLQ replay) into a duplicate document; the 12% buys exactly-once, so the
// ids stay.
//
// # Bad input
//
// Invalid UTF-8 is replaced by U+FFFD, zero or far-future timestamps are
// replaced (log: observedTimestamp, then the Kafka record time; span: the
// record time), empty attribute keys are renamed, and nesting past 8 levels
// is flattened to a string. Each repair is listed in the document's
// "vigil.sanitized" field. A span without trace id or span id cannot be
// repaired and is reported as ErrInvalidSpan.
package document
