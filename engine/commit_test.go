package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/internal/pgtest"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/shopspring/decimal"
)

// scriptedSource emits n records, then does what end says: returns an
// error, blocks until the run's context ends, or returns nil.
type scriptedSource struct {
	n       int
	end     string // "error", "block" or ""
	emitted chan struct{}
}

func (s *scriptedSource) Read(ctx context.Context, emit func(*record.Record) error, _ func(*record.Record) error) error {
	for i := 1; i <= s.n; i++ {
		if err := emit(record.New(fmt.Appendf(nil, `{"n":%d}`, i), &record.Origin{Source: "in", Seq: int64(i)})); err != nil {
			return err
		}
	}
	if s.emitted != nil {
		close(s.emitted)
	}
	switch s.end {
	case "error":
		return errors.New("input broken at line 7")
	case "block":
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// compileScripted compiles a pipeline whose source `in` is src, writing to
// a file sink at out (and its error output to bad).
func compileScripted(t *testing.T, src *scriptedSource, pipeline string) *pipelines.Plan {
	t.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	reg.Add(&component.Spec{
		Kind: "scripted", Section: component.SourceSection, Summary: "Emits what the test says.",
		Config:    &component.Field{Kind: component.ObjectField, Doc: "Nothing."},
		NewSource: func(component.BuildContext) (component.Source, error) { return src, nil },
	})
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(),
	}
	f, ds := pipelines.LoadBytes("p.yaml", []byte(pipeline), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	if all := append(ds, cds...); all.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", all.Err())
	}
	return p
}

func fileSinkPipeline(out string) string {
	return fmt.Sprintf("pipeline: p\nsources:\n  in:\n    scripted: {}\nsinks:\n  out:\n    from: in\n    file: {path: %q, format: json}\n", out)
}

// tempFiles lists the hidden temporary files a file sink leaves in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

// A run whose source fails part-way publishes nothing: yesterday's good
// file stays, with no temporary file left beside it.
func TestFailedRunKeepsThePreviousFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tickets.json")
	write(t, out, "yesterday's good file\n")
	p := compileScripted(t, &scriptedSource{n: 500, end: "error"}, fileSinkPipeline(out))
	res, err := engine.Run(context.Background(), p, engine.Options{})
	if err == nil || !strings.Contains(err.Error(), "input broken at line 7") {
		t.Fatalf("run error = %v, want the source's", err)
	}
	if res.Committed {
		t.Error("a failed run reports its outputs committed")
	}
	if b, _ := os.ReadFile(out); string(b) != "yesterday's good file\n" {
		t.Errorf("the previous file was replaced by %d bytes", len(b))
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// An interrupted run stops promptly, publishes nothing and removes its
// temporary file.
func TestInterruptedRunCommitsNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "tickets.json")
	write(t, out, "yesterday's good file\n")
	src := &scriptedSource{n: 1000, end: "block", emitted: make(chan struct{})}
	p := compileScripted(t, src, fileSinkPipeline(out))
	ctx, cancel := context.WithCancelCause(context.Background())
	x, err := engine.Start(ctx, p, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-src.emitted
	if tmp := tempFiles(t, dir); len(tmp) != 1 {
		t.Fatalf("a running file sink has temporary files %v, want one", tmp)
	}
	stopped := time.Now()
	cancel(errors.New("interrupted"))
	res, err := x.Wait()
	if took := time.Since(stopped); took > time.Second {
		t.Errorf("the run took %s to stop", took)
	}
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("run error = %v, want it to say the run was interrupted", err)
	}
	if res == nil || res.Committed {
		t.Fatalf("an interrupted run reports %+v", res)
	}
	if b, _ := os.ReadFile(out); string(b) != "yesterday's good file\n" {
		t.Errorf("the previous file was replaced by %d bytes", len(b))
	}
	if tmp := tempFiles(t, dir); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// A run that ends well publishes the file, creating its folder first.
func TestRunCreatesTheOutputFolderAtStart(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "exports", "2026-12-03", "tickets.json")
	p := compileScripted(t, &scriptedSource{n: 3}, fileSinkPipeline(out))
	res := run(t, p, engine.Options{})
	if !res.Committed {
		t.Error("a clean run reports its outputs not committed")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"n":1},{"n":2},{"n":3}]`; strings.Join(strings.Fields(string(b)), "") != want {
		t.Errorf("output = %s, want %s", b, want)
	}
}

// A sink whose path cannot be written stops the run before anything is
// read, rather than failing each record.
func TestUnwritableSinkFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-folder")
	write(t, blocker, "a file where the folder should be")
	src := &scriptedSource{n: 3}
	p := compileScripted(t, src, fileSinkPipeline(filepath.Join(blocker, "out.json")))
	_, err := engine.Run(context.Background(), p, engine.Options{})
	if err == nil || !strings.Contains(err.Error(), `sink "out"`) {
		t.Fatalf("run error = %v, want the sink named", err)
	}
}

// Failed records are counted, handled or not, so callers can tell a run
// where some failed from one where every record went through.
func TestResultCountsFailedRecords(t *testing.T) {
	dir := t.TempDir()
	pipeline := func(expr string) string {
		return fmt.Sprintf(`pipeline: p
