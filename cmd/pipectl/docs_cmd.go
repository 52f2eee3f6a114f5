package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

func runDocs(c *cli, args []string) int {
	fs := newFlags(c, "docs", "[FILE|DIR...] [--out DIR] [--state URL]", `
Docs writes a page per pipeline so that ops teams, consultants and vendors
agree on what runs: NAME.md with its DAG (NAME.svg beside it, drawn by
pipectl), its triggers, sources, steps and sinks with their descriptions,
every business-rule setting in force with what it means and where it is
set, and, with --state, the recent rule changes from the audit log. The
console shows the same page. Pipelines with errors print their diagnostics
and write nothing.`, `  pipectl docs examples/ --out docs/pipelines
  pipectl docs pipeline.yaml --state sqlite://./.pipectl/`)
	out := fs.String("out", "docs/pipelines", "folder the pages are written to")
	stateURL := fs.String("state", "", "state store whose rule changes to list (none when empty)")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	found, err := pipelineFiles(paths)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl docs: %v\n", err)
		return exitError
	}
	var changes []component.RuleChange
	if *stateURL != "" {
		store, err := openExistingStore(context.Background(), *stateURL)
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl docs: %v\n", err)
			return exitError
		}
		changes, err = store.RuleHistory(context.Background(), "")
		store.Close()
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl docs: %v\n", err)
			return exitError
		}
	}
	copts := compileOptions(registry(), component.SystemClock{})
	var pages []pipelines.DocPage
	for _, path := range found {
		plan, f, ds := pipelines.Validate(path, copts)
		if plan == nil || ds.HasErrors() {
			writeDiagnostics(c.stderr, "text", ds, sourcesOf(f))
			fmt.Fprintln(c.stderr, "pipectl docs: fix the errors first; nothing written")
			return exitError
		}
		d := pipelines.Document(f, plan)
		d.Changes = pipelines.RecentChanges(changes, d.Settings, 20)
		pages = append(pages, d)
	}
	if len(pages) == 0 {
		fmt.Fprintln(c.stderr, "pipectl docs: no pipeline found")
		return exitError
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(c.stderr, "pipectl docs: %v\n", err)
		return exitError
	}
	for _, d := range pages {
		var md strings.Builder
		pipelines.WriteDocMarkdown(&md, d, d.Name+".svg")
		for name, body := range map[string]string{d.Name + ".md": md.String(), d.Name + ".svg": d.SVG} {
			if err := writeFileAtomic(filepath.Join(*out, name), []byte(body)); err != nil {
				fmt.Fprintf(c.stderr, "pipectl docs: %v\n", err)
				return exitError
			}
		}
		fmt.Fprintf(c.stdout, "wrote %s\n", filepath.Join(*out, d.Name+".md"))
	}
	return exitOK
}
