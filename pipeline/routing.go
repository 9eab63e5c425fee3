package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/pipeline/document"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// LogRoutingConfig routes each log to the data stream
// <prefix>-<dataset>-<namespace> of its resource, SS4O's naming: prefix,
// and the dataset and namespace a resource without the attributes gets,
// are indices.logs_data_stream's three parts (ss4o_logs, vigil, default).
// docs/configuration.md, "Log routing", says how names are sanitized and
// why the cap holds across restarts.
type LogRoutingConfig struct {
	// Enabled routes by the attributes below; off, every log goes to
	// indices.logs_data_stream. Default true.
	Enabled bool `yaml:"enabled"`
	// DatasetAttributes are the resource attribute keys whose string value
	// is the dataset; of those present, the first listed wins. Default
	// [data_stream.dataset].
	DatasetAttributes []string `yaml:"dataset_attributes"`
	// NamespaceAttributes are the same for the namespace, e.g.
	// [data_stream.namespace, k8s.namespace.name]. Default
	// [data_stream.namespace].
	NamespaceAttributes []string `yaml:"namespace_attributes"`
	// MaxStreams caps the data streams under the prefix besides
	// indices.logs_data_stream, counting those the cluster holds already.
	// Past it, logs of further names go to indices.logs_data_stream and
	// vigil_pipeline_log_stream_overflow_total counts them. Default 100.
	MaxStreams int `yaml:"max_streams"`
}

// DefaultLogRoutingConfig returns the defaults.
func DefaultLogRoutingConfig() LogRoutingConfig {
	return LogRoutingConfig{
		Enabled:             true,
		DatasetAttributes:   []string{"data_stream.dataset"},
		NamespaceAttributes: []string{"data_stream.namespace"},
		MaxStreams:          100,
	}
}

// maxStreamName is the longest stream name: its backing indices are
// .ds-<name>-000001, and an index name is at most 255 bytes.
const maxStreamName = 255 - len(".ds-") - len("-000001")

// maxStreamPart is the longest dataset or namespace (Elasticsearch's
// reroute processor cuts at the same length).
const maxStreamPart = 100

// validate reports every problem (paths relative to log_routing);
// defaultStream is indices.logs_data_stream.
func (c LogRoutingConfig) validate(p *config.Problems, defaultStream string) {
	if !c.Enabled {
		return
	}
	for _, l := range []struct {
		path string
		keys []string
	}{{"log_routing.dataset_attributes", c.DatasetAttributes}, {"log_routing.namespace_attributes", c.NamespaceAttributes}} {
		seen := map[string]bool{}
		for i, k := range l.keys {
			switch {
			case k == "":
				p.Addf(fmt.Sprintf("%s[%d]", l.path, i), "must not be empty")
			case seen[k]:
				p.Addf(fmt.Sprintf("%s[%d]", l.path, i), "repeats %q", k)
			}
			seen[k] = true
		}
	}
	if c.MaxStreams < 1 || c.MaxStreams > 10000 {
		p.Addf("log_routing.max_streams", "must be between 1 and 10000 (got %d)", c.MaxStreams)
	}
	prefix, ds, ns := splitStream(defaultStream)
	switch {
	case ds == "" || ns == "":
		p.Addf("indices.logs_data_stream", "must be <prefix>-<dataset>-<namespace> when log_routing.enabled (got %q)", defaultStream)
	case streamPartLen(prefix) < 8:
		p.Addf("indices.logs_data_stream", "prefix %q leaves room for fewer than 8 bytes of dataset and namespace each in a %d-byte stream name", prefix, maxStreamName)
	}
	if strings.ContainsAny(defaultStream[:1], "-_+.") {
		p.Addf("indices.logs_data_stream", "must not start with '-', '_', '+' or '.' when log_routing.enabled (got %q)", defaultStream)
	}
}

// splitStream splits a stream name into prefix (to the first "-"),
// dataset and namespace (after the last "-").
func splitStream(name string) (prefix, dataset, namespace string) {
	prefix, rest, _ := strings.Cut(name, "-")
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return prefix, "", ""
	}
	return prefix, rest[:i], rest[i+1:]
}

// streamPartLen is the longest dataset and namespace under prefix.
func streamPartLen(prefix string) int {
	return min(maxStreamPart, (maxStreamName-len(prefix)-2)/2)
}