sources:
  in:
    scripted: {}
steps:
  check:
    from: in
    map: {v: '%s'}
sinks:
  out:
    from: check
    file: {path: %q}
  dead:
    from: check.error
    file: {path: %q}
`, expr, filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "dead.ndjson"))
	}
	res := run(t, compileScripted(t, &scriptedSource{n: 3}, pipeline("n + 1")), engine.Options{})
	if res.Failed != 0 || !res.Committed {
		t.Errorf("failed = %d, committed = %v; want 0 and true", res.Failed, res.Committed)
	}
	res = run(t, compileScripted(t, &scriptedSource{n: 3}, pipeline(`n == 2 ? int("x") : n`)), engine.Options{})
	if res.Failed != 1 || !res.Committed {
		t.Errorf("failed = %d, committed = %v; want 1 and true", res.Failed, res.Committed)
	}
}

// Records read before a source fails are still processed and counted, so
// the summary accounts for every record, though nothing commits.
func TestRecordsBeforeAReadErrorAreCounted(t *testing.T) {
	dir := t.TempDir()
	p := compileScripted(t, &scriptedSource{n: 100, end: "error"}, fileSinkPipeline(filepath.Join(dir, "out.json")))
	res, err := engine.Run(context.Background(), p, engine.Options{BatchSize: 64})
	if err == nil {
		t.Fatal("no error")
	}
	for _, n := range res.Nodes {
		if n.In != 100 {
			t.Errorf("%s %s: in = %d, want 100", n.Section, n.Name, n.In)
		}
	}
}

// An interrupted run stops a step waiting on the state store (here, an
// allocation waiting for stock rows another transaction holds locked): the
// run's context reaches the store call, and nothing the step did commits.
func TestInterruptReachesTheStore(t *testing.T) {
	url := pgtest.Schema(t, "pipectl_engine_test_", nil)
	st, err := state.Open(context.Background(), url, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.SetLevel(context.Background(), component.LevelUpdate{SKU: "A", Location: "wh-a", Quantity: decimal.NewFromInt(100)}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(context.Background(), `SELECT * FROM stock FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	p := compileScripted(t, &scriptedSource{n: 3}, `pipeline: p
rules:
  f:
    fulfillment: {}
sources:
  in:
    scripted: {}
steps:
  alloc:
    from: in
    allocate: {rules: f, order_id: string(n), lines: '[{"sku": "A", "quantity": 1}]'}
sinks:
  out:
    from: alloc.allocations
    file: {path: "`+filepath.Join(t.TempDir(), "out.ndjson")+`"}
`)
	ctx, cancel := context.WithCancelCause(context.Background())
	x, err := engine.Start(ctx, p, engine.Options{Runtime: &component.Runtime{Clock: component.SystemClock{}, Inventory: st, Keys: st}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the allocation is now waiting for the lock
	start := time.Now()
	cancel(errors.New("interrupted"))
	res, err := x.Wait()
	if took := time.Since(start); took > time.Second {
		t.Errorf("the run took %s to stop: the store call did not see the context", took)
	}
	if err == nil || res.Committed {
		t.Errorf("interrupted run: err %v, committed %v", err, res.Committed)
	}
	tx.Rollback(context.Background())
	levels, err := st.Levels(context.Background(), []string{"A"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range levels {
		if !l.Committed.IsZero() {
			t.Errorf("stock committed by an interrupted allocation: %+v", l)
		}
	}
}
