package opensearch

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fullItem is one item as OpenSearch answers it without a filter_path.
func fullItem(index, id string, seq, status int) string {
	return fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":%d,"_primary_term":1,"status":%d}}`, index, id, seq, status)
}

// filteredItem is one item as OpenSearch answers it with bulkFilterPath.
func filteredItem(index string, status int) string {
	return fmt.Sprintf(`{"create":{"_index":%q,"status":%d}}`, index, status)
}

func response(head string, items ...string) []byte {
	return []byte(head + `"items":[` + strings.Join(items, ",") + "]}")
}

func TestBulkResults(t *testing.T) {
	const ds = ".ds-vigil_logs-vigil-default-000001"
	conflict := `{"create":{"_index":"` + ds + `","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[x]: version conflict, document already exists (current version [1])"}}}`
	mapping := `{"create":{"_index":"` + ds + `","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}}}`
	blocked := `{"create":{"_index":"blocked","status":429,"error":{"type":"cluster_block_exception","reason":"index [blocked] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}}}`
	ok := func(statuses ...int) []ItemResult {
		var r []ItemResult
		for _, s := range statuses {
			r = append(r, ItemResult{Status: s, Class: Done})
		}
		return r
	}
	tests := []struct {
		name    string
		body    []byte
		n       int
		scanned bool // answered by the scan, without decoding
		want    []ItemResult
		err     string
	}{
		{"unfiltered success", response(`{"took":12,"errors":false,`, fullItem(ds, "a", 1, 201), fullItem(ds, "b", 2, 201)), 2, true, ok(201, 201), ""},
		{"filtered success", response(`{"errors":false,`, filteredItem(ds, 201), filteredItem(ds, 201), filteredItem(ds, 201)), 3, true, ok(201, 201, 201), ""},
		{"ingest_took and index action", response(`{"took":1,"ingest_took":0,"errors":false,`, `{"index":{"_index":"x","status":200}}`), 1, true, ok(200), ""},
		{"escaped quotes in strings", response(`{"errors":false,`, fullItem(`q"\\"`, `id\"`, 1, 201)), 1, true, ok(201), ""},
		{"items before errors", []byte(`{"items":[` + filteredItem(ds, 201) + `],"errors":false}`), 1, true, ok(201), ""},
		{"mixed outcomes decoded exactly", response(`{"errors":true,`, filteredItem(ds, 201), conflict, mapping, blocked), 4, false, []ItemResult{
			{Status: 201, Index: ds, Class: Done},
			{Status: 409, Index: ds, Class: Done, ErrType: "version_conflict_engine_exception", Reason: "[x]: version conflict, document already exists (current version [1])"},
			{Status: 400, Index: ds, Class: Permanent, ErrType: "mapper_parsing_exception", Reason: "failed to parse field [n] of type [long]"},
			{Status: 429, Index: "blocked", Class: Retry, ErrType: "cluster_block_exception", Reason: "index [blocked] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"},
		}, ""},
		// A success flag contradicted by an item is not believed: decoding
		// gives the item's own outcome.
		{"errors false with a failed item", response(`{"errors":false,`, filteredItem(ds, 201), conflict), 2, false, []ItemResult{
			{Status: 201, Index: ds, Class: Done},
			{Status: 409, Index: ds, Class: Done, ErrType: "version_conflict_engine_exception", Reason: "[x]: version conflict, document already exists (current version [1])"},
		}, ""},
		{"fewer items", response(`{"errors":false,`, filteredItem(ds, 201)), 2, false, nil, "response has 1 items, request had 2"},
		{"more items", response(`{"errors":false,`, filteredItem(ds, 201), filteredItem(ds, 201)), 1, false, nil, "response has 2 items, request had 1"},
		{"truncated", []byte(`{"errors":false,"items":[{"create":{"status":201}}`), 1, false, nil, "decode response: unexpected end of JSON input"},
		{"not JSON", []byte(`<html>bad gateway</html>`), 1, false, nil, "decode response: invalid character '<'"},
		{"no create result", response(`{"errors":false,`, `{"update":{"status":200}}`), 1, false, nil, "response item 0 has no create result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.scanned, scanSuccess(tt.body, make([]ItemResult, tt.n)))
			got, err := bulkResults(tt.body, tt.n)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// FuzzScanSuccess holds the scan to encoding/json: whenever it answers for
// valid JSON, a full decode of the same bytes says "errors": false and gives
// the same number of items with the same statuses. (The scan checks the
// structure and what it reads, not the values it skips: OpenSearch writes
// valid JSON, and a skipped value changes no outcome.)
func FuzzScanSuccess(f *testing.F) {
	f.Add(response(`{"took":12,"errors":false,`, fullItem("i", "a", 1, 201), fullItem("i", "b", 2, 201)), 2)
	f.Add(response(`{"errors":false,`, filteredItem("i", 201)), 1)
	f.Add(response(`{"errors":true,`, filteredItem("i", 201), `{"create":{"status":409,"error":{"type":"x"}}}`), 2)
	f.Add([]byte(`{"errors":false,"items":[{"create":{"_index":"a\"\\","status":201,"x":[{"y":"]}"}]}}]}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		out := make([]ItemResult, n)
		if !scanSuccess(body, out) || !json.Valid(body) {
			return
		}
		var v struct {
			Errors *bool                             `json:"errors"`
			Items  []map[string]struct{ Status int } `json:"items"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("scanned %q, which encoding/json does not decode: %v", body, err)
		}
		if v.Errors == nil || *v.Errors || len(v.Items) != n {
			t.Fatalf("scanned %q as %d successes; decoded: errors %v, %d items", body, n, v.Errors, len(v.Items))
		}
		for i, it := range v.Items {
			r, ok := it["create"]
			if !ok {
				r = it["index"]
			}
			if r.Status != out[i].Status {
				t.Fatalf("item %d of %q: scanned status %d, decoded %d", i, body, out[i].Status, r.Status)
			}
		}
	})
}

// BenchmarkBulkResults is the pipeline's cost of reading a bulk answer of
// 5000 created items (a default bulk of log documents), per item: as
// OpenSearch sends it with the pipeline's filter_path and in full, each
// scanned, and decoded with encoding/json as before the scan existed.
func BenchmarkBulkResults(b *testing.B) {
	const n = 5000
	full, filtered := make([]string, n), make([]string, n)
	for i := range n {
		full[i] = fullItem(".ds-vigil_logs-vigil-default-000001", fmt.Sprintf("%032x", i*7919), i, 201)
		filtered[i] = filteredItem(".ds-vigil_logs-vigil-default-000001", 201)
	}
	bodies := []struct {
		name string
		body []byte
	}{
		{"filtered", response(`{"errors":false,`, filtered...)},
		{"unfiltered", response(`{"took":31,"errors":false,`, full...)},
	}
	for _, bb := range bodies {
		b.Run("scan/"+bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			for b.Loop() {
				if _, err := bulkResults(bb.body, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
		b.Run("decode/"+bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.body)))
			for b.Loop() {
				var br bulkResponse
				if err := json.Unmarshal(bb.body, &br); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
	}
}
