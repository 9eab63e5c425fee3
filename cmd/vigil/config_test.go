package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config/configtest"
	"github.com/vigil-dev/vigil/internal/vigiltest"
	"github.com/vigil-dev/vigil/pipeline"
)

// TestConfigFixtures checks every testdata/config/<command>/*.good.yaml passes
// `vigil <command> --config F --check`, and every *.bad.yaml exits 2, names
// the file and prints each "# want:" line, with no stack trace.
func TestConfigFixtures(t *testing.T) {
	for _, cmd := range []string{"all", "collector", "setup"} {
		t.Run(cmd, func(t *testing.T) {
			configtest.Fixtures(t, "testdata/config/"+cmd+"/*.yaml", func(f string) error {
				var stdout, stderr bytes.Buffer
				code := run([]string{cmd, "--config", f, "--check"}, &stdout, &stderr)
				if code == exitOK {
					require.Contains(t, stdout.String(), "configuration is valid")
					return nil
				}
				require.Equal(t, exitBadArgs, code, "a bad config exits 2; stderr:\n%s", stderr.String())
				require.Contains(t, stderr.String(), f, "the message names the file")
				require.NotContains(t, stderr.String(), "goroutine ", "no stack traces")
				return errors.New(stderr.String())
			})
		})
	}
}

// TestShippedConfigs: the defaults in configs/ are valid as shipped.
func TestShippedConfigs(t *testing.T) {
	t.Setenv("VIGIL_COLLECTOR_QUEUE_DIR", t.TempDir())
	t.Setenv("K8S_NODE_NAME", "node-1")
	for _, tc := range []struct{ cmd, file string }{
		{"collector", "../../configs/collector.yaml"},
		{"collector", "../../configs/collector-agent.yaml"},
		{"alerting", "../../configs/alerting.yaml"},
		{"detector", "../../configs/detector.yaml"},
		{"pipeline", "../../configs/pipeline.yaml"},
		{"setup", "../../configs/setup.yaml"},
		{"all", "../../configs/vigil.yaml"},
	} {
		t.Run(tc.cmd+"/"+filepath.Base(tc.file), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{tc.cmd, "--config", tc.file, "--check"}, &stdout, &stderr)
			require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitBadArgs, "Usage: vigil <command>"},
		{"unknown command", []string{"colector"}, exitBadArgs, `unknown command "colector"`},
		{"unknown flag", []string{"collector", "--konfig", "x"}, exitBadArgs, "flag provided but not defined: -konfig"},
		{"missing config", []string{"collector"}, exitBadArgs, "--config is required"},
		{"two files for a one-file component", []string{"all", "--config", "a.yaml", "--config", "b.yaml"}, exitBadArgs, "--config: give exactly one file (got 2)"},
		{"collector override before a file", []string{"collector", "--config", "yaml:a: b", "--check"}, exitBadArgs, `the first --config must be a file (got "yaml:a: b")`},
		{"unreadable config", []string{"all", "--config", "testdata/nope.yaml"}, exitBadArgs, "testdata/nope.yaml: no such file"},
		{"stray argument", []string{"all", "--config", "x.yaml", "extra"}, exitBadArgs, `unexpected argument "extra"`},
		{"help", []string{"--help"}, exitOK, "Commands:"},
		{"version", []string{"version"}, exitOK, "vigil "},
		{"dlq without verb", []string{"dlq"}, exitBadArgs, "expected list or replay"},
		{"dlq bad time", []string{"dlq", "list", "--from", "yesterday"}, exitBadArgs, `--from: want an RFC 3339 time or a duration before now, like 2h (got "yesterday")`},
		{"dlq reversed window", []string{"dlq", "list", "--from", "1h", "--to", "2h"}, exitBadArgs, "--to must be after --from"},
		{"failover without verb", []string{"failover"}, exitBadArgs, "expected status, ack TARGET or failback TARGET"},
		{"silence without verb", []string{"alerting", "silence"}, exitBadArgs, "expected add, list or delete ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			require.Contains(t, stdout.String()+stderr.String(), tc.want)
		})
	}
}

