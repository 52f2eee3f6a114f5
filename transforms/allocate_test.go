package transforms_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// allocOutputs are the outputs of the allocate step the tests read.
var allocOutputs = []string{"allocations", "shipments", "backorders", "cancellations", "holds", "adjustments", "notifications", "replenishment", "error"}

// allocPipeline is a pipeline allocating orders {id, lines: [{sku,
// quantity}]} under a rule set with the given settings (YAML flow map),
// writing each output of the step to a file in dir.
func allocPipeline(dir, settings string, stepSettings ...string) string {
	var b strings.Builder
	b.WriteString(source(""))
	fmt.Fprintf(&b, "rules:\n  f:\n    fulfillment: %s\n", settings)
	extra := strings.Join(stepSettings, ", ")
	if extra != "" {
		extra = ", " + extra
	}
	fmt.Fprintf(&b, "steps:\n  alloc:\n    from: in\n    allocate: {rules: f, order_id: string(id), lines: lines%s}\nsinks:\n", extra)
	for _, o := range allocOutputs {
		fmt.Fprintf(&b, "  to_%s:\n    from: alloc.%s\n    file: {path: %q}\n", o, o, filepath.Join(dir, o+".ndjson"))
	}
	return b.String()
}

// stockStore opens a fresh SQLite store with locations wh-a (priority 1)
// and wh-b (priority 2) and the given on-hand levels ("sku@loc" -> units).
func stockStore(t *testing.T, levels map[string]int64) state.Store {
	t.Helper()
	ctx := context.Background()
	st, err := state.Open(ctx, "sqlite://"+t.TempDir(), state.Options{Clock: component.FixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i, id := range []string{"wh-a", "wh-b"} {
		if err := st.SetLocation(ctx, component.Location{ID: id, Priority: i + 1}, component.Change{Actor: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	for k, n := range levels {
		sku, loc, _ := strings.Cut(k, "@")
		if _, err := st.SetLevel(ctx, component.LevelUpdate{SKU: sku, Location: loc, Quantity: decimal.NewFromInt(n)}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// allocRun runs the pipeline for real (no dry run) against st and returns
// what each output of the step received, as JSON text.
func allocRun(t *testing.T, settings string, st component.Inventory, orders ...string) (map[string][]string, *engine.Result) {
	t.Helper()
	return allocRunStep(t, settings, "", st, orders...)
}

// allocRunStep is allocRun with settings of the step itself ("key: value").
func allocRunStep(t *testing.T, settings, step string, st component.Inventory, orders ...string) (map[string][]string, *engine.Result) {
	t.Helper()
	dir := t.TempDir()
	plan := compile(t, allocPipeline(dir, settings, step))
	rt := &component.Runtime{Clock: component.FixedClock(t0), Stdin: strings.NewReader(strings.Join(orders, "\n") + "\n"), Inventory: st}
	res, err := engine.Run(context.Background(), plan, engine.Options{Runtime: rt, Workers: 2})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, n := range res.Nodes {
		if n.In != n.Out+n.Dropped+n.Errored {
			t.Errorf("node %s: in %d != out %d + dropped %d + errored %d", n.Name, n.In, n.Out, n.Dropped, n.Errored)
		}
	}
	out := map[string][]string{}
	for _, o := range allocOutputs {
		f, err := os.Open(filepath.Join(dir, o+".ndjson"))
		if err != nil {
			continue // the sink wrote nothing
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out[o] = append(out[o], sc.Text())
		}
		f.Close()
	}
	return out, res
}

// field decodes the given fields of JSON records.
func fields(t *testing.T, recs []string, names ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range recs {
		var m map[string]any
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		x := map[string]any{}
		for _, n := range names {
			x[n] = m[n]
		}
		out = append(out, x)
	}
	return out
}

func level(t *testing.T, st component.Inventory, sku, loc string) component.Level {
	t.Helper()
	ls, err := st.Levels(context.Background(), []string{sku})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Location == loc {
			return l
		}
	}
	return component.Level{}
}

func TestAllocateSplitsAcrossLocations(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 3, "A@wh-b": 5})
	out, _ := allocRun(t, `{allocation: {strategy: priority}}`, st,
		`{"id": 1001, "lines": [{"sku": "A", "quantity": 6}]}`)
	got := fields(t, out["shipments"], "order_id", "location_id", "status")
	want := []map[string]any{
		{"order_id": "1001", "location_id": "wh-a", "status": "ready"},
		{"order_id": "1001", "location_id": "wh-b", "status": "ready"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shipments (-want +got):\n%s", diff)
	}
	allocs := fields(t, out["allocations"], "location_id", "qty")
	if diff := cmp.Diff([]map[string]any{{"location_id": "wh-a", "qty": 3.0}, {"location_id": "wh-b", "qty": 3.0}}, allocs); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
	if len(out["backorders"]) != 0 || len(out["error"]) != 0 {
		t.Errorf("backorders %v, errors %v: want none", out["backorders"], out["error"])
	}
	if len(out["adjustments"]) != 2 {
		t.Errorf("adjustments = %v, want 2", out["adjustments"])
	}
	// The store committed the stock.
	if c := level(t, st, "A", "wh-a").Committed; !c.Equal(decimal.NewFromInt(3)) {
		t.Errorf("A@wh-a committed = %s, want 3", c)
	}
	if c := level(t, st, "A", "wh-b").Committed; !c.Equal(decimal.NewFromInt(3)) {
		t.Errorf("A@wh-b committed = %s, want 3", c)
	}
	ex, err := st.Explanations(context.Background(), "1001")
	if err != nil || len(ex) != 1 || !json.Valid(ex[0].Data) {
		t.Errorf("explanations = %v, %v: want one, JSON", ex, err)
	}
}

func TestAllocateBackordersUnderAllowNotify(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 2})
	out, _ := allocRun(t, `{backorder: {policy: allow_notify}}`, st,
		`{"id": "o-1", "lines": [{"sku": "A", "quantity": 5, "id": "L1"}]}`)
	bo := fields(t, out["backorders"], "order_id", "line_id", "sku", "qty", "location_id", "notify", "reason")
	want := []map[string]any{{"order_id": "o-1", "line_id": "L1", "sku": "A", "qty": 3.0, "location_id": "wh-a", "notify": true, "reason": "insufficient_stock"}}
	if diff := cmp.Diff(want, bo); diff != "" {
		t.Errorf("backorders (-want +got):\n%s", diff)
	}
	if len(out["shipments"]) != 1 {
		t.Errorf("shipments = %v, want one", out["shipments"])
	}
	var customer int
	for _, n := range fields(t, out["notifications"], "type") {
		if n["type"] == "backorder_customer" {
			customer++
		}
	}
	if customer != 1 {
		t.Errorf("notifications = %v, want one backorder_customer", out["notifications"])
	}
	// 2 allocated + 3 backordered are committed at wh-a: available -3.
	if a := level(t, st, "A", "wh-a").Available(); !a.Equal(decimal.NewFromInt(-3)) {
		t.Errorf("A@wh-a available = %s, want -3", a)
	}
}

func TestAllocateDenyCancels(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 1})
	out, res := allocRun(t, `{backorder: {policy: deny, remainder_action: cancel}}`, st,
		`{"id": 7, "lines": [{"sku": "A", "quantity": 4}]}`)
	c := fields(t, out["cancellations"], "order_id", "sku", "qty", "reason")
	if diff := cmp.Diff([]map[string]any{{"order_id": "7", "sku": "A", "qty": 3.0, "reason": "insufficient_stock"}}, c); diff != "" {
		t.Errorf("cancellations (-want +got):\n%s", diff)
	}
	if len(out["backorders"]) != 0 {
		t.Errorf("backorders = %v, want none", out["backorders"])
	}
	// The shortfall is decided, not an error: the order shipped what it
	// could, so it is passed on, and nothing reaches the error output.
	if len(out["error"]) != 0 {
		t.Errorf("errors = %v, want none", out["error"])
	}
	if len(out["shipments"]) != 1 || !strings.Contains(strings.Join(out["notifications"], ""), `"type":"insufficient_stock"`) {
		t.Errorf("shipments %v, notifications %v: want the shipment of 1 and an insufficient_stock notification", out["shipments"], out["notifications"])
	}
	if s := stats(t, res, "alloc"); s.In != 1 || s.Out != 1 || s.Errored != 0 {
		t.Errorf("alloc stats = %+v, want in 1, out 1, errored 0", s)
	}
}

// errored counts what reaches the error output: an order with two lines
// in error sends one record, naming both, and the line that could be
// allocated still ships.
func TestAllocateLineErrorsAreOneRecord(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 5})
	out, res := allocRun(t, `{}`, st,
		`{"id": 8, "lines": [{"sku": "A", "quantity": 1}, {"sku": "NOPE", "quantity": 1}, {"sku": "A", "quantity": -2}]}`,
		`{"id": 9, "lines": [{"sku": "A", "quantity": 9}]}`)
	if len(out["error"]) != 1 || !strings.Contains(out["error"][0], "unknown_sku") || !strings.Contains(out["error"][0], "invalid_qty") {
		t.Fatalf("errors = %v, want one record naming unknown_sku and invalid_qty", out["error"])
	}
	if s := stats(t, res, "alloc"); s.In != 2 || s.Errored != int64(len(out["error"])) || s.Out != 1 {
		t.Errorf("alloc stats = %+v, want in 2, errored 1 (the records on the error output), out 1", s)
	}
	if len(out["shipments"]) != 2 {
		t.Errorf("shipments = %v, want order 8's line A and order 9's 4 units", out["shipments"])
	}
}

