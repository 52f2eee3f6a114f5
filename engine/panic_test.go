package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// panicky is a test-only step kind with a bug: it panics on a record whose
// field x equals its setting `on`, and passes every other record on.
type panicky struct{ on string }

func (p panicky) NewWorker() component.StepWorker { return p }

func (p panicky) Process(_ context.Context, rec *record.Record, emit component.Emit) {
	var fields struct{ X string }
	json.Unmarshal(rec.Raw, &fields)
	if fields.X == p.on {
		panic(fmt.Sprintf("cannot handle x=%s", fields.X))
	}
	emit("", rec)
}

func panickyConfig() *component.Field {
	return &component.Field{Kind: component.ObjectField, Doc: "Settings.", Fields: []*component.Field{
		{Name: "on", Kind: component.StringField, Required: true, Doc: "The value of x to panic on."},
	}}
}

// compilePanicky compiles src with the panicky kinds registered, and
// whatever more kinds add adds.
func compilePanicky(t *testing.T, dir, src string, add ...func(*component.Registry)) *pipelines.Plan {
	t.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	for _, a := range add {
		a(reg)
	}
	newStep := func(ctx component.BuildContext) (component.Step, error) {
		return panicky{on: ctx.Config.Get("on").Str}, nil
	}
	reg.Add(&component.Spec{Kind: "panicky", Section: component.StepSection, Summary: "Panics on a value.",
		Config: panickyConfig(), NewStep: newStep})
	reg.Add(&component.Spec{Kind: "panicky_stateful", Section: component.StepSection, Summary: "Panics on a value, in the ordered stage.",
		Config: panickyConfig(), NewStep: newStep, Stateful: true})
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(k string) (string, bool) {
			if k == "DIR" {
				return dir, true
			}
			return "", false
		}},
		Library: exprs.NewLibrary(component.FixedClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))),
		Schema:  schemas.Lookup, SchemaNames: schemas.Names(),
	}
	f, ds := pipelines.LoadBytes(filepath.Join(dir, "p.yaml"), []byte(src), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	if all := append(ds, cds...); all.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", all.Err())
	}
	return p
}

// checkPanicRun asserts that the run went through every record but the one
// step (kind) panicked on, which is on failed.ndjson with the panic.
func checkPanicRun(t *testing.T, dir string, res *engine.Result, step string) {
	t.Helper()
	checkCounts(t, res)
	if !res.Committed {
		t.Error("the run did not commit")
	}
	if got := strings.Join(lines(t, filepath.Join(dir, "out.ndjson")), "|"); got != `{"x":"a"}|{"x":"c"}|{"x":"d"}` {
		t.Errorf("out = %s, want every record but b", got)
	}
	failed := lines(t, filepath.Join(dir, "failed.ndjson"))
	if len(failed) != 1 {
		t.Fatalf("failed = %v, want b's error record", failed)
	}
	var e struct {
		Node, Error string
		Record      map[string]any
	}
	if err := json.Unmarshal([]byte(failed[0]), &e); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`step %q panicked: cannot handle x=b`, step)
	if e.Node != step || e.Error != want || e.Record["x"] != "b" {
		t.Errorf("error record = %s, want node %s, error %q and record b", failed[0], step, want)
	}
	if strings.Contains(failed[0], "goroutine") || strings.Contains(failed[0], ".go:") {
		t.Errorf("error record holds a stack: %s", failed[0])
	}
}

const panicInput = `{"x":"a"}
{"x":"b"}
{"x":"c"}
{"x":"d"}
`

// A step that panics on a record fails that record, on its error output,
// and the run goes on: `pipectl serve` must survive a step's bug.
func TestStepPanicFailsOnlyItsRecord(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "in.ndjson"), panicInput)
			p := compilePanicky(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  boom:
    from: in
    panicky: {on: b}
sinks:
  out: {from: boom, file: "${DIR}/out.ndjson"}
  failed: {from: boom.error, file: "${DIR}/failed.ndjson"}
`)
			res := run(t, p, engine.Options{Workers: workers, BatchSize: 2})
			checkPanicRun(t, dir, res, "boom")
		})
	}
}
