package opensearch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBulkMixedOutcomes has the real OpenSearch answer one bulk with every
// kind of item outcome the pipeline handles: created, 409 (already there:
// a redelivered record, counted as indexed), 400 (a mapping conflict:
// dead-lettered) and 429 (an index under the flood-stage block, which
// OpenSearch answers TOO_MANY_REQUESTS: retried). The scan must leave such
// an answer to the full decode, and answer itself for an all-created one.
func TestBulkMixedOutcomes(t *testing.T) {
	ctx := t.Context()
	c := testClient(t)
	suffix := fmt.Sprintf("%06d", rand.IntN(1e6))
	open, blocked := "tbulkmixed"+suffix, "tbulkmixedblocked"+suffix
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.Do(ctx, http.MethodDelete, "/"+open+","+blocked+"?ignore_unavailable=true", nil) // read_only_allow_delete allows this
	})
	put := func(path, body string) {
		t.Helper()
		r, err := c.Do(ctx, http.MethodPut, path, []byte(body))
		require.NoError(t, err)
		require.Equal(t, 200, r.Status, string(r.Body))
	}
	put("/"+open, `{"mappings":{"properties":{"n":{"type":"long"}}}}`)
	put("/"+blocked, `{"settings":{"index.blocks.read_only_allow_delete":true}}`)

	// All created: the answer the scan reads.
	var body []byte
	body = AppendCreate(body, open, "dup", []byte(`{"n":1}`))
	body = AppendCreate(body, open, "first", []byte(`{"n":2}`))
	raw, err := c.Do(ctx, http.MethodPost, "/_bulk?filter_path="+bulkFilterPath, body)
	require.NoError(t, err)
	require.Equal(t, 200, raw.Status, string(raw.Body))
	out := make([]ItemResult, 2)
	require.True(t, scanSuccess(raw.Body, out), "OpenSearch's all-created answer was not scanned: %s", raw.Body)
	require.Equal(t, []ItemResult{{Status: 201, Class: Done}, {Status: 201, Class: Done}}, out)

	body = body[:0]
	body = AppendCreate(body, open, "new", []byte(`{"n":3}`))
	body = AppendCreate(body, open, "dup", []byte(`{"n":1}`))
	body = AppendCreate(body, open, "bad", []byte(`{"n":"not a number"}`))
	body = AppendCreate(body, blocked, "x", []byte(`{"n":4}`))
	body = AppendCreate(body, open, "last", []byte(`{"n":5}`))
	res, err := c.Bulk(ctx, [][]byte{body}, 5)
	require.NoError(t, err)
	type outcome struct {
		Status  int
		Class   Class
		ErrType string
		Index   string
	}
	var got []outcome
	for _, r := range res {
		got = append(got, outcome{r.Status, r.Class, r.ErrType, r.Index})
	}
	require.Equal(t, []outcome{
		{201, Done, "", open},
		{409, Done, "version_conflict_engine_exception", open},
		{400, Permanent, "mapper_parsing_exception", open},
		{429, Retry, "cluster_block_exception", blocked},
		{201, Done, "", open},
	}, got)
	require.Contains(t, res[2].Reason, "failed to parse field [n] of type [long]")
	require.Contains(t, res[3].Reason, "read-only-allow-delete")
}
