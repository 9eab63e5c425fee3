package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Source is where the DLQ is.
type Source struct {
	// Topic is the DLQ topic.
	Topic string
	// ClientOpts connect to the cluster (seed brokers, TLS, SASL).
	ClientOpts []kgo.Opt
}

// scan reads every record in the DLQ topic that existed when it started,
// calling fn for those whose timestamp is in [from, to) (zero bounds are
// open).
func scan(ctx context.Context, src Source, from, to time.Time, fn func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, src.ClientOpts...),
		kgo.ConsumeTopics(src.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return fmt.Errorf("dlq: kafka client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, src.Topic)
	if err != nil {
		return fmt.Errorf("dlq: list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("dlq: list end offsets: %w", err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	// Partitions whose start is already past the end (retention) are
	// handled by the offset check below once the first fetch returns.
	starts, err := kadm.NewClient(cl).ListStartOffsets(ctx, src.Topic)
	if err == nil {
		starts.Each(func(o kadm.ListedOffset) {
			if end, ok := remaining[o.Partition]; ok && o.Offset >= end {
				delete(remaining, o.Partition)
			}
		})
	}
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return fmt.Errorf("dlq: fetch: %w", ferr)
		}
		var cbErr error
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Partition]
			if !ok || cbErr != nil || r.Offset >= end {
				return
			}
			if r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
			if (!from.IsZero() && r.Timestamp.Before(from)) || (!to.IsZero() && !r.Timestamp.Before(to)) {
				return
			}
			cbErr = fn(r)
		})
		if cbErr != nil {
			return cbErr
		}
	}
	return nil
}

// List writes a summary of the DLQ records timestamped in [from, to) by
// error type: count, source topics, first and last failure, and one example
// reason.
func List(ctx context.Context, src Source, from, to time.Time, w io.Writer) error {
	type row struct {
		count       int
		topics      map[string]int
		first, last time.Time
		reason      string
		unparseable bool
	}
	rows := map[string]*row{}
	total := 0
	err := scan(ctx, src, from, to, func(r *kgo.Record) error {
		e, perr := Parse(r.Headers)
		typ := e.ErrorType
		if perr != nil && typ == "" {
			typ = "(unparseable headers)"
		}
		x := rows[typ]
		if x == nil {
			x = &row{topics: map[string]int{}, reason: e.Reason}
			rows[typ] = x
		}
		x.count++
		total++
		x.topics[e.SourceTopic]++
		if x.first.IsZero() || r.Timestamp.Before(x.first) {
			x.first = r.Timestamp
		}
		if r.Timestamp.After(x.last) {
			x.last = r.Timestamp
		}
		return nil
	})
	if err != nil {
		return err
	}
	types := make([]string, 0, len(rows))
	for k := range rows {
		types = append(types, k)
	}
	sort.Slice(types, func(i, j int) bool {
		return rows[types[i]].count > rows[types[j]].count || (rows[types[i]].count == rows[types[j]].count && types[i] < types[j])
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ERROR TYPE\tCOUNT\tSOURCE TOPICS\tFIRST\tLAST\tEXAMPLE REASON")
	for _, k := range types {
		x := rows[k]
		var ts []string
		for t, n := range x.topics {
			ts = append(ts, t+"="+strconv.Itoa(n))
		}
		sort.Strings(ts)
		reason := x.reason
		if len(reason) > 120 {
			reason = reason[:120] + "..."
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s\t%s\t%s\n", k, x.count, ts, x.first.UTC().Format(time.RFC3339), x.last.UTC().Format(time.RFC3339), reason)
	}
	fmt.Fprintf(tw, "TOTAL\t%d\t\t\t\t\n", total)
	return tw.Flush()
}

// maxReplayBytes is the largest record Replay produces: the 32 MiB that
// `vigil setup` allows on vigil.dlq, so whatever the DLQ holds can go back.
const maxReplayBytes = 32 << 20

// ReplayOptions select what Replay re-publishes.
type ReplayOptions struct {
	// From and To bound the DLQ records' timestamps, [From, To); zero is
	// open.
	From, To time.Time
	// ErrorType, when set, replays only records of that error type.
	ErrorType string
	// ToTopic, when set, overrides each record's source topic.
	ToTopic string
	// DryRun reports what would be replayed without producing anything.
	DryRun bool
}

// Replay re-publishes DLQ records to their source topics (or ToTopic), with
// the original key, value and timestamp, and writes per-topic counts to w.
// Replayed DLQ records stay in the DLQ (it is append-only); replaying them
// again is harmless.
func Replay(ctx context.Context, src Source, opts ReplayOptions, w io.Writer) error {
	var prod *kgo.Client
	if !opts.DryRun {
		var err error
		prod, err = kgo.NewClient(append(append([]kgo.Opt{}, src.ClientOpts...),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
			// A dead-lettered record can be as large as its source topic
			// allowed (e.g. 20 MB): let the topic's max.message.bytes
			// decide, not the client's 1 MB default.
			kgo.ProducerBatchMaxBytes(maxReplayBytes))...)
		if err != nil {
			return fmt.Errorf("dlq: kafka client: %w", err)
		}
		defer prod.Close()
	}
	counts := map[string]int{}
	skipped := 0
	err := scan(ctx, src, opts.From, opts.To, func(r *kgo.Record) error {
		e, perr := Parse(r.Headers)
		if perr != nil && e.SourceTopic == "" {
			skipped++
			return nil
		}
		if opts.ErrorType != "" && e.ErrorType != opts.ErrorType {
			return nil
		}
		topic := e.SourceTopic
		if opts.ToTopic != "" {
			topic = opts.ToTopic
		}
		counts[topic]++
		if opts.DryRun {
			return nil
		}
		out := &kgo.Record{
			Topic:     topic,
			Key:       r.Key,
			Value:     r.Value,
			Timestamp: e.SourceTimestamp,
			Headers:   []kgo.RecordHeader{{Key: HeaderReplayedFrom, Value: []byte(fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset))}},
		}
		if err := prod.ProduceSync(ctx, out).FirstErr(); err != nil {
			return fmt.Errorf("dlq: produce to %s: %w", topic, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	verb := "replayed"
	if opts.DryRun {
		verb = "would replay"
	}
	topics := make([]string, 0, len(counts))
	for t := range counts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	total := 0
	for _, t := range topics {
		fmt.Fprintf(w, "%s %d records to %s\n", verb, counts[t], t)
		total += counts[t]
	}
	fmt.Fprintf(w, "%s %d records in total", verb, total)
	if skipped > 0 {
		fmt.Fprintf(w, " (%d skipped: no source topic header)", skipped)
	}
	fmt.Fprintln(w)
	return nil
}