func TestAllocateReplayIsIdentical(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 3, "A@wh-b": 1, "B@wh-b": 1})
	order := `{"id": 42, "lines": [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 1}]}`
	rules := `{backorder: {policy: allow}}`
	first, _ := allocRun(t, rules, st, order)
	before := level(t, st, "A", "wh-a")
	second, _ := allocRun(t, rules, st, order)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("replay differs (-first +second):\n%s", diff)
	}
	if after := level(t, st, "A", "wh-a"); !after.Committed.Equal(before.Committed) {
		t.Errorf("replay moved stock: committed %s -> %s", before.Committed, after.Committed)
	}
	if len(first["shipments"]) != 2 || len(first["backorders"]) != 1 {
		t.Errorf("first run: shipments %v backorders %v", first["shipments"], first["backorders"])
	}
}

// Every unit of every line is accounted for exactly once: allocated,
// backordered, cancelled or held (without allocation).
func TestAllocateCountsAddUp(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 4, "B@wh-b": 2, "C@wh-a": 1})
	orders := []string{
		`{"id": 1, "lines": [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 3}]}`,
		`{"id": 2, "lines": [{"sku": "A", "quantity": 3}, {"sku": "C", "quantity": 1}]}`,
		`{"id": 3, "lines": [{"sku": "C", "quantity": 2}, {"sku": "B", "quantity": 1}]}`,
	}
	out, _ := allocRun(t, `{backorder: {policy: allow, max_depth: 1, remainder_action: cancel}}`, st, orders...)
	total := decimal.Zero
	for _, o := range []string{"allocations", "backorders", "cancellations"} {
		for _, r := range fields(t, out[o], "qty") {
			total = total.Add(decimal.NewFromFloat(r["qty"].(float64)))
		}
	}
	for _, h := range out["holds"] {
		var hold struct {
			Allocated bool `json:"allocated"`
			Lines     []struct {
				Qty float64 `json:"qty"`
			} `json:"lines"`
		}
		if err := json.Unmarshal([]byte(h), &hold); err != nil {
			t.Fatal(err)
		}
		if !hold.Allocated {
			for _, l := range hold.Lines {
				total = total.Add(decimal.NewFromFloat(l.Qty))
			}
		}
	}
	if !total.Equal(decimal.NewFromInt(13)) {
		t.Errorf("allocated+backordered+cancelled+held = %s, want the 13 units ordered\n%v", total, out)
	}
	// The store's committed stock is what was allocated and backordered.
	committed := decimal.Zero
	ls, err := st.Levels(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		committed = committed.Add(l.Committed)
	}
	moved := decimal.Zero
	for _, r := range fields(t, out["adjustments"], "delta") {
		moved = moved.Add(decimal.NewFromFloat(r["delta"].(float64)))
	}
	if !committed.Equal(moved) {
		t.Errorf("store committed %s, adjustments moved %s", committed, moved)
	}
}

