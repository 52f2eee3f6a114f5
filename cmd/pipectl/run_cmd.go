package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
are printed: nothing is dropped silently. Retries of http sinks are logged
as they happen, and the summary counts each sink's attempts and retries.

File sinks publish their files only when the run ends without an error:
a run that fails or is interrupted leaves the previous files in place and
removes its temporary files (the next run removes any a killed run left).
Ctrl-C or SIGTERM stops the run within a second: requests in flight stop,
nothing is committed, and the summary says how many records were still
being delivered. A second Ctrl-C exits at once.

Exit status:
  0    every record went through
  1    the run failed, or a record failed and nothing reads the error
       output it went to (it is printed)
  3    the run completed, but some records failed and went to error
       outputs (a dead-letter file, say): cron and CI can tell
  130  interrupted (SIGINT); 143 terminated (SIGTERM)`, `  ORDERS_IN=orders.ndjson ORDERS_OUT=out.ndjson pipectl run examples/reference-orders/pipeline.yaml
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
	ctx, interrupted, stopSignals := notifyInterrupt(c)
	defer stopSignals()
	var bar *progressBar
	if !*quiet {
		bar = newProgressBar(c.stderr)
	}
	opts := engine.Options{
		Workers: *workers,
		Runtime: &component.Runtime{Clock: component.SystemClock{}, Dir: filepath.Dir(paths[0]), Stdin: c.stdin, Stdout: c.stdout,
			Logger: runLogger(c.stderr, bar)},
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
	if bar != nil {
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
	sig := interrupted()
	if err != nil && sig == nil {
		fmt.Fprintf(c.stderr, "pipectl run: %v\n", err)
	}
	if res == nil {
		return exitCodeFor(sig, exitError)
	}
	if !*quiet {
		writeSummary(c.stderr, res)
	}
	if n := len(res.Unhandled); n > 0 {
		reportUnhandled(c.stderr, res.Unhandled)
	}
	if !res.Committed {
		reportNotCommitted(c.stderr, res, sig)
	}
	switch {
	case sig != nil:
		return exitCodeFor(sig, exitError)
	case err != nil || len(res.Unhandled) > 0:
		return exitError
	case res.Failed > 0:
		fmt.Fprintf(c.stderr, "pipectl run: %s failed and went to error outputs\n", plural(int(res.Failed), "record"))
		return exitRecordsFailed
	}
	return exitOK
}

// exitRecordsFailed is run's exit status when the run completed but some
// records failed and an error output took them: a caller (cron, CI, a
// shell script) can tell it from a run where everything went through.
const exitRecordsFailed = 3

// notifyInterrupt returns a context that SIGINT or SIGTERM cancels, a
// function telling which signal did (nil while none has), and one that
// stops listening. A second signal exits at once, for a run that does not
// stop quickly enough for whoever is waiting.
func notifyInterrupt(c *cli) (ctx context.Context, which func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var mu sync.Mutex
	var got os.Signal
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		mu.Lock()
		got = sig
		mu.Unlock()
		fmt.Fprintf(c.stderr, "\npipectl run: %s: stopping; nothing is committed (again to exit at once)\n", sigName(sig))
		cancel(fmt.Errorf("%s", sigName(sig)))
		select {
		case <-sigs:
			fmt.Fprintln(c.stderr, "pipectl run: exiting now; the next run removes what this one leaves")
			os.Exit(exitCodeFor(sig, exitError))
		case <-done:
		}
	}()
	which = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	stop = func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
	return ctx, which, stop
}

func sigName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "terminated"
	}
	return "interrupted"
}

// exitCodeFor is the exit status for a run a signal stopped: 128 plus the
// signal's number, as shells report it; def when no signal did.
func exitCodeFor(sig os.Signal, def int) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return def
}

