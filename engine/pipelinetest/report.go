package pipelinetest

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/pipectl/pipectl/pipelines/diag"
)

// WriteText writes a report for people: the file, each test's outcome with
// the expectations that failed (file:line, target, what differs), and the
// nodes the tests could not run. Coverage is written by WriteCoverage, so
// that a caller running several files of one pipeline can merge it first.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	head := r.File
	if r.Pipeline != "" {
		head += " (" + relTo(r.File, r.Pipeline) + ")"
	}
	b.WriteString(head + "\n")
	if r.LoadFailed() {
		var ds strings.Builder
		diag.WriteText(&ds, r.Diagnostics, r.Sources)
		for _, l := range strings.Split(strings.TrimRight(ds.String(), "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	if r.Skipped != "" {
		fmt.Fprintf(&b, "  SKIP  all tests: %s\n", r.Skipped)
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, t := range r.Tests {
		switch t.Status {
		case Pass:
			fmt.Fprintf(&b, "  PASS  %s\n", t.Name)
		case Skip:
			fmt.Fprintf(&b, "  SKIP  %s: %s\n", t.Name, t.Reason)
		case Error:
			fmt.Fprintf(&b, "  ERROR %s\n", t.Name)
			fmt.Fprintf(&b, "        %s:%d: the run failed: %s\n", r.File, t.Line, t.Reason)
		case Fail, Updated:
			label := "FAIL "
			if t.Status == Updated {
				label = "UPDATED"
			}
			fmt.Fprintf(&b, "  %s %s\n", label, t.Name)
			for _, f := range t.Failures {
				line := f.Line
				if line == 0 {
					line = t.Line
				}
				fmt.Fprintf(&b, "        %s:%d: %s: %s\n", r.File, line, f.Target, f.Message)
				if t.Status == Updated {
					continue
				}
				for _, d := range f.Details {
					fmt.Fprintf(&b, "          %s\n", d)
				}
			}
		}
	}
	for _, n := range r.NotRun {
		fmt.Fprintf(&b, "  note: not run: %s\n", n)
	}
	if r.Rewritten > 0 {
		fmt.Fprintf(&b, "  rewrote %s in %s\n", plural(r.Rewritten, "expectation"), r.File)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func relTo(file, target string) string {
	if rel, err := filepath.Rel(filepath.Dir(file), target); err == nil {
		return filepath.ToSlash(rel)
	}
	return target
}

// WriteCoverage writes one line of totals, then a line per named output
// (with the records that took it) and per step or sink no test reached:
//
//	coverage of pipeline.yaml: 3/4 steps, 1/2 outputs, 2/3 sinks
//	  ✓ by_speed.express        2 records
//	  ✗ by_speed.international  never taken
//	  ✗ step normalize          never ran
func WriteCoverage(w io.Writer, c *Coverage) error {
	if c == nil {
		return nil
	}
	steps, stepsOf, outs, outsOf, sinks, sinksOf := c.Counts()
	var b strings.Builder
	fmt.Fprintf(&b, "coverage of %s: %d/%d steps, %d/%d outputs, %d/%d sinks\n", filepath.ToSlash(c.Pipeline), steps, stepsOf, outs, outsOf, sinks, sinksOf)
	type row struct{ mark, what, note string }
	var rows []row
	for _, o := range c.Outputs {
		if o.Records > 0 {
			rows = append(rows, row{"✓", o.Label(), plural(int(o.Records), "record")})
		} else {
			rows = append(rows, row{"✗", o.Label(), "never taken"})
		}
	}
	for _, s := range c.Steps {
		switch {
		case s.NotRun != "":
			rows = append(rows, row{"-", "step " + s.Name, "not run (" + s.NotRun + ")"})
		case s.Records == 0:
			rows = append(rows, row{"✗", "step " + s.Name, "never ran"})
		}
	}
	for _, s := range c.Sinks {
		switch {
		case s.NotRun != "":
			rows = append(rows, row{"-", "sink " + s.Name, "not run (" + s.NotRun + ")"})
		case s.Records == 0:
			rows = append(rows, row{"✗", "sink " + s.Name, "never received a record"})
		}
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r.what))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s %-*s  %s\n", r.mark, width, r.what, r.note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
