// Command probe measures the priority lane's time to searchable: it sends
// ERROR log records one at a time through a collector's OTLP/gRPC receiver
// and searches OpenSearch for the ones not found yet, all in one search per
// poll (no refresh forced: what a user searching would see), until each is
// found. It prints one line per
// probe (seconds) on stderr and a summary line on stdout:
//
//	probes 100 p50 0.812 p99 1.934 max 2.101
//
// Used by scripts/bench.d/60-priority.sh.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	otlp := flag.String("otlp", "127.0.0.1:4317", "collector OTLP/gRPC endpoint")
	osURL := flag.String("opensearch", "http://127.0.0.1:9200", "OpenSearch URL")
	index := flag.String("index", "", "logs data stream to search (required)")
	n := flag.Int("n", 100, "probes to send")
	every := flag.Duration("interval", 500*time.Millisecond, "time between probes")
	poll := flag.Duration("poll", 100*time.Millisecond, "time between searches for one probe")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up on a probe after this")
	run := flag.Uint("run", uint(time.Now().Unix()), "run id, part of every probe's trace id")
	create := flag.String("create-topic", "", "only create this topic (as `vigil setup` makes the priority topic) on -brokers, then exit")
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap broker, for -create-topic")
	partitions := flag.Int("partitions", 4, "partitions of -create-topic")
	flag.Parse()
	if *create != "" {
		if err := createTopic(*brokers, *create, int32(*partitions)); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *index == "" {
		flag.Usage()
		os.Exit(2)
	}
	conn, err := grpc.NewClient(*otlp, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)

	lat := make([]float64, *n)
	// One search a poll for every probe not found yet, so that the
	// measuring costs OpenSearch the same however many are outstanding.
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	index0 := map[string]int{}
	found := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mu.Lock()
			ids := make([]string, 0, len(sentAt))
			for id := range sentAt {
				ids = append(ids, id)
			}
			all := found == *n
			mu.Unlock()
			if all {
				return
			}
			if len(ids) > 0 {
				q := map[string]any{"size": len(ids), "_source": []string{"traceId"}, "query": map[string]any{"terms": map[string]any{"traceId": ids}}}
				hits, err := search(*osURL, *index, q)
				now := time.Now()
				mu.Lock()
				for _, id := range hits {
					if at, ok := sentAt[id]; ok {
						i := index0[id]
						lat[i] = now.Sub(at).Seconds()
						fmt.Fprintf(os.Stderr, "probe %d searchable after %.3f s\n", i, lat[i])
						delete(sentAt, id)
						found++
					}
				}
				for id, at := range sentAt {
					if now.Sub(at) > *timeout {
						log.Fatalf("probe %d (traceId %s) not searchable within %s (last search: %v)", index0[id], id, *timeout, err)
					}
				}
				mu.Unlock()
			}
			time.Sleep(*poll)
		}
	}()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for i := range *n {
		var id pcommon.TraceID
		copy(id[:4], "prb:")
		binary.BigEndian.PutUint32(id[4:8], uint32(*run))
		binary.BigEndian.PutUint64(id[8:], uint64(i))
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "priority-probe")
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		sent := time.Now()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(sent))
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
		lr.Body().SetStr(fmt.Sprintf("probe %d of run %d: payment failed", i, *run))
		lr.SetTraceID(id)
		trace := hex.EncodeToString(id[:])
		mu.Lock()
		sentAt[trace], index0[trace] = sent, i
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
		cancel()
		if err != nil {
			log.Fatalf("probe %d: export: %v", i, err)
		}
		<-tick.C
	}
	<-done
	slices.Sort(lat)
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))+0.5)-1)] }
	fmt.Printf("probes %d p50 %.3f p99 %.3f max %.3f\n", len(lat), q(0.50), q(0.99), lat[len(lat)-1])
}

func createTopic(brokers, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// search returns the traceId of every document of index matching q, as
// searchable now.
func search(base, index string, q any) ([]string, error) {
	b, _ := json.Marshal(q)
	resp, err := http.Post(base+"/"+index+"/_search", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var r struct {
		Hits struct {
			Hits []struct {
				Source struct {
					TraceID string `json:"traceId"`
				} `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	var ids []string
	for _, h := range r.Hits.Hits {
		ids = append(ids, h.Source.TraceID)
	}
	return ids, nil
}
