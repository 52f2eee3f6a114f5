package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"go.yaml.in/yaml/v3"
)

func runValidate(c *cli, args []string) int {
	fs := newFlags(c, "validate", "[--format text|json] [--strict] FILE|DIR...", `
Validate loads and compiles pipeline files and reports every mistake in them
at once: unknown keys and kinds, wrong types, missing settings, bad
references, cycles, invalid cron schedules, secrets written in the file, and
expressions that read fields the source's schema does not have or use them
with the wrong type. It builds every step and sink without starting them, so
what a run would fail on before reading a record (a lookup table that is not
there, an http URL without a host) is reported too. Each problem is printed
as file:line:col: severity: summary [code], with the line, a caret under the
span, and a hint.

A directory is searched for pipeline files (YAML files with a top-level
"pipeline:" key). Exit status: 0 when there are no errors, 1 when there are;
warnings fail only with --strict.`, `  pipectl validate examples/shopify-orders-to-wms/pipeline.yaml
  pipectl validate --strict examples/
  pipectl validate --format json pipeline.yaml | jq '.diagnostics[].code'`)
	format := fs.String("format", "text", "output format: text or json")
	strict := fs.Bool("strict", false, "treat warnings as errors")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(c.stderr, "pipectl validate: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	if len(paths) == 0 {
		fmt.Fprintln(c.stderr, "pipectl validate: name at least one pipeline file or directory")
		fs.Usage()
		return exitUsage
	}
	files, err := pipelineFiles(paths)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl validate: %v\n", err)
		return exitError
	}
	reg := registry()
	opts := compileOptions(reg, component.SystemClock{})
	checker := pipelines.NewSchemaChecker(reg)
	var all diag.Diagnostics
	sources := diag.Sources{}
	for _, path := range files {
		_, f, ds := pipelines.Validate(path, opts)
		if f != nil {
			for k, v := range f.Sources {
				sources[k] = v
			}
			ds = append(ds, checker.Check(path, f.Sources[path], ds)...)
		}
		all = append(all, ds...)
	}
	all = all.Sorted()
	writeDiagnostics(c.stdout, *format, all, sources)
	errs, warns := all.Count()
	if *format == "text" {
		switch {
		case errs == 0 && warns == 0:
			fmt.Fprintf(c.stdout, "ok: %s valid\n", plural(len(files), "pipeline"))
		default:
			fmt.Fprintf(c.stdout, "%s, %s in %s\n", plural(errs, "error"), plural(warns, "warning"), plural(len(files), "pipeline"))
		}
	}
	if errs > 0 || (*strict && warns > 0) {
		return exitError
	}
	return exitOK
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	if strings.HasSuffix(word, "y") && !strings.HasSuffix(word, "ey") && !strings.HasSuffix(word, "ay") {
		return fmt.Sprintf("%d %sies", n, word[:len(word)-1]) // retry, retries
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// pipelineFiles expands directories into the pipeline files under them, in
// lexical order. A file named explicitly is always validated.
func pipelineFiles(paths []string) ([]string, error) {
	return findFiles(paths, "pipeline files (YAML with a top-level `pipeline:` key)", func(path string) bool {
		return (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) && isPipelineFile(path)
	})
}

// isPipelineFile tells pipeline files from rules files and pipeline tests in
// the same directory by their top-level `pipeline:` key. A file that is not
// valid YAML counts when a line starts with `pipeline:`, so a pipeline with a
// syntax error is reported rather than silently skipped.
func isPipelineFile(path string) bool {
	src, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return pipelineKeyRE.Match(src)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "pipeline" {
			return true
		}
	}
	return false
}

// pipelineKeyRE finds a top-level `pipeline:` key in text that does not parse.
var pipelineKeyRE = regexp.MustCompile(`(?m)^["']?pipeline["']?[ \t]*:`)

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
