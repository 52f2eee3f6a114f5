package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/shopspring/decimal"
)

// feedSource is a source kind for these tests: it reads the orders the
// test set.
type feedSource struct{ fx *swapFixture }

func (s feedSource) Read(ctx context.Context, emit func(*record.Record) error, _ func(*record.Record) error) error {
	for _, in := range s.fx.inputs(s.fx.orders) {
		if err := emit(in.Record); err != nil {
			return err
		}
	}
	return nil
}

// hookSink is a sink kind for these tests: it hands every record to the
// function the test set, on the run's ordered stage.
type hookSink struct{ write func(rec *record.Record) }

func (h hookSink) Write(_ context.Context, rec *record.Record) error { h.write(rec); return nil }
func (h hookSink) Flush(context.Context) error                       { return nil }
func (h hookSink) Close(context.Context, bool) error                 { return nil }

// swapFixture is a pipeline allocating orders of two lines (A and B, both
// stocked at wh-a and wh-b) with the rules in rules.yaml, writing every
// allocation to a hook.
type swapFixture struct {
	dir    string
	opts   pipelines.Options
	plan   *pipelines.Plan
	file   *pipelines.File
	store  state.Store
	hook   func(rec *record.Record)
	orders int
	first  int // the first order's id
}

const (
	rulesAFirst = "rules:\n  f:\n    fulfillment:\n      allocation: {location_priority: [wh-a, wh-b]}\n"
	rulesBFirst = "rules:\n  f:\n    fulfillment:\n      allocation: {location_priority: [wh-b, wh-a]}\n"
)

