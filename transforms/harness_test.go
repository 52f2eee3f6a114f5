package transforms_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// t0 is the instant every test clock starts at.
var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func options() pipelines.Options {
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	return pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.FixedClock(t0)),
		Schema:      schemas.Lookup,
		SchemaNames: schemas.Names(),
	}
}

// source is the head of every test pipeline: one source, `in`, fed by the
// test's inputs. schema, when set, types its records.
func source(schema string) string {
	s := "pipeline: t\nsources:\n  in:\n    stdin: {}\n"
	if schema != "" {
		s += "    schema: " + schema + "\n"
	}
	return s
}

// sinks writes a sink for each output read: `to_s` reads `s`, `to_s_error`
// reads `s.error`.
func sinks(outputs ...string) string {
	var b strings.Builder
	b.WriteString("sinks:\n")
	for _, o := range outputs {
		fmt.Fprintf(&b, "  %s:\n    from: %s\n    stdout: {}\n", sinkName(o), o)
	}
	return b.String()
}

func sinkName(output string) string { return "to_" + strings.ReplaceAll(output, ".", "_") }

// load loads and compiles a pipeline file and returns its diagnostics, sorted.
func load(t *testing.T, src string) (*pipelines.Plan, diag.Diagnostics) {
	t.Helper()
	opts := options()
	f, ds := pipelines.LoadBytes("t.yaml", []byte(src), opts.LoadOptions)
	if f == nil {
		t.Fatalf("not loaded: %v", ds)
	}
	plan, cds := pipelines.Compile(f, opts)
	return plan, append(ds, cds...).Sorted()
}

// compile compiles a pipeline that must have no errors.
func compile(t *testing.T, src string) *pipelines.Plan {
	t.Helper()
	plan, ds := load(t, src)
	for _, d := range ds {
		if d.Severity != diag.Error {
			continue
		}
		t.Errorf("unexpected diagnostic: %s", d)
	}
	if t.Failed() {
		t.Fatalf("pipeline:\n%s", src)
	}
	return plan
}

// codes returns the codes of the error diagnostics a pipeline gets.
func codes(t *testing.T, src string) []string {
	t.Helper()
	_, ds := load(t, src)
	var out []string
	for _, d := range ds {
		if d.Severity == diag.Error {
			out = append(out, d.Code)
		}
	}
	return out
}

// run is a dry run feeding inputs, as JSON text, to the source `in`. It
// checks what must hold of every run: each node's records in are its
// records out, dropped and errored, and no error record went unread.
func run(t *testing.T, plan *pipelines.Plan, rt *component.Runtime, workers int, inputs ...string) *engine.Result {
	t.Helper()
	res, err := runErr(plan, rt, workers, inputs...)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, n := range res.Nodes {
		if n.In != n.Out+n.Dropped+n.Errored {
			t.Errorf("node %s: in %d != out %d + dropped %d + errored %d", n.Name, n.In, n.Out, n.Dropped, n.Errored)
		}
	}
	for _, u := range res.Unhandled {
		t.Errorf("unhandled error record: %s", u.Raw)
	}
	return res
}

func runErr(plan *pipelines.Plan, rt *component.Runtime, workers int, inputs ...string) (*engine.Result, error) {
	if rt == nil {
		rt = &component.Runtime{}
	}
	if rt.Clock == nil {
		rt.Clock = component.FixedClock(t0)
	}
	opts := engine.Options{DryRun: true, Runtime: rt, Workers: workers, BatchSize: 2}
	for i, in := range inputs {
		raw := []byte(in)
		opts.Inputs = append(opts.Inputs, engine.Input{Node: "in",
			Record: record.New(raw, &record.Origin{Source: "in", Seq: int64(i + 1), Raw: raw})})
	}
	return engine.Run(context.Background(), plan, opts)
}