// TestMemoryLimitDefaults: `vigil pipeline` runs with the Go soft memory
// limit that keeps its RSS bounded unless its file says otherwise; the other
// processes have none; a negative limit is a problem.
func TestMemoryLimitDefaults(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		return path
	}
	empty := write("empty.yaml", "{}\n")
	pc, _, err := pipelineTarget().loadFile([]string{empty})
	require.NoError(t, err)
	require.Equal(t, int64(pipeline.DefaultMemoryLimit), pc.MemoryLimit)
	pc, _, err = detectorTarget().loadFile([]string{empty})
	require.NoError(t, err)
	require.Zero(t, pc.MemoryLimit)

	pc, _, err = pipelineTarget().loadFile([]string{write("big.yaml", "memory_limit: 268435456\n")})
	require.NoError(t, err)
	require.Equal(t, int64(256<<20), pc.MemoryLimit)
	pc, _, err = pipelineTarget().loadFile([]string{write("bad.yaml", "memory_limit: -1\n")})
	if err == nil {
		err = pc.Validate()
	}
	require.ErrorContains(t, err, "memory_limit: must be >= 0")
}

// TestPipelineAdminFromEnv: VIGIL_PIPELINE_ADMIN moves `vigil pipeline`'s
// admin address (a second stack on one machine); its file's
// admin.listen_address still wins.
func TestPipelineAdminFromEnv(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, []byte("{}\n"), 0o644))
	pc, _, err := pipelineTarget().loadFile([]string{empty})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8882", pc.Admin.ListenAddress)

	t.Setenv(pipelineAdminEnv, "127.0.0.1:18882")
	pc, _, err = pipelineTarget().loadFile([]string{empty})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:18882", pc.Admin.ListenAddress)

	own := filepath.Join(dir, "own.yaml")
	require.NoError(t, os.WriteFile(own, []byte("admin: {listen_address: 127.0.0.1:9999}\n"), 0o644))
	pc, _, err = pipelineTarget().loadFile([]string{own})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9999", pc.Admin.ListenAddress)
}

// TestDLQHelp: `vigil dlq --help` names the pipeline's file and offers no
// flag that does nothing.
func TestDLQHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run([]string{"dlq", "--help"}, &stdout, &stderr))
	help := stdout.String() + stderr.String()
	require.Contains(t, help, "the pipeline configuration (for kafka and kafka.dlq_topic) (default \"configs/pipeline.yaml\")")
	require.NotContains(t, help, "alerting")
	require.NotContains(t, help, "-admin")
}

// TestShippedAuthConfig: configs/collector-auth.yaml merged after the
// shipped collector.yaml is valid when its certificate and token files exist,
// and --check names each missing one by its YAML path.
func TestShippedAuthConfig(t *testing.T) {
	t.Setenv("VIGIL_COLLECTOR_QUEUE_DIR", t.TempDir())
	pki := vigiltest.NewPKI(t)
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("s3cret\n"), 0o600))
	args := []string{"collector", "--config", "../../configs/collector.yaml", "--config", "../../configs/collector-auth.yaml", "--check"}

	t.Setenv("VIGIL_OTLP_TOKEN_FILE", token)
	t.Setenv("VIGIL_OTLP_TLS_CERT_FILE", pki.CertFile)
	t.Setenv("VIGIL_OTLP_TLS_KEY_FILE", pki.KeyFile)
	var stdout, stderr bytes.Buffer
	require.Equal(t, exitOK, run(args, &stdout, &stderr), "stderr:\n%s", stderr.String())

	missing := filepath.Join(t.TempDir(), "missing")
	t.Setenv("VIGIL_OTLP_TOKEN_FILE", missing)
	t.Setenv("VIGIL_OTLP_TLS_KEY_FILE", missing)
	stdout.Reset()
	stderr.Reset()
	require.Equal(t, exitBadArgs, run(args, &stdout, &stderr))
	for _, want := range []string{
		"extensions.bearertokenauth.filename: file " + missing + " does not exist",
		"receivers.otlp.protocols.grpc.tls.key_file: file " + missing + " does not exist",
		"receivers.otlp.protocols.http.tls.key_file: file " + missing + " does not exist",
	} {
		require.Contains(t, stderr.String(), want)
	}
	require.NotContains(t, stderr.String(), "tls.cert_file")
}
