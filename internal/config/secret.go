package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a credential read from the environment or a file, so that it can
// come from a Kubernetes Secret rather than from a ConfigMap. In YAML it is
// either a mapping {env: NAME} or {file: /path}, or, for local runs only, a
// literal string.
type Secret struct {
	Env   string `yaml:"env"`
	File  string `yaml:"file"`
	Value string `yaml:"value"`
}

// UnmarshalYAML accepts a plain scalar as Value, or the mapping form.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = Secret{Value: n.Value}
		return nil
	}
	type plain Secret
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = Secret(p)
	return s.check()
}

func (s Secret) check() error {
	n := 0
	for _, v := range []string{s.Env, s.File, s.Value} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("set only one of env, file and value")
	}
	return nil
}

// IsSet reports whether any source is configured.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" || s.Value != "" }

// Resolve returns the secret's value. A configured source that yields nothing
// (unset variable, missing or empty file) is an error, never an empty
// credential.
func (s Secret) Resolve() (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", err
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s is empty", s.File)
		}
		return v, nil
	default:
		return s.Value, nil
	}
}

// String never shows the value, so a logged config leaks nothing.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	case s.Value != "":
		return "<redacted>"
	}
	return "<unset>"
}

// MarshalYAML keeps the source but never the literal value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
