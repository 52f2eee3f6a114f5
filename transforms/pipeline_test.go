package transforms_test

import (
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms"
)

// Every step kind but allocate (a later issue) can run, and the engine
// knows which keep state and which pass records through unchanged.
func TestStepKinds(t *testing.T) {
	reg := component.NewRegistry()
	transforms.Register(reg)
	want := map[string]struct{ stateful, passThrough bool }{
		"map": {}, "filter": {false, true}, "route": {false, true}, "split": {},
		"group": {true, false}, "dedupe": {true, true}, "lookup": {}, "validate": {false, true},
		"stock": {true, false},
	}
	for _, s := range reg.Specs(component.StepSection) {
		if s.Kind == "allocate" {
			continue
		}
		w, ok := want[s.Kind]
		if !ok {
			t.Errorf("step kind %s: not covered by this test", s.Kind)
			continue
		}
		if s.NewStep == nil {
			t.Errorf("step kind %s cannot run", s.Kind)
		}
		if s.Stateful != w.stateful || s.PassThrough != w.passThrough {
			t.Errorf("step kind %s: stateful %v pass-through %v, want %v %v", s.Kind, s.Stateful, s.PassThrough, w.stateful, w.passThrough)
		}
		if len(s.Examples) == 0 {
			t.Errorf("step kind %s has no example", s.Kind)
		}
	}
}

// Orders are checked, deduplicated, split into lines, joined with the SKU
// map and gathered back per warehouse: every record is accounted for at
// every node, whatever the number of workers, and the output is the same.
func TestOrdersToWarehouseBatches(t *testing.T) {
	src := source("") + `steps:
  checked:
    from: in
    validate: shopify/order
  once:
    from: checked
    dedupe: id
  lines:
    from: once
    split: {items: line_items, as: line}
  with_item:
    from: lines
    lookup: {table: sku-map.csv, column: store_sku, key: line.sku, as: wms}
  pick:
    from: with_item
    map:
      warehouse: wms.warehouse
      order_id: string(parent.id)
      item: wms.code
      qty: line.quantity
  per_warehouse:
    from: pick
    group: warehouse
` + sinks("per_warehouse", "checked.error", "with_item.error")
	in := []string{
		`{"id":1001,"line_items":[{"sku":"A","quantity":1},{"sku":"B","quantity":2}]}`,
		`{"id":1002,"line_items":[{"sku":"B","quantity":1},{"sku":"Z","quantity":1}]}`,
		`{"id":1001,"line_items":[{"sku":"A","quantity":1}]}`, // a second delivery
		`{"id":"1003","line_items":[]}`,                       // not a Shopify order
		`{"id":1004,"line_items":[]}`,
		`{"id":1005,"line_items":[{"sku":"A","quantity":3}]}`,
	}
	rt := tableDir(t, map[string]string{"sku-map.csv": "store_sku,code,warehouse\nA,W-A,east\nB,W-B,west\n"})
	plan := compile(t, src)
	var first []string
	for _, workers := range []int{1, 4} {
		res := run(t, plan, rt, workers, in...)
		out := got(t, res, "per_warehouse")
		equal(t, "per_warehouse", out, []string{
			`{"key":"east","records":[{"warehouse":"east","order_id":"1001","item":"W-A","qty":1},{"warehouse":"east","order_id":"1005","item":"W-A","qty":3}]}`,
			`{"key":"west","records":[{"warehouse":"west","order_id":"1001","item":"W-B","qty":2},{"warehouse":"west","order_id":"1002","item":"W-B","qty":1}]}`,
		})
		if first == nil {
			first = out
		}
		equal(t, "same output with more workers", out, first)
		wantCounts(t, res, "checked", counts{In: 6, Out: 5, Errored: 1, Emitted: 5})
		wantCounts(t, res, "once", counts{In: 5, Out: 4, Dropped: 1, Emitted: 4})
		wantCounts(t, res, "lines", counts{In: 4, Out: 3, Dropped: 1, Emitted: 5})
		wantCounts(t, res, "with_item", counts{In: 5, Out: 4, Errored: 1, Emitted: 4})
		wantCounts(t, res, "pick", counts{In: 4, Out: 4, Emitted: 4})
		wantCounts(t, res, "per_warehouse", counts{In: 4, Dropped: 4, Emitted: 2})
		errs := errorsAt(t, res, "with_item.error")
		if len(errs) != 1 {
			t.Fatalf("%d lookup errors, want 1", len(errs))
		}
		if string(errs[0].Original) != in[1] {
			t.Errorf("lookup error original = %s, want the order %s", errs[0].Original, in[1])
		}
		if n := len(errorsAt(t, res, "checked.error")); n != 1 {
			t.Errorf("%d validation errors, want 1", n)
		}
	}
}
