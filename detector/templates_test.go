package detector

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
)

// vectorQuerier answers every query with the same vector.
type vectorQuerier struct{ v model.Vector }

func (q vectorQuerier) Query(context.Context, string, time.Time, ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error) {
	return q.v, nil, nil, nil
}

func shippedTemplate(t *testing.T) TargetTemplate {
	t.Helper()
	cfg := DefaultConfig()
	require.NoError(t, config.Load("../configs/detector.yaml", &cfg))
	require.Len(t, cfg.TargetTemplates, 1)
	return cfg.TargetTemplates[0]
}

func TestTemplateExpandsPerService(t *testing.T) {
	tt := shippedTemplate(t)
	q := vectorQuerier{model.Vector{
		{Metric: model.Metric{"environment": "prod", "service": "payment"}},
		{Metric: model.Metric{"environment": "prod", "service": "checkout"}},
		{Metric: model.Metric{"environment": "prod"}}, // no service: skipped
		{Metric: model.Metric{"environment": "prod", "service": `we"ird`}},
	}}
	ts, err := tt.discover(context.Background(), q, time.Second, time.Now())
	require.NoError(t, err)
	var names []string
	for _, x := range ts {
		names = append(names, x.Name)
		require.NoError(t, x.validate(), "an expanded target is valid PromQL, whatever the value")
	}
	require.Equal(t, []string{"apm/prod/checkout", "apm/prod/payment", `apm/prod/we"ird`}, names)
	pay := ts[1]
	require.Equal(t, map[string]string{"component": "service", "service": "payment", "environment": "prod"}, pay.Labels)
	require.Contains(t, pay.Rules[0].Expr, `fault{environment="prod",service="payment",remoteService="",namespace="span_derived"}[5m]`)
	require.True(t, strings.HasSuffix(pay.Rules[0].Annotations.DashboardsURL, "/app/observability-apm-services#/service-details/payment/prod"), pay.Rules[0].Annotations.DashboardsURL)
	require.Contains(t, ts[2].Rules[0].Expr, `service="we\"ird"`)
	require.Contains(t, ts[2].Rules[0].Annotations.DashboardsURL, "/service-details/we%22ird/prod")
	c := compileRule(pay.Rules[0], DefaultConfig().Defaults)
	require.Equal(t, &Threshold{Op: ">", Value: 0.05}, c.critical)
	require.Equal(t, &Threshold{Op: ">", Value: 0.01}, c.caution)
}

func TestTemplateValidate(t *testing.T) {
	good := shippedTemplate(t)
	for _, tc := range []struct {
		name string
		edit func(*TargetTemplate)
		want string
	}{
		{"name without a label", func(tt *TargetTemplate) { tt.Name = "apm/{{service}}" }, "name: must use {{environment}}"},
		{"unknown placeholder", func(tt *TargetTemplate) { tt.Rules[0].Expr = `up{job="{{job}}"}` }, "uses {{job}}, which is not in for_each.labels"},
		{"no labels", func(tt *TargetTemplate) { tt.ForEach.Labels = nil }, "for_each.labels: must name at least one label"},
		{"bad query", func(tt *TargetTemplate) { tt.ForEach.Query = "sum(" }, "for_each.query: invalid PromQL"},
		{"bad rule", func(tt *TargetTemplate) { tt.Rules[0].Expr = "rate(x[5m]" }, "rules[0].expr: invalid PromQL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := good
			tt.Rules = append([]Rule(nil), good.Rules...)
			tc.edit(&tt)
			err := tt.validate()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	require.NoError(t, good.validate())
}

// A target added while the engine runs is scheduled and evaluated.
func TestEngineAddsTargets(t *testing.T) {
	cfg := DefaultConfig()
	emitted := make(chan Transition, 10)
	m, err := newMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	e := newEngine(cfg, nil, func(_ context.Context, tr Transition) error { emitted <- tr; return nil }, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := vectorQuerier{model.Vector{{Value: 1}}}
	done := make(chan struct{})
	go func() { _ = e.run(ctx, q, time.Second); close(done) }()
	zero := time.Duration(0)
	interval := 50 * time.Millisecond
	tgt := Target{Name: "apm/prod/payment", Rules: []Rule{{Name: "fault_ratio", Expr: "x", Critical: "> 0.05", For: &zero, Interval: &interval}}}
	require.True(t, e.addTarget(tgt, cfg, Restored{}))
	require.False(t, e.addTarget(tgt, cfg, Restored{}), "added once")
	select {
	case tr := <-emitted:
		require.Equal(t, "apm/prod/payment", tr.Target)
	case <-time.After(10 * time.Second):
		t.Fatal("the added target was never evaluated")
	}
	cancel()
	<-done
}
