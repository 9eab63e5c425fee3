//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestSecuredOpenSearch: records go collector -> Kafka -> pipeline ->
// nginx (TLS, basic auth, required client certificate; scripts/infra.sh
// opensearch-proxy) -> OpenSearch. The pipeline starts with a wrong
// password in its secret file: it logs a 401 naming the cluster, reports
// the sink down, dead-letters nothing. Then the file gets the right
// password and, without a restart (the client re-reads the secret on each
// request), every record is indexed exactly once. The same again with the
// password going wrong while the pipeline runs.
func TestSecuredOpenSearch(t *testing.T) {
	proxy := testinfra.OpenSearchProxy(t)
	s := newStack(t, 3)
	pw := filepath.Join(s.dir, "opensearch-password")
	require.NoError(t, os.WriteFile(pw, []byte("wrong-password\n"), 0o600))
	s.osYAML = fmt.Sprintf(`
  name: secured
  addresses: [%q]
  username: %s
  password: {file: %q}
  tls: {ca_file: %q, cert_file: %q, key_file: %q}`, proxy.URL, proxy.User, pw, proxy.CAFile, proxy.CertFile, proxy.KeyFile)

	c := s.startCollector()
	admin := vigiltest.FreeAddr(t)
	// The standby sink goes through the proxy's second port (to
	// opensearch-standby) with the right password all along: it stays up
	// while the primary refuses, so the two are told apart by name.
	standby := fmt.Sprintf(`failover:
  topic: %s.failover
  standby:
    name: standby
    addresses: [%q]
    username: %s
    password: {file: %q}
    tls: {ca_file: %q, cert_file: %q, key_file: %q}
`, s.prefix, proxy.StandbyURL, proxy.User, proxy.PasswordFile, proxy.CAFile, proxy.CertFile, proxy.KeyFile)
	testinfra.OpenSearchStandby(t)
	p := vigiltest.Start(t, nil, "pipeline", "--config", s.pipelineConfig(admin, standby))
	s.admin = admin
	right, err := os.ReadFile(proxy.PasswordFile)
	require.NoError(t, err)
	const n = 1000
	snd := newSender(t, c.grpc)
	base := time.Now().Add(-time.Minute)

	// Twice: a wrong password from the start (installing the templates is
	// refused and retried), then one that goes wrong while running (bulk
	// requests are refused and the batch is held).
	for round, want := range []string{"installing index templates failed", `bulk to cluster \"secured\": HTTP 401`} {
		if round == 1 {
			require.NoError(t, os.WriteFile(pw, []byte("wrong-again\n"), 0o600))
		}
		snd.sendLogs(round*n, (round+1)*n, 100, base)
		// Refused: a clear 401 naming the cluster, the sink down, nothing
		// dead-lettered, nothing more indexed.
		require.NoError(t, vigiltest.Eventually(90*time.Second, func() error {
			if !anyLineHas(p.Output(), "secured", "HTTP 401", "refused the credentials", want) {
				return fmt.Errorf("no 401 naming the cluster (%s) in the pipeline's log yet", want)
			}
			up, err := metric(admin, "vigil_pipeline_opensearch_up", `cluster="secured"`)
			if err != nil || up != 0 {
				return fmt.Errorf("vigil_pipeline_opensearch_up{cluster=secured} = %v (%v), want 0", up, err)
			}
			if up, err := metric(admin, "vigil_pipeline_opensearch_up", `cluster="standby"`); err != nil || up != 1 {
				return fmt.Errorf("vigil_pipeline_opensearch_up{cluster=standby} = %v (%v), want 1 (through the proxy)", up, err)
			}
			return nil
		}), "round %d, pipeline output:\n%s", round, p.Output())
		requireNoneDeadLettered(t, s, admin)
		if got, err := s.count(s.logsStream); err == nil {
			require.Equal(t, round*n, got, "documents indexed with a wrong password")
		}

		// Fixed in place (as a rotated Kubernetes Secret would be): every
		// record arrives, exactly once, without a restart.
		require.NoError(t, os.WriteFile(pw, right, 0o600))
		s.requireExactlyOnce(s.logsStream, "traceId", (round+1)*n)
		require.NoError(t, vigiltest.Eventually(30*time.Second, func() error {
			up, err := metric(admin, "vigil_pipeline_opensearch_up", `cluster="secured"`)
			if err != nil || up != 1 {
				return fmt.Errorf("vigil_pipeline_opensearch_up{cluster=secured} = %v (%v), want 1", up, err)
			}
			return nil
		}))
		requireNoneDeadLettered(t, s, admin)
	}
	require.NotContains(t, p.Output(), strings.TrimSpace(string(right)), "the password in the pipeline's log")
}

// requireNoneDeadLettered: the pipeline counts none, and the DLQ topic
// holds none (the counter may not exist before its first increment).
func requireNoneDeadLettered(t *testing.T, s *stack, admin string) {
	t.Helper()
	if dead, err := metric(admin, "vigil_pipeline_records_total", `outcome="dead_lettered"`); err == nil {
		require.Zero(t, dead, "records dead-lettered for an auth error")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), s.dlqTopic)
	require.NoError(t, err)
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		require.NoError(t, o.Err)
		total += o.Offset
	})
	require.Zero(t, total, "records in the DLQ topic %s", s.dlqTopic)
}

// anyLineHas reports whether one line of out holds every one of subs.
func anyLineHas(out string, subs ...string) bool {
lines:
	for _, l := range strings.Split(out, "\n") {
		for _, x := range subs {
			if !strings.Contains(l, x) {
				continue lines
			}
		}
		return true
	}
	return false
}
