package detector

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/component"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/config/configtest"
	"github.com/vigil-dev/vigil/internal/events"
)

// TestConfigFixtures loads every testdata/config/*.good.yaml (must be valid)
// and *.bad.yaml (must fail with exactly the problems its "# want:" lines name).
func TestConfigFixtures(t *testing.T) {
	configtest.Fixtures(t, "testdata/config/*.yaml", func(path string) error {
		cfg := DefaultConfig()
		return config.Load(path, &cfg)
	})
}

func TestConfigFullValues(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, config.Load("testdata/config/full.good.yaml", &cfg))
	r := cfg.Targets[0].Rules[0]
	c := compileRule(r, cfg.Defaults)
	require.Equal(t, 10*time.Second, c.interval)
	require.Equal(t, time.Minute, c.hold)
	require.Equal(t, time.Duration(0), c.rec)
	require.Equal(t, &Threshold{Op: ">=", Value: 1e5}, c.critical)
	require.Equal(t, ReduceMin, c.reduce)
	// The second rule inherits the defaults section.
	c = compileRule(cfg.Targets[0].Rules[1], cfg.Defaults)
	require.Equal(t, 30*time.Second, c.interval)
	require.Equal(t, time.Duration(0), c.hold)
	require.Equal(t, 5*time.Minute, c.rec)
	require.Equal(t, PolicyKeepLast, c.onNoData)
	require.Equal(t, PolicyHealthy, c.onError)
	require.Nil(t, c.critical)
}

// TestShippedConfig keeps configs/detector.yaml valid and watching the
// pipeline metrics docs/events.md promises.
func TestShippedConfig(t *testing.T) {
	cfg := DefaultConfig()
	require.NoError(t, config.Load("../configs/detector.yaml", &cfg))
	require.Equal(t, events.HealthTopic, cfg.Kafka.HealthTopic)
	var exprs strings.Builder
	for _, tg := range cfg.Targets {
		for _, r := range tg.Rules {
			exprs.WriteString(r.Expr)
		}
	}
	for _, metric := range []string{
		"vigil_pipeline_opensearch_up", "vigil_pipeline_consumer_lag_records", `vigil_pipeline_records_total{outcome="dead_lettered"}`,
		"otelcol_exporter_send_failed_log_records_total", "vigil_pipeline_end_to_end_latency_seconds_bucket",
		`vigil_pipeline_canary_window_lost_records{topic="otlp_logs"}`, `vigil_pipeline_canary_window_lost_records{topic="otlp_spans"}`,
		`vigil_pipeline_canary_freshness_seconds_bucket{topic="otlp_logs"}`, `vigil_pipeline_canary_freshness_seconds_bucket{topic="otlp_spans"}`,
	} {
		require.Contains(t, exprs.String(), metric)
	}
	// Every component has a liveness rule on its scrape job, and the
	// pipeline's ratio rules count an idle pipeline as healthy.
	rules := map[string]Rule{}
	for _, tg := range cfg.Targets {
		for _, r := range tg.Rules {
			rules[tg.Name+"/"+r.Name] = r
		}
	}
	for _, c := range []string{"collector", "pipeline", "detector", "alerting"} {
		r, ok := rules[c+"/up"]
		require.True(t, ok, "no liveness rule for %s", c)
		require.Contains(t, r.Expr, `up{job="vigil-`+c+`"}`, "the job defaults to vigil-%s", c)
		require.Contains(t, r.Expr, "or on() vector(0)", "a vanished job is down, not no data")
		require.Equal(t, Condition("<= 0"), r.Critical)
	}
	for _, n := range []string{"pipeline/bulk_failure_ratio", "pipeline/end_to_end_latency_p99"} {
		require.NotEmpty(t, rules[n].Idle, n)
		require.Empty(t, rules[n].OnNoData, "%s: no data while records flow stays UNKNOWN", n)
	}
}

func TestConditionParse(t *testing.T) {
	for in, want := range map[Condition]*Threshold{
		"":        nil,
		"> 0.5":   {">", 0.5},
		">=1e3":   {">=", 1000},
		" < -2 ":  {"<", -2},
		"<= 0":    {"<=", 0},
		"== 1":    {"==", 1},
		"!= 0.25": {"!=", 0.25},
	} {
		got, err := in.Parse()
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []Condition{"0.5", "> ", "=> 1", "> 1 2", "> Inf"} {
		_, err := in.Parse()
		require.Error(t, err, in)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Targets = []Target{{Name: "kafka", Rules: []Rule{{Name: "lag", Expr: "sum(", Critical: "> 1"}}}}
	_, err := New(cfg, component.Deps{})
	require.ErrorContains(t, err, "targets[0].rules[0].expr: invalid PromQL")
}
