package dashboards

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/internal/dashboards"
)

// mapping is the fields of one template: path -> type. Multi-fields appear
// as path.sub; flat_object fields accept any sub-path.
type mapping map[string]string

func (m mapping) lookup(field string) (string, bool) {
	if t, ok := m[field]; ok {
		return t, true
	}
	for p, t := range m {
		if t == "flat_object" && strings.HasPrefix(field, p+".") {
			return "keyword", true
		}
	}
	return "", false
}

func flatten(props map[string]any, prefix string, out mapping) {
	for name, v := range props {
		f := v.(map[string]any)
		p := prefix + name
		if sub, ok := f["properties"].(map[string]any); ok {
			flatten(sub, p+".", out)
			if t, ok := f["type"].(string); ok { // nested
				out[p] = t
			}
			continue
		}
		out[p], _ = f["type"].(string)
		if mf, ok := f["fields"].(map[string]any); ok {
			flatten(mf, p+".", out)
		}
	}
}

// templates reads configs/index-templates: each template's index patterns
// and its fields.
func templates(t *testing.T) map[string]mapping {
	files, err := filepath.Glob(filepath.Join("..", "index-templates", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]mapping{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var tpl struct {
			IndexPatterns []string `json:"index_patterns"`
			Template      struct {
				Mappings struct {
					Properties map[string]any `json:"properties"`
				} `json:"mappings"`
			} `json:"template"`
		}
		require.NoError(t, json.Unmarshal(b, &tpl), f)
		m := mapping{}
		flatten(tpl.Template.Mappings.Properties, "", m)
		for _, p := range tpl.IndexPatterns {
			out[p] = m
		}
	}
	return out
}

// mappingFor finds the template whose pattern matches the index pattern's
// title (a concrete name stands for every * in it).
func mappingFor(t *testing.T, tpls map[string]mapping, title string) mapping {
	name := strings.ReplaceAll(title, "*", "000001")
	for pattern, m := range tpls {
		if ok, _ := path.Match(pattern, name); ok {
			return m
		}
	}
	t.Fatalf("index pattern %q matches no template in configs/index-templates", title)
	return nil
}

var aggregatable = []string{"keyword", "date", "date_nanos", "long", "integer", "double", "float", "boolean"}

// kqlField finds field names in simple KQL ("status.code:2 and kind:health").
var kqlField = regexp.MustCompile(`([A-Za-z@_][A-Za-z0-9_.@]*)\s*:`)

func jsonAttr(t *testing.T, o dashboards.Object, v any, keys ...string) {
	t.Helper()
	var cur any = o.Attributes
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		require.True(t, ok, "%s: %s is not an object", o.Key(), strings.Join(keys, "."))
		cur = m[k]
	}
	s, ok := cur.(string)
	require.True(t, ok, "%s: %s must be a JSON string", o.Key(), strings.Join(keys, "."))
	require.NoError(t, json.Unmarshal([]byte(s), v), "%s: %s", o.Key(), strings.Join(keys, "."))
}

