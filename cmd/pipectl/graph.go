package main

import (
	"fmt"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

func runGraph(c *cli, args []string) int {
	fs := newFlags(c, "graph", "FILE [--format dot|mermaid]", `
Graph compiles a pipeline and prints its DAG: triggers, sources, steps and
sinks in file order, edges labelled with the named outputs they read. The
output is byte-stable, so it can be checked in and diffed. A pipeline with
errors prints its diagnostics instead and exits 1.`, `  pipectl graph pipeline.yaml | dot -Tsvg > pipeline.svg
  pipectl graph pipeline.yaml --format mermaid >> README.md`)
	format := fs.String("format", "dot", "output format: dot or mermaid")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if *format != "dot" && *format != "mermaid" {
		fmt.Fprintf(c.stderr, "pipectl graph: --format must be dot or mermaid, not %q\n", *format)
		return exitUsage
	}
	if len(paths) != 1 {
		fmt.Fprintln(c.stderr, "pipectl graph: name exactly one pipeline file")
		return exitUsage
	}
	plan, f, ds := pipelines.Validate(paths[0], compileOptions(registry(), component.SystemClock{}))
	if plan == nil {
		var src = map[string][]byte{}
		if f != nil {
			src = f.Sources
		}
		writeDiagnostics(c.stderr, "text", ds, src)
		return exitError
	}
	if *format == "mermaid" {
		pipelines.WriteMermaid(c.stdout, plan)
	} else {
		pipelines.WriteDOT(c.stdout, plan)
	}
	return exitOK
}
