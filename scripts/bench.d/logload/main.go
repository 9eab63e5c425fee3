// Command logload preloads a Kafka topic with OTLP log records for the
// pipeline macro benchmark (scripts/bench.d/20-pipeline.sh), written as the
// collector's Kafka exporter writes them (configs/collector.yaml): one
// otlp_proto ExportLogsServiceRequest per Kafka record holding one batch
// processor batch (send_batch_size 2048), compressed with the exporter's
// codec (-compression, default that of configs/collector.yaml), acks=all, no
// key. With -signal traces it writes spans instead: the demo trace set
// (internal/demo.TraceSet, five spans of three services per trace), about
// -batch spans per Kafka record.
//
//	go run ./scripts/bench.d/logload -brokers 127.0.0.1:9092 -topic t -records 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/demo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap broker")
	topic := flag.String("topic", "", "topic to create and fill (required)")
	records := flag.Int("records", 1_000_000, "log records to write")
	batch := flag.Int("batch", 2048, "log records per Kafka record (the collector's batch send_batch_size)")
	partitions := flag.Int("partitions", 4, "partitions of the new topic")
	compression := flag.String("compression", "zstd", "batch compression: none, gzip, snappy, lz4 or zstd (configs/collector.yaml's is zstd)")
	del := flag.Bool("delete", false, "delete the topic instead (clean-up)")
	signal := flag.String("signal", "logs", "logs, or traces (-records then counts spans)")
	flag.Parse()
	if *del && *topic != "" {
		if err := deleteTopic(*brokers, *topic); err != nil {
			fmt.Fprintln(os.Stderr, "logload:", err)
			os.Exit(1)
		}
		return
	}
	if *topic == "" || *records <= 0 || *batch <= 0 || *partitions <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	codec, ok := codecs[*compression]
	if !ok {
		fmt.Fprintf(os.Stderr, "logload: -compression %q: want none, gzip, snappy, lz4 or zstd\n", *compression)
		os.Exit(2)
	}
	if *signal != "logs" && *signal != "traces" {
		fmt.Fprintf(os.Stderr, "logload: -signal %q: want logs or traces\n", *signal)
		os.Exit(2)
	}
	if err := run(*brokers, *topic, *signal, *records, *batch, int32(*partitions), codec); err != nil {
		fmt.Fprintln(os.Stderr, "logload:", err)
		os.Exit(1)
	}
}

var codecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

func run(brokers, topic, signal string, records, batch int, partitions int32, codec kgo.CompressionCodec) error {
	ctx := context.Background()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(8<<20), // the exporter's max_message_bytes
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(ctx, partitions, 1, map[string]*string{"max.message.bytes": ptr("8388608")}, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	start := time.Now().Add(-time.Hour)
	var bytes, msgs, sent int
	var (
		mu   sync.Mutex
		perr error
	)
	for seq := 0; seq < records; seq += batch {
		n := min(batch, records-seq)
		var v []byte
		if signal == "traces" {
			// Whole traces of 5 spans: the last batch may round up.
			td := demo.TraceSet((n+4)/5, start.Add(time.Duration(seq)*time.Millisecond), uint64(seq)+1)
			n = td.SpanCount()
			v, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		} else {
			v, err = (&plog.ProtoMarshaler{}).MarshalLogs(demo.Logs(n, seq, start, 1))
		}
		if err != nil {
			return err
		}
		sent += n
		bytes += len(v)
		msgs++
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && perr == nil {
				perr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	if perr != nil {
		return fmt.Errorf("produce: %w", perr)
	}
	var parts kadm.TopicsSet
	for p := range partitions {
		parts.Add(topic, p)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, parts)
	if err != nil {
		return fmt.Errorf("describe log dirs: %w", err)
	}
	var stored int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		for _, ps := range d.Topics {
			for _, p := range ps {
				stored += p.Size
			}
		}
	})
	what := "log records"
	if signal == "traces" {
		what = "spans"
	}
	fmt.Printf("%d %s in %d Kafka records (%.1f MiB of OTLP protobuf, %.1f MiB in Kafka's log) to %s\n", sent, what, msgs, float64(bytes)/(1<<20), float64(stored)/(1<<20), topic)
	return nil
}

func deleteTopic(brokers, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).DeleteTopic(context.Background(), topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	return nil
}

func ptr(s string) *string { return &s }
