package dashboards

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
)

// Object is one saved object, as an export's NDJSON line holds it.
type Object struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []Reference    `json:"references"`
	// Line is the object's NDJSON line as shipped; it is what is imported.
	Line json.RawMessage `json:"-"`
}

// Reference is a saved object's reference to another.
type Reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Key identifies an object: ids are unique per type.
func (o Object) Key() string { return o.Type + "/" + o.ID }

// Title is the object's title attribute, if any.
func (o Object) Title() string { s, _ := o.Attributes["title"].(string); return s }

// Parse reads saved objects from NDJSON, one object a line, as Dashboards'
// export writes them. Blank lines and the export's summary line
// ({"exportedCount":...}) are skipped. Errors name the line.
func Parse(name string, r io.Reader) ([]Object, error) {
	var out []Object
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(line, &probe); err != nil {
			return nil, fmt.Errorf("%s:%d: not a JSON object: %w", name, n, err)
		}
		if _, ok := probe["exportedCount"]; ok {
			continue
		}
		var o Object
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		var errs []error
		if o.Type == "" {
			errs = append(errs, errors.New("type is empty"))
		}
		if o.ID == "" {
			errs = append(errs, errors.New("id is empty"))
		}
		if o.Attributes == nil {
			errs = append(errs, errors.New("attributes are missing"))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		o.Line = slices.Clone(line)
		out = append(out, o)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Load parses every *.ndjson file of fsys in name order and checks that no
// object appears twice.
func Load(fsys fs.FS) ([]Object, error) {
	names, err := fs.Glob(fsys, "*.ndjson")
	if err != nil {
		return nil, err
	}
	var all []Object
	seen := map[string]string{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		objs, err := Parse(path.Base(name), bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if prev, ok := seen[o.Key()]; ok {
				return nil, fmt.Errorf("%s: %s is also in %s", name, o.Key(), prev)
			}
			seen[o.Key()] = name
		}
		all = append(all, objs...)
	}
	return all, nil
}
