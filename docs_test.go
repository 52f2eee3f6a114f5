package architecture_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README and the docs stand alone: a user's clone has nothing beside it,
// so they may not send the reader outside the repository for what they
// need to know.
func TestDocsStandAlone(t *testing.T) {
	files := []string{"README.md"}
	more, _ := filepath.Glob("docs/*.md")
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, outside := range []string{"../shared", "DOMAIN.md", "DESIGN.md", "REFERENCE.md", "SOURCES.md"} {
				if strings.Contains(line, outside) {
					t.Errorf("%s:%d points outside the repository (%s): %s", f, i+1, outside, strings.TrimSpace(line))
				}
			}
		}
	}
}
