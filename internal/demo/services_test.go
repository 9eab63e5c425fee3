package demo

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/apm"
)

// TestServicesTable: the report's services table from the RED samples of
// the trace set, remote-written to the real Prometheus as the pipeline
// writes them (in an environment of the test's own).
func TestServicesTable(t *testing.T) {
	prom := testinfra.Prometheus(t)
	env := "treport-" + time.Now().Format("150405.000000")
	td := TraceSet(50, time.Now().Add(-time.Minute), 5)
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		td.ResourceSpans().At(i).Resource().Attributes().PutStr("deployment.environment.name", env)
	}
	agg := apm.NewAggregator(time.Second, 0, time.Second)
	at := time.Now().Add(-10 * time.Second)
	agg.Add(apm.Partition{Topic: "treport", Partition: 0}, at, at, apm.FromTraces(td, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, apm.NewRemoteWriter(prom+"/api/v1/write", 10*time.Second).Write(ctx, agg.Close(nil)))

	r := Report{Prometheus: prom, APMEnvironment: env}
	rows, err := r.Services(ctx)
	require.NoError(t, err)
	mine := map[string]ServiceRow{}
	for _, s := range rows {
		require.Equal(t, env, s.Environment, "only the environment asked for")
		mine[s.Service] = s
	}
	require.Len(t, mine, 3)
	require.Equal(t, ServiceRow{Environment: env, Service: Payment, Requests: 50, Faults: 10, P99Millis: mine[Payment].P99Millis}, mine[Payment])
	require.InDelta(t, 49.75, mine[Payment].P99Millis, 0.01, "50 ms spans: p99 interpolated in the (25, 50] ms bucket")
	require.Equal(t, 0.0, mine[Frontend].Faults)

	var out bytes.Buffer
	require.NoError(t, r.writeServices(ctx, &out))
	require.Regexp(t, env+`\s+payment\s+50\s+20\.0\s+49\.8`, out.String())
	require.Contains(t, out.String(), "observability:apmEnabled")
}
