package dlq

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Header names. Every dead-lettered record carries all of them.
const (
	HeaderSourceTopic     = "vigil.source.topic"
	HeaderSourcePartition = "vigil.source.partition"
	HeaderSourceOffset    = "vigil.source.offset"
	HeaderSourceTimestamp = "vigil.source.timestamp"
	HeaderErrorType       = "vigil.error.type"
	HeaderReason          = "vigil.error.reason"
	HeaderHTTPStatus      = "vigil.http.status"
	HeaderTargetIndex     = "vigil.target.index"
	HeaderAttempts        = "vigil.attempts"
	HeaderFailedDocuments = "vigil.failed.documents"
	HeaderFirstFailure    = "vigil.failure.first"
	HeaderLastFailure     = "vigil.failure.last"
	// HeaderReplayedFrom is set on a replayed record: the DLQ offset it
	// came from.
	HeaderReplayedFrom = "vigil.replayed.from"
)

// Error types written by the pipeline besides OpenSearch's own error.type
// values (mapper_parsing_exception, ...).
const (
	// ErrorTypeDecode: the record is not an OTLP request in the topic's
	// encoding (garbage, truncated protobuf).
	ErrorTypeDecode = "decode_error"
	// ErrorTypeInvalidSpan: a span without trace or span id.
	ErrorTypeInvalidSpan = "invalid_span"
	// ErrorTypeRetriesExhausted: a retryable bulk error (429, 5xx) that
	// persisted through every retry.
	ErrorTypeRetriesExhausted = "retries_exhausted"
)

// Entry is what the headers of a dead-lettered record say about it. The
// record's key and value are the original record's, byte for byte.
type Entry struct {
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	SourceTimestamp time.Time
	ErrorType       string
	Reason          string
	// HTTPStatus is the bulk item's status, 0 when OpenSearch was not
	// involved (decode errors).
	HTTPStatus int
	// TargetIndex is the concrete index that refused the document (the
	// write index behind the span alias or logs data stream at the time),
	// or the configured name when OpenSearch named none.
	TargetIndex     string
	Attempts        int
	FailedDocuments int
	FirstFailure    time.Time
	LastFailure     time.Time
}

// maxReason bounds the reason header: OpenSearch reasons can quote a whole
// document.
const maxReason = 1024

// Headers renders e as record headers.
func (e Entry) Headers() []kgo.RecordHeader {
	reason := e.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	return []kgo.RecordHeader{
		h(HeaderSourceTopic, e.SourceTopic),
		h(HeaderSourcePartition, strconv.Itoa(int(e.SourcePartition))),
		h(HeaderSourceOffset, strconv.FormatInt(e.SourceOffset, 10)),
		h(HeaderSourceTimestamp, e.SourceTimestamp.UTC().Format(time.RFC3339Nano)),
		h(HeaderErrorType, e.ErrorType),
		h(HeaderReason, reason),
		h(HeaderHTTPStatus, strconv.Itoa(e.HTTPStatus)),
		h(HeaderTargetIndex, e.TargetIndex),
		h(HeaderAttempts, strconv.Itoa(e.Attempts)),
		h(HeaderFailedDocuments, strconv.Itoa(e.FailedDocuments)),
		h(HeaderFirstFailure, e.FirstFailure.UTC().Format(time.RFC3339Nano)),
		h(HeaderLastFailure, e.LastFailure.UTC().Format(time.RFC3339Nano)),
	}
}

// Parse reads an Entry back from a record's headers.
func Parse(hs []kgo.RecordHeader) (Entry, error) {
	var e Entry
	var errs []error
	seen := map[string]bool{}
	for _, h := range hs {
		v := string(h.Value)
		seen[h.Key] = true
		var err error
		switch h.Key {
		case HeaderSourceTopic:
			e.SourceTopic = v
		case HeaderSourcePartition:
			var p int
			p, err = strconv.Atoi(v)
			e.SourcePartition = int32(p)
		case HeaderSourceOffset:
			e.SourceOffset, err = strconv.ParseInt(v, 10, 64)
		case HeaderSourceTimestamp:
			e.SourceTimestamp, err = time.Parse(time.RFC3339Nano, v)
		case HeaderErrorType:
			e.ErrorType = v
		case HeaderReason:
			e.Reason = v
		case HeaderHTTPStatus:
			e.HTTPStatus, err = strconv.Atoi(v)
		case HeaderTargetIndex:
			e.TargetIndex = v
		case HeaderAttempts:
			e.Attempts, err = strconv.Atoi(v)
		case HeaderFailedDocuments:
			e.FailedDocuments, err = strconv.Atoi(v)
		case HeaderFirstFailure:
			e.FirstFailure, err = time.Parse(time.RFC3339Nano, v)
		case HeaderLastFailure:
			e.LastFailure, err = time.Parse(time.RFC3339Nano, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("header %s: %w", h.Key, err))
		}
	}
	for _, k := range []string{HeaderSourceTopic, HeaderErrorType} {
		if !seen[k] {
			errs = append(errs, fmt.Errorf("header %s missing", k))
		}
	}
	return e, errors.Join(errs...)
}

// Record builds the DLQ record for an original record.
func Record(dlqTopic string, e Entry, key, value []byte) *kgo.Record {
	return &kgo.Record{Topic: dlqTopic, Key: key, Value: value, Headers: e.Headers()}
}