// runLogger is the logger kinds log through during a run: warnings and
// above (an http sink's retries), as text on stderr, clearing the progress
// line first so the two do not garble each other.
func runLogger(w io.Writer, bar *progressBar) *slog.Logger {
	if bar != nil {
		w = bar.logWriter()
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the terminal or the log collector has the time
			}
			return a
		}}))
}

// reportNotCommitted says why the run's outputs were not published and what
// was still being delivered when it stopped.
func reportNotCommitted(w io.Writer, res *engine.Result, sig os.Signal) {
	why := "the run failed"
	if sig != nil {
		why = "the run was " + sigName(sig)
	}
	fmt.Fprintf(w, "pipectl run: %s: no file sink replaced its file; the previous files are as they were\n", why)
	for _, n := range res.Nodes {
		if n.Undelivered > 0 {
			verb := "were"
			if n.Undelivered == 1 {
				verb = "was"
			}
			fmt.Fprintf(w, "  sink %s: %s %s being delivered when it stopped and may or may not have arrived; "+
				"running again sends them again, with the same idempotency keys\n", n.Name, plural(int(n.Undelivered), "record"), verb)
		}
	}
}

func sourcesOf(f *pipelines.File) map[string][]byte {
	if f == nil {
		return nil
	}
	return f.Sources
}

// writeSummary prints the per-node counts of a run. Out is what a node
// passed on: the records a step emitted (a split emits one per element),
// the records a sink delivered. Sinks that count their attempts show them,
// and their time is the time their deliveries took.
func writeSummary(w io.Writer, res *engine.Result) {
	fmt.Fprintf(w, "%-24s %-9s %10s %10s %10s %10s %10s\n", "node", "kind", "in", "out", "dropped", "errored", "time")
	for _, n := range res.Nodes {
		out := n.Out
		if n.Section == component.StepSection {
			out = n.Emitted
		}
		line := fmt.Sprintf("%-24s %-9s %10d %10d %10d %10d %10s", n.Section.String()+" "+n.Name, n.Kind, n.In, out, n.Dropped, n.Errored, n.Time.Round(time.Millisecond))
		if n.Attempts > 0 {
			line += fmt.Sprintf("  %s, %s", plural(int(n.Attempts), "attempt"), plural(int(n.Retries), "retry"))
		}
		if n.Undelivered > 0 {
			line += fmt.Sprintf("  %d undelivered", n.Undelivered)
		}
		fmt.Fprintln(w, line)
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
	mu    sync.Mutex // the progress goroutine and loggers share w
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
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last = p
	secs := p.Elapsed.Seconds()
	if secs <= 0 {
		return
	}
	line := fmt.Sprintf("%d records, %.0f rec/s, %s", p.Records, float64(p.Records)/secs, humanBytes(p.Bytes))
	readAll := p.TotalBytes > 0 && p.Bytes >= p.TotalBytes
	switch {
	case readAll && p.InFlight > 0:
		// Reading is done, delivering is not: no 100% and no ETA while
		// a destination is retried.
		line += fmt.Sprintf(" read; delivering %d", p.InFlight)
	case p.TotalBytes > 0 && p.Bytes > 0:
		frac := float64(p.Bytes) / float64(p.TotalBytes)
		eta := time.Duration(float64(p.Elapsed)/frac - float64(p.Elapsed))
		line += fmt.Sprintf(" of %s (%.0f%%), ETA %s", humanBytes(p.TotalBytes), 100*frac, eta.Round(time.Second))
	}
	if p.Retries > 0 {
		line += fmt.Sprintf(", %s", plural(int(p.Retries), "retry"))
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

// logWriter is a writer for log lines that clears the progress line on a
// terminal before each; the next update draws it again.
func (b *progressBar) logWriter() io.Writer { return barLog{b} }

type barLog struct{ b *progressBar }

func (l barLog) Write(p []byte) (int, error) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if l.b.tty && l.b.width > 0 {
		fmt.Fprintf(l.b.w, "\r%s\r", strings.Repeat(" ", l.b.width))
		l.b.width = 0
	}
	return l.b.w.Write(p)
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