func TestSavedObjects(t *testing.T) {
	objs, err := dashboards.Load(FS)
	require.NoError(t, err, "every line a well-formed saved object, none twice")
	tpls := templates(t)
	byKey := map[string]dashboards.Object{}
	for _, o := range objs {
		byKey[o.Key()] = o
	}

	// Each index pattern's fields, from the template its title matches.
	fields := map[string]mapping{}
	for _, o := range objs {
		if o.Type != "index-pattern" {
			continue
		}
		m := mappingFor(t, tpls, o.Title())
		fields[o.ID] = m
		if tf, ok := o.Attributes["timeFieldName"].(string); ok {
			typ, ok := m.lookup(tf)
			require.True(t, ok && (typ == "date" || typ == "date_nanos"), "%s: time field %q is not a date in the mapping", o.Key(), tf)
		}
	}

	// indexOf resolves the index pattern a search or visualization reads.
	var indexOf func(o dashboards.Object) string
	refByName := func(o dashboards.Object, name string) dashboards.Reference {
		for _, r := range o.References {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("%s: no reference named %q", o.Key(), name)
		return dashboards.Reference{}
	}
	indexOf = func(o dashboards.Object) string {
		if n, ok := o.Attributes["savedSearchRefName"].(string); ok {
			return indexOf(byKey["search/"+refByName(o, n).ID])
		}
		var ss struct {
			IndexRefName string `json:"indexRefName"`
		}
		jsonAttr(t, o, &ss, "kibanaSavedObjectMeta", "searchSourceJSON")
		r := refByName(o, ss.IndexRefName)
		require.Equal(t, "index-pattern", r.Type, "%s", o.Key())
		return r.ID
	}
	checkField := func(o dashboards.Object, ip, field string, agg bool) {
		t.Helper()
		typ, ok := fields[ip].lookup(field)
		require.True(t, ok, "%s uses field %q, which index pattern %s's mapping lacks", o.Key(), field, ip)
		if agg {
			require.Contains(t, aggregatable, typ, "%s aggregates on %q, a %s field", o.Key(), field, typ)
		}
	}
	checkQuery := func(o dashboards.Object, ip string, ss map[string]any) {
		q, _ := ss["query"].(map[string]any)
		s, _ := q["query"].(string)
		for _, m := range kqlField.FindAllStringSubmatch(s, -1) {
			checkField(o, ip, m[1], false)
		}
	}

	for _, o := range objs {
		t.Run(o.Key(), func(t *testing.T) {
			require.Contains(t, []string{"index-pattern", "search", "visualization", "dashboard"}, o.Type)
			require.NotEmpty(t, o.Title())
			for _, r := range o.References {
				_, ok := byKey[r.Type+"/"+r.ID]
				require.True(t, ok, "%s: reference %s -> %s/%s resolves to nothing shipped", o.Key(), r.Name, r.Type, r.ID)
			}
			switch o.Type {
			case "search":
				ip := indexOf(o)
				var ss map[string]any
				jsonAttr(t, o, &ss, "kibanaSavedObjectMeta", "searchSourceJSON")
				checkQuery(o, ip, ss)
				for _, c := range o.Attributes["columns"].([]any) {
					checkField(o, ip, c.(string), false)
				}
				for _, s := range o.Attributes["sort"].([]any) {
					checkField(o, ip, s.([]any)[0].(string), true)
				}
			case "visualization":
				ip := indexOf(o)
				var ss map[string]any
				jsonAttr(t, o, &ss, "kibanaSavedObjectMeta", "searchSourceJSON")
				checkQuery(o, ip, ss)
				var vs struct {
					Title string `json:"title"`
					Type  string `json:"type"`
					Aggs  []struct {
						Type   string         `json:"type"`
						Params map[string]any `json:"params"`
					} `json:"aggs"`
				}
				jsonAttr(t, o, &vs, "visState")
				require.Equal(t, o.Title(), vs.Title, "visState.title")
				require.NotEmpty(t, vs.Aggs)
				for _, a := range vs.Aggs {
					if f, ok := a.Params["field"].(string); ok {
						checkField(o, ip, f, true)
					}
				}
				var ui map[string]any
				jsonAttr(t, o, &ui, "uiStateJSON")
			case "dashboard":
				var panels []struct {
					PanelRefName string `json:"panelRefName"`
					PanelIndex   string `json:"panelIndex"`
				}
				jsonAttr(t, o, &panels, "panelsJSON")
				require.NotEmpty(t, panels)
				var names []string
				for _, p := range panels {
					require.NotEmpty(t, p.PanelRefName)
					refByName(o, p.PanelRefName)
					names = append(names, p.PanelRefName)
				}
				for _, r := range o.References {
					require.True(t, slices.Contains(names, r.Name), "reference %s is no panel's", r.Name)
				}
				var opts map[string]any
				jsonAttr(t, o, &opts, "optionsJSON")
			}
		})
	}

	// The saved objects Dashboards users open are all there.
	for _, k := range []string{
		"index-pattern/vigil-spans", "index-pattern/vigil-service-map", "index-pattern/vigil-logs", "index-pattern/vigil-health-events",
		"search/vigil-errors-by-service", "search/vigil-dlq-by-cause", "dashboard/vigil-pipeline-and-incidents",
	} {
		require.Contains(t, byKey, k)
	}
	require.Equal(t, "Vigil — pipeline and incidents", byKey["dashboard/vigil-pipeline-and-incidents"].Title())
}

// The checker itself must catch what it is for.
func TestCheckerCatchesBadField(t *testing.T) {
	m := mapping{"serviceName": "keyword", "labels": "flat_object", "reason": "text", "reason.keyword": "keyword"}
	_, ok := m.lookup("servicename")
	require.False(t, ok)
	_, ok = m.lookup("labels.team")
	require.True(t, ok)
	typ, _ := m.lookup("reason")
	require.NotContains(t, aggregatable, typ)
	require.Equal(t, [][]string{{"status.code:", "status.code"}, {"kind:", "kind"}}, kqlField.FindAllStringSubmatch("status.code:2 and kind:health", -1))
}
