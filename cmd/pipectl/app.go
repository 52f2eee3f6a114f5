package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// registry is every kind pipectl ships: the one place transforms and
// connectors are wired into the compiler.
func registry() *component.Registry {
	r := component.NewRegistry()
	transforms.Register(r)
	connectors.Register(r)
	return r
}

// compileOptions is how every command loads and compiles pipelines.
func compileOptions(reg *component.Registry, clock component.Clock) pipelines.Options {
	return pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg},
		Library:     exprs.NewLibrary(clock),
		Schema:      schemas.Lookup,
		SchemaNames: schemas.Names(),
		Check:       engine.Check,
	}
}

// newFlags returns a flag set whose --help prints the command's usage,
// description and examples.
func newFlags(c *cli, name, args, description, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "%s\n\n%s\n", strings.TrimSpace("Usage: pipectl "+name+" "+args), strings.TrimSpace(description))
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
	}
	return fs
}

// parseFlags parses args allowing flags after positional arguments
// (`pipectl graph p.yaml --format dot`), and reports whether to go on and
// with which exit code otherwise. Help that was asked for goes to stdout
// and exits 0; a flag mistake is one line on stderr and exits 2, rather
// than the whole usage burying the message.
func parseFlags(c *cli, fs *flag.FlagSet, args []string) (positional []string, code int, ok bool) {
	for {
		var msg bytes.Buffer
		fs.SetOutput(&msg)
		err := fs.Parse(args)
		fs.SetOutput(c.stderr)
		switch {
		case err == flag.ErrHelp:
			fs.SetOutput(c.stdout)
			fs.Usage()
			fs.SetOutput(c.stderr)
			return nil, exitOK, false
		case err != nil:
			fmt.Fprintf(c.stderr, "pipectl %s: %v\nrun 'pipectl help %s' for usage\n", fs.Name(), err, fs.Name())
			return nil, exitUsage, false
		}
		rest := fs.Args()
		// After "--" everything is positional, even names starting with "-".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), exitOK, true
		}
		i := 0
		for i < len(rest) && !strings.HasPrefix(rest[i], "-") {
			i++
		}
		positional = append(positional, rest[:i]...)
		if i == len(rest) {
			return positional, exitOK, true
		}
		args = rest[i:]
	}
}

// writeDiagnostics prints diagnostics in the chosen format.
func writeDiagnostics(w io.Writer, format string, ds diag.Diagnostics, src diag.Sources) {
	if format == "json" {
		diag.WriteJSON(w, ds)
		return
	}
	diag.WriteText(w, ds, src)
}

func suggest(name string, names []string) string { return diag.Suggest(name, names) }

// findFiles expands directories into the files under them that match, in
// lexical order, skipping hidden and testdata directories; a file named
// explicitly is always taken. A directory with no match is an error naming
// what was looked for.
func findFiles(paths []string, what string, match func(path string) bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, unwrap(err))
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if !d.IsDir() && match(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no %s", p, what)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}
