package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// discardBulk is the discard sink (sink: discard), Vector's blackhole for
// this pipeline: the sink batches and renders every bulk body exactly as for
// OpenSearch (its pieces, mostly log documents' lines where they were
// rendered, which the OpenSearch sink streams), this compresses it when
// opensearch.gzip is set (as opensearch-go would, gzip at the default
// level) and then drops it,
// reporting every document as created so that offsets commit. It measures
// everything the pipeline itself costs, without a cluster's.
type discardBulk struct {
	gzip  bool
	bytes prometheus.Counter
	pool  sync.Pool // *gzipBuf
}

type gzipBuf struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

func newDiscardBulk(gz bool, discarded prometheus.Counter) *discardBulk {
	d := &discardBulk{gzip: gz, bytes: discarded}
	d.pool.New = func() any {
		g := &gzipBuf{}
		g.w = gzip.NewWriter(&g.buf)
		return g
	}
	return d
}

func (d *discardBulk) Bulk(_ context.Context, body [][]byte, n int) ([]opensearch.ItemResult, error) {
	wire := 0
	for _, b := range body {
		wire += len(b)
	}
	if d.gzip {
		g := d.pool.Get().(*gzipBuf)
		g.buf.Reset()
		g.w.Reset(&g.buf)
		var err error
		for _, b := range body {
			if _, err = g.w.Write(b); err != nil {
				break
			}
		}
		if err == nil {
			err = g.w.Close()
		}
		wire = g.buf.Len()
		d.pool.Put(g)
		if err != nil {
			// Not reachable with a bytes.Buffer; a whole-request
			// failure is retried like any other.
			return nil, &opensearch.BulkError{Err: fmt.Errorf("discard: gzip: %w", err)}
		}
	}
	d.bytes.Add(float64(wire))
	return created(n), nil
}

// dryRunBulk is the dry-run sink: every document is "created" without
// being sent anywhere.
type dryRunBulk struct{}

func (dryRunBulk) Bulk(_ context.Context, _ [][]byte, n int) ([]opensearch.ItemResult, error) {
	return created(n), nil
}

// created is n successful create results. The sink only reads them: up
// to a bulk's default size they are one shared slice.
func created(n int) []opensearch.ItemResult {
	if n <= len(createdResults) {
		return createdResults[:n:n]
	}
	out := make([]opensearch.ItemResult, n)
	for i := range out {
		out[i] = opensearch.ItemResult{Status: 201, Class: opensearch.Done}
	}
	return out
}

var createdResults = func() []opensearch.ItemResult {
	out := make([]opensearch.ItemResult, defaultBulkDocs)
	for i := range out {
		out[i] = opensearch.ItemResult{Status: 201, Class: opensearch.Done}
	}
	return out
}()
