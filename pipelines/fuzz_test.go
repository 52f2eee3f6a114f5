package pipelines_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/rogpeppe/go-internal/txtar"
)

// brokenYAML seeds the fuzzer with the shapes of text that have broken YAML
// loaders: unclosed flow collections and quotes, tabs, anchors and aliases
// (including recursive ones), merge keys, odd line endings, documents, tags.
var brokenYAML = []string{
	"",
	"\x00",
	"pipeline: [",
	"pipeline: {a: 1",
	"pipeline: \"unclosed",
	"pipeline: 'unclosed",
	"pipeline: x\n\tsinks: {}",
	"a: &a [*a]",
	"a: &a {b: *a}\npipeline: *a\nsinks: *a",
	"<<: {pipeline: x}\nsinks: {o: {<<: {from: s}, stdout: {}}}",
	"pipeline: x\r\nsinks:\r  o: {from: s, stdout: {}}\u2028",
	"\uFEFFpipeline: x\n---\nsinks: {}\n...\n",
	"--- !!map\n? pipeline\n: x\n? [complex, key]\n: 1",
	"pipeline: !!binary aGVsbG8=\nsinks: !!set {a, b}",
	"steps:\n  s:\n    from: [a, b.c, d.e.f, \"\", .., 1]\n    filter: |2-\n        \"é\" +\n      x\n",
	"steps: {s: {from: s, map: {a: {b: {c: {d: \"\\u00e9\\U0001F600\\x41\\\n x\"}}}}}}",
	"triggers: {t: {cron: \"${CRON:-* * * * *}\"}, u: {cron: {schedule: \"@every 0s\", timezone: \"../../etc\"}}}",
	"rules: {r: {fulfillment: {split: {mode: [x]}}, overrides: [{when: '', set: {}}, 5, {set: {nope: 1}}]}}",
	"sinks: {o: {from: o.error, http: {url: \"$${x}${A:-${B}}\", body: {a: '[1,2', b: \"{\"}}}}}",
}

// FuzzLoad feeds arbitrary text to the loader, the compiler and the schema
// checker, as `pipectl validate` would: whatever the text, they must not
// panic, and every diagnostic must carry a documented code and a position in
// the file. aux is what any other file the pipeline names (rules file,
// schema) reads as.
func FuzzLoad(f *testing.F) {
	for _, s := range brokenYAML {
		f.Add([]byte(s), []byte(""))
	}
	for _, p := range []string{"../examples/shopify-orders-to-wms/pipeline.yaml"} {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		rules, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "rules.yaml"))
		f.Add(src, rules)
	}
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var pipeline, aux []byte
		for _, af := range ar.Files {
			switch {
			case af.Name == "pipeline.yaml":
				pipeline = af.Data
			case af.Name != "want" && aux == nil:
				aux = af.Data
			}
		}
		f.Add(pipeline, aux)
	}

	reg := fullRegistry()
	opts := testOptions(reg)
	checker := pipelines.NewSchemaChecker(reg)
	documented := map[string]bool{}
	for _, c := range pipelines.Codes {
		documented[c.Code] = true
	}
	f.Fuzz(func(t *testing.T, src, aux []byte) {
		const path = "dir/pipeline.yaml"
		opts := opts
		opts.ReadFile = func(name string) ([]byte, error) {
			if len(aux) == 0 {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
			}
			return aux, nil
		}
		file, ds := pipelines.LoadBytes(path, src, opts.LoadOptions)
		if file == nil {
			t.Fatal("LoadBytes returned no File")
		}
		plan, cds := pipelines.Compile(file, opts)
		ds = append(ds, cds...)
		ds = append(ds, checker.Check(path, src, ds)...)
		for _, d := range ds.Sorted() {
			if !documented[d.Code] {
				t.Errorf("undocumented code %q: %v", d.Code, d)
			}
			text, ok := file.Sources[d.Subject.Start.File]
			if !ok {
				t.Errorf("diagnostic in a file that was not read: %v", d)
				continue
			}
			if s := d.Subject.Start; s.Line < 1 || s.Col < 1 || s.Line > lineCount(text) {
				t.Errorf("diagnostic outside its file (%d lines): %v", lineCount(text), d)
			}
		}
		var out bytes.Buffer
		if err := diag.WriteText(&out, ds, file.Sources); err != nil {
			t.Fatal(err)
		}
		if !ds.HasErrors() {
			if err := pipelines.WriteDOT(&out, plan); err != nil {
				t.Fatal(err)
			}
			if err := pipelines.WriteMermaid(&out, plan); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// lineCount counts lines the way the YAML parser does, plus one for a
// position at the very end.
func lineCount(src []byte) int {
	s := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(string(src))
	return strings.Count(s, "\n") + 1
}

// TestLoadAliasBomb pins that aliases cannot make validation explode or
// recurse forever: in the bomb each level refers to the one above nine
// times, so expanding every alias would visit 9^9 nodes; the loop is an
// anchor holding its own alias. Both are reported at an alias.
func TestLoadAliasBomb(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("pipeline: bomb\n")
	bomb.WriteString("a0: &a0 {x: \"1\", y: \"2\"}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d {", i, i)
		for j := range 9 {
			if j > 0 {
				bomb.WriteString(", ")
			}
			fmt.Fprintf(&bomb, "k%d: *a%d", j, i-1)
		}
		bomb.WriteString("}\n")
	}
	bomb.WriteString("sources: {s: {stdin: {}}}\n")
	bomb.WriteString("steps: {m: {from: s, map: *a9}, r: {from: s, route: {routes: *a9}}}\n")
	bomb.WriteString("sinks: {o: {from: [m, r], http: {url: x, headers: *a9, body: *a9}}}\n")
	loop := "pipeline: loop\n" +
		"sources: {s: {stdin: {}}}\n" +
		"steps: {m: {from: s, map: &m {a: *m, b: [*m]}}}\n" +
		"sinks: {o: {from: m, stdout: {}}}\n"
	reg := fullRegistry()
	opts := testOptions(reg)
	checker := pipelines.NewSchemaChecker(reg)
	for name, src := range map[string]string{"bomb": bomb.String(), "loop": loop} {
		t.Run(name, func(t *testing.T) {
			done := make(chan diag.Diagnostics, 1)
			go func() {
				file, ds := pipelines.LoadBytes("p.yaml", []byte(src), opts.LoadOptions)
				_, cds := pipelines.Compile(file, opts)
				ds = append(ds, cds...)
				done <- append(ds, checker.Check("p.yaml", []byte(src), ds)...).Sorted()
			}()
			select {
			case ds := <-done:
				if len(ds) != 1 || ds[0].Code != pipelines.CodeYAMLSyntax {
					t.Errorf("got %v, want one %s error", ds, pipelines.CodeYAMLSyntax)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("validation takes more than 20s")
			}
		})
	}
}