// streamPart makes v a dataset or namespace OpenSearch takes in an index
// name: lower case; letters, digits, '_' and '.' kept and anything else
// ('-' too, which separates the parts; '*', '\', '/', '?', '"', '<', '>',
// '|', ' ', ',', '#', ':', invalid UTF-8) written as '_'; cut to max bytes
// at a character boundary. It returns v itself when v is already so.
func streamPart(v string, max int) string {
	clean := len(v) <= max
	for i := 0; clean && i < len(v); i++ {
		c := v[i]
		clean = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
	}
	if clean {
		return v
	}
	b := make([]byte, 0, min(len(v), max))
	for _, r := range v {
		r = unicode.ToLower(r)
		if !(r == '_' || r == '.' || unicode.IsDigit(r) || unicode.IsLetter(r) && !unicode.IsUpper(r) && !unicode.IsTitle(r)) {
			r = '_' // utf8.RuneError, for invalid UTF-8, too
		}
		if len(b)+utf8.RuneLen(r) > max {
			break
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// streamDirectory is where data streams are listed and created: the
// cluster, so that the cap and every name's stream survive restarts and
// are shared by replicas.
type streamDirectory interface {
	list(ctx context.Context, pattern string) ([]string, error)
	create(ctx context.Context, name string) error
}

// clusterStreams is the streamDirectory of the cluster written to.
type clusterStreams struct{ client func() *opensearch.Client }

func (c clusterStreams) list(ctx context.Context, pattern string) ([]string, error) {
	return c.client().DataStreams(ctx, pattern)
}

func (c clusterStreams) create(ctx context.Context, name string) error {
	return c.client().CreateDataStream(ctx, name)
}

// router picks log documents' data streams (document.Options.Route). It is
// used by the poll loop alone.
type router struct {
	keys    [2][]string
	prefix  string
	defDS   string
	defNS   string
	maxPart int
	max     int
	// def is indices.logs_data_stream; overCap and refused are the same
	// stream, chosen past the cap and after the cluster refused to create
	// a name's stream, told apart to be counted.
	def, overCap, refused *document.Stream
	// byName holds the streams known to exist (admitted), byRaw what
	// attribute values led to (at most rawCacheSize).
	byName map[string]*document.Stream
	byRaw  map[[2]string]*document.Stream
	// refusedNames are names the cluster refused a stream (at most max).
	refusedNames map[string]bool
	// full: the cluster holds max streams; it only ever fills (streams are
	// never deleted by the pipeline), so a further name is looked up only
	// in a listing at most relistEvery old (another replica may have made
	// its stream since).
	full     bool
	listedAt time.Time
	dir      streamDirectory // nil: no cluster (discard sink, dry run)
	ctx      context.Context
	backoff  RetryConfig
	m        *metrics
	log      *slog.Logger
}

// relistEvery is how often, at most, a full router lists the cluster's
// streams again for a name it does not know.
const relistEvery = 10 * time.Second

// rawCacheSize bounds the attribute values remembered per max_streams:
// beyond it they are sanitized again each time (a flood of distinct values
// must not grow memory).
const rawCacheSize = 4

func newRouter(c LogRoutingConfig, defaultStream string, retry RetryConfig, dir streamDirectory, m *metrics, log *slog.Logger) *router {
	prefix, ds, ns := splitStream(defaultStream)
	head, at := opensearch.CreateHead(defaultStream, document.IDLen)
	r := &router{
		keys:   [2][]string{c.DatasetAttributes, c.NamespaceAttributes},
		prefix: prefix, defDS: ds, defNS: ns, maxPart: streamPartLen(prefix), max: c.MaxStreams,
		def:    &document.Stream{Index: defaultStream, Head: head, HeadID: at},
		byName: map[string]*document.Stream{}, byRaw: map[[2]string]*document.Stream{}, refusedNames: map[string]bool{},
		dir: dir, ctx: context.Background(), backoff: retry, m: m, log: log,
	}
	cp := *r.def
	r.overCap = &cp
	cp2 := *r.def
	r.refused = &cp2
	return r
}

// route is document.Options.Route. dataset and namespace share the
// record's bytes: what is kept is copied.
func (r *router) route(dataset, namespace string) *document.Stream {
	if dataset == "" && namespace == "" {
		return r.def
	}
	k := [2]string{dataset, namespace}
	if st, ok := r.byRaw[k]; ok {
		return st
	}
	st := r.admit(r.name(dataset, namespace))
	// Not a name past the cap: a listing may find its stream later (made
	// by another replica).
	if st != r.overCap && len(r.byRaw) < rawCacheSize*r.max {
		r.byRaw[[2]string{strings.Clone(dataset), strings.Clone(namespace)}] = st
	}
	return st
}

// name is the stream of dataset and namespace.
func (r *router) name(dataset, namespace string) string {
	ds, ns := streamPart(dataset, r.maxPart), streamPart(namespace, r.maxPart)
	if ds == "" {
		ds = r.defDS
	}
	if ns == "" {
		ns = r.defNS
	}
	return r.prefix + "-" + ds + "-" + ns
}

// admit returns name's stream if it exists or there is room for it under
// the cap (creating it in the cluster first), or else the default stream.
//
// The cluster is asked before a name is admitted: a stream is created
// before any document is sent to it, and a name is refused only while the
// cluster holds max streams. Streams are never removed by the pipeline, so
// a record redelivered after a crash or a rebalance, to this replica or
// another, finds the same answer and lands in the same stream, where bulk
// create makes the repeat a 409.
func (r *router) admit(name string) *document.Stream {
	if name == r.def.Index {
		return r.def
	}
	if st, ok := r.byName[name]; ok {
		return st
	}
	if r.refusedNames[name] {
		return r.refused
	}
	if r.full && (r.dir == nil || time.Since(r.listedAt) < relistEvery) {
		return r.overCap
	}
	if r.dir != nil {
		var names []string
		err := r.retry("list data streams", func(ctx context.Context) (err error) {
			names, err = r.dir.list(ctx, r.prefix+"-*")
			return err
		})
		if err != nil {
			r.log.Warn("data streams cannot be listed; logs go to the default stream", "stream", name, "err", err)
			return r.refused
		}
		r.listedAt = time.Now()
		for _, n := range names {
			r.add(n)
		}
		if st, ok := r.byName[name]; ok {
			return st
		}
	}
	if len(r.byName) >= r.max {
		if r.full {
			return r.overCap
		}
		r.full = true
		r.log.Warn("log data streams at log_routing.max_streams; logs of further names go to the default stream", "max_streams", r.max, "default", r.def.Index, "first_refused", name)
		return r.overCap
	}
	if r.dir != nil {
		if err := r.retry("create data stream", func(ctx context.Context) error { return r.dir.create(ctx, name) }); err != nil {
			r.log.Warn("data stream cannot be created; its logs go to the default stream", "stream", name, "err", err)
			if len(r.refusedNames) < r.max {
				r.refusedNames[name] = true
			}
			return r.refused
		}
	}
	return r.add(name)
}

// add records name as existing.
func (r *router) add(name string) *document.Stream {
	if st, ok := r.byName[name]; ok || name == r.def.Index {
		return st
	}
	head, at := opensearch.CreateHead(name, document.IDLen)
	st := &document.Stream{Index: name, Head: head, HeadID: at}
	r.byName[name] = st
	r.m.logStreams.Set(float64(len(r.byName)))
	return st
}

// retry calls f until it succeeds, fails for good (an HTTP answer that a
// repeat cannot change), or the pipeline stops. Logs wait meanwhile, as
// they would for their bulk.
func (r *router) retry(what string, f func(context.Context) error) error {
	wait := r.backoff.InitialBackoff
	for {
		err := f(r.ctx)
		var se *opensearch.StatusError
		if err == nil || errors.As(err, &se) && se.Status != 429 && se.Status < 500 {
			// A refused name or permission stays refused.
			return err
		}
		r.log.Warn(what+" failed; retrying", "err", err, "backoff", wait)
		if !sleep(r.ctx, wait) {
			return err
		}
		wait = min(2*wait, r.backoff.MaxBackoff)
	}
}

// counted counts docs' routing outcome: those sent to the default stream
// because of the cap or a refusal.
func (r *router) counted(docs []document.Log) {
	var over, refused int
	for i := range docs {
		switch docs[i].Stream {
		case r.overCap:
			over++
		case r.refused:
			refused++
		}
	}
	if over > 0 {
		r.m.streamOverflow.WithLabelValues(overflowMaxStreams).Add(float64(over))
	}
	if refused > 0 {
		r.m.streamOverflow.WithLabelValues(overflowRefused).Add(float64(refused))
	}
}

// The reasons of vigil_pipeline_log_stream_overflow_total.
const (
	overflowMaxStreams = "max_streams"
	overflowRefused    = "refused"
)
