// Command pipectl compiles and runs declarative commerce integration
// pipelines: Shopify and WooCommerce orders to WMS, OMS and ERP systems.
//
// main only calls run, which takes its arguments and streams and returns the
// exit code, so tests drive the whole CLI in-process.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	_ "time/tzdata" // time zones work on machines without a zoneinfo database
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes shared by every command.
const (
	exitOK    = 0
	exitError = 1 // errors in a pipeline, or a command that failed
	exitUsage = 2 // a mistake on the command line
)

// cli carries a command's streams and environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) int
}

func commands() []command {
	return []command{
		{"validate", "check pipeline files and report every mistake", runValidate},
		{"run", "run a pipeline once over its sources", runRun},
		{"serve", "serve pipelines on their webhooks and schedules, without losing an order", runServe},
		{"dlq", "list, show, edit, replay and resolve serve's dead letters; their audit log", runDLQ},
		{"runs", "list and show the runs serve made on its triggers", runRuns},
		{"cluster", "list the serve processes sharing a store and each pipeline's lag", runCluster},
		{"docs", "write a page per pipeline: its DAG, nodes and every business-rule setting in force", runDocs},
		{"pause", "hold a pipeline's runs, or a cron trigger's ticks, in every serve on the store", runPause},
		{"resume", "let a paused pipeline or cron trigger run again", runResume},
		{"tokens", "create, list and revoke the tokens the console and its API accept", runTokens},
		{"dry-run", "show what a pipeline would send for sample records, touching nothing", runDryRun},
		{"test", "run pipeline tests (*_test.yaml) and report coverage", runTest},
		{"graph", "print a pipeline's DAG as Graphviz dot, Mermaid or SVG", runGraph},
		{"rules", "show, change, compare and audit a pipeline's rule settings", runRules},
		{"inventory", "configure locations and SKU settings, and show stock levels", runInventory},
		{"explain", "print why a past order was allocated, split, backordered or held", runExplain},
		{"schema", "print the JSON Schema of pipeline or rules files", runSchema},
		{"version", "print pipectl's version", runVersion},
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	if isHelp(name) {
		// `pipectl help help` and `pipectl --help --help` are the overview,
		// not a loop.
		if len(args) > 1 && !isHelp(args[1]) {
			return run([]string{args[1], "--help"}, stdin, stdout, stderr)
		}
		usage(stdout)
		return exitOK
	}
	if name == "--version" || name == "-version" {
		name = "version"
	}
	cmds := commands()
	i := slices.IndexFunc(cmds, func(cmd command) bool { return cmd.name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "pipectl: unknown command %q\n", name)
		var names []string
		for _, cmd := range cmds {
			names = append(names, cmd.name)
		}
		if s := suggest(name, names); s != "" {
			fmt.Fprintf(stderr, "did you mean %q?\n", s)
		}
		fmt.Fprintln(stderr, "run 'pipectl help' for the list of commands")
		return exitUsage
	}
	return cmds[i].run(c, args[1:])
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`pipectl compiles and runs declarative commerce integration pipelines.

Usage:
  pipectl <command> [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(&b, "  %-10s %s\n", cmd.name, cmd.summary)
	}
	b.WriteString(`
Examples:
  pipectl validate examples/
  pipectl graph examples/shopify-orders-to-wms/pipeline.yaml --format mermaid
  pipectl schema > pipeline.schema.json

Run 'pipectl help <command>' for a command's flags and examples.
`)
	io.WriteString(w, b.String())
}
