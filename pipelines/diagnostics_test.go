package pipelines_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // golden files name IANA zones; the test must not depend on the host's database

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/rogpeppe/go-internal/txtar"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/diagnostics/*.txtar")

// goldenDir holds one archive per scenario: pipeline.yaml, any file it
// references, and `want`, the diagnostics as `file:line:col: severity: code`.
const goldenDir = "testdata/diagnostics"

// testEnv is the environment every golden pipeline sees: WMS_URL and
// SECRET_TOKEN are set, EMPTY is set to "", anything else is unset.
var testEnv = map[string]string{
	"WMS_URL":      "https://wms.example.com",
	"SECRET_TOKEN": "s3cr3t",
	"EMPTY":        "",
}

func lookupTestEnv(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

// fullRegistry is the registry cmd/pipectl builds: every transform and
// connector.
func fullRegistry() *component.Registry {
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	return reg
}

// testOptions compiles the way `pipectl validate` does, with a fixed clock and
// environment so the results do not depend on the machine.
func testOptions(reg *component.Registry) pipelines.Options {
	return pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: lookupTestEnv},
		Library:     exprs.NewLibrary(component.FixedClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))),
		Schema:      schemas.Lookup,
		SchemaNames: schemas.Names(),
		Check:       engine.Check,
	}
}

// validate runs what `pipectl validate` runs on one file: the loader and the
// compiler, then the generated JSON Schema on top.
func validate(path string, opts pipelines.Options, checker *pipelines.SchemaChecker) diag.Diagnostics {
	_, f, ds := pipelines.Validate(path, opts)
	if f != nil {
		ds = append(ds, checker.Check(path, f.Sources[path], ds)...)
	}
	return ds.Sorted()
}

// formatDiagnostics renders diagnostics one a line as
// `file:line:col: severity: code`, file relative to dir: the golden format,
// which pins codes and positions and leaves the prose free to improve.
func formatDiagnostics(t *testing.T, dir string, ds diag.Diagnostics) string {
	t.Helper()
	var b strings.Builder
	for _, d := range ds {
		file := d.Subject.Start.File
		if rel, err := filepath.Rel(dir, file); err == nil {
			file = filepath.ToSlash(rel)
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", file, d.Subject.Start.Line, d.Subject.Start.Col, d.Severity, d.Code)
	}
	return b.String()
}

func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no golden files in %s", goldenDir)
	}
	return files
}

func TestDiagnosticsGolden(t *testing.T) {
	reg := fullRegistry()
	opts := testOptions(reg)
	checker := pipelines.NewSchemaChecker(reg)
	for _, file := range goldenFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".txtar")
		t.Run(name, func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			wantIdx := -1
			hasPipeline := false
			for i, f := range ar.Files {
				if f.Name == "want" {
					wantIdx = i
					continue
				}
				hasPipeline = hasPipeline || f.Name == "pipeline.yaml"
				p := filepath.Join(dir, filepath.FromSlash(f.Name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !hasPipeline {
				t.Fatalf("%s has no pipeline.yaml", file)
			}
			got := formatDiagnostics(t, dir, validate(filepath.Join(dir, "pipeline.yaml"), opts, checker))
			if *update {
				if wantIdx < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					wantIdx = len(ar.Files) - 1
				}
				ar.Files[wantIdx].Data = []byte(got)
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if wantIdx < 0 {
				t.Fatalf("%s has no want section; run go test -run TestDiagnosticsGolden -update", file)
			}
			want := string(ar.Files[wantIdx].Data)
			if diff := cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")); diff != "" {
				t.Errorf("diagnostics differ (-want +got):\n%s\ngot:\n%s", diff, got)
			}
			checkSorted(t, got)
		})
	}
}

