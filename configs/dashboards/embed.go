// Package dashboards holds the OpenSearch Dashboards saved objects Vigil
// ships, as NDJSON in the format of Dashboards 2.x's export (one saved
// object a line), and embeds them so that `vigil setup` imports them from
// the binary alone. They can also be imported by hand (Dashboards
// Management > Saved objects > Import, or POST
// /api/saved_objects/_import?overwrite=true with the file and an osd-xsrf
// header).
//
//   - index-patterns.ndjson: spans (otel-v1-apm-span-*), service map
//     (otel-v1-apm-service-map), logs (ss4o_logs-*), health events
//     (vigil-health-events) and dead-lettered records (vigil-dlq).
//   - searches.ndjson: "Errors by service", "DLQ'd records by cause",
//     "Failovers", "Health transitions".
//   - pipeline-and-incidents.ndjson: the visualizations and the dashboard
//     "Vigil — pipeline and incidents".
//
// Ids are fixed (vigil-...) so that re-importing updates rather than
// duplicates. dashboards_test.go checks that every reference resolves and
// every field used exists in configs/index-templates.
package dashboards

import "embed"

// FS holds the *.ndjson files.
//
//go:embed *.ndjson
var FS embed.FS
