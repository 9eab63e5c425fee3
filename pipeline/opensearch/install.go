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
// start.
type Installer struct {
	Client    *Client
	Names     Names
	Settings  Settings
	Lifecycle Lifecycle
	Log       *slog.Logger
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
	for _, t := range templates {
		if err := in.putTemplate(ctx, t.name, t.body); err != nil {
			return err
		}
	}
	if ism {
		for _, p := range []struct {
			id   string
			body any
		}{
			{in.Names.SpanPolicy(), SpanPolicy(in.Names, in.Lifecycle)},
			{in.Names.LogsPolicy(), LogsPolicy(in.Names, in.Lifecycle)},
		} {
			if err := in.putPolicy(ctx, p.id, p.body); err != nil {
				return err
			}
		}
	} else {
		in.Log.Warn("index-management plugin not installed: ISM policies skipped, indices will not roll over or expire", "plugin", ISMPlugin)
	}
	return in.bootstrap(ctx)
}

func (in *Installer) putTemplate(ctx context.Context, name string, body any) error {
	path := "/_index_template/" + name
	res, err := in.Client.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("get index template %s: %w", name, err)
	}
	switch res.Status {
	case 200:
		var cur struct {
			IndexTemplates []struct {
				IndexTemplate struct {
					Version *int `json:"version"`
				} `json:"index_template"`
			} `json:"index_templates"`
		}
		if err := json.Unmarshal(res.Body, &cur); err != nil {
			return fmt.Errorf("decode index template %s: %w", name, err)
		}
		if len(cur.IndexTemplates) > 0 && cur.IndexTemplates[0].IndexTemplate.Version != nil {
			v := *cur.IndexTemplates[0].IndexTemplate.Version
			if v >= TemplateVersion {
				in.Log.Debug("index template up to date", "template", name, "installed", v, "shipped", TemplateVersion)
				return nil
			}
			in.Log.Info("upgrading index template", "template", name, "from", v, "to", TemplateVersion)
		}
	case 404:
	default:
		return fmt.Errorf("get index template %s: %w", name, expect("GET", path, res))
	}
	b, _ := json.Marshal(body)
	res, err = in.Client.Do(ctx, http.MethodPut, path, b)
	if err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	if err := expect("PUT", path, res, 200); err != nil {
		return fmt.Errorf("put index template %s: %w", name, err)
	}
	in.Log.Info("installed index template", "template", name, "version", TemplateVersion)
	return nil
}

var policyVersion = regexp.MustCompile(`vigil-version (\d+)`)

func (in *Installer) putPolicy(ctx context.Context, id string, body any) error {
	path := "/_plugins/_ism/policies/" + id
	res, err := in.Client.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return fmt.Errorf("get ism policy %s: %w", id, err)
	}
	put := path
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
		if m := policyVersion.FindStringSubmatch(cur.Policy.Description); m != nil {
			if v, _ := strconv.Atoi(m[1]); v >= TemplateVersion {
				return nil
			}
		}
		put = fmt.Sprintf("%s?if_seq_no=%d&if_primary_term=%d", path, cur.SeqNo, cur.PrimaryTerm)
	case 404:
	default:
		return fmt.Errorf("get ism policy %s: %w", id, expect("GET", path, res))
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
	return nil
}

// bootstrap creates the first span index with the write alias unless the
// alias exists. Writing to the alias before it exists would auto-create a
// concrete index of that name, which could then never become an alias.
func (in *Installer) bootstrap(ctx context.Context) error {
	alias := in.Names.SpanAlias
	res, err := in.Client.Do(ctx, http.MethodGet, "/_alias/"+alias, nil)
	if err != nil {
		return fmt.Errorf("get alias %s: %w", alias, err)
	}
	if res.Status == 200 {
		return nil
	}
	idx := in.Names.BootstrapIndex()
	body, _ := json.Marshal(m{"aliases": m{alias: m{"is_write_index": true}}})
	res, err = in.Client.Do(ctx, http.MethodPut, "/"+idx, body)
	if err != nil {
		return fmt.Errorf("create index %s: %w", idx, err)
	}
	if res.Status == 400 && regexp.MustCompile(`resource_already_exists_exception`).Match(res.Body) {
		return nil // another instance won the race
	}
	if err := expect("PUT", "/"+idx, res, 200); err != nil {
		return fmt.Errorf("create index %s: %w", idx, err)
	}
	in.Log.Info("created span bootstrap index", "index", idx, "alias", alias)
	return nil
}
