// Package configtest checks configuration fixtures the same way in every
// package: testdata files named *.good.yaml must load, and *.bad.yaml must
// fail with the problems their "# want: " lines name.
package configtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-dev/vigil/internal/config"
)

// Fixtures runs load on every file matching glob. A *.good.yaml must load
// without error. A *.bad.yaml must fail, its error must contain every
// "# want: " line of the file, and when the error is a
// *config.ProblemsError it must hold exactly that many problems, so an
// unexpected extra problem fails the fixture too.
func Fixtures(t *testing.T, glob string, load func(path string) error) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatalf("configtest: %v", err)
	}
	if len(files) == 0 {
		t.Fatalf("configtest: no fixtures match %s", glob)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			err := load(f)
			switch {
			case strings.HasSuffix(f, ".good.yaml"):
				if err != nil {
					t.Fatalf("%s should load: %v", f, err)
				}
				return
			case !strings.HasSuffix(f, ".bad.yaml"):
				t.Fatalf("%s: a fixture is named *.good.yaml or *.bad.yaml", f)
			}
			wants := Wants(t, f)
			if len(wants) == 0 {
				t.Fatalf("%s: a bad fixture names its problems in '# want: ' lines", f)
			}
			if err == nil {
				t.Fatalf("%s should fail with:\n%s", f, strings.Join(wants, "\n"))
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: want a problem containing %q; got:\n%v", f, w, err)
				}
			}
			var pe *config.ProblemsError
			if errors.As(err, &pe) && len(pe.Problems) != len(wants) {
				t.Errorf("%s: %d problems, %d expected:\n%v", f, len(pe.Problems), len(wants), err)
			}
		})
	}
}

// Wants returns the "# want: " lines of a fixture.
func Wants(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("configtest: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			out = append(out, strings.TrimRight(w, "\r"))
		}
	}
	return out
}
