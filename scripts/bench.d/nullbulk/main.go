// Command nullbulk is a null bulk endpoint for the pipeline benchmarks
// (scripts/bench.d/20-pipeline.sh): an HTTP server that answers the few
// OpenSearch calls `vigil pipeline` makes and every `_bulk` item with the
// item OpenSearch answers for a created document, without storing anything.
// What the pipeline spends against it is what it spends on its own, with a
// cluster that is never the bottleneck.
//
// A bulk answer is the one OpenSearch 3 writes: per item the action, the
// _index (a data stream's first backing index, .ds-<name>-000001, for a
// name with "_logs-" in it, as the pipeline's logs data streams have), _id,
// _version, result, _shards, _seq_no, _primary_term and status 201, after
// "took" and "errors": false; filter_path (top-level keys and items.*.<key>)
// is applied as OpenSearch applies it.
//
//	go run ./scripts/bench.d/nullbulk -listen 127.0.0.1:9250
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	def := "127.0.0.1:9250"
	if p := os.Getenv("VIGIL_BENCH_NULLBULK_PORT"); p != "" {
		def = "127.0.0.1:" + p
	}
	listen := flag.String("listen", def, "address to serve on (default port: $VIGIL_BENCH_NULLBULK_PORT, else 9250)")
	flag.Parse()
	s := &server{}
	log.Printf("nullbulk: serving on http://%s", *listen)
	if err := http.ListenAndServe(*listen, s); err != nil {
		fmt.Fprintln(os.Stderr, "nullbulk:", err)
		os.Exit(1)
	}
}

type server struct {
	seq   atomic.Int64 // _seq_no of the next item
	items atomic.Int64 // items answered, for /_nullbulk/stats
	bulks atomic.Int64
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/_bulk"):
		out, err := s.bulk(body, r.URL.Query().Get("filter_path"))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":%q},"status":400}`, err.Error())
			return
		}
		w.Write(out)
	case p == "/_nullbulk/stats":
		fmt.Fprintf(w, `{"bulks":%d,"items":%d}`, s.bulks.Load(), s.items.Load())
	case p == "/" && r.Method == http.MethodGet:
		w.Write([]byte(`{"name":"nullbulk","cluster_name":"nullbulk","version":{"distribution":"opensearch","number":"3.8.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`))
	case p == "/_cluster/health":
		w.Write([]byte(`{"cluster_name":"nullbulk","status":"green","number_of_nodes":1}`))
	case p == "/_cat/plugins":
		w.Write([]byte(`[]`)) // no index-management plugin: the installer skips ISM policies
	case strings.HasSuffix(p, "/_search"):
		w.Write([]byte(`{"took":0,"timed_out":false,"hits":{"total":{"value":0,"relation":"eq"},"hits":[]}}`))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		// Nothing is stored: every template, alias and index is missing,
		// and the pipeline creates it at start.
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"type":"resource_not_found_exception","reason":"%s not found"},"status":404}`, p)
	default:
		w.Write([]byte(`{"acknowledged":true,"shards_acknowledged":true}`))
	}
}

// itemFields are the keys of a created item, in OpenSearch's order.
var itemFields = []string{"_index", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term", "status"}

// bulk answers an ndjson bulk body: every action line is followed by a
// document line (create and index; delete would have none, and the
// pipeline sends none).
func (s *server) bulk(body []byte, filterPath string) ([]byte, error) {
	top, item := fields(filterPath)
	out := make([]byte, 0, len(body)/4+64)
	out = append(out, '{')
	comma := false
	if top["took"] {
		out = append(out, `"took":3`...)
		comma = true
	}
	if top["errors"] {
		if comma {
			out = append(out, ',')
		}
		out = append(out, `"errors":false`...)
		comma = true
	}
	if comma {
		out = append(out, ',')
	}
	out = append(out, `"items":[`...)
	n := 0
	for len(body) > 0 {
		var line []byte
		line, body = next(body)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		action, index, id, err := parseAction(line)
		if err != nil {
			return nil, fmt.Errorf("action line %d: %w", n+1, err)
		}
		_, body = next(body) // the document
		if n > 0 {
			out = append(out, ',')
		}
		out = s.appendItem(out, item, action, index, id)
		n++
	}
	out = append(out, "]}"...)
	s.bulks.Add(1)
	s.items.Add(int64(n))
	return out, nil
}

func next(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// fields reads filter_path: top-level keys, and the item keys asked for
// as items.*.<key>. Without one, everything.
func fields(filterPath string) (top, item map[string]bool) {
	top, item = map[string]bool{}, map[string]bool{}
	if filterPath == "" {
		top["took"], top["errors"], top["items"] = true, true, true
		for _, f := range itemFields {
			item[f] = true
		}
		return top, item
	}
	for _, f := range strings.Split(filterPath, ",") {
		if k, ok := strings.CutPrefix(f, "items.*."); ok {
			item[k] = true
			continue
		}
		if f == "items" {
			for _, f := range itemFields {
				item[f] = true
			}
		}
		top[f] = true
	}
	return top, item
}

func (s *server) appendItem(out []byte, want map[string]bool, action, index, id string) []byte {
	if strings.Contains(index, "_logs-") {
		index = ".ds-" + index + "-000001"
	}
	out = append(out, `{"`...)
	out = append(out, action...)
	out = append(out, `":{`...)
	first := true
	for _, f := range itemFields {
		if !want[f] {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, '"')
		out = append(out, f...)
		out = append(out, `":`...)
		switch f {
		case "_index":
			out = strconv.AppendQuote(out, index)
		case "_id":
			out = strconv.AppendQuote(out, id)
		case "_version", "_primary_term":
			out = append(out, '1')
		case "result":
			out = append(out, `"created"`...)
		case "_shards":
			out = append(out, `{"total":2,"successful":1,"failed":0}`...)
		case "_seq_no":
			out = strconv.AppendInt(out, s.seq.Add(1)-1, 10)
		case "status":
			out = append(out, "201"...)
		}
	}
	return append(out, "}}"...)
}

// parseAction reads {"<action>":{"_index":...,"_id":...}}.
func parseAction(line []byte) (action, index, id string, err error) {
	var a map[string]struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	if err := json.Unmarshal(line, &a); err != nil {
		return "", "", "", err
	}
	if len(a) != 1 {
		return "", "", "", fmt.Errorf("want one action, got %d", len(a))
	}
	for k, v := range a {
		action, index, id = k, v.Index, v.ID
	}
	if action != "create" && action != "index" {
		return "", "", "", fmt.Errorf("action %q: only create and index are answered", action)
	}
	if id == "" {
		id = fmt.Sprintf("auto%016x", s0.Add(1)) // an automatic id
	}
	return action, index, id, nil
}

var s0 atomic.Int64
