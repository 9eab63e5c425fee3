// Package opensearch is the pipeline's side of OpenSearch: a small client
// configuration (addresses, basic auth from a config.Secret, TLS) reusable
// by a standby sink and other components, bulk requests with per-item
// classification (Done, Retry, Permanent), and installation of the index
// templates (spans, service map, logs, and the health-events and DLQ
// indices pipeline/eventindex writes), ISM policies and the span bootstrap
// index. The Installer reports what it changes and can dry-run: `vigil
// setup` runs the same code as the pipeline's start.
//
// Templates are composable index templates (_index_template) carrying
// TemplateVersion; Install upgrades an older installed version and never
// downgrades a newer one. ISM policies (rollover by size or age, delete
// after the retention) are installed only when _cat/plugins lists the
// index-management plugin; without it they are skipped with a warning and
// indices neither roll over nor expire. The shipped templates and policies
// are also written, with default settings, to configs/index-templates and
// configs/ism (golden files: go test ./pipeline/opensearch -update).
//
// Bulk answers: every bulk asks for only what classification reads
// (filter_path: errors and each item's status, error and _index). An answer
// whose "errors" is false is scanned, not decoded: one pass that counts the
// items and reads their statuses (bulkscan.go, held to encoding/json by
// FuzzScanSuccess). Decoding it was most of the pipeline's CPU outside
// building documents (BenchmarkBulkResults: about 8 times the scan). An
// answer with errors, or any the scan does not expect, is decoded in full.
package opensearch
