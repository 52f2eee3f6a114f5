package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"golang.org/x/term"
)

func runRun(c *cli, args []string) int {
	fs := newFlags(c, "run", "FILE [--workers N] [--quiet] [--state URL] [--watch-rules]", `
Run compiles a pipeline and runs it once over its sources: file and stdin
sources are read to their end, records flow through every step, and sinks
are flushed and closed. On a terminal a progress line shows records per
second, bytes and the time left; otherwise progress is logged every few
seconds. At the end a summary gives, per node, the records in, out,
dropped and errored, and the time spent.

Pipelines that allocate stock or feed inventory keep it in the state
store --state names: by default SQLite in ./.pipectl/state.db, created on
first use; postgres://… shares it between machines.

With --watch-rules, the rules file (or the pipeline file, when its rule
sets are inline) is checked every second while the run goes on; when it
changes, the pipeline is compiled with the new rules and, if that finds no
errors, the new rules are swapped in at once: each order is decided by the
old rules or the new, never a mix. Invalid rules are rejected with their
diagnostics and the previous rules stay in force. Only rule sets are
reloaded; other changes to the pipeline need a new run.

A record that fails goes to the error output of the node it failed at. If
nothing reads that output, the record, its error and its original payload
are printed and the run exits 1: nothing is dropped silently.`, `  ORDERS_IN=orders.ndjson ORDERS_OUT=out.ndjson pipectl run examples/reference-orders/pipeline.yaml
  pipectl run --workers 2 pipeline.yaml
  pipectl run --watch-rules --state postgres://pipectl@db/pipectl orders.yaml
  cat orders.ndjson | pipectl run --quiet stdin-pipeline.yaml > out.ndjson`)
	workers := fs.Int("workers", 1, "goroutines running the steps; each source's order is kept")
	quiet := fs.Bool("quiet", false, "print no progress and no summary")
	stateURL := fs.String("state", "", stateFlagDoc)
	watch := fs.Bool("watch-rules", false, "reload the rules file when it changes, while the run goes on")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if len(paths) != 1 {
		fmt.Fprintln(c.stderr, "pipectl run: name exactly one pipeline file")
		return exitUsage
	}
	if *workers < 1 {
		fmt.Fprintln(c.stderr, "pipectl run: --workers must be at least 1")
		return exitUsage
	}
	copts := compileOptions(registry(), component.SystemClock{})
	plan, f, ds := pipelines.Validate(paths[0], copts)
	if plan == nil {
		writeDiagnostics(c.stderr, "text", ds, sourcesOf(f))
		return exitError
	}
	engine.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := engine.Options{
		Workers:      *workers,
		Runtime:      &component.Runtime{Clock: component.SystemClock{}, Dir: filepath.Dir(paths[0]), Stdin: c.stdin, Stdout: c.stdout},
		RulesVersion: f.RulesVersion(),
	}
	st, err := openState(ctx, plan, *stateURL)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl run: %v\n", err)
		return exitError
	}
	if st != nil {
		defer st.Close()
		opts.Runtime.Inventory, opts.Runtime.Keys = st, st
	}
	var bar *progressBar
	if !*quiet {
		bar = newProgressBar(c.stderr)
		opts.Progress = bar.update
		opts.ProgressEvery = bar.every
	}
	var res *engine.Result
	x, err := engine.Start(ctx, plan, opts)
	if err == nil {
		stopWatch := func() {}
		if *watch {
			stopWatch = watchRules(c, x, f, copts, time.Second)
		}
		res, err = x.Wait()
		stopWatch()
	}
	if bar != nil {
		bar.done()
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl run: %v\n", err)
		if res == nil {
			return exitError
		}
	}
	if !*quiet {
		writeSummary(c.stderr, res)
	}
	if n := len(res.Unhandled); n > 0 {
		reportUnhandled(c.stderr, res.Unhandled)
		return exitError
	}
	if err != nil {
		return exitError
	}
	return exitOK
}

