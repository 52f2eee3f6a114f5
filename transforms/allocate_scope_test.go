package transforms_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// allocRunIn is allocRunStep for a pipeline of the given name.
func allocRunIn(t *testing.T, pipeline, settings, step string, st component.Inventory, orders ...string) map[string][]string {
	t.Helper()
	dir := t.TempDir()
	src := strings.Replace(allocPipeline(dir, settings, step), "pipeline: t\n", "pipeline: "+pipeline+"\n", 1)
	plan := compile(t, src)
	rt := &component.Runtime{Clock: component.FixedClock(t0), Stdin: strings.NewReader(strings.Join(orders, "\n") + "\n"), Inventory: st}
	if _, err := engine.Run(context.Background(), plan, engine.Options{Runtime: rt}); err != nil {
		t.Fatalf("run: %v", err)
	}
	return readOutputs(t, dir)
}

func readOutputs(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, o := range allocOutputs {
		recs := readLines(t, filepath.Join(dir, o+".ndjson"))
		if len(recs) > 0 {
			out[o] = recs
		}
	}
	return out
}

// Two pipelines share a store and both start numbering at 1001: each
// order is allocated, and each emits its own shipment.
func TestAllocateTwoPipelinesSameOrderID(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 5, "B@wh-a": 5})
	shopify := allocRunIn(t, "shopify-orders", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "A", "quantity": 1}]}`)
	woo := allocRunIn(t, "woo-orders", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "B", "quantity": 2}]}`)
	if len(woo["shipments"]) != 1 || !strings.Contains(woo["shipments"][0], `"sku":"B","qty":2`) {
		t.Fatalf("the second pipeline's order 1001 shipped %v, want its own line B", woo["shipments"])
	}
	if len(shopify["shipments"]) != 1 || shipmentID(t, shopify["shipments"][0]) == shipmentID(t, woo["shipments"][0]) {
		t.Errorf("shipment ids: %v and %v, want two different", shopify["shipments"], woo["shipments"])
	}
	if c := level(t, st, "B", "wh-a").Committed; !c.Equal(decimal.NewFromInt(2)) {
		t.Errorf("B committed %s, want 2", c)
	}
	if c := level(t, st, "A", "wh-a").Committed; !c.Equal(decimal.NewFromInt(1)) {
		t.Errorf("A committed %s, want 1", c)
	}
	// Each replays as itself.
	again := allocRunIn(t, "woo-orders", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "B", "quantity": 2}]}`)
	if strings.Join(again["shipments"], "") != strings.Join(woo["shipments"], "") {
		t.Errorf("replay shipped %v, want %v", again["shipments"], woo["shipments"])
	}
}

func shipmentID(t *testing.T, rec string) any {
	t.Helper()
	return fields(t, []string{rec}, "shipment_id")[0]["shipment_id"]
}

// An order sent again with other lines is not a replay: it goes to the
// error output with a clear error, nothing is allocated, and the first
// order's records are not emitted again.
func TestAllocateEditedOrderIsAConflict(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 5})
	first := allocRunIn(t, "p", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "A", "quantity": 1}]}`)
	edited := allocRunIn(t, "p", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "A", "quantity": 3}]}`)
	if len(edited["error"]) != 1 || !strings.Contains(edited["error"][0], "applied before") || !strings.Contains(edited["error"][0], `"quantity": 3`) {

		t.Errorf("errors %v, want the edited order refused, with its payload", edited["error"])
	}
	if len(edited["shipments"])+len(edited["allocations"]) != 0 {
		t.Errorf("the edited order emitted %v", edited)
	}
	if c := level(t, st, "A", "wh-a").Committed; !c.Equal(decimal.NewFromInt(1)) {
		t.Errorf("A committed %s, want 1", c)
	}
	// The payload's other bytes do not matter: the same lines replay.
	replay := allocRunIn(t, "p", `{}`, "", st, `{"lines": [{"quantity": 1, "sku": "A"}], "id": 1001, "note": "resent"}`)
	if strings.Join(replay["shipments"], "") != strings.Join(first["shipments"], "") || len(replay["error"]) != 0 {
		t.Errorf("replay: %v, want the first shipments %v", replay, first["shipments"])
	}
}

// One pipeline taking two shops tells their orders apart with `key`:
// both are allocated, and each is explained under its key.
func TestAllocateKeyTellsShopsApart(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 5})
	out := allocRunIn(t, "p", `{}`, `key: 'shop + "/" + string(id)'`, st,
		`{"shop": "a.example", "id": 1001, "lines": [{"sku": "A", "quantity": 1}]}`,
		`{"shop": "b.example", "id": 1001, "lines": [{"sku": "A", "quantity": 2}]}`)
	if len(out["shipments"]) != 2 || len(out["error"]) != 0 {
		t.Fatalf("shipments %v errors %v: want both orders shipped", out["shipments"], out["error"])
	}
	if c := level(t, st, "A", "wh-a").Committed; !c.Equal(decimal.NewFromInt(3)) {
		t.Errorf("A committed %s, want 3", c)
	}
	for _, ref := range []string{"a.example/1001", "b.example/1001"} {
		if ex, err := st.Explanations(context.Background(), ref); err != nil || len(ex) != 1 {
			t.Errorf("explanations of %s: %v %v, want one", ref, ex, err)
		}
		if ms, err := st.OrderMovements(context.Background(), ref); err != nil || len(ms) != 1 {
			t.Errorf("ledger of %s: %v %v, want its allocation", ref, ms, err)
		}
	}
}

// After an upgrade, an order allocated under the bare key an older pipectl
// used replays: nothing is allocated twice. Another order with that id
// (other lines) is refused, not taken for it.
func TestAllocateReplaysOrderOfOlderPipectl(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(context.Background(), "sqlite://"+dir, state.Options{Clock: component.FixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.SetLevel(context.Background(), component.LevelUpdate{SKU: "A", Location: "wh-a", Quantity: decimal.NewFromInt(5)}); err != nil {
		t.Fatal(err)
	}
	order := `{"id": 1001, "lines": [{"sku": "A", "quantity": 2}]}`
	first := allocRunIn(t, "p", `{}`, "", st, order)
	// Make the stored event what an older pipectl stored: its bare key,
	// no fingerprint.
	db, err := sql.Open("sqlite", filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE applied SET key = 'allocate:1001', fingerprint = NULL WHERE key = 'allocate:p/in:1001'`,
		`UPDATE movements SET key = 'allocate:1001' WHERE key = 'allocate:p/in:1001'`,
	} {
		if res, err := db.Exec(q); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s changed nothing", q)
		}
	}
	db.Close()
	again := allocRunIn(t, "p", `{}`, "", st, order)
	if strings.Join(again["shipments"], "") != strings.Join(first["shipments"], "") || len(again["error"]) != 0 {
		t.Errorf("replay after the upgrade: %v, want the first shipments %v", again, first["shipments"])
	}
	if c := level(t, st, "A", "wh-a").Committed; !c.Equal(decimal.NewFromInt(2)) {
		t.Errorf("A committed %s, want 2: allocated once", c)
	}
	other := allocRunIn(t, "p", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]}`)
	if len(other["error"]) != 1 || !strings.Contains(other["error"][0], "allocate:1001") || len(other["shipments"]) != 0 {
		t.Errorf("another order 1001: %v, want it refused, naming the old key", other)
	}
	if c := level(t, st, "A", "wh-a").Committed; !c.Equal(decimal.NewFromInt(2)) {
		t.Errorf("A committed %s, want 2", c)
	}
}

// backorder.max_depth counts units outstanding on backorder, not how far
// rows are below zero (DOMAIN.md §2.9 #5).
func TestAllocateMaxDepthCountsBackorders(t *testing.T) {
	t.Run("safety stock keeps the rows at zero", func(t *testing.T) {
		st := stockStore(t, map[string]int64{"A@wh-a": 5})
		out, _ := allocRun(t, `{inventory: {safety_stock: 5}, backorder: {policy: allow, max_depth: 3, remainder_action: cancel}}`, st,
			`{"id": 1, "lines": [{"sku": "A", "quantity": 3}]}`,
			`{"id": 2, "lines": [{"sku": "A", "quantity": 3}]}`)
		if got := fields(t, out["backorders"], "order_id", "qty"); len(got) != 1 || got[0]["order_id"] != "1" {
			t.Errorf("backorders %v, want order 1's 3 only (3 outstanding is max_depth)", got)
		}
		if got := fields(t, out["cancellations"], "order_id", "qty"); len(got) != 1 || got[0]["order_id"] != "2" || got[0]["qty"] != 3.0 {
			t.Errorf("cancellations %v, want order 2's 3", got)
		}
	})
	t.Run("a feed below zero is no backorder", func(t *testing.T) {
		st := stockStore(t, map[string]int64{"A@wh-a": -3})
		out, _ := allocRun(t, `{backorder: {policy: allow, max_depth: 2, remainder_action: cancel}}`, st,
			`{"id": 1, "lines": [{"sku": "A", "quantity": 2}]}`)
		if got := fields(t, out["backorders"], "qty"); len(got) != 1 || got[0]["qty"] != 2.0 || len(out["cancellations"]) != 0 {
			t.Errorf("backorders %v cancellations %v, want 2 backordered: nothing is on backorder", got, out["cancellations"])
		}
		if b := level(t, st, "A", "wh-a").Backordered; !b.Equal(decimal.NewFromInt(2)) {
			t.Errorf("backordered %s, want 2", b)
		}
	})
}

// readLines reads an NDJSON file's lines; a file never written has none.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
