package transforms_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
)

var stockOutputs = []string{"adjustments", "cancellations", "notifications", "replenishment", "error"}

// stockRun runs a `stock` step for real against st: events {id, order_id,
// lines: [{sku, quantity, line_id?, location?, restock_type?}]}, under the
// rule set settings and the step's extra settings (YAML flow map entries).
// It returns what each output received, and the default output as "out".
func stockRun(t *testing.T, action, settings, extra string, st component.Inventory, events ...string) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString(source(""))
	fmt.Fprintf(&b, "rules:\n  f:\n    fulfillment: %s\n", settings)
	fmt.Fprintf(&b, "steps:\n  st:\n    from: in\n    stock: {action: %s, rules: f%s}\nsinks:\n", action, extra)
	fmt.Fprintf(&b, "  to_out:\n    from: st\n    file: {path: %q}\n", filepath.Join(dir, "out.ndjson"))
	for _, o := range stockOutputs {
		fmt.Fprintf(&b, "  to_%s:\n    from: st.%s\n    file: {path: %q}\n", o, o, filepath.Join(dir, o+".ndjson"))
	}
	plan := compile(t, b.String())
	rt := &component.Runtime{Clock: component.FixedClock(t0), Stdin: strings.NewReader(strings.Join(events, "\n") + "\n"), Inventory: st}
	if _, err := engine.Run(context.Background(), plan, engine.Options{Runtime: rt, Workers: 2}); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := map[string][]string{}
	for _, o := range append([]string{"out"}, stockOutputs...) {
		f, err := os.Open(filepath.Join(dir, o+".ndjson"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			out[o] = append(out[o], sc.Text())
		}
		f.Close()
	}
	return out
}

// stockLevel reads one stock row as "on_hand/committed".
func stockLevel(t *testing.T, st component.Inventory, sku, loc string) string {
	t.Helper()
	ls, err := st.Levels(context.Background(), []string{sku})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Location == loc {
			return l.OnHand.String() + "/" + l.Committed.String()
		}
	}
	return "none"
}

// TestStockAfterAllocate allocates an order with the allocate step, then
// cancels part of it, ships the rest, returns some, and replays every
// event: the store ends where §2.5 says, and the replays change nothing.
func TestStockAfterAllocate(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 2, "X@wh-b": 3})
	rules := "{split: {max_shipments: 0}}"
	out, _ := allocRun(t, rules, st, `{"id": 1, "lines": [{"sku": "X", "quantity": 4}]}`)
	if len(out["allocations"]) != 2 {
		t.Fatalf("allocations: %v", out["allocations"])
	}
	// wh-a 2 then wh-b 2.
	equal(t, "after allocate", stockLevel(t, st, "X", "wh-a")+" "+stockLevel(t, st, "X", "wh-b"), "2/2 3/2")

	cancel := `{"id": "c1", "order_id": 1, "lines": [{"sku": "X", "quantity": 1}]}`
	for range 2 {
		got := stockRun(t, "cancel", rules, "", st, cancel)
		if len(got["error"]) != 0 || len(got["out"]) != 1 || len(got["cancellations"]) != 1 {
			t.Fatalf("cancel: %v", got)
		}
	}
	// The lowest-ranked location, wh-b, is released first, once.
	equal(t, "after cancel", stockLevel(t, st, "X", "wh-a")+" "+stockLevel(t, st, "X", "wh-b"), "2/2 3/1")

	ship := `{"id": "s1", "order_id": 1, "lines": [{"sku": "X", "quantity": 2, "location": "wh-a"}, {"sku": "X", "quantity": 1, "location": "wh-b"}]}`
	for range 2 {
		got := stockRun(t, "ship", rules, "", st, ship)
		if len(got["error"]) != 0 || len(got["adjustments"]) != 4 {
			t.Fatalf("ship: %v", got)
		}
	}
	equal(t, "after ship", stockLevel(t, st, "X", "wh-a")+" "+stockLevel(t, st, "X", "wh-b"), "0/0 2/0")

	// Nothing is committed any more: another shipment is refused.
	got := stockRun(t, "ship", rules, "", st, `{"id": "s2", "order_id": 1, "lines": [{"sku": "X", "quantity": 1, "location": "wh-b"}]}`)
	if len(got["error"]) != 1 || len(got["out"]) != 0 || !strings.Contains(got["error"][0], "holds 0") {
		t.Fatalf("second ship: %v", got)
	}

	ret := `{"id": "r1", "order_id": 1, "lines": [{"sku": "X", "quantity": 1, "location": "wh-a", "restock_type": "RETURN"}, {"sku": "X", "quantity": 1, "restock_type": "NO_RESTOCK"}]}`
	for i := range 2 {
		got := stockRun(t, "return", rules, "", st, ret)
		if len(got["error"]) != 0 || len(got["adjustments"]) != 1 {
			t.Fatalf("return: %v", got)
		}
		if i == 0 && (len(got["notifications"]) != 1 || !strings.Contains(got["notifications"][0], `"back_in_stock"`)) {
			t.Errorf("return notifications: %v", got["notifications"])
		}
	}
	equal(t, "after return", stockLevel(t, st, "X", "wh-a")+" "+stockLevel(t, st, "X", "wh-b"), "1/0 2/0")
}

