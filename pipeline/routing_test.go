package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/pipeline/document"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

func TestStreamPart(t *testing.T) {
	long := strings.Repeat("A*", 150)
	for _, tc := range []struct {
		name, in, want string
		max            int
	}{
		{"plain", "nginx", "nginx", 100},
		{"dots and underscores kept", "app.access_log", "app.access_log", 100},
		{"upper case lowered", "Team-A", "team_a", 100},
		{"dash separates the parts", "kube-system", "kube_system", 100},
		{"forbidden characters", `a*b\c/d?e"f<g>h|i j,k#l:m`, "a_b_c_d_e_f_g_h_i_j_k_l_m", 100},
		{"leading characters of an index name are fine inside it", "-_+x", "___x", 100},
		{"unicode letters kept lower", "Équipe", "équipe", 100},
		{"uncased letters kept", "日本", "日本", 100},
		{"invalid UTF-8", "a\xffb", "a_b", 100},
		{"emoji", "a😀", "a_", 100},
		{"cut at max", long, strings.Repeat("a_", 50), 100},
		{"cut at a character boundary", "ééé", "éé", 5},
		{"clean but long", strings.Repeat("a", 120), strings.Repeat("a", 100), 100},
		{"empty", "", "", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := streamPart(tc.in, tc.max)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), tc.max)
			require.True(t, utf8.ValidString(got))
			require.Equal(t, strings.ToLower(got), got)
			require.False(t, strings.ContainsAny(got, `*\/?"<>| ,#:-`), got)
		})
	}
}

func TestStreamName(t *testing.T) {
	for _, tc := range []struct {
		name, def, ds, ns, want string
	}{
		{"both", "ss4o_logs-vigil-default", "nginx", "prod", "ss4o_logs-nginx-prod"},
		{"dataset only", "ss4o_logs-vigil-default", "nginx", "", "ss4o_logs-nginx-default"},
		{"namespace only", "ss4o_logs-vigil-default", "", "Team-A", "ss4o_logs-vigil-team_a"},
		{"unusable dataset", "ss4o_logs-vigil-default", "", "prod", "ss4o_logs-vigil-prod"},
		{"dashes in the default dataset", "ss4o_logs-my-app-default", "", "prod", "ss4o_logs-my-app-prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRouter(DefaultLogRoutingConfig(), tc.def, DefaultConfig().Retry, nil, newMetrics(nil), slog.New(slog.DiscardHandler))
			require.Equal(t, tc.want, r.name(tc.ds, tc.ns))
		})
	}
	// The longest names fit an index name with the backing index's
	// ".ds-" and "-000001" around them, whatever the prefix.
	for _, prefix := range []string{"ss4o_logs", strings.Repeat("p", 200)} {
		r := newRouter(DefaultLogRoutingConfig(), prefix+"-vigil-default", DefaultConfig().Retry, nil, newMetrics(nil), slog.New(slog.DiscardHandler))
		name := r.name(strings.Repeat("D", 300), strings.Repeat("é", 300))
		require.LessOrEqual(t, len(".ds-"+name+"-000001"), 255, name)
	}
}

// memStreams is a cluster's data streams, in memory, for the router's
// bookkeeping; pipeline/e2e TestLogRouting runs it on OpenSearch.
type memStreams struct {
	names    []string
	refuse   map[string]bool
	failures int // transient failures before the next call succeeds
	calls    int
}

