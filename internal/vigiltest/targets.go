package vigiltest

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// ShippedTarget is the target name of configs/detector.yaml as a YAML list
// of one, for a detector configuration's targets: its expressions and
// conditions as shipped (they are what a test is about), with each rule's
// keys in rule set (say interval: 1s, to evaluate within a test's time).
func ShippedTarget(t testing.TB, name string, rule map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(RepoRoot(t), "configs", "detector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Targets []map[string]any `yaml:"targets"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		t.Fatalf("configs/detector.yaml: %v", err)
	}
	for _, tg := range file.Targets {
		if tg["name"] != name {
			continue
		}
		for _, r := range tg["rules"].([]any) {
			for k, v := range rule {
				r.(map[string]any)[k] = v
			}
		}
		out, err := yaml.Marshal([]map[string]any{tg})
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	t.Fatalf("configs/detector.yaml has no target %q", name)
	return ""
}
