package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pipectl/pipectl/engine/state"
)

const runsUsage = `Usage: pipectl runs <list|show> [flags] [arguments]

Runs reads the run history pipectl serve keeps: every run a cron tick
started (and the ticks skipped because the previous run still ran), with
its start, end, outcome and per-node counts.

Commands:
  list   list runs, newest first, by --pipeline and --trigger
  show   print one run, with its per-node counts

Examples:
  pipectl runs list --pipeline nightly-erp-export
  pipectl runs show 17
`

func runRuns(c *cli, args []string) int {
	if len(args) == 0 {
		io.WriteString(c.stderr, runsUsage)
		return exitUsage
	}
	if isHelp(args[0]) {
		io.WriteString(c.stdout, runsUsage)
		return exitOK
	}
	switch args[0] {
	case "list":
		return runRunsList(c, args[1:])
	case "show":
		return runRunsShow(c, args[1:])
	}
	fmt.Fprintf(c.stderr, "pipectl runs: unknown command %q%s\n", args[0], suggest(args[0], []string{"list", "show"}))
	return exitUsage
}

func runRunsList(c *cli, args []string) int {
	fs := newFlags(c, "runs list", "[--pipeline P] [--trigger T] [--limit N]", "List lists runs, newest first.", "  pipectl runs list --pipeline shopify-reconcile --limit 20")
	pipeline := fs.String("pipeline", "", "only this pipeline's")
	trigger := fs.String("trigger", "", "only this trigger's")
	limit := fs.Int("limit", 50, "at most this many")
	stateURL := fs.String("state", "", stateFlagDoc)
	if _, code, ok := parseFlags(c, fs, args); !ok {
		return code
	}
	q, ok := openQueue(c, "runs list", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	rs, err := q.ListRuns(context.Background(), state.RunFilter{Pipeline: *pipeline, Trigger: *trigger, Limit: *limit})
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl runs list: %v\n", err)
		return exitError
	}
	if len(rs) == 0 {
		fmt.Fprintln(c.stdout, "no runs")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIPELINE\tTRIGGER\tTICK\tSTARTED\tTOOK\tOUTCOME")
	for _, r := range rs {
		tick, took := "-", "-"
		if !r.Tick.IsZero() {
			tick = r.Tick.UTC().Format(time.RFC3339)
		}
		if !r.Ended.IsZero() {
			took = r.Ended.Sub(r.Started).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Pipeline, r.Trigger, tick, r.Started.UTC().Format(time.RFC3339), took, r.Outcome)
	}
	tw.Flush()
	return exitOK
}

func runRunsShow(c *cli, args []string) int {
	fs := newFlags(c, "runs show", "ID", "Show prints one run as JSON, with its per-node counts.", "  pipectl runs show 17")
	stateURL := fs.String("state", "", stateFlagDoc)
	pos, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(c.stderr, "pipectl runs show: name one run ID")
		return exitUsage
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl runs show: %q is not a run ID\n", pos[0])
		return exitUsage
	}
	q, ok := openQueue(c, "runs show", *stateURL)
	if !ok {
		return exitError
	}
	defer q.Close()
	r, err := q.Run(context.Background(), id)
	if errors.Is(err, state.ErrNotFound) {
		fmt.Fprintf(c.stderr, "pipectl runs show: no run %d\n", id)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl runs show: %v\n", err)
		return exitError
	}
	out := map[string]any{"id": r.ID, "pipeline": r.Pipeline, "trigger": r.Trigger, "started": r.Started.UTC().Format(time.RFC3339Nano), "outcome": r.Outcome}
	if !r.Tick.IsZero() {
		out["tick"] = r.Tick.UTC().Format(time.RFC3339)
	}
	if !r.Ended.IsZero() {
		out["ended"] = r.Ended.UTC().Format(time.RFC3339Nano)
	}
	if r.Error != "" {
		out["error"] = r.Error
	}
	if json.Valid(r.Nodes) {
		out["nodes"] = json.RawMessage(r.Nodes)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintf(c.stdout, "%s\n", b)
	return exitOK
}
