package eventindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// Deps are what an Indexer works with.
type Deps struct {
	// Kafka are the connection options (brokers, SASL, TLS).
	Kafka []kgo.Opt
	// DLQTopic is the pipeline's DLQ topic (indexed when Config.DLQ).
	DLQTopic string
	// OpenSearch is the cluster written to, asked before every bulk so
	// that the indexer follows the pipeline's failover to its standby.
	OpenSearch func() *opensearch.Client
	// EventsIndex and DLQIndex are the indices written to.
	EventsIndex, DLQIndex string
	Log                   *slog.Logger
	Registerer            prometheus.Registerer
}

// Indexer consumes the event topics and indexes their documents.
type Indexer struct {
	topics map[string]route
	kopts  []kgo.Opt
	os     func() *opensearch.Client
	log    *slog.Logger
	m      *metrics
}

// route is what becomes of one topic's records.
type route struct {
	index string
	build func(*kgo.Record) (id string, doc []byte, err error)
}

// New builds an Indexer; it does no I/O. It returns nil when nothing is to
// be indexed (disabled, or no topics).
func New(cfg Config, d Deps) (*Indexer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled {
		return nil, nil
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Registerer == nil {
		d.Registerer = prometheus.NewRegistry()
	}
	event := func(r *kgo.Record) (string, []byte, error) {
		id, doc, err := EventDocument(r)
		return id, marshal(doc), err
	}
	dlqDoc := func(r *kgo.Record) (string, []byte, error) {
		id, doc, err := DLQDocument(r)
		return id, marshal(doc), err
	}
	routes := map[string]route{}
	for _, t := range []string{cfg.HealthTopic, cfg.FailoverTopic} {
		if t != "" {
			routes[t] = route{d.EventsIndex, event}
		}
	}
	if cfg.DLQ && d.DLQTopic != "" {
		routes[d.DLQTopic] = route{d.DLQIndex, dlqDoc}
	}
	if len(routes) == 0 {
		return nil, nil
	}
	topics := make([]string, 0, len(routes))
	for t := range routes {
		topics = append(topics, t)
	}
	ix := &Indexer{topics: routes, os: d.OpenSearch, log: d.Log.With("part", "events"), m: newMetrics(d.Registerer)}
	ix.kopts = append(append([]kgo.Opt{}, d.Kafka...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// Health and failover events are published in transactions: an
		// aborted one must not show up in Dashboards.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	return ix, nil
}

// Run consumes and indexes until ctx ends. Offsets are committed after
// their documents are indexed; what was polled but not indexed when ctx
// ends is read again on the next start (and its documents, if they made
// it, are 409s then).
func (ix *Indexer) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(ix.kopts...)
	if err != nil {
		return fmt.Errorf("pipeline: events: kafka client: %w", err)
	}
	defer cl.Close()
	// Closing leaves the group, which waits for a rebalance a poll blocked.
	defer cl.AllowRebalance()
	for {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			ix.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
		})
		recs := fs.Records()
		if len(recs) > 0 {
			if err := ix.index(ctx, recs); err != nil {
				return nil // ctx ended while retrying
			}
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := cl.CommitRecords(cctx, recs...); err != nil {
				ix.log.Warn("commit failed; the records will be indexed again (harmlessly)", "err", err)
			}
			cancel()
		}
		cl.AllowRebalance()
	}
}

type item struct {
	index, id, topic string
	doc              []byte
}

// index indexes recs' documents, retrying what OpenSearch could not take
// until it does or ctx ends (the only error).
func (ix *Indexer) index(ctx context.Context, recs []*kgo.Record) error {
	var items []item
	for _, r := range recs {
		rt, ok := ix.topics[r.Topic]
		if !ok {
			continue
		}
		id, doc, err := rt.build(r)
		if errors.Is(err, ErrHeartbeat) {
			ix.m.skipped.WithLabelValues(r.Topic, "heartbeat").Inc()
			continue
		}
		if err != nil {
			ix.log.Warn("skipping a record that is not a valid event", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
			ix.m.skipped.WithLabelValues(r.Topic, "invalid").Inc()
			continue
		}
		items = append(items, item{rt.index, id, r.Topic, doc})
	}
	return ix.send(ctx, items)
}

// send bulk-indexes items, retrying until each is indexed or rejected.
func (ix *Indexer) send(ctx context.Context, items []item) error {
	for attempt := 0; len(items) > 0; attempt++ {
		if attempt > 0 && !sleep(ctx, backoff(attempt)) {
			return ctx.Err()
		}
		var body []byte
		for _, it := range items {
			body = opensearch.AppendCreate(body, it.index, it.id, it.doc)
		}
		res, err := ix.os().Bulk(ctx, [][]byte{body}, len(items))
		var be *opensearch.BulkError
		switch {
		case err == nil:
		case errors.As(err, &be) && be.Class() == opensearch.Permanent && len(items) > 1:
			// A request OpenSearch will never take (413): halve it.
			half := len(items) / 2
			if err := ix.send(ctx, items[:half]); err != nil {
				return err
			}
			return ix.send(ctx, items[half:])
		case errors.As(err, &be) && be.Class() == opensearch.Permanent:
			ix.log.Warn("OpenSearch refused an event document; skipped", "index", items[0].index, "id", items[0].id, "err", err)
			ix.m.skipped.WithLabelValues(items[0].topic, "rejected").Inc()
			return nil
		default:
			ix.log.Warn("indexing events failed; retrying", "err", err, "attempt", attempt+1)
			continue
		}
		var retry []item
		for i, r := range res {
			switch r.Class {
			case opensearch.Done:
				ix.m.indexed.WithLabelValues(items[i].index).Inc()
			case opensearch.Retry:
				retry = append(retry, items[i])
			default:
				ix.log.Warn("OpenSearch rejected an event document; skipped", "index", items[i].index, "id", items[i].id, "status", r.Status, "type", r.ErrType, "reason", r.Reason)
				ix.m.skipped.WithLabelValues(items[i].topic, "rejected").Inc()
			}
		}
		items = retry
	}
	return nil
}

func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt, 9)
	return min(d, 30*time.Second)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