func sourcesOf(f *pipelines.File) map[string][]byte {
	if f == nil {
		return nil
	}
	return f.Sources
}

// writeSummary prints the per-node counts of a run.
func writeSummary(w io.Writer, res *engine.Result) {
	fmt.Fprintf(w, "%-24s %-9s %10s %10s %10s %10s %10s\n", "node", "kind", "in", "out", "dropped", "errored", "time")
	for _, n := range res.Nodes {
		fmt.Fprintf(w, "%-24s %-9s %10d %10d %10d %10d %10s\n", n.Section.String()+" "+n.Name, n.Kind, n.In, n.Out, n.Dropped, n.Errored, n.Time.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "done in %s\n", res.Elapsed.Round(time.Millisecond))
}

// reportUnhandled prints failed records nobody read: the node, the error
// and the original payload of each.
func reportUnhandled(w io.Writer, recs []*record.Record) {
	fmt.Fprintf(w, "%d record(s) failed and no node reads the error output they went to:\n", len(recs))
	for _, r := range recs {
		fmt.Fprintf(w, "  %s\n", r.Raw)
	}
	fmt.Fprintln(w, "add a sink with `from: NODE.error` to keep them, e.g. a file sink of dead letters")
}

// progressBar draws one self-updating line on a terminal, or logs a line
// every few seconds elsewhere.
type progressBar struct {
	w     io.Writer
	tty   bool
	every time.Duration
	last  engine.Progress
	width int
}

func newProgressBar(w io.Writer) *progressBar {
	b := &progressBar{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.tty, b.every = true, 200*time.Millisecond
	}
	return b
}

func (b *progressBar) update(p engine.Progress) {
	b.last = p
	secs := p.Elapsed.Seconds()
	if secs <= 0 {
		return
	}
	line := fmt.Sprintf("%d records, %.0f rec/s, %s", p.Records, float64(p.Records)/secs, humanBytes(p.Bytes))
	if p.TotalBytes > 0 && p.Bytes > 0 {
		frac := float64(p.Bytes) / float64(p.TotalBytes)
		eta := time.Duration(float64(p.Elapsed)/frac - float64(p.Elapsed))
		line += fmt.Sprintf(" of %s (%.0f%%), ETA %s", humanBytes(p.TotalBytes), 100*frac, eta.Round(time.Second))
	}
	if b.tty {
		pad := ""
		if n := b.width - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		b.width = len(line)
		fmt.Fprintf(b.w, "\r%s%s", line, pad)
		return
	}
	fmt.Fprintf(b.w, "progress: %s\n", line)
}

func (b *progressBar) done() {
	if b.tty && b.width > 0 {
		fmt.Fprint(b.w, "\n")
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// watchRules polls the modification time of f's rules file (of the
// pipeline file when the rule sets are inline) every interval and, when it
// changes, reloads the rules into the running x, reporting the outcome on
// stderr. The returned function stops it.
func watchRules(c *cli, x *engine.Running, f *pipelines.File, copts pipelines.Options, every time.Duration) (stop func()) {
	path := f.RulesFile()
	if path == "" {
		path = f.Path
	}
	mtime := func() time.Time {
		info, err := os.Stat(path)
		if err != nil {
			return time.Time{}
		}
		return info.ModTime()
	}
	last := mtime()
	fmt.Fprintf(c.stderr, "pipectl run: watching %s, rules version %s\n", path, x.RulesVersion())
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			m := mtime()
			if m.Equal(last) || m.IsZero() {
				continue
			}
			last = m
			nf, ds, err := x.ReloadRules(copts)
			if err != nil {
				writeDiagnostics(c.stderr, "text", ds, sourcesOf(nf))
				fmt.Fprintf(c.stderr, "pipectl run: %s: %v (version %s)\n", path, err, x.RulesVersion())
				continue
			}
			fmt.Fprintf(c.stderr, "pipectl run: %s: rules reloaded, version %s\n", path, x.RulesVersion())
		}
	}()
	return func() { close(done); <-finished }
}
