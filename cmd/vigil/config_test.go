package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConfigFixtures checks every testdata/config/<command>/*.good.yaml passes
// `vigil <command> --config F --check` and every *.bad.yaml fails with exit 2
// and prints each "# want:" line of the file.
func TestConfigFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		cmd := filepath.Base(filepath.Dir(f))
		t.Run(cmd+"/"+filepath.Base(f), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{cmd, "--config", f, "--check"}, &stdout, &stderr)
			if strings.HasSuffix(f, ".good.yaml") {
				require.Equal(t, exitOK, code, "stderr:\n%s", stderr.String())
				require.Contains(t, stdout.String(), "configuration is valid")
				return
			}
			require.Equal(t, exitBadArgs, code, "a bad config must exit 2; stderr:\n%s", stderr.String())
			wants := wantLines(t, f)
			require.NotEmpty(t, wants, "%s has no '# want:' lines", f)
			for _, w := range wants {
				require.Contains(t, stderr.String(), w)
			}
			require.Contains(t, stderr.String(), f, "the message names the file")
			require.NotContains(t, stderr.String(), "goroutine ", "no stack traces")
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

func wantLines(t *testing.T, f string) []string {
	t.Helper()
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			out = append(out, w)
		}
	}
	return out
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			require.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			require.Contains(t, stdout.String()+stderr.String(), tc.want)
		})
	}
}