// TestStockReplenishmentOnePerRow: two orders' shipments leave a row below
// its reorder point; one request is opened, across runs, until stock is
// back at the reorder point.
func TestStockReplenishmentOnePerRow(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 3})
	rules := "{}"
	allocRun(t, rules, st, `{"id": 1, "lines": [{"sku": "X", "quantity": 2}]}`, `{"id": 2, "lines": [{"sku": "X", "quantity": 1}]}`)
	extra := ", replenishment: {reorder_point: 1, target_level: 5, by_sku: {y: {reorder_point: 9, target_level: 9}}}"
	var requests []string
	for _, ev := range []string{
		`{"id": "s1", "order_id": 1, "lines": [{"sku": "X", "quantity": 1, "location": "wh-a"}]}`,
		`{"id": "s2", "order_id": 2, "lines": [{"sku": "X", "quantity": 1, "location": "wh-a"}]}`,
	} {
		requests = append(requests, stockRun(t, "ship", rules, extra, st, ev)["replenishment"]...)
	}
	if len(requests) != 1 || !strings.Contains(requests[0], `"qty":5`) {
		t.Fatalf("requests: %v, want one for 5", requests)
	}
	hist, err := st.RuleHistory(context.Background(), "replenishment/x@wh-a")
	if err != nil || len(hist) != 1 || hist[0].New != "open" {
		t.Fatalf("history %+v, %v", hist, err)
	}
	// Cancelling order 1's last unit brings available to 1: closed.
	stockRun(t, "cancel", rules, extra, st, `{"id": "c1", "order_id": 1, "lines": [{"sku": "X", "quantity": 1}]}`)
	hist, _ = st.RuleHistory(context.Background(), "replenishment/x@wh-a")
	if len(hist) != 2 || hist[1].New != "closed" {
		t.Fatalf("history %+v, want the request closed", hist)
	}
}

func TestStockRefusals(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 1})
	allocRun(t, "{}", st, `{"id": 1, "lines": [{"sku": "X", "quantity": 1}]}`)
	for _, tc := range []struct{ action, event, words string }{
		{"ship", `{"id": "s", "order_id": 1, "lines": [{"sku": "X", "quantity": 1}]}`, "needs a location"},
		{"ship", `{"id": "s", "order_id": 1, "lines": [{"sku": "X", "quantity": 2, "location": "wh-a"}]}`, "holds 1"},
		{"ship", `{"id": "s", "order_id": 2, "lines": [{"sku": "X", "quantity": 1, "location": "wh-a"}]}`, "holds 0"},
		{"cancel", `{"id": "c", "order_id": 1, "lines": [{"sku": "X", "quantity": 2}]}`, "holds 1"},
		{"cancel", `{"id": "c", "order_id": 1, "lines": []}`, "no lines"},
		{"cancel", `{"order_id": 1, "lines": [{"sku": "X", "quantity": 1}]}`, "event_id"},
		{"return", `{"id": "r", "order_id": 1, "lines": [{"sku": "X", "quantity": 1, "location": "wh-a", "restock_type": "RETURN"}]}`, "shipped 0"},
		{"return", `{"id": "r", "order_id": 1, "lines": [{"sku": "X", "quantity": 1, "restock_type": "LATER"}]}`, "restock_type"},
	} {
		got := stockRun(t, tc.action, "{}", "", st, tc.event)
		if len(got["error"]) != 1 || len(got["out"]) != 0 || !strings.Contains(got["error"][0], tc.words) {
			t.Errorf("%s %s: got %v, want an error with %q", tc.action, tc.event, got, tc.words)
		}
	}
	equal(t, "stock", stockLevel(t, st, "X", "wh-a"), "1/1")
}
