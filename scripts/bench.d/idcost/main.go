// Command idcost measures what exactly-once costs OpenSearch: the CPU its
// process spends indexing the same Vigil log documents (rendered by
// pipeline/document from internal/demo.Logs, as the pipeline renders them)
// with the pipeline's explicit, content-derived _id and "create", and with
// automatic ids (a "create" without _id), and with a time-ordered id of
// the same length (the event time's 16 hex digits, then the first 16 of
// the content id), which shows whether ids that sort by time (as automatic
// ones do) would make the explicit-id lookup cheaper. Each run writes into a fresh logs
// data stream under the shipped logs template and reads utime+stime of the
// OpenSearch process (-pid) from /proc before and after, waiting for the
// refresh that makes the last document searchable. Runs alternate (ids,
// auto, ordered, ids, ...) so that the machine's other load falls on all.
//
//	go run ./scripts/bench.d/idcost -opensearch http://127.0.0.1:9200 -pid <opensearch pid> -records 500000
//
// It prints one line of key=value pairs per run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/vigil-dev/vigil/internal/demo"
	"github.com/vigil-dev/vigil/pipeline/document"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

func main() {
	url := flag.String("opensearch", "http://127.0.0.1:9200", "OpenSearch URL")
	pid := flag.Int("pid", 0, "OpenSearch's process id (required)")
	records := flag.Int("records", 500000, "documents per run")
	rounds := flag.Int("rounds", 1, "rounds of runs (ids, auto, ordered)")
	bulk := flag.Int("bulk", 5000, "documents per bulk request (the pipeline's bulk.max_docs)")
	flag.Parse()
	if *pid <= 0 || *records <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	cfg := opensearch.DefaultConfig()
	cfg.Addresses = []string{*url}
	c, err := opensearch.NewClient(cfg)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	docs, err := render(*records)
	if err != nil {
		fail(err)
	}
	run := fmt.Sprintf("benchid%d", time.Now().Unix())
	for r := range *rounds {
		for _, mode := range []string{"ids", "auto", "ordered"} {
			name := fmt.Sprintf("%s%s%d_logs-vigil-default", run, mode, r)
			secs, cpu, err := load(c, name, docs, mode, *bulk, *pid)
			var store float64
			if err == nil {
				store, err = storeBytes(c, name)
			}
			cleanup(c, name)
			if err != nil {
				fail(err)
			}
			fmt.Printf("mode=%s records=%d secs=%.1f opensearch_cpu_s=%.2f cpu_s_per_million=%.2f docs_per_s=%.0f store_bytes_per_doc=%.0f\n",
				mode, len(docs), secs, cpu, cpu*1e6/float64(len(docs)), float64(len(docs))/secs, store/float64(len(docs)))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "idcost:", err)
	os.Exit(1)
}

// render builds n documents as the pipeline does, in batches of 2048 as the
// collector sends them.
func render(n int) ([]document.Log, error) {
	start := time.Now().Add(-time.Hour)
	var out []document.Log
	for seq := 0; seq < n; seq += 2048 {
		b, err := (&plog.ProtoMarshaler{}).MarshalLogs(demo.Logs(min(2048, n-seq), seq, start, 1))
		if err != nil {
			return nil, err
		}
		docs, err := document.LogsOTLP(b, document.Options{Now: time.Now(), RecordTime: time.Now()})
		if err != nil {
			return nil, err
		}
		out = append(out, docs...)
	}
	return out, nil
}

func cpu(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64) // utime is field 14, stime 15
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100, nil // CLK_TCK is 100 on Linux
}

// load indexes docs into a fresh data stream and returns the wall seconds
// and OpenSearch CPU-seconds from the first bulk to the refresh after the
// last.
func load(c *opensearch.Client, ds string, docs []document.Log, mode string, per, pid int) (float64, float64, error) {
	ctx := context.Background()
	n := opensearch.Names{LogsDataStream: ds}
	put, err := c.Do(ctx, http.MethodPut, "/_index_template/"+n.LogsTemplate(), mustJSON(opensearch.LogsTemplate(n, opensearch.Settings{Shards: 1, Replicas: 0, RefreshInterval: "1s", TotalFieldsLimit: 5000})))
	if err != nil || put.Status != 200 {
		return 0, 0, fmt.Errorf("put template: %v %v", err, put)
	}
	if res, err := c.Do(ctx, http.MethodPut, "/_data_stream/"+ds, nil); err != nil || res.Status != 200 {
		return 0, 0, fmt.Errorf("create data stream: %v %v", err, res)
	}
	c0, err := cpu(pid)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	var body []byte
	for from := 0; from < len(docs); from += per {
		to := min(from+per, len(docs))
		body = body[:0]
		for _, d := range docs[from:to] {
			switch mode {
			case "auto":
				body = append(body, `{"create":{"_index":"`+ds+`"}}`+"\n"...)
				body = append(body, d.Body...)
				body = append(body, '\n')
			case "ordered":
				body = opensearch.AppendCreate(body, ds, fmt.Sprintf("%016x", d.Timestamp)+d.ID[:16], d.Body)
			default:
				body = opensearch.AppendCreate(body, ds, d.ID, d.Body)
			}
		}
		res, err := c.Bulk(ctx, [][]byte{body}, to-from)
		if err != nil {
			return 0, 0, err
		}
		for _, r := range res {
			if r.Status != 201 {
				return 0, 0, fmt.Errorf("item: %d %s: %s", r.Status, r.ErrType, r.Reason)
			}
		}
	}
	if res, err := c.Do(ctx, http.MethodPost, "/"+ds+"/_refresh", nil); err != nil || res.Status != 200 {
		return 0, 0, fmt.Errorf("refresh: %v %v", err, res)
	}
	c1, err := cpu(pid)
	if err != nil {
		return 0, 0, err
	}
	return time.Since(t0).Seconds(), c1 - c0, nil
}

// storeBytes is the data stream's primary store size after the run (not
// merged further: what the disk holds while the index is written).
func storeBytes(c *opensearch.Client, ds string) (float64, error) {
	res, err := c.Do(context.Background(), http.MethodGet, "/"+ds+"/_stats/store", nil)
	if err != nil {
		return 0, err
	}
	var v struct {
		All struct {
			Primaries struct {
				Store struct {
					Bytes float64 `json:"size_in_bytes"`
				} `json:"store"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if err := json.Unmarshal(res.Body, &v); err != nil {
		return 0, fmt.Errorf("store stats: %w", err)
	}
	return v.All.Primaries.Store.Bytes, nil
}

func cleanup(c *opensearch.Client, ds string) {
	ctx := context.Background()
	n := opensearch.Names{LogsDataStream: ds}
	c.Do(ctx, http.MethodDelete, "/_data_stream/"+ds, nil)
	c.Do(ctx, http.MethodDelete, "/_index_template/"+n.LogsTemplate(), nil)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
