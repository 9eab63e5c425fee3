package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/pipeline/apm"
	"github.com/vigil-dev/vigil/pipeline/document"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// APMConfig turns on what OpenSearch Dashboards' APM (3.6+) reads:
// NodeOperationDetail documents in indices.apm_service_map and span-derived
// RED metrics sent to Prometheus by remote write (docs/apm.md).
type APMConfig struct {
	// Enabled derives them. Default false.
	Enabled bool `yaml:"enabled"`
	// Window is the aggregation window in Kafka record time (Data
	// Prepper's window_duration). Default 60s.
	Window time.Duration `yaml:"window"`
	// Grace is how far record time must pass the end of the window after
	// a window before that window is evaluated: room for producers' clock
	// skew. Default 5s.
	Grace time.Duration `yaml:"grace"`
	// IdleClose evaluates a partition's open windows when it has had no
	// record for this long (wall time). Default 2 windows.
	IdleClose time.Duration `yaml:"idle_close"`
	// RemoteWriteURL is Prometheus' remote-write endpoint, e.g.
	// http://prometheus:9090/api/v1/write (Prometheus needs
	// --web.enable-remote-write-receiver). Empty sends no metrics.
	RemoteWriteURL string `yaml:"remote_write_url"`
	// Timeout bounds one remote write or bulk request. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is how often a window's write is tried before it is
	// dropped (counted in vigil_pipeline_apm_windows_total). Default 5.
	Attempts int `yaml:"attempts"`
	// Queue is how many evaluated windows wait for their writes; past it
	// the oldest are dropped. Default 256.
	Queue int `yaml:"queue"`
	// MaxSpans bounds the spans held in open windows (about 150 bytes
	// each); past it the oldest windows are evaluated early, and a call
	// straddling one may miss its pair. Raise it with the memory limit
	// when more than about max_spans / (3 * window) spans per second
	// arrive. Default 100000.
	MaxSpans int `yaml:"max_spans"`
}

// DefaultAPMConfig returns the defaults.
func DefaultAPMConfig() APMConfig {
	return APMConfig{Window: time.Minute, Grace: 5 * time.Second, Timeout: 10 * time.Second, Attempts: 5, Queue: 256, MaxSpans: 100000}
}

func (c APMConfig) idleClose() time.Duration {
	if c.IdleClose > 0 {
		return c.IdleClose
	}
	return 2 * c.Window
}

func (c APMConfig) validate(p *config.Problems) {
	if !c.Enabled {
		return
	}
	if c.Window < time.Second {
		p.Addf("apm.window", "must be >= 1s (got %s)", c.Window)
	}
	if c.Grace < 0 {
		p.Addf("apm.grace", "must be >= 0 (got %s)", c.Grace)
	}
	if c.IdleClose < 0 {
		p.Addf("apm.idle_close", "must be >= 0 (got %s)", c.IdleClose)
	}
	if c.RemoteWriteURL != "" {
		if u, err := url.Parse(c.RemoteWriteURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("apm.remote_write_url", "must be an http(s) URL (got %q)", c.RemoteWriteURL)
		}
	}
	if c.Timeout <= 0 {
		p.Addf("apm.timeout", "must be > 0 (got %s)", c.Timeout)
	}
	if c.Attempts < 1 {
		p.Addf("apm.attempts", "must be >= 1 (got %d)", c.Attempts)
	}
	if c.Queue < 1 {
		p.Addf("apm.queue", "must be >= 1 (got %d)", c.Queue)
	}
	if c.MaxSpans < 1 {
		p.Addf("apm.max_spans", "must be >= 1 (got %d)", c.MaxSpans)
	}
}

// apmFeed aggregates spans into windows (under Service.mu, from the
// consume loop) and hands evaluated windows to its writer goroutine. A
// window is written without holding its records: documents are created
// with deterministic ids and samples are keyed by partition and window
// start, so a window derived again from records read again is a no-op
// (409, or the same or a refused duplicate sample), never a double count.
type apmFeed struct {
	agg   *apm.Aggregator
	queue chan []apm.Window
	spans []apm.Span // reused per record
	// facts are the span facts the record's documents were rendered
	// with (reused per record).
	facts  []document.SpanFacts
	cfg    APMConfig
	index  string
	client func() *opensearch.Client // nil: no documents (dry run, discard)
	rw     *apm.RemoteWriter         // nil: no metrics
	log    *slog.Logger
	m      apmMetrics
	// shedLogged is when shedding was last logged.
	shedLogged time.Time
}

