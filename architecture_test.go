// Package architecture_test enforces the import direction of DESIGN.md §2:
// diag <- component <- exprs <- {transforms, connectors}; the compiler in
// pipelines never imports a kind; engine imports pipelines; only cmd wires
// everything together.
//
// The rules deny by default: each package of the module matches the rule of
// its longest path prefix, which lists every package of the module it may
// import, directly or through another. A new package (engine/serve, say)
// inherits its parent's rule, so it cannot reach connectors without the rule
// saying so; a package no rule covers fails the test until one is written.
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

// The language's layers, in the order they may import each other.
var (
	language   = []string{"pipelines/diag", "pipelines/record", "pipelines/component", "pipelines/exprs"}
	compiler   = append(slices.Clone(language), "pipelines")
	kinds      = append(slices.Clone(language), "schemas", "transforms/allocation")
	everything = []string{"*"}
)

// allowed maps a package path prefix (relative to the module; "" is the
// module's root) to the packages of the module it may import.
var allowed = map[string][]string{
	"":                      {},
	"pipelines/diag":        {},
	"pipelines/record":      {},
	"pipelines/component":   {"pipelines/diag", "pipelines/record"},
	"pipelines/exprs":       {"pipelines/diag", "pipelines/record", "pipelines/component"},
	"pipelines":             language,
	"schemas":               {},
	"transforms/allocation": {"pipelines/diag", "pipelines/record", "pipelines/component"},
	"transforms":            kinds,
	"connectors":            language,
	"engine/state":          {"pipelines/diag", "pipelines/record", "pipelines/component"},
	// The JetStream intake wraps the PostgreSQL serve state.
	"engine/state/jsintake": {"pipelines/diag", "pipelines/record", "pipelines/component", "engine/state"},
	"engine":                append(slices.Clone(compiler), "engine/state"),
	"engine/pipelinetest":   append(slices.Clone(compiler), "engine", "engine/state", "transforms/allocation"),
	// serve runs plans with the engine and keeps its queue in state; like
	// the engine it sees kinds only through the registry cmd wires.
	"engine/serve":    append(slices.Clone(compiler), "engine", "engine/state", "engine/schedule"),
	"engine/schedule": {"pipelines/diag", "pipelines/record", "pipelines/component", "engine/state"},
	// ops is what changes operated state (tokens, dead letters), one
	// package for the CLI and the console alike.
	"engine/ops": append(slices.Clone(compiler), "engine", "engine/state", "engine/schedule", "engine/serve"),
	// the console serves ops and serve's state over HTTP.
	// The console reads allocation explanations as allocate records them.
	"engine/console": append(slices.Clone(compiler), "engine", "engine/state", "engine/schedule", "engine/serve", "engine/ops", "transforms/allocation"),
	"internal":       {},
	// natstest skips or fails a test as pgtest does.
	"internal/natstest": {"internal/pgtest"},
	"bench":             {},
	"examples":          {},
	"cmd":               everything,
}

type pkg struct {
	ImportPath string
	Deps       []string
}

// rule returns the rule of the longest prefix of rel, and that prefix.
func rule(rel string) (prefix string, allow []string, ok bool) {
	best := -1
	for p, a := range allowed {
		if (p == rel || p == "" || strings.HasPrefix(rel, p+"/")) && len(p) > best {
			prefix, allow, ok, best = p, a, true, len(p)
		}
	}
	// The root's rule covers the root only, not every package below it.
	if ok && prefix == "" && rel != "" {
		return "", nil, false
	}
	return prefix, allow, ok
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	used := map[string]bool{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		prefix, allow, ok := rule(rel)
		if !ok {
			t.Errorf("package %s has no import rule: add its prefix to allowed in architecture_test.go (DESIGN.md §2)", rel)
			continue
		}
		used[prefix] = true
		if slices.Contains(allow, "*") {
			continue
		}
		for _, dep := range p.Deps {
			d, inModule := strings.CutPrefix(dep, module+"/")
			if !inModule || d == rel {
				continue
			}
			if !slices.Contains(allow, d) {
				t.Errorf("%s imports %s (directly or through another package); its rule (%q) does not allow it (DESIGN.md §2)", rel, d, prefix)
			}
		}
	}
	for p := range allowed {
		if !used[p] {
			t.Errorf("the rule for %q matches no package: remove it, or the package moved", p)
		}
	}
}

// The rules deny by default: the packages DESIGN.md names as forbidden are
// refused, new packages inherit their parent's rule, and unknown ones have
// none.
func TestImportRulesDenyByDefault(t *testing.T) {
	for _, tc := range []struct {
		pkg, dep string
		allowed  bool
	}{
		{"engine/serve", "connectors", false},
		{"engine/serve", "transforms", false},
		{"engine/serve", "engine/state", true},
		{"connectors", "transforms", false},
		{"connectors/nats", "engine", false},
		{"transforms", "connectors", false},
		{"transforms", "pipelines", false},
		{"pipelines", "schemas", false},
		{"pipelines/exprs", "pipelines", false},
		{"cmd/pipectl", "connectors", true},
	} {
		_, allow, ok := rule(tc.pkg)
		got := ok && (slices.Contains(allow, "*") || slices.Contains(allow, tc.dep))
		if got != tc.allowed {
			t.Errorf("%s importing %s: allowed = %v, want %v", tc.pkg, tc.dep, got, tc.allowed)
		}
	}
	if _, _, ok := rule("newtop"); ok {
		t.Error("a new top-level package has a rule without one being written")
	}
}