func TestAllocateOverridesAndWhen(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 1})
	dir := t.TempDir()
	src := strings.Replace(allocPipeline(dir, `{backorder: {policy: allow}}`),
		"    fulfillment: {backorder: {policy: allow}}\n",
		"    fulfillment: {backorder: {policy: allow}}\n    when: 'id != 99'\n    overrides:\n      - when: 'id == 2'\n        set: {backorder: {policy: deny, remainder_action: cancel}}\n", 1)
	plan := compile(t, src)
	rt := &component.Runtime{Clock: component.FixedClock(t0), Inventory: st, Stdin: strings.NewReader(
		`{"id": 1, "lines": [{"sku": "A", "quantity": 2}]}` + "\n" +
			`{"id": 2, "lines": [{"sku": "A", "quantity": 1}]}` + "\n" +
			`{"id": 99, "lines": [{"sku": "A", "quantity": 1}]}` + "\n")}
	if _, err := engine.Run(context.Background(), plan, engine.Options{Runtime: rt}); err != nil {
		t.Fatal(err)
	}
	read := func(o string) string {
		b, _ := os.ReadFile(filepath.Join(dir, o+".ndjson"))
		return string(b)
	}
	if bo := read("backorders"); !strings.Contains(bo, `"order_id":"1"`) || strings.Contains(bo, `"order_id":"2"`) {
		t.Errorf("backorders = %s: want order 1's only", bo)
	}
	if c := read("cancellations"); !strings.Contains(c, `"order_id":"2"`) {
		t.Errorf("cancellations = %s: want order 2's (override deny+cancel)", c)
	}
	if e := read("error"); !strings.Contains(e, "does not apply") {
		t.Errorf("errors = %s: want order 99 refused by the rule set's when", e)
	}
}