type apmMetrics struct {
	windows   *prometheus.CounterVec // outcome
	documents *prometheus.CounterVec // outcome
	samples   *prometheus.CounterVec // outcome
	held      prometheus.Gauge
	shed      prometheus.Counter
}

func newAPMFeed(cfg APMConfig, index string, client func() *opensearch.Client, reg prometheus.Registerer, log *slog.Logger) *apmFeed {
	f := &apmFeed{
		agg: apm.NewAggregator(cfg.Window, cfg.Grace, cfg.idleClose()), queue: make(chan []apm.Window, cfg.Queue),
		cfg: cfg, index: index, client: client, log: log.With("part", "apm"),
		m: apmMetrics{
			windows: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "vigil_pipeline_apm_windows_total",
				Help: "APM windows (one partition's window) evaluated, by outcome: written, dropped (queue full or attempts exhausted).",
			}, []string{"outcome"}),
			documents: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "vigil_pipeline_apm_documents_total",
				Help: "NodeOperationDetail documents sent, by outcome: created, exists (written before), failed.",
			}, []string{"outcome"}),
			samples: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "vigil_pipeline_apm_samples_total",
				Help: "RED samples remote-written, by outcome: written, rejected (Prometheus refused them, e.g. a window written before), failed.",
			}, []string{"outcome"}),
			held: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "vigil_pipeline_apm_held_spans",
				Help: "Spans held in open APM windows.",
			}),
			shed: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "vigil_pipeline_apm_shed_windows_total",
				Help: "APM windows evaluated before they closed because apm.max_spans spans were held.",
			}),
		},
	}
	if cfg.RemoteWriteURL != "" {
		f.rw = apm.NewRemoteWriter(cfg.RemoteWriteURL, cfg.Timeout)
	}
	reg.MustRegister(f.m.windows, f.m.documents, f.m.samples, f.m.held, f.m.shed)
	return f
}

// want asks opt's span rendering for the facts addFacts derives from.
func (f *apmFeed) want(opt *document.Options) {
	f.facts = f.facts[:0]
	opt.Facts = &f.facts
}

// addFacts takes one span record's spans, from the facts its documents
// were rendered with: no second decoding. false: the facts do not suffice
// (an attribute the derivation reads is an array or a map), and add must
// take the record's traces instead.
func (f *apmFeed) addFacts(p tp, recordTime, now time.Time) bool {
	spans, ok := apm.FromFacts(f.facts, f.spans[:0])
	clear(f.facts) // they point into the record
	f.spans = spans
	if !ok {
		return false
	}
	f.agg.Add(apm.Partition{Topic: p.topic, Partition: p.partition}, recordTime, now, f.spans)
	clear(f.spans)
	return true
}

// add takes one span record's traces.
func (f *apmFeed) add(p tp, recordTime, now time.Time, td ptrace.Traces) {
	f.spans = apm.FromTraces(td, f.spans[:0])
	f.agg.Add(apm.Partition{Topic: p.topic, Partition: p.partition}, recordTime, now, f.spans)
	clear(f.spans)
}

// tick queues the windows that closed, and sheds windows past max_spans.
func (f *apmFeed) tick(now time.Time) {
	f.enqueue(f.agg.Ready(now))
	if f.agg.Spans() > f.cfg.MaxSpans {
		shed := f.agg.Shed(f.cfg.MaxSpans)
		f.m.shed.Add(float64(len(shed)))
		if now.Sub(f.shedLogged) >= time.Minute { // at most once a minute
			f.shedLogged = now
			f.log.Warn("apm windows evaluated early: apm.max_spans spans held; raise it (and the memory limit) for this span rate", "windows", len(shed), "max_spans", f.cfg.MaxSpans)
		}
		f.enqueue(shed)
	}
	f.m.held.Set(float64(f.agg.Spans()))
}

// close evaluates the given partitions' open windows (all when nil): on
// revoke and on shutdown what was seen is written rather than lost.
func (f *apmFeed) close(parts map[string][]int32) {
	f.enqueue(f.agg.Close(parts))
	f.m.held.Set(float64(f.agg.Spans()))
}

