package testinfra

import (
	"testing"
)

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name string
		ci   bool
		want action
	}{
		// CI must fail loudly: a skipped integration test there is a hole.
		{"ci", true, fail},
		// A developer without the servers still gets a usable go test.
		{"local", false, skip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := missing(tc.ci); got != tc.want {
				t.Errorf("missing(%v) = %v, want %v", tc.ci, got, tc.want)
			}
		})
	}
}

// The helpers must skip, not fail or hang, when a server is absent and CI
// is not set; run them in subtests and look at how each one ended.
func TestHelpersSkipLocallyWhenServersAreMissing(t *testing.T) {
	t.Setenv("CI", "")
	// Port 1 on loopback: nothing listens there, so dials fail fast.
	t.Setenv("VIGIL_TEST_KAFKA", "127.0.0.1:1")
	t.Setenv("VIGIL_TEST_OPENSEARCH", "http://127.0.0.1:1")
	t.Setenv("VIGIL_TEST_OPENSEARCH_STANDBY", "")
	t.Setenv("VIGIL_TEST_OPENSEARCH_PROXY", "")
	t.Setenv("VIGIL_TEST_PROMETHEUS", "http://127.0.0.1:1")
	t.Setenv("VIGIL_TEST_PROMETHEUS_TARGETS", t.TempDir()+"/absent")
	t.Setenv("VIGIL_CACHE", t.TempDir())
	t.Setenv("PATH", t.TempDir())

	for name, f := range map[string]func(testing.TB){
		"kafka":              func(t testing.TB) { Kafka(t) },
		"opensearch":         func(t testing.TB) { OpenSearch(t) },
		"opensearch-standby": func(t testing.TB) { OpenSearchStandby(t) },
		"opensearch-proxy":   func(t testing.TB) { OpenSearchProxy(t) },
		"prometheus":         func(t testing.TB) { Prometheus(t) },
		"targets":            func(t testing.TB) { PrometheusTargetsDir(t) },
		"tool":               func(t testing.TB) { Tool(t, "telemetrygen") },
	} {
		var inner *testing.T
		t.Run(name, func(t *testing.T) {
			inner = t
			f(t)
			t.Error("helper returned instead of skipping")
		})
		if !inner.Skipped() {
			t.Errorf("%s: not skipped", name)
		}
	}
}
