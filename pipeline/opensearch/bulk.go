package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// ItemResult is the outcome of one bulk item.
type ItemResult struct {
	Status int
	// ErrType and Reason are OpenSearch's error.type and error.reason
	// (empty on success).
	ErrType string
	Reason  string
	// Index is the concrete index OpenSearch answered for (the write
	// index behind an alias or data stream), empty if it named none.
	Index string
	Class Class
}

// BulkError is a bulk request that failed as a whole.
type BulkError struct {
	// Status is the HTTP status, or 0 when no answer came (refused, timeout).
	Status int
	Err    error
	// Cluster is the configured name of the cluster (Config.Name), so a
	// refused password or an untrusted certificate says which one.
	Cluster string
}

func (e *BulkError) Error() string {
	to := "bulk"
	if e.Cluster != "" {
		to = fmt.Sprintf("bulk to cluster %q", e.Cluster)
	}
	if e.Status == 0 {
		return fmt.Sprintf("%s: %v", to, e.Err)
	}
	return fmt.Sprintf("%s: HTTP %d: %v", to, e.Status, e.Err)
}

func (e *BulkError) Unwrap() error { return e.Err }

// Class is how to treat the whole batch.
func (e *BulkError) Class() Class { return ClassifyRequest(e.Status) }

type bulkItem struct {
	Index  string `json:"_index"`
	Status int    `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// bulkResponse decodes only what classification needs; each item is keyed
// by its action, and the pipeline only sends create (index is accepted for
// completeness).
type bulkResponse struct {
	Items []struct {
		Create *bulkItem `json:"create"`
		Index  *bulkItem `json:"index"`
	} `json:"items"`
}

// CreateHead is the "create" action line of AppendCreate for index, with a
// placeholder for an id of idLen bytes at idAt: written before a document
// that is rendered in place (document.Options.Head), and followed by it and
// a newline, it makes the same bytes as AppendCreate.
func CreateHead(index string, idLen int) (head []byte, idAt int) {
	head = append(head, `{"create":{"_index":`...)
	head = appendJSONString(head, index)
	head = append(head, `,"_id":"`...)
	idAt = len(head)
	head = append(head, bytes.Repeat([]byte{'0'}, idLen)...)
	return append(head, "\"}}\n"...), idAt
}

// AppendCreate appends a bulk "create" action and its document to buf.
// create (not index) makes a repeated id a 409 instead of an overwrite, so
// redelivery never rewrites or duplicates a document.
func AppendCreate(buf []byte, index, id string, doc []byte) []byte {
	buf = append(buf, `{"create":{"_index":`...)
	buf = appendJSONString(buf, index)
	buf = append(buf, `,"_id":`...)
	buf = appendJSONString(buf, id)
	buf = append(buf, "}}\n"...)
	buf = append(buf, doc...)
	return append(buf, '\n')
}

// appendJSONString quotes s as encoding/json does. Index names and ids are
// plain ASCII, written directly; anything else goes through encoding/json
// (which also escapes <, > and &), so the output is the same either way.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s)
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// Bulk sends body, the concatenation of its pieces (built with AppendCreate
// or CreateHead), holding n items and returns one result per item, in
// order. A *BulkError means no item was processed.
//
// The common answer, "errors": false, is scanned, not decoded (decoding it
// was most of the pipeline's CPU outside building documents); its results
// carry no Index, which only a failed item needs. An answer with errors is
// decoded in full, so each item's outcome is exact.
func (c *Client) Bulk(ctx context.Context, body [][]byte, n int) ([]ItemResult, error) {
	res, err := c.do(ctx, http.MethodPost, "/_bulk?filter_path="+bulkFilterPath, body)
	if err != nil {
		return nil, &BulkError{Cluster: c.name, Err: err}
	}
	if res.Status < 200 || res.Status >= 300 {
		return nil, &BulkError{Cluster: c.name, Status: res.Status, Err: &StatusError{Method: "POST", Path: "/_bulk", Status: res.Status, Body: string(res.Body)}}
	}
	out, err := bulkResults(res.Body, n)
	if err != nil {
		return nil, &BulkError{Cluster: c.name, Status: res.Status, Err: err}
	}
	return out, nil
}

// bulkResults is the outcome of each of the n items of a bulk response.
func bulkResults(body []byte, n int) ([]ItemResult, error) {
	out := make([]ItemResult, n)
	if scanSuccess(body, out) {
		return out, nil
	}
	var br bulkResponse
	if err := json.Unmarshal(body, &br); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if len(br.Items) != n {
		return nil, fmt.Errorf("response has %d items, request had %d", len(br.Items), n)
	}
	for i, it := range br.Items {
		v := it.Create
		if v == nil {
			v = it.Index
		}
		if v == nil {
			return nil, fmt.Errorf("response item %d has no create result", i)
		}
		r := ItemResult{Status: v.Status, Index: v.Index}
		if v.Error != nil {
			r.ErrType, r.Reason = v.Error.Type, v.Error.Reason
		}
		r.Class = ClassifyItem(r.Status, r.ErrType)
		out[i] = r
	}
	return out, nil
}

// Health is the cluster's _cluster/health status ("green", "yellow", "red").
func (c *Client) Health(ctx context.Context) (string, error) {
	res, err := c.Do(ctx, http.MethodGet, "/_cluster/health", nil)
	if err != nil {
		return "", err
	}
	if err := expect("GET", "/_cluster/health", res, 200, 408); err != nil {
		return "", err
	}
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(res.Body, &h); err != nil {
		return "", fmt.Errorf("decode cluster health: %w", err)
	}
	return h.Status, nil
}