// drop forgets lost partitions' open windows: their records are read
// again, by whoever owns them next.
func (f *apmFeed) drop(parts map[string][]int32) {
	f.agg.Drop(parts)
	f.m.held.Set(float64(f.agg.Spans()))
}

func (f *apmFeed) enqueue(ws []apm.Window) {
	if len(ws) == 0 {
		return
	}
	for {
		select {
		case f.queue <- ws:
			return
		default:
		}
		// Full: drop the oldest batch rather than stall span indexing.
		select {
		case old := <-f.queue:
			f.m.windows.WithLabelValues("dropped").Add(float64(len(old)))
			f.log.Warn("apm queue full; dropped the oldest windows", "windows", len(old))
		default:
		}
	}
}

// run writes queued windows until ctx ends, then what is queued.
func (f *apmFeed) run(ctx context.Context, stop <-chan struct{}) {
	if f.rw != nil {
		defer f.rw.Close()
	}
	for {
		select {
		case ws := <-f.queue:
			f.write(ctx, ws)
		case <-stop:
			for {
				select {
				case ws := <-f.queue:
					f.write(ctx, ws)
				default:
					return
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

func (f *apmFeed) write(ctx context.Context, ws []apm.Window) {
	docsOK := f.client == nil || f.retry(ctx, func(ctx context.Context) error { return f.writeDocs(ctx, ws) })
	samplesOK := f.rw == nil || f.retry(ctx, func(ctx context.Context) error { return f.writeSamples(ctx, ws) })
	outcome := "written"
	if !docsOK || !samplesOK {
		outcome = "dropped"
	}
	f.m.windows.WithLabelValues(outcome).Add(float64(len(ws)))
}

// retry runs op up to Attempts times with a doubling backoff; a permanent
// error ends it at once.
func (f *apmFeed) retry(ctx context.Context, op func(context.Context) error) bool {
	backoff := 500 * time.Millisecond
	for i := 1; ; i++ {
		octx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		err := op(octx)
		cancel()
		switch {
		case err == nil:
			return true
		case errors.Is(err, errPermanent) || i >= f.cfg.Attempts || ctx.Err() != nil:
			f.log.Warn("apm write failed; window dropped", "attempts", i, "err", err)
			return false
		}
		f.log.Debug("apm write failed; retrying", "attempt", i, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

var errPermanent = errors.New("permanent")

func (f *apmFeed) writeDocs(ctx context.Context, ws []apm.Window) error {
	var body []byte
	n := 0
	for _, w := range ws {
		for _, d := range w.Details {
			body = opensearch.AppendCreate(body, f.index, d.ID(), d.Render())
			n++
		}
	}
	if n == 0 {
		return nil
	}
	res, err := f.client().Bulk(ctx, [][]byte{body}, n)
	if err != nil {
		return err
	}
	created, exists, failed := 0, 0, 0
	var last string
	for _, r := range res {
		switch {
		case r.Status == 201:
			created++
		case r.Status == 409:
			exists++ // written before: the window derived again
		case r.Class == opensearch.Retry:
			return errors.New("bulk item " + r.ErrType + ": " + r.Reason)
		default:
			failed++
			last = r.ErrType + ": " + r.Reason
		}
	}
	f.m.documents.WithLabelValues("created").Add(float64(created))
	f.m.documents.WithLabelValues("exists").Add(float64(exists))
	if failed > 0 {
		f.m.documents.WithLabelValues("failed").Add(float64(failed))
		f.log.Warn("apm documents refused", "documents", failed, "last", last)
	}
	return nil
}

func (f *apmFeed) writeSamples(ctx context.Context, ws []apm.Window) error {
	n := 0
	for _, w := range ws {
		n += len(w.Series)
	}
	err := f.rw.Write(ctx, ws)
	switch {
	case err == nil:
		f.m.samples.WithLabelValues("written").Add(float64(n))
		return nil
	case errors.Is(err, apm.ErrRejected):
		// Prometheus appends what it can and refuses the rest (a window
		// already written has the same series and timestamp).
		f.m.samples.WithLabelValues("rejected").Add(float64(n))
		f.log.Debug("apm samples refused by prometheus", "err", err)
		return nil
	}
	return err
}
