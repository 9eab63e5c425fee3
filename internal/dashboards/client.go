package dashboards

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"reflect"
	"strings"
)

// Client talks to Dashboards' saved objects API.
type Client struct {
	base     string
	user, pw string
	tenant   string
	hc       *http.Client
}

// NewClient builds a client; it reads the password and CA file but does no
// network I/O.
func NewClient(c Config) (*Client, error) {
	cl := &Client{base: strings.TrimRight(c.URL, "/"), user: c.Username, tenant: c.Tenant}
	if c.Password.IsSet() {
		pw, err := c.Password.Resolve()
		if err != nil {
			return nil, fmt.Errorf("dashboards password: %w", err)
		}
		cl.pw = pw
	}
	tc := &tls.Config{InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("dashboards tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("dashboards tls ca: no PEM certificate in %s", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	cl.hc = &http.Client{Transport: tr, Timeout: c.RequestTimeout}
	return cl, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Result is what Sync did (or would do) with one object.
type Result struct {
	Object Object
	// Action is "created", "updated" or "unchanged".
	Action string
}

// Changed reports whether the object was (or would be) written.
func (r Result) Changed() bool { return r.Action != "unchanged" }

func (r Result) String() string {
	return fmt.Sprintf("dashboards %s %s (%q): %s", r.Object.Type, r.Object.ID, r.Object.Title(), r.Action)
}

// Sync makes Dashboards hold objs: it imports the missing and differing
// ones (with overwrite) and leaves the rest. With dryRun it only reports.
func (c *Client) Sync(ctx context.Context, objs []Object, dryRun bool) ([]Result, error) {
	have, err := c.bulkGet(ctx, objs)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(objs))
	var write []Object
	for i, o := range objs {
		cur, ok := have[o.Key()]
		switch {
		case !ok:
			results[i] = Result{o, "created"}
		case !same(o, cur):
			results[i] = Result{o, "updated"}
		default:
			results[i] = Result{o, "unchanged"}
			continue
		}
		write = append(write, o)
	}
	if dryRun || len(write) == 0 {
		return results, nil
	}
	if err := c.importObjects(ctx, write); err != nil {
		return nil, err
	}
	return results, nil
}

// same reports whether the installed object has every attribute the shipped
// one sets, with the same value, and the same references.
func same(want, have Object) bool {
	for k, v := range want.Attributes {
		if !reflect.DeepEqual(v, have.Attributes[k]) {
			return false
		}
	}
	if len(want.References) != len(have.References) {
		return false
	}
	for i := range want.References {
		if want.References[i] != have.References[i] {
			return false
		}
	}
	return true
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	// Dashboards rejects API writes without it (its CSRF protection).
	req.Header.Set("osd-xsrf", "true")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pw)
	}
	if c.tenant != "" {
		req.Header.Set("securitytenant", c.tenant)
	}
	return req, nil
}

func (c *Client) do(req *http.Request, into any) error {
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", req.Method, req.URL.Path, err)
	}
	if res.StatusCode != http.StatusOK {
		msg := string(b)
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL.Path, res.StatusCode, msg)
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// bulkGet returns the installed objects among objs, by key.
func (c *Client) bulkGet(ctx context.Context, objs []Object) (map[string]Object, error) {
	type ref struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}
	refs := make([]ref, len(objs))
	for i, o := range objs {
		refs[i] = ref{o.Type, o.ID}
	}
	body, _ := json.Marshal(refs)
	req, err := c.newRequest(ctx, http.MethodPost, "/api/saved_objects/_bulk_get", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	var res struct {
		SavedObjects []struct {
			Object
			Error *struct {
				StatusCode int    `json:"statusCode"`
				Message    string `json:"message"`
			} `json:"error"`
		} `json:"saved_objects"`
	}
	if err := c.do(req, &res); err != nil {
		return nil, fmt.Errorf("dashboards: read saved objects: %w", err)
	}
	have := map[string]Object{}
	var errs []error
	for _, so := range res.SavedObjects {
		switch {
		case so.Error == nil:
			have[so.Key()] = so.Object
		case so.Error.StatusCode == http.StatusNotFound:
		default:
			errs = append(errs, fmt.Errorf("%s: %d %s", so.Key(), so.Error.StatusCode, so.Error.Message))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("dashboards: read saved objects: %w", err)
	}
	return have, nil
}

// importError is one object _import refused.
type importError struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Title string `json:"title"`
	Error struct {
		Type       string      `json:"type"`
		Message    string      `json:"message"`
		References []Reference `json:"references"`
	} `json:"error"`
}

func (e importError) String() string {
	s := fmt.Sprintf("%s/%s (%q): %s", e.Type, e.ID, e.Title, e.Error.Type)
	if e.Error.Message != "" {
		s += ": " + e.Error.Message
	}
	for _, r := range e.Error.References {
		s += fmt.Sprintf(" [missing %s/%s]", r.Type, r.ID)
	}
	return s
}

// importObjects posts objs as an NDJSON file to _import with overwrite, the
// way the Dashboards UI's import does.
func (c *Client) importObjects(ctx context.Context, objs []Object) error {
	var file bytes.Buffer
	for _, o := range objs {
		file.Write(o.Line)
		file.WriteByte('\n')
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	// Dashboards checks the file name's extension: .ndjson only.
	h.Set("Content-Disposition", `form-data; name="file"; filename="vigil.ndjson"`)
	h.Set("Content-Type", "application/ndjson")
	part, err := mw.CreatePart(h)
	if err == nil {
		_, err = part.Write(file.Bytes())
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return fmt.Errorf("dashboards: build import: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/api/saved_objects/_import?overwrite=true", &body)
	if err != nil {
		return fmt.Errorf("dashboards: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var res struct {
		Success      bool          `json:"success"`
		SuccessCount int           `json:"successCount"`
		Errors       []importError `json:"errors"`
	}
	if err := c.do(req, &res); err != nil {
		return fmt.Errorf("dashboards: import saved objects: %w", err)
	}
	if !res.Success || res.SuccessCount != len(objs) {
		msgs := make([]string, len(res.Errors))
		for i, e := range res.Errors {
			msgs[i] = e.String()
		}
		return fmt.Errorf("dashboards: import saved objects: %d of %d imported; errors: %s", res.SuccessCount, len(objs), strings.Join(msgs, "; "))
	}
	return nil
}
