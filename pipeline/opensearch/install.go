package opensearch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
)

// Installer puts the templates, ISM policies and the span bootstrap index in
// place. Every step is idempotent, so every pipeline instance runs it at
// start, and `vigil setup` runs the same code.
type Installer struct {
	Client    *Client
	Names     Names
	Settings  Settings
	Lifecycle Lifecycle
	Log       *slog.Logger
	// DryRun reads what is installed and reports what would change, but
	// writes nothing.
	DryRun bool
	// Report, when set, is told about every resource Install looks at:
	// e.g. ("index template otel-v1-apm-span-template", "created", true) or
	// (..., "unchanged (version 1)", false).
	Report func(resource, action string, changed bool)
}

func (in *Installer) report(resource, action string, changed bool) {
	if in.Report != nil {
		in.Report(resource, action, changed)
	}
}

// ISMPlugin is the component name _cat/plugins lists for index management.
const ISMPlugin = "opensearch-index-management"

// HasPlugin reports whether _cat/plugins lists the component on any node
// (plugins are installed on every node of a cluster).
func (c *Client) HasPlugin(ctx context.Context, component string) (bool, error) {
	res, err := c.Do(ctx, http.MethodGet, "/_cat/plugins?format=json", nil)
	if err != nil {
		return false, err
	}
	if err := expect("GET", "/_cat/plugins", res, 200); err != nil {
		return false, err
	}
	var rows []struct {
		Component string `json:"component"`
	}
	if err := json.Unmarshal(res.Body, &rows); err != nil {
		return false, fmt.Errorf("decode _cat/plugins: %w", err)
	}
	for _, r := range rows {
		if r.Component == component {
			return true, nil
		}
	}
	return false, nil
}

// Install installs everything. ISM policies are installed only when the
// index-management plugin is present: without it there is no rollover or
// retention (indices grow until deleted by hand), which is logged at Warn
// rather than failing, because indexing works regardless.
func (in *Installer) Install(ctx context.Context) error {
	if in.Log == nil {
		in.Log = slog.New(slog.DiscardHandler)
	}
	ism, err := in.Client.HasPlugin(ctx, ISMPlugin)
	if err != nil {
		return fmt.Errorf("check plugins: %w", err)
	}
	templates := []struct {
		name string
		body any
	}{
		{in.Names.SpanTemplate(), SpanTemplate(in.Names, in.Settings, ism)},
		{in.Names.ServiceMapTemplate(), ServiceMapTemplate(in.Names, in.Settings)},
		{in.Names.LogsTemplate(), LogsTemplate(in.Names, in.Settings)},
	}
	if in.Names.Events != "" {
		templates = append(templates, struct {
			name string
			body any
		}{in.Names.EventsTemplate(), EventsTemplate(in.Names, in.Settings)})
	}
	if in.Names.APMServiceMap != "" {
		templates = append(templates, struct {
			name string
			body any
		}{in.Names.APMServiceMapTemplate(), APMServiceMapTemplate(in.Names, in.Settings, ism)})
	}
	if in.Names.DLQ != "" {
		templates = append(templates, struct {
			name string
			body any
		}{in.Names.DLQTemplate(), DLQTemplate(in.Names, in.Settings)})
	}
	if in.Names.Canary != "" {
		templates = append(templates, struct {
			name string
			body any
		}{in.Names.CanaryTemplate(), CanaryTemplate(in.Names, in.Settings)})
	}
	for _, t := range templates {
		if err := in.putTemplate(ctx, t.name, t.body); err != nil {
			return err
		}
	}
	if ism {
		policies := []struct {
			id   string
			body any
		}{
			{in.Names.SpanPolicy(), SpanPolicy(in.Names, in.Lifecycle)},
			{in.Names.LogsPolicy(), LogsPolicy(in.Names, in.Lifecycle)},
		}
		if in.Names.APMServiceMap != "" {
			policies = append(policies, struct {
				id   string
				body any
			}{in.Names.APMServiceMapPolicy(), APMServiceMapPolicyBody(in.Names, in.Lifecycle)})
		}
		for _, p := range policies {
			if err := in.putPolicy(ctx, p.id, p.body); err != nil {
				return err
			}
		}
	} else {
		in.report("ism policies", "skipped: index-management plugin not installed", false)
		in.Log.Warn("index-management plugin not installed: ISM policies skipped, indices will not roll over or expire", "plugin", ISMPlugin)
	}
	if err := in.bootstrap(ctx, in.Names.SpanAlias, in.Names.BootstrapIndex()); err != nil {
		return err
	}
	if in.Names.APMServiceMap != "" {
		return in.bootstrap(ctx, in.Names.APMServiceMap, in.Names.APMBootstrapIndex())
	}
	return nil
}

