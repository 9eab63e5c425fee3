package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/dashboards/dashboardstest"
	"github.com/vigil-dev/vigil/internal/kafka"
	"github.com/vigil-dev/vigil/internal/testinfra"
	"github.com/vigil-dev/vigil/pipeline/opensearch"
)

// TestSetupRunTwice: `vigil setup` against the real
// Kafka and the real OpenSearch (and a Dashboards stand-in, see
// dashboardstest) creates everything, and a second run changes nothing and
// says so. A dry run first reports the same creations and makes none.
func TestSetupRunTwice(t *testing.T) {
	broker, osURL := testinfra.Kafka(t), testinfra.OpenSearch(t)
	dash := dashboardstest.New(t)

	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg := defaultSetupConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Topics = []kafka.Topic{
		{Name: "setup.run.logs." + suffix, Partitions: 2, ReplicationFactor: -1, Configs: map[string]string{"retention.ms": "259200000"}},
		{Name: "setup.run.health." + suffix, Partitions: 1, ReplicationFactor: -1, Configs: map[string]string{"cleanup.policy": "compact"}},
	}
	cfg.OpenSearch.Addresses = []string{osURL}
	p := "setuprun" + suffix
	cfg.Indices.SpanAlias, cfg.Indices.ServiceMap, cfg.Indices.LogsDataStream = p+"-span", p+"-servicemap", p+"_logs-default"
	cfg.Indices.HealthEvents, cfg.Indices.DLQ = p+"-health-events", p+"-dlq"
	cfg.Dashboards.URL = dash.URL
	require.NoError(t, cfg.Validate())
	t.Cleanup(func() { cleanupRun(t, cfg) })

	run := func(dryRun bool) (string, error) {
		var out bytes.Buffer
		err := setUp(t.Context(), cfg, dryRun, &out)
		return out.String(), err
	}

	out, err := run(true)
	require.NoError(t, err, out)
	require.Contains(t, out, "topic setup.run.logs."+suffix+": created (2 partitions, retention.ms=259200000)\n")
	require.Contains(t, out, "opensearch index template "+p+"-health-events-template: created\n")
	require.Contains(t, out, "dashboards dashboard vigil-pipeline-and-incidents: created\n")
	require.Regexp(t, `dry run: \d+ change\(s\) would be made\n$`, out)
	require.Zero(t, dash.Imports(), "dry run imported")
	osc, err := opensearch.NewClient(cfg.OpenSearch)
	require.NoError(t, err)
	res, err := osc.Do(t.Context(), http.MethodGet, "/_index_template/"+p+"-health-events-template", nil)
	require.NoError(t, err)
	require.Equal(t, 404, res.Status, "dry run installed a template")

	out, err = run(false)
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, want := range []string{
		"topic setup.run.health." + suffix + ": created (1 partitions, cleanup.policy=compact)",
		"topic setup.run.logs." + suffix + ": created (2 partitions, retention.ms=259200000)",
		"opensearch index template " + p + "-span-template: created",
		"opensearch index template " + p + "-health-events-template: created",
		"opensearch index template " + p + "-dlq-template: created",
		"opensearch index " + p + "-span-000001: created with write alias " + p + "-span",
		"dashboards index-pattern vigil-health-events: created",
		"dashboards search vigil-dlq-by-cause: created",
		"dashboards dashboard vigil-pipeline-and-incidents: created",
	} {
		require.Contains(t, lines, want)
	}
	require.Regexp(t, `^\d+ change\(s\) made$`, lines[len(lines)-1])
	require.Equal(t, 1, dash.Imports())
	res, err = osc.Do(t.Context(), http.MethodGet, "/_index_template/"+p+"-health-events-template", nil)
	require.NoError(t, err)
	require.Equal(t, 200, res.Status)

	// A new topic's configs can take a moment to show on every broker.
	require.Eventually(t, func() bool {
		out, err = run(false)
		return err == nil && strings.HasSuffix(out, "nothing changed: everything was already set up\n")
	}, 30*time.Second, 500*time.Millisecond, "second run must change nothing and say so:\n%s %v", out, err)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		require.True(t, strings.Contains(l, ": unchanged") || strings.Contains(l, ": skipped") || strings.HasPrefix(l, "nothing changed"), "second run: %q", l)
	}
	require.Contains(t, out, "opensearch index template "+p+"-health-events-template: unchanged (version "+strconv.Itoa(opensearch.TemplateVersion)+")\n")
	require.Contains(t, out, "dashboards dashboard vigil-pipeline-and-incidents: unchanged\n")
	require.Equal(t, 1, dash.Imports(), "second run imported")
}

func cleanupRun(t *testing.T, cfg setupConfig) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...)); err == nil {
		_, _ = kadm.NewClient(cl).DeleteTopics(ctx, cfg.Topics[0].Name, cfg.Topics[1].Name)
		cl.Close()
	}
	osc, err := opensearch.NewClient(cfg.OpenSearch)
	if err != nil {
		return
	}
	n := cfg.Indices.Names()
	_, _ = osc.Do(ctx, http.MethodDelete, "/"+n.SpanAlias+"-*,"+n.Events+","+n.DLQ+"?expand_wildcards=all&ignore_unavailable=true&allow_no_indices=true", nil)
	for _, tpl := range []string{n.SpanTemplate(), n.ServiceMapTemplate(), n.LogsTemplate(), n.EventsTemplate(), n.DLQTemplate()} {
		_, _ = osc.Do(ctx, http.MethodDelete, "/_index_template/"+tpl, nil)
	}
}

// TestSetupThroughSecuredProxy: `vigil setup` reaches OpenSearch through the
// real TLS ingress (scripts/infra.sh opensearch-proxy, nginx) with ca_file,
// a client certificate and basic auth from a secret file; a wrong password
// fails with the 401 and says so.
func TestSetupThroughSecuredProxy(t *testing.T) {
	broker, proxy := testinfra.Kafka(t), testinfra.OpenSearchProxy(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	cfg := defaultSetupConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Topics = []kafka.Topic{
		{Name: "setup.proxy.a." + suffix, Partitions: 1, ReplicationFactor: -1},
		{Name: "setup.proxy.b." + suffix, Partitions: 1, ReplicationFactor: -1},
	}
	cfg.OpenSearch.Addresses = []string{proxy.URL}
	cfg.OpenSearch.Username = proxy.User
	cfg.OpenSearch.TLS = opensearch.TLSConfig{CAFile: proxy.CAFile, CertFile: proxy.CertFile, KeyFile: proxy.KeyFile}
	p := "setupproxy" + suffix
	cfg.Indices.SpanAlias, cfg.Indices.ServiceMap, cfg.Indices.LogsDataStream = p+"-span", p+"-servicemap", p+"_logs-default"
	cfg.Indices.HealthEvents, cfg.Indices.DLQ = p+"-health-events", p+"-dlq"

	wrong := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(wrong, []byte("wrong\n"), 0o600))
	cfg.OpenSearch.Password = config.Secret{File: wrong}
	require.NoError(t, cfg.Validate())
	var out bytes.Buffer
	err := setUp(t.Context(), cfg, false, &out)
	require.ErrorContains(t, err, "HTTP 401 Unauthorized: the cluster refused the credentials")

	cfg.OpenSearch.Password = config.Secret{File: proxy.PasswordFile}
	t.Cleanup(func() { cleanupRun(t, cfg) })
	out.Reset()
	require.NoError(t, setUp(t.Context(), cfg, false, &out), out.String())
	require.Contains(t, out.String(), "opensearch index template "+p+"-health-events-template: created\n")
}
