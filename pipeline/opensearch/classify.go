package opensearch

// Class is what to do with a failed write.
type Class int

// The classes of bulk outcomes.
const (
	// Done: the document is in the index (including 409: it already was,
	// which is what a redelivered record with a deterministic id yields).
	Done Class = iota
	// Retry: the cluster is overloaded or briefly unavailable; the same
	// write will likely succeed later.
	Retry
	// Permanent: the document itself is the problem (mapping conflict,
	// malformed, too large); retrying cannot help, so it goes to the DLQ
	// instead of blocking its partition.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Done:
		return "done"
	case Retry:
		return "retry"
	default:
		return "permanent"
	}
}

// retryableTypes are error types that mean "not now" whatever the status.
var retryableTypes = map[string]bool{
	"es_rejected_execution_exception":         true,
	"opensearch_rejected_execution_exception": true,
	"circuit_breaking_exception":              true,
	"cluster_block_exception":                 true, // e.g. read-only while disk is full; clears when space is freed
	"unavailable_shards_exception":            true,
	"no_shard_available_action_exception":     true,
	"process_cluster_event_timeout_exception": true,
	"node_closed_exception":                   true,
}

// ClassifyItem classifies one bulk item by its status and error type.
func ClassifyItem(status int, errType string) Class {
	switch {
	case status >= 200 && status < 300:
		return Done
	case status == 409:
		return Done
	case retryableTypes[errType]:
		return Retry
	case status == 429 || status >= 500:
		return Retry
	default:
		// 400 mapper_parsing_exception, illegal_argument_exception, 413,
		// 404 index_not_found_exception, and anything unknown: the same
		// request would fail the same way.
		return Permanent
	}
}

// ClassifyRequest classifies a whole-request failure: status 0 means the
// request got no HTTP answer (refused, reset, timeout). A 413 is reported as
// Permanent; the caller splits the batch and tries the halves.
func ClassifyRequest(status int) Class {
	switch {
	case status >= 200 && status < 300:
		return Done
	case status == 413:
		return Permanent
	default:
		// Connection failures, 429, 5xx, and also 401/403/404 of the whole
		// endpoint: nothing in the documents causes those, so holding the
		// batch (and pausing fetches) until an operator or the cluster fixes
		// it loses nothing, whereas dead-lettering would.
		return Retry
	}
}
