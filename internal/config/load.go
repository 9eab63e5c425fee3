package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Renamer is implemented by a Config some of whose keys were renamed or
// moved: RenamedKeys maps each old key's path (relative to the Config, as
// "kafka.topic") to the new one, so that a file still using an old key
// fails with a problem that names the new key rather than with "unknown
// key".
type Renamer interface {
	RenamedKeys() map[string]string
}

// Validator is implemented by every component's Config.
type Validator interface {
	Validate() error
}

// Load reads the YAML file at path into dst, which should already hold the
// defaults (DefaultConfig) so that the file only overrides what it names, and
// then validates it. Every error names the file and, where there is one, the
// YAML path of the problem.
func Load(path string, dst Validator) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := Decode(raw, dst); err != nil {
		var pe *ProblemsError
		if errors.As(err, &pe) {
			pe.File = path
			return pe
		}
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// Decode is Load for bytes already read.
func Decode(raw []byte, dst Validator) error {
	root, err := Parse(raw)
	if err != nil {
		return err
	}
	return DecodeNode(root, dst)
}

// Parse expands the environment in raw and parses it, for callers that decode
// a file's sections separately with DecodeNode.
func Parse(raw []byte) (*yaml.Node, error) {
	expanded, err := ExpandEnv(raw)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(expanded, &root); err != nil {
		return nil, &ProblemsError{Problems: []Problem{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	return &root, nil
}

// DecodeNode decodes one parsed node (a whole document or a section of one)
// strictly into dst and validates it. Paths in problems are relative to n.
func DecodeNode(n *yaml.Node, dst Validator) error {
	if n == nil || n.Kind == 0 || (n.Kind == yaml.DocumentNode && len(n.Content) == 0) {
		return validate(dst) // empty: defaults stand
	}
	var probs Problems
	lines := map[int]string{}
	var renamed map[string]string
	if r, ok := dst.(Renamer); ok {
		renamed = r.RenamedKeys()
	}
	checkKeys(n, reflect.TypeOf(dst), "", &probs, lines, renamed)
	// Unknown keys are ignored by the decoder, so decoding and validating
	// still run: the operator sees every problem in one pass.
	if !isNull(n) {
		if err := n.Decode(dst); err != nil {
			probs.Merge("", &ProblemsError{Problems: typeProblems(err, lines)})
			return probs.Err()
		}
	}
	probs.Merge("", validate(dst))
	return probs.Err()
}

func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// Sections returns the top-level mapping of a parsed document as key ->
// value node, in file order, so a file with one section per component can be
// decoded a section at a time.
func Sections(root *yaml.Node) ([]string, map[string]*yaml.Node, error) {
	n := root
	if n.Kind == 0 { // empty file
		return nil, map[string]*yaml.Node{}, nil
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, map[string]*yaml.Node{}, nil
		}
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil, nil, &ProblemsError{Problems: []Problem{{Msg: "must be a mapping of sections"}}}
	}
	keys := make([]string, 0, len(n.Content)/2)
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
		out[n.Content[i].Value] = n.Content[i+1]
	}
	return keys, out, nil
}

// Prefix returns err with every problem's path under prefix.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var p Problems
	p.Merge(prefix, err)
	return p.Err()
}

func validate(v Validator) error {
	err := v.Validate()
	if err == nil {
		return nil
	}
	var pe *ProblemsError
	if errors.As(err, &pe) {
		return pe
	}
	return &ProblemsError{Problems: []Problem{{Msg: err.Error()}}}
}

var envRef = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// ExpandEnv replaces ${VAR} and ${VAR:-default} with the environment's values;
// the OpenTelemetry Collector's ${env:VAR} and ${env:VAR:-default} are
// accepted too, so one syntax serves every Vigil file.
// An unset variable without a default is an error rather than an empty
// string: an empty broker list or password is never what was meant. "$$"
// escapes a literal "$".
func ExpandEnv(raw []byte) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		name := string(sub[1])
		if v, ok := os.LookupEnv(name); ok {
			return []byte(v)
		}
		if sub[2] != nil {
			return sub[3]
		}
		missing = append(missing, name)
		return m
	})
	if len(missing) > 0 {
		var p Problems
		for _, n := range missing {
			p.Addf("", "environment variable %s is referenced but not set (use ${%s:-default} for a default)", n, n)
		}
		return nil, p.Err()
	}
	return bytes.ReplaceAll(out, []byte("$$"), []byte("$")), nil
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkKeys walks the document beside the Go type it decodes into, reporting
// unknown keys with their full path (yaml's own KnownFields error gives only a
// line number) and recording each line's path for type errors.
func checkKeys(n *yaml.Node, t reflect.Type, path string, probs *Problems, lines map[int]string, renamed map[string]string) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKeys(c, t, path, probs, lines, renamed)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if _, seen := lines[n.Line]; !seen {
		lines[n.Line] = path
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // the type decodes itself and reports its own errors
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // yaml reports the type mismatch
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // merge key
				continue
			}
			p := Join(path, k.Value)
			lines[k.Line] = p
			ft, ok := fields[k.Value]
			if nw, moved := renamed[p]; !ok && moved {
				probs.Addf(p, "renamed: write it as %s", nw)
				continue
			}
			if !ok {
				msg := "unknown key"
				if s := suggest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				probs.Addf(p, "%s", msg)
				continue
			}
			checkKeys(v, ft, p, probs, lines, renamed)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := Join(path, n.Content[i].Value)
			lines[n.Content[i].Line] = p
			checkKeys(n.Content[i+1], t.Elem(), p, probs, lines, renamed)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), Join(path, "["+strconv.Itoa(i)+"]"), probs, lines, renamed)
		}
	}
}

// yamlFields maps YAML keys to field types, following ",inline" structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest returns the known key closest to k when it is close enough to be a
// likely typo.
func suggest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := levenshtein(k, name); d < bestD || (d == bestD && name < best && best != "") {
			best, bestD = name, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var lineRef = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeProblems turns yaml's "line 7: cannot unmarshal !!str `abc` into int"
// into "batch.size: cannot unmarshal ..." using the line index from checkKeys.
func typeProblems(err error, lines map[int]string) []Problem {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []Problem{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	out := make([]Problem, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := lineRef.FindStringSubmatch(e)
		if m == nil {
			out = append(out, Problem{Msg: e})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		msg := strings.ReplaceAll(m[2], "!!str", "string")
		msg = strings.ReplaceAll(msg, "!!int", "integer")
		msg = strings.ReplaceAll(msg, "!!map", "mapping")
		msg = strings.ReplaceAll(msg, "!!seq", "list")
		msg = strings.ReplaceAll(msg, "!!bool", "boolean")
		p, ok := lines[line]
		if !ok {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		out = append(out, Problem{Path: p, Msg: msg})
	}
	return out
}