// TestDiagnosticsLineEndings runs every golden archive again with its files
// rewritten with CRLF line endings, and with a byte order mark starting the
// pipeline file: positions must not move. Windows editors write both.
func TestDiagnosticsLineEndings(t *testing.T) {
	reg := fullRegistry()
	opts := testOptions(reg)
	checker := pipelines.NewSchemaChecker(reg)
	variants := map[string]func(name string, data []byte) []byte{
		"crlf": func(_ string, data []byte) []byte {
			return bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
		},
		"bom": func(name string, data []byte) []byte {
			if name != "pipeline.yaml" {
				return data
			}
			return append([]byte("\uFEFF"), data...)
		},
	}
	for _, file := range goldenFiles(t) {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		for _, f := range ar.Files {
			if f.Name == "want" {
				want = string(f.Data)
			}
		}
		for vname, rewrite := range variants {
			t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar")+"/"+vname, func(t *testing.T) {
				dir := t.TempDir()
				for _, f := range ar.Files {
					if f.Name == "want" {
						continue
					}
					p := filepath.Join(dir, filepath.FromSlash(f.Name))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, rewrite(f.Name, f.Data), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				got := formatDiagnostics(t, dir, validate(filepath.Join(dir, "pipeline.yaml"), opts, checker))
				if diff := cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")); diff != "" {
					t.Errorf("diagnostics differ from the golden file's (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// checkSorted asserts that the diagnostics of the pipeline file come out in
// position order, as validate prints them.
func checkSorted(t *testing.T, got string) {
	t.Helper()
	type pos struct{ line, col int }
	var ps []pos
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		var p pos
		if _, err := fmt.Sscanf(strings.TrimPrefix(l, "pipeline.yaml:"), "%d:%d:", &p.line, &p.col); err != nil || !strings.HasPrefix(l, "pipeline.yaml:") {
			continue
		}
		ps = append(ps, p)
	}
	if !slices.IsSortedFunc(ps, func(a, b pos) int {
		if a.line != b.line {
			return a.line - b.line
		}
		return a.col - b.col
	}) {
		t.Errorf("diagnostics are not sorted by position:\n%s", got)
	}
}

// codesCoveredElsewhere are codes a golden archive cannot produce, each with
// the test that covers it instead.
var codesCoveredElsewhere = map[string]string{
	// The golden harness always writes pipeline.yaml, so it cannot be
	// missing.
	"file-unreadable": "TestLoadUnreadableFile",
}

// TestEveryCodeHasGolden fails naming each code in pipelines.Codes that no
// golden archive's want section shows.
func TestEveryCodeHasGolden(t *testing.T) {
	covered := map[string]bool{}
	for _, file := range goldenFiles(t) {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if f.Name != "want" {
				continue
			}
			for _, l := range strings.Split(string(f.Data), "\n") {
				if i := strings.LastIndex(l, ": "); i >= 0 {
					covered[l[i+2:]] = true
				}
			}
		}
	}
	var missing []string
	for _, c := range pipelines.Codes {
		if !covered[c.Code] && codesCoveredElsewhere[c.Code] == "" {
			missing = append(missing, c.Code)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no golden file in %s shows these codes: %s", goldenDir, strings.Join(missing, ", "))
	}
	known := map[string]bool{}
	for _, c := range pipelines.Codes {
		known[c.Code] = true
	}
	for c := range covered {
		if !known[c] {
			t.Errorf("golden files show code %q, which pipelines.Codes does not document", c)
		}
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	f, ds := pipelines.Load(path, pipelines.LoadOptions{Registry: fullRegistry(), LookupEnv: lookupTestEnv})
	if f != nil {
		t.Errorf("Load of a missing file returned a File")
	}
	if len(ds) != 1 || ds[0].Code != "file-unreadable" || ds[0].Severity != diag.Error || ds[0].Subject.Start.File != path {
		t.Fatalf("Load(%s) = %v, want one file-unreadable error naming the file", path, ds)
	}
	// Validate must cope with Load returning no File.
	p, f2, ds := pipelines.Validate(path, testOptions(fullRegistry()))
	if p != nil || f2 != nil || len(ds) != 1 || ds[0].Code != "file-unreadable" {
		t.Errorf("Validate(%s) = %v, %v, %v; want nil, nil and one file-unreadable error", path, p, f2, ds)
	}
}

// TestDidYouMeanField pins the hint of the DESIGN's own example: a misspelt
// field against the Shopify order schema suggests the real one.
func TestDidYouMeanField(t *testing.T) {
	const src = `pipeline: hint
sources:
  orders:
    trigger: hook
    event: {}
    schema: shopify/order
triggers:
  hook:
    webhook: {path: /hook}
sinks:
  out:
    from: orders
    http:
      url: ${WMS_URL}/x
      body:
        city: shiping_address.city
`
	reg := fullRegistry()
	opts := testOptions(reg)
	f, ds := pipelines.LoadBytes("pipeline.yaml", []byte(src), opts.LoadOptions)
	if len(ds) > 0 {
		t.Fatalf("load: %v", ds)
	}
	_, ds = pipelines.Compile(f, opts)
	var found []diag.Diagnostic
	for _, d := range ds {
		if d.Code == exprs.CodeUnknownField {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s diagnostic, got %v", exprs.CodeUnknownField, ds)
	}
	d := found[0]
	if want := `did you mean "shipping_address"?`; d.Hint != want {
		t.Errorf("hint = %q, want %q", d.Hint, want)
	}
	wantRange := diag.Range{
		Start: diag.Pos{File: "pipeline.yaml", Line: 16, Col: 15},
		End:   diag.Pos{File: "pipeline.yaml", Line: 16, Col: 15 + len("shiping_address")},
	}
	if d.Subject != wantRange {
		t.Errorf("subject = %v, want %v", d.Subject, wantRange)
	}
	var text bytes.Buffer
	if err := diag.WriteText(&text, found, f.Sources); err != nil {
		t.Fatal(err)
	}
	// "   16 | " then 14 blanks and a caret under each of the 15 letters.
	if want := "      | " + strings.Repeat(" ", 14) + strings.Repeat("^", 15) + "\n"; !strings.Contains(text.String(), want) {
		t.Errorf("rendering does not underline the field:\n%s", text.String())
	}
}
