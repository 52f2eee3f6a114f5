// Package architecture_test enforces the import direction of DESIGN.md §2:
// diag <- component <- exprs <- {transforms, connectors}; the compiler in
// pipelines never imports a kind; engine imports pipelines; only cmd wires
// everything together.
package architecture_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pipectl/pipectl"

// forbidden lists, for each package (prefix), the packages of this module it
// must not import, directly or indirectly.
var forbidden = map[string][]string{
	"pipelines/diag":      {"pipelines/component", "pipelines/exprs", "pipelines", "transforms", "connectors", "engine", "cmd", "schemas"},
	"pipelines/component": {"pipelines/exprs", "pipelines", "transforms", "connectors", "engine", "cmd", "schemas"},
	"pipelines/exprs":     {"pipelines", "transforms", "connectors", "engine", "cmd", "schemas"},
	"pipelines":           {"transforms", "connectors", "engine", "cmd", "schemas"},
	"transforms":          {"connectors", "engine", "cmd", "pipelines"},
	"connectors":          {"transforms", "engine", "cmd", "pipelines"},
	"engine":              {"transforms", "connectors", "cmd"},
	"engine/state":        {"transforms", "connectors", "cmd"},
	"schemas":             {"pipelines", "transforms", "connectors", "engine", "cmd"},
}

type pkg struct {
	ImportPath string
	Deps       []string
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var checked int
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		rules, ok := forbidden[rel]
		if !ok {
			continue
		}
		checked++
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, module+"/") {
				continue
			}
			d := strings.TrimPrefix(dep, module+"/")
			for _, bad := range rules {
				// "pipelines" forbids the compiler package itself, not its
				// sub-packages diag, component and exprs.
				if d == bad || (strings.HasPrefix(d, bad+"/") && !slices.Contains([]string{"pipelines"}, bad)) {
					t.Errorf("%s imports %s (directly or through another package); DESIGN.md §2 forbids it", rel, d)
				}
			}
		}
	}
	if checked < len(forbidden) {
		t.Errorf("checked %d packages, want %d: a package in the rules no longer exists?", checked, len(forbidden))
	}
}
