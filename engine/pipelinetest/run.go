package pipelinetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"go.yaml.in/yaml/v3"
)

// Options say how to compile pipelines and which tests to run.
type Options struct {
	// Registry holds the kinds pipelines may use.
	Registry *component.Registry
	// Schema and SchemaNames give the embedded payload schemas.
	Schema      func(name string) ([]byte, bool)
	SchemaNames []string
	// Run, when set, runs only the tests whose name it matches.
	Run *regexp.Regexp
	// Update rewrites the expectations of failing tests with what the
	// pipeline gives now.
	Update bool
}

// Status is how a test ended.
type Status string

// The ends of a test.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Error   Status = "error"   // the run itself failed
	Skip    Status = "skip"    // `skip:` or a missing required path
	Updated Status = "updated" // failed, and --update rewrote its expectations
)

// Report is what running one test file found.
type Report struct {
	File     string `json:"file"`
	Pipeline string `json:"pipeline,omitempty"`
	// Skipped says why the whole file was skipped.
	Skipped string `json:"skipped,omitempty"`
	// Diagnostics are the mistakes that kept the test file or the pipeline
	// from loading; with errors among them nothing ran.
	Diagnostics diag.Diagnostics `json:"diagnostics,omitempty"`
	Sources     diag.Sources     `json:"-"`
	Tests       []*TestResult    `json:"tests"`
	Coverage    *Coverage        `json:"coverage,omitempty"`
	// NotRun lists the nodes the tests could not run, and why.
	NotRun []string `json:"not_run,omitempty"`
	// Rewritten counts the expectations --update rewrote.
	Rewritten int `json:"rewritten,omitempty"`
}

