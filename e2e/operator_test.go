//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/internal/vigiltest"
)

// TestOperatorVerbs drives a running `vigil alerting` on the real Kafka with
// the CLI an operator uses: silences added, listed and deleted, and the
// failover status of a process with no failover targets.
func TestOperatorVerbs(t *testing.T) {
	broker := testinfra.Kafka(t)
	dir := t.TempDir()
	admin := vigiltest.FreeAddr(t)
	suffix := strings.ReplaceAll(t.Name(), "/", "_") + time.Now().Format("150405.000000")
	cfg := `
admin: {listen_address: "` + admin + `"}
kafka:
  brokers: ["` + broker + `"]
  group: vigil-alerting-` + suffix + `
  health_topic: vigil.health.` + suffix + `
  failover_topic: vigil.failover.` + suffix + `
  state_topic: vigil.alerting.state.` + suffix + `
api:
  token: {env: VIGIL_E2E_TOKEN}
`
	path := filepath.Join(dir, "alerting.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	env := []string{"VIGIL_E2E_TOKEN=s3cret"}
	p := vigiltest.Start(t, env, "alerting", "--config", path)
	p.WaitReady(admin, 60*time.Second)

	vigil := func(args ...string) (string, int) {
		cmd := exec.Command(vigiltest.Binary(t), args...)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		return out.String(), code
	}

	out, code := vigil("alerting", "silence", "add", "--config", path, "--matcher", "target=db-1", "--for", "2h", "--reason", "planned upgrade", "--by", "e2e")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `^silence [0-9a-f]+ created, expires `, out)
	id := strings.Fields(out)[1]

	out, code = vigil("alerting", "silence", "list", "--config", path)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, id)
	require.Contains(t, out, "target=db-1")
	require.Contains(t, out, "planned upgrade")

	out, code = vigil("alerting", "silence", "delete", id, "--config", path)
	require.Equal(t, 0, code, out)
	out, _ = vigil("alerting", "silence", "list", "--config", path)
	require.NotContains(t, out, id)

	out, code = vigil("failover", "status", "--config", path)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "no failover targets are configured")

	out, code = vigil("failover", "ack", "db-1", "--config", path)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "404 Not Found")

	// A wrong token is refused, and says so.
	out, code = vigil("alerting", "silence", "list", "--config", path, "--admin", admin)
	require.Equal(t, 0, code, out)
	bad := exec.Command(vigiltest.Binary(t), "alerting", "silence", "list", "--config", path)
	bad.Env = append(os.Environ(), "VIGIL_E2E_TOKEN=wrong")
	b, err := bad.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "401")
}
