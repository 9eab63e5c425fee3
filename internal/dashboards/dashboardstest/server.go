// Package dashboardstest is an in-memory stand-in for OpenSearch Dashboards'
// saved objects API (_bulk_get and _import), for tests: Dashboards is not
// available as a download this project's tests can use (it is on neither
// Maven Central nor npm). It checks requests the way Dashboards 2.x does —
// the osd-xsrf header, basic auth, a multipart "file" field whose name ends
// in .ndjson, NDJSON lines, overwrite, references that resolve — and answers
// in Dashboards' response shapes (src/core/server/saved_objects/import and
// routes/bulk_get.ts of OpenSearch-Dashboards).
package dashboardstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"time"
)

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	*httptest.Server
	// Username and Password, when set, are required as basic auth.
	Username, Password string

	mu      sync.Mutex
	objects map[string]map[string]any // type/id -> saved object as stored
	imports int
}

// New starts a fake Dashboards; it is closed when the test ends.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{objects: map[string]map[string]any{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Imports is how many _import requests succeeded.
func (s *Server) Imports() int { s.mu.Lock(); defer s.mu.Unlock(); return s.imports }

// Object returns a stored object (nil if none).
func (s *Server) Object(typ, id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[typ+"/"+id]
}

// Edit changes a stored object's attributes, as a user saving it in the UI
// (or Dashboards refreshing an index pattern's field list) does.
func (s *Server) Edit(typ, id string, attrs map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[typ+"/"+id]
	a := o["attributes"].(map[string]any)
	for k, v := range attrs {
		a[k] = v
	}
	o["updated_at"] = time.Now().UTC().Format(time.RFC3339Nano)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// boom is Dashboards' (hapi's Boom) error body.
func boom(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "error": http.StatusText(status), "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.Username || p != s.Password {
			boom(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
	}
	if r.Method != http.MethodGet && r.Header.Get("osd-xsrf") == "" {
		boom(w, http.StatusBadRequest, "Request must contain a osd-xsrf header.")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/saved_objects/_bulk_get":
		s.bulkGet(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/api/saved_objects/_import":
		s.importObjects(w, r)
	default:
		boom(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) bulkGet(w http.ResponseWriter, r *http.Request) {
	var refs []struct{ Type, ID string }
	if err := json.NewDecoder(r.Body).Decode(&refs); err != nil {
		boom(w, http.StatusBadRequest, "[request body]: expected value of type [array] but got "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]any, len(refs))
	for i, ref := range refs {
		if o, ok := s.objects[ref.Type+"/"+ref.ID]; ok {
			out[i] = o
			continue
		}
		out[i] = map[string]any{"id": ref.ID, "type": ref.Type, "error": map[string]any{
			"statusCode": 404, "error": "Not Found", "message": fmt.Sprintf("Saved object [%s/%s] not found", ref.Type, ref.ID)}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"saved_objects": out})
}

type importErr struct {
	ID    string         `json:"id"`
	Type  string         `json:"type"`
	Title string         `json:"title"`
	Meta  map[string]any `json:"meta"`
	Error map[string]any `json:"error"`
}

func (s *Server) importObjects(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		boom(w, http.StatusUnsupportedMediaType, "Unsupported Media Type")
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		boom(w, http.StatusBadRequest, "[request body.file]: expected value of type [Stream] but got [undefined]")
		return
	}
	defer f.Close()
	if ext := path.Ext(hdr.Filename); ext != ".ndjson" {
		boom(w, http.StatusUnsupportedMediaType, "Invalid file extension "+ext)
		return
	}
	overwrite := r.URL.Query().Get("overwrite") == "true"
	b, _ := io.ReadAll(f)
	var objs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			boom(w, http.StatusBadRequest, "Unexpected token in JSON: "+err.Error())
			return
		}
		objs = append(objs, o)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inFile := map[string]bool{}
	for _, o := range objs {
		inFile[fmt.Sprint(o["type"], "/", o["id"])] = true
	}
	var errs []importErr
	var ok []map[string]any
	for _, o := range objs {
		typ, id := fmt.Sprint(o["type"]), fmt.Sprint(o["id"])
		attrs, _ := o["attributes"].(map[string]any)
		title, _ := attrs["title"].(string)
		meta := map[string]any{"title": title, "icon": icon(typ)}
		var missing []map[string]any
		refs, _ := o["references"].([]any)
		for _, rr := range refs {
			ref, _ := rr.(map[string]any)
			k := fmt.Sprint(ref["type"], "/", ref["id"])
			if !inFile[k] && s.objects[k] == nil {
				missing = append(missing, map[string]any{"type": ref["type"], "id": ref["id"]})
			}
		}
		if len(missing) > 0 {
			errs = append(errs, importErr{id, typ, title, meta, map[string]any{"type": "missing_references", "references": missing, "blocking": []any{}}})
			continue
		}
		if s.objects[typ+"/"+id] != nil && !overwrite {
			errs = append(errs, importErr{id, typ, title, meta, map[string]any{"type": "conflict"}})
			continue
		}
		o["updated_at"] = time.Now().UTC().Format(time.RFC3339Nano)
		o["version"] = fmt.Sprintf("WzEsMV0=%d", len(s.objects))
		s.objects[typ+"/"+id] = o
		ok = append(ok, map[string]any{"type": typ, "id": id, "meta": meta})
	}
	res := map[string]any{"successCount": len(ok), "success": len(errs) == 0}
	if len(ok) > 0 {
		res["successResults"] = ok
	}
	if len(errs) > 0 {
		res["errors"] = errs
	}
	if len(ok) > 0 {
		s.imports++
	}
	writeJSON(w, http.StatusOK, res)
}

func icon(typ string) string {
	switch typ {
	case "index-pattern":
		return "indexPatternApp"
	case "search":
		return "discoverApp"
	case "visualization":
		return "visualizeApp"
	case "dashboard":
		return "dashboardApp"
	}
	return ""
}
