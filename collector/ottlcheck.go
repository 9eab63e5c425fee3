package collector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-dev/vigil/internal/config"
)

// ottlProcessors are the processor types whose settings hold OTTL
// statements or conditions.
var ottlProcessors = []string{"transform", "filter"}

// statementProblems locates the OTTL statements and conditions that the
// transform and filter processors refuse, by their full path
// (processors.transform/parse_body.log_statements[0].statements[1]) and with
// the statement's text, where the collector's own message names only the
// processor (and, for a syntax error, a column but not the statement). Each
// statement is validated alone, in a copy of its processor's settings with
// every other statement list emptied. A processor whose settings are refused
// even without statements is skipped: its problem is elsewhere and the
// collector's message says it.
func statementProblems(ctx context.Context, cfg Config) error {
	r, err := confmap.NewResolver(settings(Config{Config: cfg.Config}).ConfigProviderSettings.ResolverSettings)
	if err != nil {
		return nil
	}
	conf, err := r.Resolve(ctx)
	if err != nil {
		return nil
	}
	factories, err := Factories()
	if err != nil {
		return nil
	}
	procs, _ := conf.ToStringMap()["processors"].(map[string]any)
	var p config.Problems
	for _, id := range slices.Sorted(maps.Keys(procs)) {
		typ, _, _ := strings.Cut(id, "/")
		m, ok := procs[id].(map[string]any)
		if !ok || !slices.Contains(ottlProcessors, typ) {
			continue
		}
		factory, ok := factories.Processors[component.MustNewType(typ)]
		if !ok {
			continue
		}
		validate := func(m map[string]any) error {
			c := factory.CreateDefaultConfig()
			if err := confmap.NewFromStringMap(m).Unmarshal(c); err != nil {
				return err
			}
			return confmap.Validate(c)
		}
		leaves := statementLists(m, "")
		if validate(withStatements(m, leaves, "", -1)) != nil {
			continue
		}
		for _, list := range leaves {
			for i, stmt := range list.items {
				err := validate(withStatements(m, leaves, list.path, i))
				if err == nil {
					continue
				}
				msg := err.Error()
				if !strings.Contains(msg, stmt) {
					msg = fmt.Sprintf("%s (in %q)", msg, stmt)
				}
				p.Addf(config.Join(config.Join("processors."+id, list.path), fmt.Sprintf("[%d]", i)), "%s", msg)
			}
		}
	}
	return p.Err()
}

// stmtList is a list of strings in a processor's settings: OTTL statements
// or conditions, or (for the legacy filter settings) plain values, which
// validate alone as well.
type stmtList struct {
	path  string
	items []string
}

func statementLists(v any, path string) []stmtList {
	var out []stmtList
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			out = append(out, statementLists(v[k], config.Join(path, k))...)
		}
	case []any:
		var items []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				items = nil
				break
			}
			items = append(items, s)
		}
		if len(items) == len(v) && len(v) > 0 {
			return []stmtList{{path: path, items: items}}
		}
		for i, e := range v {
			out = append(out, statementLists(e, config.Join(path, fmt.Sprintf("[%d]", i)))...)
		}
	}
	return out
}

// withStatements copies m with every statement list emptied, except that the
// one at keep holds only its item i.
func withStatements(m map[string]any, lists []stmtList, keep string, i int) map[string]any {
	paths := map[string][]any{}
	for _, l := range lists {
		paths[l.path] = []any{}
		if l.path == keep {
			paths[l.path] = []any{l.items[i]}
		}
	}
	return copyWith(m, "", paths).(map[string]any)
}

func copyWith(v any, path string, lists map[string][]any) any {
	if l, ok := lists[path]; ok && path != "" {
		return l
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyWith(e, config.Join(path, k), lists)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyWith(e, config.Join(path, fmt.Sprintf("[%d]", i)), lists)
		}
		return out
	}
	return v
}
