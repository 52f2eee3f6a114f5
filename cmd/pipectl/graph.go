package main

import (
	"fmt"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

func runGraph(c *cli, args []string) int {
	fs := newFlags(c, "graph", "FILE [--format dot|mermaid|svg]", `
Graph compiles a pipeline and prints its DAG: triggers, sources, steps and
sinks in file order, edges labelled with the named outputs they read. The
output is byte-stable, so it can be checked in and diffed. svg is drawn by
pipectl itself (no Graphviz needed), the picture the console shows. A
pipeline with errors prints its diagnostics instead and exits 1.`, `  pipectl graph pipeline.yaml --format svg > pipeline.svg
  pipectl graph pipeline.yaml | dot -Tpng > pipeline.png
  pipectl graph pipeline.yaml --format mermaid >> README.md`)
	format := fs.String("format", "dot", "output format: dot, mermaid or svg")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if *format != "dot" && *format != "mermaid" && *format != "svg" {
		fmt.Fprintf(c.stderr, "pipectl graph: --format must be dot, mermaid or svg, not %q\n", *format)
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
	switch *format {
	case "mermaid":
		pipelines.WriteMermaid(c.stdout, plan)
	case "svg":
		pipelines.WriteSVG(c.stdout, plan, pipelines.SVGOptions{})
	default:
		pipelines.WriteDOT(c.stdout, plan)
	}
	return exitOK
}
