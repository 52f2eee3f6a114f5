// Package examples_test holds every example pipeline to the standard a
// consultant copying one would expect: it validates with no errors and no
// warnings against the kinds and schemas pipectl ships, the editor's JSON
// Schema accepts it, its checked-in graph is the one pipectl draws, and its
// pipeline tests pass.
package examples_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine/pipelinetest"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite each example's graph.mmd from what pipectl draws now")

// registry wires every kind pipectl ships, as cmd/pipectl does.
func registry() *component.Registry {
	r := component.NewRegistry()
	transforms.Register(r)
	connectors.Register(r)
	return r
}

// exampleEnv sets every variable to a stand-in: an address for those
// naming a URL, which validate checks like any written URL.
func exampleEnv(name string) (string, bool) {
	if strings.HasSuffix(name, "_URL") {
		return "https://" + strings.ToLower(strings.ReplaceAll(name, "_", "-")) + ".example", true
	}
	return "example-" + strings.ToLower(name), true
}

// options compiles the way cmd/pipectl does, except that every environment
// variable is set: an example may (and should) leave secrets to the
// environment, and that must not count against it.
func options(reg *component.Registry) pipelines.Options {
	return pipelines.Options{
		LoadOptions: pipelines.LoadOptions{
			Registry:  reg,
			LookupEnv: exampleEnv,
		},
		Library:     exprs.NewLibrary(component.FixedClock(time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC))),
		Schema:      schemas.Lookup,
		SchemaNames: schemas.Names(),
	}
}

// pipelineFiles finds the example pipelines: YAML files with a top-level
// `pipeline:` key, which tells them from rules files and pipeline tests.
func pipelineFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return nil
		}
		if _, ok := topLevel(t, path)["pipeline"]; ok {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example pipelines found under examples/")
	}
	slices.Sort(files)
	return files
}

// topLevel decodes a YAML file's top-level mapping. An example that is not
// valid YAML fails the test rather than being skipped.
func topLevel(t *testing.T, path string) map[string]any {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(src, &m); err != nil {
		t.Errorf("%s: not valid YAML: %v", path, err)
	}
	return m
}

// TestExamplesAreClean validates every example and wants no diagnostics at
// all, warnings included, from the compiler or from the JSON Schema
// editors use.
func TestExamplesAreClean(t *testing.T) {
	reg := registry()
	opts := options(reg)
	checker := pipelines.NewSchemaChecker(reg)
	rulesSchema := compileRulesSchema(t, reg)
	for _, path := range pipelineFiles(t) {
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			plan, f, ds := pipelines.Validate(path, opts)
			if f == nil {
				t.Fatalf("not loaded:\n%s", render(ds, nil))
			}
			ds = append(ds, checker.Check(path, f.Sources[path], ds)...)
			if len(ds) > 0 {
				t.Errorf("want no diagnostics, got %d:\n%s", len(ds), render(ds, f.Sources))
			}
			if plan == nil && !ds.HasErrors() {
				t.Error("no plan, yet no errors")
			}
			if f.RulesPath != "" {
				checkRulesFile(t, rulesSchema, filepath.Join(filepath.Dir(path), f.RulesPath))
			}
		})
	}
}

// TestExampleGraphs compares what `pipectl graph --format mermaid` and
// `--format svg` draw for each example with the graphs checked in beside it
// (graph.mmd and graph.svg for pipeline.yaml, NAME.graph.mmd and
// NAME.graph.svg for NAME.yaml), and the Mermaid one with the copy in the
// example's README when it shows one. `go test ./examples -update` rewrites
// the graph files.
func TestExampleGraphs(t *testing.T) {
	reg := registry()
	opts := options(reg)
	for _, path := range pipelineFiles(t) {
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			plan, f, ds := pipelines.Validate(path, opts)
			if plan == nil {
				var src diag.Sources
				if f != nil {
					src = f.Sources
				}
				t.Fatalf("does not compile:\n%s", render(ds, src))
			}
			var got, svg bytes.Buffer
			if err := pipelines.WriteMermaid(&got, plan); err != nil {
				t.Fatal(err)
			}
			if err := pipelines.WriteSVG(&svg, plan, pipelines.SVGOptions{}); err != nil {
				t.Fatal(err)
			}
			golden := graphPath(path)
			checkGolden(t, golden, got.Bytes())
			checkGolden(t, strings.TrimSuffix(golden, ".mmd")+".svg", svg.Bytes())
			readme := filepath.Join(filepath.Dir(path), "README.md")
			if text, err := os.ReadFile(readme); err == nil {
				if m := mermaidBlock.FindSubmatch(text); m != nil && !bytes.Equal(m[1], got.Bytes()) {
					t.Errorf("the mermaid graph in %s differs from %s: paste it in again", readme, golden)
				}
			}
		})
	}
}

// checkGolden compares got with the file at golden, which -update
// rewrites.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./examples -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale (run go test ./examples -update); pipectl draws:\n%s", golden, got)
	}
}

var mermaidBlock = regexp.MustCompile("(?s)```mermaid\n(.*?)```")

func graphPath(pipeline string) string {
	dir, base := filepath.Split(pipeline)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if stem == "pipeline" {
		return filepath.Join(dir, "graph.mmd")
	}
	return filepath.Join(dir, stem+".graph.mmd")
}

func render(ds diag.Diagnostics, src diag.Sources) string {
	var b strings.Builder
	diag.WriteText(&b, ds.Sorted(), src)
	return b.String()
}

// compileRulesSchema compiles the schema editors check rules files with.
func compileRulesSchema(t *testing.T, reg *component.Registry) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("rules.schema.json", bytes.NewReader(pipelines.RulesSchema(reg))); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("rules.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkRulesFile validates a rules file against the rules schema: the
// compiler checks it through the pipeline already; this is what the
// editor's modeline promises.
func checkRulesFile(t *testing.T, s *jsonschema.Schema, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := s.Validate(jsonValue(doc)); err != nil {
		t.Errorf("%s does not satisfy the rules schema: %v", path, err)
	}
}

// jsonValue turns decoded YAML into the values a JSON Schema validates:
// mappings with string keys, and numbers as float64.
func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case int:
		return float64(x)
	case uint64:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

// TestPipelineTests runs every example's pipeline tests (*_test.yaml), as
// `pipectl test examples/` does. A test file whose `requires:` path is
// absent (fixtures read in place from ../shared) is skipped with the
// reason, unless PIPECTL_REQUIRE_SERVICES=1 makes that a failure.
func TestPipelineTests(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.yaml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no pipeline tests found under examples/")
	}
	opts := pipelinetest.Options{Registry: registry(), Schema: schemas.Lookup, SchemaNames: schemas.Names()}
	for _, path := range files {
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			rep, err := pipelinetest.RunFile(path, opts)
			var out strings.Builder
			rep.WriteText(&out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if rep.Skipped != "" {
				t.Skipf("skipping %s: %s", path, rep.Skipped)
			}
			if rep.Failed() {
				t.Errorf("pipeline tests failed:\n%s", out.String())
			}
			if n := rep.Count(pipelinetest.Pass); n == 0 {
				t.Errorf("no test passed:\n%s", out.String())
			}
		})
	}
}