// A dry run decides as a run would and changes no stock.
func TestAllocateDryRunCommitsNothing(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 2})
	plan := compile(t, source("")+"rules:\n  f:\n    fulfillment: {backorder: {policy: allow}}\nsteps:\n  alloc:\n    from: in\n    allocate: {rules: f, lines: lines}\n"+sinks("alloc.shipments", "alloc.backorders"))
	res := run(t, plan, &component.Runtime{Inventory: st}, 1,
		`{"id": 1, "lines": [{"sku": "A", "quantity": 2}]}`,
		`{"id": 2, "lines": [{"sku": "A", "quantity": 1}]}`)
	if n := len(got(t, res, "alloc.shipments")); n != 1 {
		t.Errorf("shipments = %d, want 1 (order 2 sees order 1's allocation)", n)
	}
	if n := len(got(t, res, "alloc.backorders")); n != 1 {
		t.Errorf("backorders = %d, want 1", n)
	}
	if l := level(t, st, "A", "wh-a"); !l.Committed.IsZero() {
		t.Errorf("dry run committed %s", l.Committed)
	}
	if ex, _ := st.Explanations(context.Background(), "1"); len(ex) != 0 {
		t.Errorf("dry run stored explanations: %v", ex)
	}
}

func TestAllocateWithoutInventoryFailsToBuild(t *testing.T) {
	plan := compile(t, source("")+"rules:\n  f:\n    fulfillment: {}\nsteps:\n  alloc:\n    from: in\n    allocate: {rules: f}\n"+sinks("alloc.shipments"))
	if _, err := runErr(plan, nil, 1, `{"id": 1, "line_items": []}`); err == nil || !strings.Contains(err.Error(), "inventory") {
		t.Errorf("err = %v, want one naming the missing inventory", err)
	}
}

// Every field of every record the step emits is declared by its output's
// type, so expressions downstream are checked against what arrives.
func TestAllocateRecordsMatchOutputTypes(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 1, "B@wh-b": 1})
	out, _ := allocRun(t, `{backorder: {policy: allow_notify}, split: {mode: ship_complete}}`, st,
		`{"id": 5, "lines": [{"sku": "A", "quantity": 2, "id": "x"}, {"sku": "B", "quantity": 1}]}`)
	plan := compile(t, allocPipeline(t.TempDir(), `{}`))
	n, _ := plan.Node("alloc")
	seen := 0
	for _, o := range allocOutputs {
		if o == "error" {
			continue
		}
		typ := n.Outputs[o]
		if typ == nil {
			t.Fatalf("output %s has no type", o)
		}
		declared := map[string]bool{}
		for _, f := range typ.FieldNames() {
			declared[f] = true
		}
		for _, r := range out[o] {
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(r), &m); err != nil {
				t.Fatal(err)
			}
			for k := range m {
				if !declared[k] {
					t.Errorf("%s record has field %q its type does not declare: %s", o, k, r)
				}
			}
			seen++
		}
	}
	if len(out["holds"]) == 0 || len(out["backorders"]) == 0 || seen < 6 {
		t.Errorf("want holds and backorders among the records, got %v", out)
	}
}

