package dashboards

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/dashboards/dashboardstest"
)

const sample = `{"type":"index-pattern","id":"ip-logs","attributes":{"title":"logs-*","timeFieldName":"@timestamp"},"references":[]}
{"type":"search","id":"s-errors","attributes":{"title":"Errors","columns":["serviceName"],"kibanaSavedObjectMeta":{"searchSourceJSON":"{\"indexRefName\":\"kibanaSavedObjectMeta.searchSourceJSON.index\"}"}},"references":[{"name":"kibanaSavedObjectMeta.searchSourceJSON.index","type":"index-pattern","id":"ip-logs"}]}
{"exportedCount":2,"missingRefCount":0,"missingReferences":[]}
`

func actions(rs []Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func TestSync(t *testing.T) {
	srv := dashboardstest.New(t)
	srv.Username, srv.Password = "admin", "s3cret"
	t.Setenv("TEST_DASHBOARDS_PASSWORD", "s3cret")
	cfg := DefaultConfig()
	cfg.URL = srv.URL + "/"
	cfg.Username = "admin"
	cfg.Password = config.Secret{Env: "TEST_DASHBOARDS_PASSWORD"}
	require.NoError(t, cfg.Validate())
	c, err := NewClient(cfg)
	require.NoError(t, err)
	defer c.Close()
	objs, err := Parse("sample.ndjson", strings.NewReader(sample))
	require.NoError(t, err)
	require.Len(t, objs, 2, "the export summary line is not an object")

	// A dry run reports and imports nothing.
	rs, err := c.Sync(t.Context(), objs, true)
	require.NoError(t, err)
	require.Equal(t, []string{
		`dashboards index-pattern ip-logs ("logs-*"): created`,
		`dashboards search s-errors ("Errors"): created`,
	}, actions(rs))
	require.Zero(t, srv.Imports())

	rs, err = c.Sync(t.Context(), objs, false)
	require.NoError(t, err)
	require.Equal(t, "created", rs[0].Action)
	require.Equal(t, 1, srv.Imports())
	require.Equal(t, "Errors", srv.Object("search", "s-errors")["attributes"].(map[string]any)["title"])

	rs, err = c.Sync(t.Context(), objs, false)
	require.NoError(t, err)
	require.Equal(t, []string{
		`dashboards index-pattern ip-logs ("logs-*"): unchanged`,
		`dashboards search s-errors ("Errors"): unchanged`,
	}, actions(rs))
	require.Equal(t, 1, srv.Imports(), "nothing to import the second time")

	// Dashboards saving an index pattern's field list is not drift.
	srv.Edit("index-pattern", "ip-logs", map[string]any{"fields": `[{"name":"serviceName"}]`})
	rs, err = c.Sync(t.Context(), objs, false)
	require.NoError(t, err)
	require.False(t, rs[0].Changed())
	require.Equal(t, 1, srv.Imports())

	// A shipped attribute edited by hand is put back, and only that object.
	srv.Edit("search", "s-errors", map[string]any{"columns": []any{"body"}})
	rs, err = c.Sync(t.Context(), objs, false)
	require.NoError(t, err)
	require.Equal(t, []string{
		`dashboards index-pattern ip-logs ("logs-*"): unchanged`,
		`dashboards search s-errors ("Errors"): updated`,
	}, actions(rs))
	require.Equal(t, []any{"serviceName"}, srv.Object("search", "s-errors")["attributes"].(map[string]any)["columns"])
}

func TestSyncErrors(t *testing.T) {
	srv := dashboardstest.New(t)
	srv.Username, srv.Password = "admin", "right"
	for _, tc := range []struct {
		name, user, password, ndjson, want string
	}{
		{"wrong password", "admin", "wrong", sample, "read saved objects: POST /api/saved_objects/_bulk_get: HTTP 401"},
		{"missing reference", "admin", "right",
			`{"type":"search","id":"s","attributes":{"title":"S"},"references":[{"name":"kibanaSavedObjectMeta.searchSourceJSON.index","type":"index-pattern","id":"nope"}]}`,
			`import saved objects: 0 of 1 imported; errors: search/s ("S"): missing_references [missing index-pattern/nope]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.URL, cfg.Username, cfg.Password = srv.URL, tc.user, config.Secret{Value: tc.password}
			c, err := NewClient(cfg)
			require.NoError(t, err)
			objs, err := Parse("t.ndjson", strings.NewReader(tc.ndjson))
			require.NoError(t, err)
			_, err = c.Sync(t.Context(), objs, false)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"type\":\"search\",\"id\":\"a\",\"attributes\":{}}\nnot json\n", "x.ndjson:2: not a JSON object"},
		{`{"type":"","id":"","attributes":{}}`, "x.ndjson:1: type is empty\nid is empty"},
		{`{"type":"search","id":"a"}`, "x.ndjson:1: attributes are missing"},
	} {
		_, err := Parse("x.ndjson", strings.NewReader(tc.in))
		require.ErrorContains(t, err, tc.want)
	}
}