func (in *Installer) putTemplate(ctx context.Context, name string, body any) error {
	path := "/_index_template/" + name
	res := "index template " + name
	action := "created"
	resp, err := in.Client.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("get index template %s: %w", name, err)
	}
	switch resp.Status {
	case 200:
		var cur struct {
			IndexTemplates []struct {
				IndexTemplate struct {
					Version *int `json:"version"`
				} `json:"index_template"`
			} `json:"index_templates"`
		}
		if err := json.Unmarshal(resp.Body, &cur); err != nil {
			return fmt.Errorf("decode index template %s: %w", name, err)
		}
		action = fmt.Sprintf("replaced unversioned template with version %d", TemplateVersion)
		if len(cur.IndexTemplates) > 0 && cur.IndexTemplates[0].IndexTemplate.Version != nil {
			v := *cur.IndexTemplates[0].IndexTemplate.Version
			if v >= TemplateVersion {
				in.Log.Debug("index template up to date", "template", name, "installed", v, "shipped", TemplateVersion)
				in.report(res, unchanged(v), false)
				return nil
			}
			action = fmt.Sprintf("upgraded version %d -> %d", v, TemplateVersion)
			in.Log.Info("upgrading index template", "template", name, "from", v, "to", TemplateVersion)
		}
	case 404:
	default:
		return fmt.Errorf("get index template %s: %w", name, expect("GET", path, resp))
	}
	if in.DryRun {
		in.report(res, action, true)
		return nil
	}
	b, _ := json.Marshal(body)
	resp, err = in.Client.Do(ctx, http.MethodPut, path, b)
	if err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	if err := expect("PUT", path, resp, 200); err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	in.Log.Info("installed index template", "template", name, "version", TemplateVersion)
	in.report(res, action, true)
	return nil
}

// unchanged describes an installed version this build leaves alone.
func unchanged(installed int) string {
	if installed > TemplateVersion {
		return fmt.Sprintf("unchanged (version %d is newer than this build's %d; never downgraded)", installed, TemplateVersion)
	}
	return fmt.Sprintf("unchanged (version %d)", installed)
}

var policyVersion = regexp.MustCompile(`vigil-version (\d+)`)

func (in *Installer) putPolicy(ctx context.Context, id string, body any) error {
	path := "/_plugins/_ism/policies/" + id
	res, err := in.Client.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("get ism policy %s: %w", id, err)
	}
	put := path
	resource := "ism policy " + id
	action := "created"
	switch res.Status {
	case 200:
		var cur struct {
			SeqNo       int64 `json:"_seq_no"`
			PrimaryTerm int64 `json:"_primary_term"`
			Policy      struct {
				Description string `json:"description"`
			} `json:"policy"`
		}
		if err := json.Unmarshal(res.Body, &cur); err != nil {
			return fmt.Errorf("decode ism policy %s: %w", id, err)
		}
		action = fmt.Sprintf("replaced unversioned policy with version %d", TemplateVersion)
		if m := policyVersion.FindStringSubmatch(cur.Policy.Description); m != nil {
			v, _ := strconv.Atoi(m[1])
			if v >= TemplateVersion {
				in.report(resource, unchanged(v), false)
				return nil
			}
			action = fmt.Sprintf("upgraded version %d -> %d", v, TemplateVersion)
		}
		put = fmt.Sprintf("%s?if_seq_no=%d&if_primary_term=%d", path, cur.SeqNo, cur.PrimaryTerm)
	case 404:
	default:
		return fmt.Errorf("get ism policy %s: %w", id, expect("GET", path, res))
	}
	if in.DryRun {
		in.report(resource, action, true)
		return nil
	}
	b, _ := json.Marshal(body)
	res, err = in.Client.Do(ctx, http.MethodPut, put, b)
	if err != nil {
		return fmt.Errorf("put ism policy %s: %w", id, err)
	}
	// 409: another instance updated it first, which is as good.
	if err := expect("PUT", path, res, 200, 201, 409); err != nil {
		return fmt.Errorf("put ism policy %s: %w", id, err)
	}
	in.Log.Info("installed ism policy", "policy", id, "version", TemplateVersion)
	in.report(resource, action, true)
	return nil
}

// bootstrap creates an alias's first index (the span alias, the APM
// application map's) with the write alias unless the alias exists. Writing
// to the alias before it exists would auto-create a concrete index of that
// name, which could then never become an alias.
func (in *Installer) bootstrap(ctx context.Context, alias, idx string) error {
	res, err := in.Client.Do(ctx, http.MethodGet, "/_alias/"+alias, nil)
	if err != nil {
		return fmt.Errorf("get alias %s: %w", alias, err)
	}
	resource := "index " + idx
	if res.Status == 200 {
		in.report("alias "+alias, "unchanged (exists)", false)
		return nil
	}
	if in.DryRun {
		in.report(resource, "created with write alias "+alias, true)
		return nil
	}
	body, _ := json.Marshal(m{"aliases": m{alias: m{"is_write_index": true}}})
	res, err = in.Client.Do(ctx, http.MethodPut, "/"+idx, body)
	if err != nil {
		return fmt.Errorf("create index %s: %w", idx, err)
	}
	if res.Status == 400 && regexp.MustCompile(`resource_already_exists_exception`).Match(res.Body) {
		in.report(resource, "unchanged (created concurrently)", false)
		return nil // another instance won the race
	}
	if err := expect("PUT", "/"+idx, res, 200); err != nil {
		return fmt.Errorf("create index %s: %w", idx, err)
	}
	in.Log.Info("created bootstrap index", "index", idx, "alias", alias)
	in.report(resource, "created with write alias "+alias, true)
	return nil
}