func newSwapFixture(t *testing.T) *swapFixture {
	t.Helper()
	fx := &swapFixture{dir: t.TempDir()}
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	reg.Add(&component.Spec{
		Kind: "feed", Section: component.SourceSection, Summary: "Reads the test's orders.",
		Config:    &component.Field{Kind: component.ObjectField, Doc: "Nothing."},
		NewSource: func(component.BuildContext) (component.Source, error) { return feedSource{fx}, nil },
	})
	reg.Add(&component.Spec{
		Kind: "hook", Section: component.SinkSection, Summary: "Hands records to the test.",
		Config: &component.Field{Kind: component.ObjectField, Doc: "Nothing."},
		NewSink: func(component.BuildContext) (component.Sink, error) {
			return hookSink{func(rec *record.Record) { fx.hook(rec) }}, nil
		},
	})
	fx.opts = pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(),
	}
	write(t, filepath.Join(fx.dir, "rules.yaml"), rulesAFirst)
	write(t, filepath.Join(fx.dir, "p.yaml"), `pipeline: p
rules: rules.yaml
sources:
  in:
    feed: {}
steps:
  alloc:
    from: in
    allocate: {rules: f, order_id: string(id), lines: lines}
sinks:
  out:
    from: alloc.allocations
    hook: {}
`)
	fx.file, fx.plan = fx.load(t)
	if fx.plan == nil {
		t.Fatal("the pipeline does not compile")
	}
	st, err := state.Open(context.Background(), "sqlite://"+filepath.Join(fx.dir, "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, sku := range []string{"A", "B"} {
		for _, loc := range []string{"wh-a", "wh-b"} {
			if _, err := st.SetLevel(context.Background(), component.LevelUpdate{SKU: sku, Location: loc, Quantity: decimal.NewFromInt(1_000_000)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fx.store = st
	fx.hook = func(*record.Record) {}
	return fx
}

// load loads the pipeline and its rules file as they are on disk now.
func (fx *swapFixture) load(t testing.TB) (*pipelines.File, *pipelines.Plan) {
	f, ds := pipelines.Load(filepath.Join(fx.dir, "p.yaml"), fx.opts.LoadOptions)
	if ds.HasErrors() {
		t.Fatalf("pipeline does not load: %v", ds.Err())
	}
	p, cds := pipelines.Compile(f, fx.opts)
	if cds.HasErrors() {
		return f, nil
	}
	return f, p
}

// setRules writes the rules file and returns its version.
func (fx *swapFixture) setRules(t testing.TB, text string) string {
	if err := os.WriteFile(filepath.Join(fx.dir, "rules.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:6])
}

func (fx *swapFixture) inputs(n int) []engine.Input {
	var in []engine.Input
	for i := fx.first + 1; i <= fx.first+n; i++ {
		raw := fmt.Sprintf(`{"id":%d,"lines":[{"sku":"A","quantity":1},{"sku":"B","quantity":2}]}`, i)
		in = append(in, engine.Input{Node: "in", Record: record.New([]byte(raw), &record.Origin{Source: "in", Seq: int64(i), Raw: []byte(raw)})})
	}
	return in
}

// options runs n orders, numbered on from the last run's.
func (fx *swapFixture) options(n int) engine.Options {
	fx.first += fx.orders
	fx.orders = n
	// Batches of one: allocate commits the orders of a batch together and
	// emits them after, so a swap triggered by what a sink sees takes
	// effect from the next batch; with batches of one that is the next
	// order.
	return engine.Options{
		Trace: true, RulesVersion: fx.file.RulesVersion(), BatchSize: 1,
		Runtime: &component.Runtime{Clock: component.SystemClock{}, Inventory: fx.store},
	}
}

type allocationSeen struct {
	OrderID    string `json:"order_id"`
	LocationID string `json:"location_id"`
}

func decodeAllocation(t testing.TB, rec *record.Record) allocationSeen {
	var a allocationSeen
	if err := json.Unmarshal(rec.Raw, &a); err != nil {
		t.Errorf("allocation %s: %v", rec.Raw, err)
	}
	return a
}

// locationsByOrder groups the locations each order was allocated from.
func locationsByOrder(seen []allocationSeen) map[string][]string {
	out := map[string][]string{}
	for _, a := range seen {
		if !slices.Contains(out[a.OrderID], a.LocationID) {
			out[a.OrderID] = append(out[a.OrderID], a.LocationID)
		}
	}
	return out
}

// Rules swapped while a run goes on decide the orders after the swap; the
// orders before it keep the rules they were decided by, and every
// explanation names its rules' version.
func TestReloadRulesMidRun(t *testing.T) {
	fx := newSwapFixture(t)
	oldVersion := fx.file.RulesVersion()
	if v := fx.setRules(t, rulesAFirst); v != oldVersion {
		t.Fatalf("the rules file's version is %s, want its hash %s", oldVersion, v)
	}
	newVersion := fx.setRules(t, rulesBFirst)
	if oldVersion == newVersion {
		t.Fatal("two rules files have one version")
	}
	var x *engine.Running
	var seen []allocationSeen
	swapped := false
	fx.hook = func(rec *record.Record) {
		a := decodeAllocation(t, rec)
		seen = append(seen, a)
		if a.OrderID == "5" && !swapped {
			swapped = true
			_, ds, err := x.ReloadRules(fx.opts)
			if err != nil || ds.HasErrors() {
				t.Errorf("reload: %v %v", err, ds.Err())
			}
		}
	}
	var err error
	// The hook waits until Start has returned x.
	ready := make(chan struct{})
	hook := fx.hook
	fx.hook = func(rec *record.Record) { <-ready; hook(rec) }
	x, err = engine.Start(context.Background(), fx.plan, fx.options(10))
	close(ready)
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got := x.RulesVersion(); got != newVersion {
		t.Errorf("RulesVersion() = %q, want %q", got, newVersion)
	}
	byOrder := locationsByOrder(seen)
	for i := 1; i <= 10; i++ {
		want := "wh-a"
		if i > 5 {
			want = "wh-b"
		}
		if got := byOrder[fmt.Sprint(i)]; !slices.Equal(got, []string{want}) {
			t.Errorf("order %d allocated from %v, want [%s]", i, got, want)
		}
	}
	if len(res.Explanations) != 10 {
		t.Fatalf("%d explanations, want 10", len(res.Explanations))
	}
	for i, e := range res.Explanations {
		var x struct {
			RulesVersion string `json:"rules_version"`
		}
		json.Unmarshal(e.Data, &x)
		want := oldVersion
		if i >= 5 {
			want = newVersion
		}
		if e.Step != "alloc" || e.Ref != fmt.Sprint(i+1) || x.RulesVersion != want {
			t.Errorf("explanation %d: step %q, ref %q, rules version %q; want alloc, %d, %s", i, e.Step, e.Ref, x.RulesVersion, i+1, want)
		}
	}
}

// An invalid rules file is rejected with its diagnostics, and the rules in
// force stay in force.
func TestReloadRulesRejectsInvalid(t *testing.T) {
	fx := newSwapFixture(t)
	oldVersion := fx.file.RulesVersion()
	for _, c := range []struct{ name, rules, want string }{
		{"bad enum", "rules:\n  f:\n    fulfillment:\n      allocation: {strategy: nearest}\n", "nearest"},
		{"unknown setting", "rules:\n  f:\n    fulfillment:\n      split: {mod: ship_complete}\n", "mod"},
		{"rule set gone", "rules:\n  g:\n    fulfillment: {}\n", "f"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx.setRules(t, c.rules)
			x, err := engine.Start(context.Background(), fx.plan, fx.options(0))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x.Wait(); err != nil {
				t.Fatal(err)
			}
			_, ds, err := x.ReloadRules(fx.opts)
			if !errors.Is(err, engine.ErrRulesRejected) {
				t.Fatalf("reload of invalid rules: err = %v, want ErrRulesRejected", err)
			}
			if !ds.HasErrors() {
				t.Fatalf("no diagnostics for invalid rules")
			}
			if x.RulesVersion() != oldVersion {
				t.Errorf("rules version changed to %q after a rejected reload", x.RulesVersion())
			}
		})
	}
	// Orders allocated after rejected reloads, in a run that tried one
	// mid-run, follow the old rules.
	fx.setRules(t, "rules:\n  f:\n    fulfillment:\n      allocation: {location_priority: [wh-b]}\n      backorder: {policy: sometimes}\n")
	var x *engine.Running
	ready := make(chan struct{})
	var seen []allocationSeen
	fx.hook = func(rec *record.Record) {
		<-ready
		a := decodeAllocation(t, rec)
		seen = append(seen, a)
		if a.OrderID == "2" {
			if _, _, err := x.ReloadRules(fx.opts); !errors.Is(err, engine.ErrRulesRejected) {
				t.Errorf("reload: %v, want ErrRulesRejected", err)
			}
		}
	}
	x, err := engine.Start(context.Background(), fx.plan, fx.options(4))
	close(ready)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Wait(); err != nil {
		t.Fatal(err)
	}
	for id, locs := range locationsByOrder(seen) {
		if !slices.Equal(locs, []string{"wh-a"}) {
			t.Errorf("order %s allocated from %v after a rejected reload, want [wh-a]", id, locs)
		}
	}
}

// Rules that read a field the running step does not decode are rejected:
// the step could not see it.
func TestReloadRulesRejectsUndecodedField(t *testing.T) {
	fx := newSwapFixture(t)
	fx.setRules(t, rulesAFirst+"    overrides:\n      - when: 'vip == true'\n        set: {allocation: {location_priority: [wh-b]}}\n")
	x, err := engine.Start(context.Background(), fx.plan, fx.options(0))
	if err != nil {
		t.Fatal(err)
	}
	x.Wait()
	if _, _, err := x.ReloadRules(fx.opts); !errors.Is(err, engine.ErrRulesRejected) {
		t.Fatalf("reload reading vip: err = %v, want ErrRulesRejected", err)
	}
}

// Swapping the rules over and over while orders are allocated never gives
// an order a mix of two versions (run with -race: the swap is safe).
func TestReloadRulesRace(t *testing.T) {
	fx := newSwapFixture(t)
	texts := []string{rulesBFirst, rulesAFirst}
	var mu sync.Mutex
	var seen []allocationSeen
	fx.hook = func(rec *record.Record) {
		a := decodeAllocation(t, rec)
		mu.Lock()
		seen = append(seen, a)
		mu.Unlock()
	}
	const orders = 300
	x, err := engine.Start(context.Background(), fx.plan, fx.options(orders))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var swaps int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fx.setRules(t, texts[i%2])
			if _, _, err := x.ReloadRules(fx.opts); err != nil {
				t.Error(err)
				return
			}
			swaps++
			time.Sleep(100 * time.Microsecond)
		}
	}()
	res, err := x.Wait()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	byOrder := locationsByOrder(seen)
	if len(byOrder) != orders {
		t.Fatalf("%d orders allocated, want %d", len(byOrder), orders)
	}
	for id, locs := range byOrder {
		if len(locs) != 1 {
			t.Errorf("order %s allocated from %v: a mix of rules", id, locs)
		}
	}
	versions := map[string]string{fx.setRules(t, rulesBFirst): "wh-b", fx.setRules(t, rulesAFirst): "wh-a"}
	for _, e := range res.Explanations {
		var x struct {
			RulesVersion string `json:"rules_version"`
		}
		json.Unmarshal(e.Data, &x)
		if want, got := versions[x.RulesVersion], byOrder[e.Ref]; len(got) != 1 || got[0] != want {
			t.Errorf("order %s: decided by rules %s (first location %s) but allocated from %v", e.Ref, x.RulesVersion, want, got)
		}
	}
	t.Logf("%d swaps during %d orders", swaps, orders)
}
