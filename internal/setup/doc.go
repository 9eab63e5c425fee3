// Package setup prepares the systems Vigil writes to, idempotently and
// reporting every change: Kafka topics with their partitions and configs,
// (through the pipeline) OpenSearch index templates and ISM policies, and
// OpenSearch Dashboards saved objects. Running it twice changes nothing the
// second time and says so; it never deletes a topic or lowers a partition
// count, because both would lose data or break key ordering.
package setup
