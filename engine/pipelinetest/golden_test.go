package pipelinetest_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine/pipelinetest"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want files inside testdata/*.txtar from the actual output")

// holdSpec is a step kind with no run-time part: what tests of pipelines
// using such kinds can and cannot check.
var holdSpec = &component.Spec{
	Kind:    "hold",
	Section: component.StepSection,
	Summary: "A step that cannot run yet.",
	Config:  &component.Field{Kind: component.ObjectField, Doc: "No settings.", Fields: []*component.Field{}},
	Outputs: []component.Output{{Name: "kept", Doc: "Records kept."}},
}

func options() pipelinetest.Options {
	r := component.NewRegistry()
	transforms.Register(r)
	connectors.Register(r)
	r.Add(holdSpec)
	return pipelinetest.Options{Registry: r, Schema: schemas.Lookup, SchemaNames: schemas.Names()}
}

// TestGolden runs the test file of each archive in testdata and compares
// the report with the archive's `want` file. The archive's comment may
// hold flags: `--update` rewrites the test file (compared with
// `want-updated.yaml`, then run again, where every test must pass);
// `--run REGEX` selects tests. `go test -update` rewrites the want files.
func TestGolden(t *testing.T) {
	// The archives show what a developer sees; the required mode of
	// `requires:` has its own test.
	t.Setenv("PIPECTL_REQUIRE_SERVICES", "")
	archives, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no archives in testdata: %v", err)
	}
	for _, path := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			wants := map[string]int{}
			for i, f := range ar.Files {
				if strings.HasPrefix(f.Name, "want") {
					wants[f.Name] = i
					continue
				}
				full := filepath.Join(dir, f.Name)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			opts := options()
			comment := string(ar.Comment)
			opts.Update = strings.Contains(comment, "--update")
			if m := regexp.MustCompile(`--run (\S+)`).FindStringSubmatch(comment); m != nil {
				opts.Run = regexp.MustCompile(m[1])
			}
			testFile := filepath.Join(dir, "pipeline_test.yaml")
			got := report(t, testFile, opts, dir)
			check := func(name, got string) {
				i, ok := wants[name]
				if *update {
					if ok {
						ar.Files[i].Data = []byte(got)
					} else {
						ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(got)})
					}
					return
				}
				if !ok {
					t.Fatalf("the archive has no %s file (run go test -update)", name)
				}
				if diff := cmp.Diff(string(ar.Files[i].Data), got); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", name, diff)
				}
			}
			check("want", got)
			if opts.Update {
				rewritten, err := os.ReadFile(testFile)
				if err != nil {
					t.Fatal(err)
				}
				check("want-updated.yaml", string(rewritten))
				opts.Update = false
				rep, err := pipelinetest.RunFile(testFile, opts)
				if err != nil || rep.Failed() {
					var b strings.Builder
					rep.WriteText(&b)
					t.Errorf("after --update the tests still fail: %v\n%s", err, b.String())
				}
			}
			if *update {
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// report runs a test file and renders what pipectl test prints of it,
// with the temporary directory taken out of paths.
func report(t *testing.T, path string, opts pipelinetest.Options, dir string) string {
	t.Helper()
	rep, err := pipelinetest.RunFile(path, opts)
	var b bytes.Buffer
	rep.WriteText(&b)
	pipelinetest.WriteCoverage(&b, rep.Coverage)
	fmt.Fprintf(&b, "load failed: %v, failed: %v\n", err != nil, rep.Failed())
	if (err != nil) != rep.LoadFailed() {
		t.Errorf("RunFile's error (%v) disagrees with LoadFailed (%v)", err, rep.LoadFailed())
	}
	return strings.ReplaceAll(b.String(), dir+string(filepath.Separator), "")
}