func (m *memStreams) list(_ context.Context, pattern string) ([]string, error) {
	m.calls++
	if m.failures > 0 {
		m.failures--
		return nil, errors.New("connection refused")
	}
	var out []string
	for _, n := range m.names {
		if strings.HasPrefix(n, strings.TrimSuffix(pattern, "*")) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (m *memStreams) create(_ context.Context, name string) error {
	m.calls++
	if m.refuse[name] {
		return &opensearch.StatusError{Method: "PUT", Path: "/_data_stream/" + name, Status: 403}
	}
	m.names = append(m.names, name)
	return nil
}

func TestRouterCap(t *testing.T) {
	const def = "ss4o_logs-vigil-default"
	cfg := DefaultLogRoutingConfig()
	cfg.MaxStreams = 3
	retry := RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	dir := &memStreams{names: []string{def, "other_logs-x-y"}, refuse: map[string]bool{"ss4o_logs-vigil-refused": true}, failures: 2}
	newR := func() (*router, *metrics) {
		m := newMetrics(prometheus.NewRegistry())
		return newRouter(cfg, def, retry, dir, m, slog.New(slog.DiscardHandler)), m
	}
	r, m := newR()
	require.Same(t, r.def, r.route("", ""), "no attributes: the default stream, no lookup")
	require.Same(t, r.def, r.route("vigil", "default"))
	require.Zero(t, dir.calls)

	a := r.route("nginx", "Team-A")
	require.Equal(t, "ss4o_logs-nginx-team_a", a.Index)
	require.Equal(t, 4, dir.calls, "two failed lists retried, a list, a create")
	require.Same(t, a, r.route("nginx", "Team-A"))
	require.Same(t, a, r.route("nginx", "team_a"), "one stream for names that sanitize alike")
	require.Equal(t, 4, dir.calls, "known names need no lookup")
	require.Same(t, r.refused, r.route("", "refused"), "a refused creation goes to the default stream")
	calls0 := dir.calls
	require.Same(t, r.refused, r.route("", "Refused"))
	require.Equal(t, calls0, dir.calls, "a refused name is not asked again")
	require.Equal(t, def, r.refused.Index)
	b, c := r.route("", "b"), r.route("", "c")
	require.Equal(t, []string{"ss4o_logs-vigil-b", "ss4o_logs-vigil-c"}, []string{b.Index, c.Index})
	calls := dir.calls
	for i := range 1000 {
		require.Same(t, r.overCap, r.route("flood", strings.Repeat("x", i)))
	}
	require.Equal(t, calls+1, dir.calls, "once full, no further lookups")
	require.LessOrEqual(t, len(r.byRaw), rawCacheSize*cfg.MaxStreams)
	require.Equal(t, 3.0, testutil.ToFloat64(m.logStreams))
	require.ElementsMatch(t, []string{def, "other_logs-x-y", "ss4o_logs-nginx-team_a", "ss4o_logs-vigil-b", "ss4o_logs-vigil-c"}, dir.names)

	r.counted([]document.Log{{Stream: r.overCap}, {Stream: r.overCap}, {Stream: a}, {Stream: r.refused}, {}})
	require.Equal(t, 2.0, testutil.ToFloat64(m.streamOverflow.WithLabelValues(overflowMaxStreams)))
	require.Equal(t, 1.0, testutil.ToFloat64(m.streamOverflow.WithLabelValues(overflowRefused)))

	// Restarted (or another replica): the streams are the cluster's, so
	// every name lands where it did before.
	r2, _ := newR()
	require.Equal(t, "ss4o_logs-vigil-c", r2.route("", "c").Index)
	require.Equal(t, "ss4o_logs-nginx-team_a", r2.route("nginx", "team-a").Index)
	require.Same(t, r2.overCap, r2.route("flood", "x"))

	calls = dir.calls
	// Another replica made a stream (within the cap, at the same time):
	// the next listing, at most relistEvery later, finds it.
	dir.names = append(dir.names, "ss4o_logs-flood-late")
	require.Same(t, r.overCap, r.route("flood", "late"), "the listing is fresh")
	r.listedAt = r.listedAt.Add(-relistEvery)
	require.Equal(t, "ss4o_logs-flood-late", r.route("flood", "late").Index)
	require.Same(t, r.overCap, r.route("flood", "later"))
	require.Equal(t, calls+1, dir.calls, "one more listing")
}

func TestRouterWithoutCluster(t *testing.T) {
	cfg := DefaultLogRoutingConfig()
	cfg.MaxStreams = 2
	r := newRouter(cfg, "ss4o_logs-vigil-default", DefaultConfig().Retry, nil, newMetrics(nil), slog.New(slog.DiscardHandler))
	require.Equal(t, "ss4o_logs-a-default", r.route("a", "").Index)
	require.Equal(t, "ss4o_logs-b-default", r.route("b", "").Index)
	require.Same(t, r.overCap, r.route("c", ""))
	require.Equal(t, "ss4o_logs-a-default", r.route("a", "").Index)
}

// Every routed stream is one the logs template and ISM policy apply to
// (and Dashboards' <prefix>-* finds): their patterns are the prefix's.
func TestRoutedStreamsMatchTemplateAndPolicy(t *testing.T) {
	cfg := DefaultConfig()
	m := newMetrics(nil)
	r := newRouter(cfg.LogRouting, cfg.Indices.LogsDataStream, cfg.Retry, nil, m, slog.New(slog.DiscardHandler))
	names := cfg.Indices.Names()
	tpl := opensearch.LogsTemplate(names, opensearch.Settings{})["index_patterns"].([]string)
	policy, err := json.Marshal(opensearch.LogsPolicy(names, opensearch.Lifecycle{}))
	require.NoError(t, err)
	var p struct {
		Policy struct {
			ISMTemplate []struct {
				IndexPatterns []string `json:"index_patterns"`
			} `json:"ism_template"`
		} `json:"policy"`
	}
	require.NoError(t, json.Unmarshal(policy, &p))
	ism := p.Policy.ISMTemplate[0].IndexPatterns
	for _, in := range [][2]string{{"nginx", "prod"}, {"", "Team-A"}, {strings.Repeat("Ü*", 200), "a/b"}, {"", ""}} {
		st := r.route(in[0], in[1])
		require.True(t, matchAny(tpl, st.Index), "template %v, stream %s", tpl, st.Index)
		require.True(t, matchAny(ism, ".ds-"+st.Index+"-000001"), "ISM %v, stream %s", ism, st.Index)
		require.True(t, matchAny([]string{"ss4o_logs-*"}, st.Index), "Dashboards' pattern, stream %s", st.Index)
	}
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