// TestResult is how one test went.
type TestResult struct {
	Name     string        `json:"name"`
	Line     int           `json:"line"`
	Status   Status        `json:"status"`
	Reason   string        `json:"reason,omitempty"` // why skipped, or the run's error
	Failures []Failure     `json:"failures,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Failure is one expectation that did not hold.
type Failure struct {
	Line    int      `json:"line,omitempty"`
	Target  string   `json:"target"`
	Message string   `json:"message"`
	Details []string `json:"details,omitempty"`
}

// LoadFailed reports whether the test file or its pipeline did not load.
func (r *Report) LoadFailed() bool { return r.Diagnostics.HasErrors() }

// Failed reports whether a test failed or errored, or the file did not load.
func (r *Report) Failed() bool {
	if r.LoadFailed() {
		return true
	}
	for _, t := range r.Tests {
		if t.Status == Fail || t.Status == Error {
			return true
		}
	}
	return false
}

// Count returns how many tests ended with status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, t := range r.Tests {
		if t.Status == s {
			n++
		}
	}
	return n
}

// RunFile loads a pipeline test file, runs its tests on the pipeline it
// names and checks their expectations. The error is non-nil when the test
// file or the pipeline did not load (the report's Diagnostics say where),
// or --update could not rewrite the file; failing tests are in the report.
func RunFile(path string, opts Options) (*Report, error) {
	rep := &Report{File: path, Sources: diag.Sources{}, Tests: []*TestResult{}}
	f, ds := loadFile(path)
	rep.Diagnostics = append(rep.Diagnostics, ds...)
	if f != nil {
		rep.Sources[path] = f.src
		rep.Pipeline = f.pipeline
	}
	if f == nil || f.pipeline == "" {
		return rep, loadError(rep)
	}
	if f.skip != "" && !ds.HasErrors() {
		rep.Skipped = f.skip
		for _, c := range f.cases {
			rep.Tests = append(rep.Tests, &TestResult{Name: c.name, Line: c.node.Line, Status: Skip, Reason: f.skip})
		}
		return rep, nil
	}
	r := &runner{f: f, opts: opts, rep: rep, plans: map[string]*pipelines.Plan{}}
	base := r.compile(f.env, f.clock)
	if base == nil {
		return rep, loadError(rep)
	}
	prep, err := prepare(base, nil, nil)
	if err != nil {
		return rep, err
	}
	// The test file is checked against the pipeline even when it has
	// mistakes of its own, so every mistake is reported at once.
	b := &binder{loader: loader{path: path}, plan: base, lib: exprs.NewLibrary(component.FixedClock(f.clock))}
	for _, c := range f.cases {
		b.bind(c)
	}
	for k, t := range f.lookups {
		b.lookup(k, t)
	}
	rep.Diagnostics = append(rep.Diagnostics, b.ds...)
	if rep.Diagnostics.HasErrors() {
		return rep, loadError(rep)
	}
	rep.Diagnostics = rep.Diagnostics.Sorted()
	r.programs = b.programs
	r.cov = newCoverage(base, prep)
	var ups []update
	for _, c := range f.cases {
		if opts.Run != nil && !opts.Run.MatchString(c.name) {
			continue
		}
		res, u := r.runCase(c)
		rep.Tests = append(rep.Tests, res)
		ups = append(ups, u...)
		if rep.LoadFailed() {
			return rep, loadError(rep)
		}
	}
	rep.Coverage = r.cov
	rep.NotRun = notRunSummary(r.cov)
	if opts.Update && len(ups) > 0 {
		n, err := rewrite(f, ups)
		if err != nil {
			return rep, fmt.Errorf("%s: --update: %w", path, err)
		}
		rep.Rewritten = n
		for _, t := range rep.Tests {
			if t.Status == Fail && r.updatable[t] {
				t.Status = Updated
			}
		}
	}
	return rep, nil
}

func loadError(rep *Report) error {
	rep.Diagnostics = rep.Diagnostics.Sorted()
	if err := rep.Diagnostics.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%s did not load", rep.File)
}

type runner struct {
	f         *file
	opts      Options
	rep       *Report
	plans     map[string]*pipelines.Plan
	programs  map[*assertion]*exprs.Program
	cov       *Coverage
	updatable map[*TestResult]bool
}

// compile compiles the pipeline under test with an environment and a
// clock, once per distinct pair; diagnostics go to the report.
func (r *runner) compile(env map[string]string, clock time.Time) *pipelines.Plan {
	key := clock.Format(time.RFC3339Nano)
	for _, k := range slices.Sorted(maps.Keys(env)) {
		key += "\x00" + k + "=" + env[k]
	}
	if p, ok := r.plans[key]; ok {
		return p
	}
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: r.opts.Registry, LookupEnv: lookupIn(env)},
		Library:     exprs.NewLibrary(component.FixedClock(clock)),
		Schema:      r.opts.Schema,
		SchemaNames: r.opts.SchemaNames,
	}
	plan, pf, ds := pipelines.Validate(r.f.pipeline, opts)
	if pf != nil {
		maps.Copy(r.rep.Sources, pf.Sources)
	}
	if plan == nil {
		if !ds.HasErrors() {
			ds.Errorf(diag.Range{Start: diag.Pos{File: r.f.pipeline}}, CodePipeline, "the pipeline did not compile")
		}
		r.rep.Diagnostics = append(r.rep.Diagnostics, ds...)
		return nil
	}
	// Nodes are built as validate builds them, with the tables the test
	// file gives. What that finds is reported with the test file's own
	// mistakes, which are still looked for: the plan is returned, and the
	// report's errors keep it from running.
	r.rep.Diagnostics = append(r.rep.Diagnostics, engine.CheckWith(plan, r.mockedTables())...)
	r.plans[key] = plan
	return plan
}

// mockedTables are the lookup tables the test file gives, by step name:
// the file's own, and for the other steps the first test's. Those steps
// read no table file, so none needs to be there.
func (r *runner) mockedTables() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for k, t := range r.f.lookups {
		out[k] = t.rows
	}
	for _, c := range r.f.cases {
		for k, t := range c.lookups {
			if _, ok := out[k]; !ok {
				out[k] = t.rows
			}
		}
	}
	return out
}

// lookupIn is the environment of a test: only what the test file sets, so
// a test gives the same result on every machine.
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func (r *runner) runCase(c *testCase) (*TestResult, []update) {
	res := &TestResult{Name: c.name, Line: c.node.Line, Status: Pass}
	if c.skip != "" {
		res.Status, res.Reason = Skip, c.skip
		return res, nil
	}
	plan := r.compile(c.env, c.clock)
	if plan == nil {
		res.Status, res.Reason = Error, "the pipeline does not compile with this test's env"
		return res, nil
	}
	var inputs []engine.Input
	for _, in := range c.inputs {
		for _, r := range in.records {
			inputs = append(inputs, engine.Input{Node: in.node, Record: fresh(r)})
		}
	}
	tables := map[string][]map[string]any{}
	for k, t := range c.lookups {
		tables[k] = t.rows
	}
	fed := fedNodes(inputs)
	prep, err := prepare(plan, nil, fed)
	if err != nil {
		res.Status, res.Reason = Error, err.Error()
		return res, nil
	}
	var taps []Tap
	for _, t := range r.cov.taps() {
		if _, gone := prep.notRun[t.Node]; !gone {
			taps = append(taps, t)
		}
	}
	for _, e := range c.expect {
		if n, ok := plan.Node(e.node); ok && n.Section != component.SinkSection {
			taps = append(taps, Tap{e.node, e.output})
		}
	}
	rt := &component.Runtime{
		Clock:     component.FixedClock(c.clock),
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Dir:       filepath.Dir(r.f.pipeline),
		LookupEnv: lookupIn(c.env),
		Stdin:     strings.NewReader(""),
		Stdout:    io.Discard,
		Tables:    tables,
	}
	if needsInventory(plan, c.stock) {
		inv, closeInv, err := openInventory(context.Background(), c.stock, c.clock)
		if err != nil {
			res.Status, res.Reason = Error, err.Error()
			return res, nil
		}
		defer closeInv()
		rt.Inventory, rt.Keys = inv, inv
	}
	out, err := DryRun(context.Background(), plan, DryRunOptions{Runtime: rt, Inputs: inputs, Taps: taps})
	if err != nil {
		res.Status, res.Reason = Error, err.Error()
		return res, nil
	}
	r.cov.add(out)
	var ups []update
	for _, e := range c.expect {
		got := out.Records(e.node, e.output)
		if fs := r.check(e, got); len(fs) > 0 {
			res.Failures = append(res.Failures, fs...)
			ups = append(ups, update{e: e, got: values(got)})
		}
	}
	switch {
	case c.unhandled != nil:
		if fs := r.check(c.unhandled, out.Unhandled); len(fs) > 0 {
			res.Failures = append(res.Failures, fs...)
			ups = append(ups, update{e: c.unhandled, got: values(out.Unhandled)})
		}
	case len(out.Unhandled) > 0:
		f := Failure{Line: c.node.Line, Target: "unhandled_errors",
			Message: fmt.Sprintf("%s failed with nothing reading the error output %s went to", plural(len(out.Unhandled), "record"), map[bool]string{true: "it", false: "they"}[len(out.Unhandled) == 1])}
		for _, u := range out.Unhandled {
			f.Details = append(f.Details, describeError(u))
		}
		f.Details = append(f.Details, "expect them with `unhandled_errors:`, or add a sink reading the error output")
		res.Failures = append(res.Failures, f)
		ups = append(ups, update{e: &expectation{target: "unhandled_errors", parent: c.node, implicit: true}, got: values(out.Unhandled)})
	}
	if len(res.Failures) > 0 {
		res.Status = Fail
		if r.updatable == nil {
			r.updatable = map[*TestResult]bool{}
		}
		r.updatable[res] = allUpdatable(ups)
	}
	return res, ups
}

func values(recs []*record.Record) []any {
	out := make([]any, len(recs))
	for i, r := range recs {
		out[i] = fromRaw(r.Raw)
	}
	return out
}

// describeError renders an error record in one line: the node, the error,
// and which input it came from.
func describeError(r *record.Record) string {
	v, _ := fromRaw(r.Raw).(*object)
	if v == nil {
		return string(r.Raw)
	}
	node, _ := v.m["node"].(string)
	msg, _ := v.m["error"].(string)
	s := fmt.Sprintf("%s: %s", node, msg)
	if src, ok := v.m["source"].(string); ok {
		if seq, ok := v.m["seq"].(number); ok {
			s += fmt.Sprintf(" (record %s fed to %s)", seq.text, src)
		}
	}
	return s
}

const maxShown = 5

// check compares what reached an expectation's target with it.
func (r *runner) check(e *expectation, recs []*record.Record) []Failure {
	var out []Failure
	line := 0
	if e.key != nil {
		line = e.key.Line
	}
	fail := func(msg string, details ...string) {
		out = append(out, Failure{Line: line, Target: e.target, Message: msg, Details: details})
	}
	got := values(recs)
	shown := func() []string {
		var ds []string
		for i, g := range got {
			if i == maxShown {
				ds = append(ds, fmt.Sprintf("… and %d more", len(got)-maxShown))
				break
			}
			ds = append(ds, fmt.Sprintf("got %d: %s", i+1, short(g, 200)))
		}
		return ds
	}
	if e.count != nil && *e.count != len(got) {
		fail(fmt.Sprintf("want %s, got %d", plural(*e.count, "record"), len(got)), shown()...)
	}
	for _, m := range []struct {
		want   []any
		has    bool
		subset bool
	}{{e.records, e.hasRecs, false}, {e.subset, e.hasSub, true}} {
		if !m.has {
			continue
		}
		if len(m.want) != len(got) {
			if e.count == nil || *e.count == len(got) {
				fail(fmt.Sprintf("want %s, got %d", plural(len(m.want), "record"), len(got)), shown()...)
			}
			continue
		}
		var details []string
		for i := range m.want {
			var ms []mismatch
			compare(m.want[i], got[i], "", m.subset, &ms)
			for _, x := range ms {
				details = append(details, fmt.Sprintf("record %d%s", i+1, prefixPath(x)))
			}
		}
		if len(details) > 0 {
			if len(details) > 12 {
				details = append(details[:12], fmt.Sprintf("… and %d more differences", len(details)-12))
			}
			what := "records differ"
			if m.subset {
				what = "records do not contain the expected fields"
			}
			fail(what, details...)
		}
	}
	for i := range e.asserts {
		a := &e.asserts[i]
		prog := r.programs[a]
		if prog == nil {
			continue
		}
		env := map[string]any{"count": len(recs)}
		list := make([]any, len(recs))
		for j, rec := range recs {
			list[j] = rec.Fields(nil)
		}
		env["records"] = list
		var machine vm.VM
		v, err := prog.Run(&machine, env)
		switch {
		case err != nil:
			out = append(out, Failure{Line: a.node.Line, Target: e.target, Message: fmt.Sprintf("assert %s: %v", a.src, err)})
		case v != true:
			out = append(out, Failure{Line: a.node.Line, Target: e.target, Message: "assert failed: " + a.src, Details: shown()})
		}
	}
	return out
}

func prefixPath(m mismatch) string {
	if m.path == "" {
		return ": " + m.msg
	}
	return " " + m.path + ": " + m.msg
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// binder checks a test file against the compiled pipeline: the nodes it
// feeds and expects exist, assertions type-check.
type binder struct {
	loader
	plan     *pipelines.Plan
	prep     *prepared
	lib      *exprs.Library
	programs map[*assertion]*exprs.Program
}

func (b *binder) names(secs ...component.Section) []string {
	var out []string
	for _, n := range b.plan.Nodes {
		if slices.Contains(secs, n.Section) {
			out = append(out, n.Name)
		}
	}
	return out
}

func (b *binder) unknown(k *yaml.Node, name, what string, candidates []string) {
	d := b.errorf(k, CodeUnknownNode, "no %s named %q in %s", what, name, filepath.Base(b.plan.File))
	if s := diag.Suggest(name, candidates); s != "" {
		d.Hint = fmt.Sprintf("did you mean %q?", s)
	}
}

func (b *binder) bind(c *testCase) {
	fed := map[string]bool{}
	for _, in := range c.inputs {
		fed[in.node] = true
	}
	prep, err := prepare(b.plan, nil, fed)
	if err != nil {
		b.ds.Errorf(diag.Range{Start: diag.Pos{File: b.path, Line: c.node.Line, Col: c.node.Column}}, CodeNotRunnable, "%v", err)
		return
	}
	b.prep = prep
	for i := range c.inputs {
		in := &c.inputs[i]
		n, ok := b.plan.Node(in.node)
		if !ok || (n.Section != component.SourceSection && n.Section != component.StepSection) {
			b.unknown(in.key, in.node, "source or step", b.names(component.SourceSection, component.StepSection))
			continue
		}
		if nr, ok := b.prep.notRun[in.node]; ok {
			b.errorf(in.key, CodeNotRunnable, "cannot feed %s: %s", in.node, b.prep.reason(nr))
			continue
		}
		b.readInput(in)
	}
	for k, t := range c.lookups {
		b.lookup(k, t)
	}
	for _, e := range c.expect {
		b.expectation(e)
	}
	if c.unhandled != nil {
		b.asserts(c.unhandled, pipelines.ErrorRecordType(component.AnyType))
	}
}

// readInput reads the records of an input, now that the node it feeds is
// known: samples in the format of their source, inline records as they
// are. They are numbered from 1 across the input.
func (b *binder) readInput(in *input) {
	var seq int64
	in.records = nil
	for _, it := range in.items {
		if it.sample == nil {
			seq++
			in.records = append(in.records, NewRecord(in.node, int(seq), it.record))
			continue
		}
		recs, err := ReadSample(b.plan, in.node, *it.sample, &seq)
		if err != nil {
			b.errorf(it.at, CodeBadInput, "%v", unwrapPathError(err))
			continue
		}
		in.records = append(in.records, recs...)
	}
}

func (b *binder) lookup(name string, t table) {
	n, ok := b.plan.Node(name)
	if !ok || n.Kind != "lookup" {
		var lookups []string
		for _, n := range b.plan.Nodes {
			if n.Kind == "lookup" {
				lookups = append(lookups, n.Name)
			}
		}
		b.unknown(t.key, name, "lookup step", lookups)
	}
}

func (b *binder) expectation(e *expectation) {
	n, ok := b.plan.Node(e.node)
	if !ok || n.Section == component.TriggerSection || n.Section == component.RuleSection {
		var all []string
		for _, n := range b.plan.Nodes {
			all = append(all, n.Name)
		}
		b.unknown(e.key, e.node, "source, step or sink", all)
		return
	}
	var typ *component.Type
	switch {
	case n.Section == component.SinkSection && e.output != "":
		b.errorf(e.key, CodeUnknownOut, "a sink's outputs cannot be expected: dry runs deliver nothing, so nothing fails there").Hint =
			fmt.Sprintf("expect what the sink receives: `%s:`", e.node)
		return
	case n.Section == component.SinkSection:
		typ = n.Input
	case !slices.Contains(n.OutputNames, e.output):
		var outs []string
		for _, o := range n.OutputNames {
			if o != "" {
				outs = append(outs, o)
			}
		}
		d := b.errorf(e.key, CodeUnknownOut, "%s %s has no output %q", n.Section, n.Name, e.output)
		if s := diag.Suggest(e.output, outs); s != "" {
			d.Hint = fmt.Sprintf("did you mean %q?", e.node+"."+s)
		} else if len(outs) > 0 {
			d.Hint = "its outputs: " + strings.Join(outs, ", ")
		}
		return
	default:
		typ = n.Outputs[e.output]
	}
	if nr, ok := b.prep.notRun[e.node]; ok {
		b.errorf(e.key, CodeNotRunnable, "cannot check %s: %s", e.target, b.prep.reason(nr)).Hint =
			"expect what reaches the nodes before it, e.g. the output of the step that feeds it"
		return
	}
	b.asserts(e, typ)
}

// asserts compiles an expectation's assertions against the records it
// checks: `records` (a list) and `count`.
func (b *binder) asserts(e *expectation, typ *component.Type) {
	if len(e.asserts) == 0 {
		return
	}
	env := component.ObjectOf(
		component.Property{Name: "records", Type: component.ArrayOf(relax(typ))},
		component.Property{Name: "count", Type: component.IntType},
	)
	for i := range e.asserts {
		a := &e.asserts[i]
		prog, probs := b.lib.Compile(a.src, env, component.BoolType)
		for _, p := range probs {
			col := a.node.Column + p.Offset
			if a.node.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				col++
			}
			line := a.node.Line
			if strings.Contains(a.src, "\n") || a.node.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				col = a.node.Column
			}
			d := b.ds.Errorf(diag.At(diag.Pos{File: b.path, Line: line, Col: col}, p.Len), p.Code, "%s", p.Summary)
			d.Hint = p.Hint
		}
		if prog != nil {
			if b.programs == nil {
				b.programs = map[*assertion]*exprs.Program{}
			}
			b.programs[a] = prog
		}
	}
}

// relax loosens the types assertions see where JSON cannot tell them apart
// at run time: a decimal or a time travels as a JSON number or string, so
// assertions see it as whatever JSON gave. Field names stay checked.
func relax(t *component.Type) *component.Type {
	if t == nil {
		return component.AnyType
	}
	switch t.Kind {
	case component.Decimal, component.Time, component.Duration, component.Number:
		return component.AnyType
	case component.Array:
		return component.ArrayOf(relax(t.Elem))
	case component.Object:
		out := *t
		out.Fields = make([]component.Property, len(t.Fields))
		for i, p := range t.Fields {
			out.Fields[i] = component.Property{Name: p.Name, Type: relax(p.Type)}
		}
		return &out
	}
	return t
}

// notRunSummary says, per step whose kind cannot run, what the tests left
// out: "step hold (kind hold cannot run yet), and after it wms".
func notRunSummary(c *Coverage) []string {
	var out []string
	all := append(slices.Clone(c.Steps), c.Sinks...)
	for _, s := range c.Steps {
		if !strings.HasPrefix(s.NotRun, "kind ") {
			continue
		}
		line := fmt.Sprintf("step %s (%s)", s.Name, s.NotRun)
		var after []string
		for _, o := range all {
			if o.NotRun == "after "+s.Name {
				after = append(after, o.Name)
			}
		}
		if len(after) > 0 {
			line += ", and after it " + strings.Join(after, ", ")
		}
		out = append(out, line)
	}
	return out
}