// backorder.max_depth caps what is outstanding on backorder for a SKU
// across orders and runs (DOMAIN.md §2.7 case 21), not per order: units
// other orders backordered count against it.
func TestAllocateBackorderDepthAcrossOrders(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 1})
	settings := `{backorder: {policy: allow, max_depth: 3, remainder_action: cancel}}`
	out, _ := allocRun(t, settings, st,
		`{"id":1,"lines":[{"sku":"A","quantity":3}]}`,
		`{"id":2,"lines":[{"sku":"A","quantity":2}]}`)
	want := []map[string]any{
		{"order_id": "1", "qty": float64(2)},
		{"order_id": "2", "qty": float64(1)},
	}
	if diff := cmp.Diff(want, fields(t, out["backorders"], "order_id", "qty")); diff != "" {
		t.Errorf("backorders (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]map[string]any{{"order_id": "2", "qty": float64(1)}}, fields(t, out["cancellations"], "order_id", "qty")); diff != "" {
		t.Errorf("cancellations (-want +got):\n%s", diff)
	}
	// A later run sees the three units outstanding: nothing more may be
	// backordered.
	out, _ = allocRun(t, settings, st, `{"id":3,"lines":[{"sku":"A","quantity":1}]}`)
	if len(out["backorders"]) != 0 || len(out["cancellations"]) != 1 {
		t.Errorf("order 3: backorders %v, cancellations %v; want none and one", out["backorders"], out["cancellations"])
	}
	if l := level(t, st, "A", "wh-a"); !l.Available().Equal(decimal.NewFromInt(-3)) {
		t.Errorf("available %s, want -3 (max_depth)", l.Available())
	}
}

// A stock row an order takes below its reorder point raises one
// replenishment request for its target level; orders taking more from the
// same row, in the same run or a later one, raise no second request while
// it is open; a replay raises the same records and opens nothing new.
func TestAllocateRaisesOneReplenishmentPerRow(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 10, "B@wh-a": 10})
	step := "replenishment: {reorder_point: 5, target_level: 20, by_sku: {b: {reorder_point: 2, target_level: 8}}}"
	orders := []string{
		`{"id":1,"lines":[{"sku":"A","quantity":4},{"sku":"B","quantity":4}]}`, // A 10→6, B 10→6: above both points
		`{"id":2,"lines":[{"sku":"A","quantity":2}]}`,                          // A 6→4: below 5, request 16
		`{"id":3,"lines":[{"sku":"A","quantity":1},{"sku":"B","quantity":5}]}`, // A open already; B 6→1: request 7
	}
	out, _ := allocRunStep(t, `{}`, step, st, orders...)
	want := []map[string]any{
		{"order_id": "2", "sku": "A", "location_id": "wh-a", "qty": float64(16), "available": float64(4), "reorder_point": float64(5), "target_level": float64(20)},
		{"order_id": "3", "sku": "B", "location_id": "wh-a", "qty": float64(7), "available": float64(1), "reorder_point": float64(2), "target_level": float64(8)},
	}
	got := fields(t, out["replenishment"], "order_id", "sku", "location_id", "qty", "available", "reorder_point", "target_level")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replenishment (-want +got):\n%s", diff)
	}
	hist, err := st.RuleHistory(context.Background(), "replenishment/a@wh-a")
	if err != nil || len(hist) != 1 || hist[0].New != "open" {
		t.Fatalf("audit log of A at wh-a: %v %v, want one opening", hist, err)
	}
	// A later run: A is still open, so taking more raises nothing; the
	// replayed order 2 re-emits its request without opening another.
	out, _ = allocRunStep(t, `{}`, step, st, `{"id":4,"lines":[{"sku":"A","quantity":1}]}`, orders[1])
	if len(out["replenishment"]) != 1 || !strings.Contains(out["replenishment"][0], `"order_id":"2"`) {
		t.Errorf("second run: replenishment %v, want only order 2's, replayed", out["replenishment"])
	}
	if hist, _ := st.RuleHistory(context.Background(), "replenishment/a@wh-a"); len(hist) != 1 {
		t.Errorf("audit log of A at wh-a has %d entries after a replay, want 1", len(hist))
	}
}
