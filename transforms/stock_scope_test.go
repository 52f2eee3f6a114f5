package transforms_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// An event sent again under its id with other lines is refused: neither a
// replay nor applied.
func TestStockEditedEventIsAConflict(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 5})
	allocRun(t, `{}`, st, `{"id": 1, "lines": [{"sku": "X", "quantity": 3}]}`)
	out := stockRun(t, "cancel", `{}`, ", order_id: string(order_id)", st, `{"id": "c1", "order_id": 1, "lines": [{"sku": "X", "quantity": 1}]}`)
	if len(out["error"]) != 0 {
		t.Fatalf("first cancel: %v", out["error"])
	}
	equal(t, "after the cancel", stockLevel(t, st, "X", "wh-a"), "5/2")
	out = stockRun(t, "cancel", `{}`, ", order_id: string(order_id)", st, `{"id": "c1", "order_id": 1, "lines": [{"sku": "X", "quantity": 2}]}`)
	if len(out["error"]) != 1 || !strings.Contains(out["error"][0], "applied before") || len(out["cancellations"]) != 0 {
		t.Errorf("the cancel sent again with 2: %v, want it refused", out)
	}
	equal(t, "after the refused cancel", stockLevel(t, st, "X", "wh-a"), "5/2")
	out = stockRun(t, "cancel", `{}`, ", order_id: string(order_id)", st, `{"id": "c1", "order_id": 1, "lines": [{"sku": "X", "quantity": 1}]}`)
	if len(out["error"]) != 0 || len(out["cancellations"]) != 1 {
		t.Errorf("the same cancel again: %v, want a replay", out)
	}
	equal(t, "after the replay", stockLevel(t, st, "X", "wh-a"), "5/2")
}

// Two pipelines allocated an order 1001 each, with no key: a cancel of
// 1001 cannot tell whose stock to release, and is refused.
func TestStockRefusesOrderOfTwoShops(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 5})
	allocRunIn(t, "shopify", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "X", "quantity": 1}]}`)
	allocRunIn(t, "woo", `{}`, "", st, `{"id": 1001, "lines": [{"sku": "X", "quantity": 2}]}`)
	equal(t, "after both orders", stockLevel(t, st, "X", "wh-a"), "5/3")
	out := stockRun(t, "cancel", `{}`, ", order_id: string(order_id)", st, `{"id": "c1", "order_id": 1001, "lines": [{"sku": "X", "quantity": 1}]}`)
	if len(out["error"]) != 1 || !strings.Contains(out["error"][0], "2 orders") {
		t.Errorf("cancel of 1001: %v, want it refused as ambiguous", out)
	}
	equal(t, "after the refused cancel", stockLevel(t, st, "X", "wh-a"), "5/3")
}

// With a key on both steps, the stock step finds its order's ledger.
func TestStockKeyFindsTheOrder(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 5})
	allocRunIn(t, "p", `{}`, `key: 'shop + "/" + string(id)'`, st,
		`{"shop": "a", "id": 1001, "lines": [{"sku": "X", "quantity": 1}]}`,
		`{"shop": "b", "id": 1001, "lines": [{"sku": "X", "quantity": 2}]}`)
	out := stockRun(t, "cancel", `{}`, `, order_id: string(order_id), key: 'shop + "/" + string(order_id)'`, st,
		`{"id": "c1", "shop": "b", "order_id": 1001, "lines": [{"sku": "X", "quantity": 2}]}`)
	if len(out["error"]) != 0 || len(out["cancellations"]) != 1 || !strings.Contains(out["cancellations"][0], `"qty":2`) {
		t.Errorf("cancel of b/1001: %v, want its 2 cancelled", out)
	}
	equal(t, "after the cancel", stockLevel(t, st, "X", "wh-a"), "5/1")
}

// A cancel or a ship of backordered units settles them: they no longer
// count against backorder.max_depth.
func TestStockSettlesBackorders(t *testing.T) {
	st := stockStore(t, map[string]int64{"X@wh-a": 0})
	rules := `{backorder: {policy: allow, max_depth: 3, remainder_action: cancel}}`
	allocRun(t, rules, st, `{"id": 1, "lines": [{"sku": "X", "quantity": 3}]}`)
	if b := level(t, st, "X", "wh-a").Backordered; !b.Equal(decimal.NewFromInt(3)) {
		t.Fatalf("backordered %s, want 3", b)
	}
	stockRun(t, "cancel", rules, ", order_id: string(order_id)", st, `{"id": "c1", "order_id": 1, "lines": [{"sku": "X", "quantity": 3}]}`)
	if b := level(t, st, "X", "wh-a").Backordered; !b.IsZero() {
		t.Errorf("backordered %s after the cancel, want 0", b)
	}
	out, _ := allocRun(t, rules, st, `{"id": 2, "lines": [{"sku": "X", "quantity": 3}]}`)
	if len(out["backorders"]) != 1 || len(out["cancellations"]) != 0 {
		t.Errorf("order 2: %v, want its 3 backordered (the cancel freed the depth)", out)
	}
	// Stock arrives, and order 2's backordered units ship.
	if _, err := st.SetLevel(context.Background(), component.LevelUpdate{SKU: "X", Location: "wh-a", Quantity: decimal.NewFromInt(3)}); err != nil {
		t.Fatal(err)
	}
	out = stockRun(t, "ship", rules, ", order_id: string(order_id), location: '\"wh-a\"'", st, `{"id": "s1", "order_id": 2, "lines": [{"sku": "X", "quantity": 3}]}`)
	if len(out["error"]) != 0 {
		t.Fatalf("ship: %v", out["error"])
	}
	if l := level(t, st, "X", "wh-a"); !l.Backordered.IsZero() || !l.Committed.IsZero() {
		t.Errorf("after the ship: backordered %s committed %s, want 0 and 0", l.Backordered, l.Committed)
	}
}

var _ = engine.Run