// got returns what the sink reading output received, as JSON text.
func got(t *testing.T, res *engine.Result, output string) []string {
	t.Helper()
	c, ok := res.Captured[sinkName(output)]
	if !ok {
		t.Fatalf("no sink reads %s", output)
	}
	out := []string{}
	for _, r := range c.Records {
		out = append(out, string(r.Raw))
	}
	return out
}

// stats returns a node's counts.
func stats(t *testing.T, res *engine.Result, node string) engine.NodeStats {
	t.Helper()
	for _, n := range res.Nodes {
		if n.Name == node {
			return n
		}
	}
	t.Fatalf("no node %s in the result", node)
	return engine.NodeStats{}
}

// counts is what a test expects of a node's counts.
type counts struct{ In, Out, Dropped, Errored, Emitted int64 }

func wantCounts(t *testing.T, res *engine.Result, node string, want counts) {
	t.Helper()
	s := stats(t, res, node)
	if diff := cmp.Diff(want, counts{s.In, s.Out, s.Dropped, s.Errored, s.Emitted}); diff != "" {
		t.Errorf("node %s counts (-want +got):\n%s", node, diff)
	}
}

// errorRecord is a record on an error output.
type errorRecord struct {
	Node     string          `json:"node"`
	Error    string          `json:"error"`
	Source   string          `json:"source"`
	Seq      int64           `json:"seq"`
	Record   json.RawMessage `json:"record"`
	Original json.RawMessage `json:"original"`
}

// errorsAt decodes what the sink reading output received as error records.
func errorsAt(t *testing.T, res *engine.Result, output string) []errorRecord {
	t.Helper()
	var out []errorRecord
	for _, raw := range got(t, res, output) {
		var e errorRecord
		if err := json.Unmarshal([]byte(raw), &e); err != nil {
			t.Fatalf("error record %s: %v", raw, err)
		}
		out = append(out, e)
	}
	return out
}

// wantError checks an error record: the node that failed, words its error
// must contain, and the record as the node received it.
func wantError(t *testing.T, e errorRecord, node, record string, words ...string) {
	t.Helper()
	if e.Node != node {
		t.Errorf("error record node = %q, want %q", e.Node, node)
	}
	if string(e.Record) != record {
		t.Errorf("error record record = %s, want %s", e.Record, record)
	}
	if e.Source != "in" || e.Seq < 1 {
		t.Errorf("error record source = %q seq %d, want the source and its position", e.Source, e.Seq)
	}
	for _, w := range words {
		if !strings.Contains(e.Error, w) {
			t.Errorf("error %q does not contain %q", e.Error, w)
		}
	}
}

// build builds one step of a compiled plan for driving its worker by
// hand, with a clock the test moves.
func build(t *testing.T, plan *pipelines.Plan, name string, rt *component.Runtime) component.StepWorker {
	t.Helper()
	n, ok := plan.Node(name)
	if !ok {
		t.Fatalf("no node %s", name)
	}
	step, err := n.Spec.NewStep(component.BuildContext{Name: name, Config: n.Config, Input: n.Input, Runtime: rt})
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return step.NewWorker()
}

// emitted collects what a worker emits, by output.
type emitted map[string][]string

func (e emitted) emit(output string, r *record.Record) { e[output] = append(e[output], string(r.Raw)) }

func process(w component.StepWorker, inputs ...string) emitted {
	e := emitted{}
	for i, in := range inputs {
		raw := []byte(in)
		w.Process(context.Background(), record.New(raw, &record.Origin{Source: "in", Seq: int64(i + 1), Raw: raw}), e.emit)
	}
	return e
}

// manualClock is a clock the test sets.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// steppingClock moves on by step each time it is read: a stateful step
// reading it once per record sees the records a step apart.
type steppingClock struct {
	mu   sync.Mutex
	next time.Time
	step time.Duration
}

func (c *steppingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.next
	c.next = c.next.Add(c.step)
	return now
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func containsAll(s string, words ...string) bool {
	return !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(s, w) })
}

func itoa(i int) string { return strconv.Itoa(i) }
