package allocation_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// One test per edge case of DOMAIN.md §2.7, named after its number and
// title.

func TestEdge01PartialStockInOneLocation(t *testing.T) {
	stock := allocation.Stock{{SKU: "S", Location: "L"}: onHand("3")}
	e := exp{"o", allocation.Priority}
	alloc := []allocation.Allocation{e.alloc("1", "S", "L", "3", 1)}
	allocAdj := e.adj("1", "S", "L", "3", "allocate")
	tests := []struct {
		name string
		edit func(*allocation.Rules)
		want records
	}{
		{"ship_partial allow: allocate what exists, backorder the rest",
			func(r *allocation.Rules) { r.Backorder.Policy = allocation.Allow },
			records{
				Allocations: alloc,
				Shipments:   []allocation.Shipment{e.ship("L", 1, allocation.Ready, sl("1", "S", "3"))},
				Backorders:  []allocation.Backorder{e.backorder("1", "S", "L", "2", false)},
				Adjustments: []allocation.Adjustment{allocAdj, e.adj("1", "S", "L", "2", "backorder")},
				Notifications: []allocation.Notification{
					e.stockNote(allocation.NotifyOutOfStock, "S", "L", "-2"),
				},
			}},
		{"ship_partial deny cancel: allocate what exists, cancel the rest",
			func(r *allocation.Rules) { r.Backorder.RemainderAction = allocation.RemainderCancel },
			records{
				Allocations:   alloc,
				Shipments:     []allocation.Shipment{e.ship("L", 1, allocation.Ready, sl("1", "S", "3"))},
				Cancellations: []allocation.Cancellation{e.cancel("1", "S", "2", "insufficient_stock")},
				Adjustments:   []allocation.Adjustment{allocAdj},
				Errors:        []allocation.LineError{e.insufficient("1", "S", "2", "3")},
				Notifications: []allocation.Notification{
					e.lineNote(allocation.NotifyInsufficientStock, "1", "S", "2"),
					e.stockNote(allocation.NotifyOutOfStock, "S", "L", "0"),
				},
			}},
		{"ship_complete: the shipment is held",
			func(r *allocation.Rules) {
				r.Backorder.Policy = allocation.Allow
				r.Split.Mode = allocation.ShipComplete
			},
			records{
				Allocations: alloc,
				Shipments:   []allocation.Shipment{e.ship("L", 1, allocation.Held, sl("1", "S", "3"))},
				Backorders:  []allocation.Backorder{e.backorder("1", "S", "L", "2", false)},
				Holds:       []allocation.Hold{e.hold(allocation.HoldShipComplete, true, hl("1", "S", "3"))},
				Adjustments: []allocation.Adjustment{allocAdj, e.adj("1", "S", "L", "2", "backorder")},
				Notifications: []allocation.Notification{
					e.holdNote(allocation.HoldShipComplete),
					e.stockNote(allocation.NotifyOutOfStock, "S", "L", "-2"),
				},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRecords(t, mustAllocate(t, order("o", "1:S:5"), tracked("S"), stock, locations("L"), rules(tt.edit), nil), tt.want)
		})
	}
}

func TestEdge02ZeroStockEverywhere(t *testing.T) {
	// L1 has no row for S, L2 a row at 0: nothing is allocated and the whole
	// line goes through §2.4; a backorder is booked where S is stocked.
	stock := allocation.Stock{{SKU: "S", Location: "L2"}: onHand("0")}
	e := exp{"o", allocation.Priority}
	t.Run("deny", func(t *testing.T) {
		res := mustAllocate(t, order("o", "1:S:4"), tracked("S"), stock, locations("L1", "L2"), rules(nil), nil)
		checkRecords(t, res, records{
			Holds:  []allocation.Hold{e.hold(allocation.HoldInsufficientStock, false, hl("1", "S", "4"))},
			Errors: []allocation.LineError{e.insufficient("1", "S", "4", "0")},
			Notifications: []allocation.Notification{
				e.lineNote(allocation.NotifyInsufficientStock, "1", "S", "4"),
				e.holdNote(allocation.HoldInsufficientStock),
			},
		})
	})
	t.Run("allow", func(t *testing.T) {
		r := rules(func(r *allocation.Rules) { r.Backorder.Policy = allocation.Allow })
		res := mustAllocate(t, order("o", "1:S:4"), tracked("S"), stock, locations("L1", "L2"), r, nil)
		// L2 was out of stock already: no out_of_stock notification again.
		checkRecords(t, res, records{
			Backorders:  []allocation.Backorder{e.backorder("1", "S", "L2", "4", false)},
			Adjustments: []allocation.Adjustment{e.adj("1", "S", "L2", "4", "backorder")},
		})
	})
}

func TestEdge03StockSpreadOverSeveralWarehouses(t *testing.T) {
	// Greedy fill in strategy order; one shipment per location, carrying
	// every line it serves.
	stock := allocation.Stock{
		{SKU: "X", Location: "L1"}: onHand("4"), {SKU: "X", Location: "L2"}: onHand("3"),
		{SKU: "Y", Location: "L2"}: onHand("9"), {SKU: "Y", Location: "L3"}: onHand("9"),
	}
	res := mustAllocate(t, order("o", "A:X:6", "B:Y:2"), tracked("X", "Y"), stock, locations("L1", "L2", "L3"), rules(nil), nil)
	e := exp{"o", allocation.Priority}
	checkRecords(t, res, records{
		Allocations: []allocation.Allocation{e.alloc("A", "X", "L1", "4", 1), e.alloc("A", "X", "L2", "2", 2), e.alloc("B", "Y", "L2", "2", 2)},
		Shipments: []allocation.Shipment{
			e.ship("L1", 1, allocation.Ready, sl("A", "X", "4")),
			e.ship("L2", 2, allocation.Ready, sl("A", "X", "2"), sl("B", "Y", "2")),
		},
		Adjustments: []allocation.Adjustment{e.adj("A", "X", "L1", "4", "allocate"), e.adj("A", "X", "L2", "2", "allocate"), e.adj("B", "Y", "L2", "2", "allocate")},
		Notifications: []allocation.Notification{
			e.stockNote(allocation.NotifyOutOfStock, "X", "L1", "0"),
			e.stockNote(allocation.NotifyLowStock, "X", "L2", "1"),
		},
	})
}

func TestEdge04MaxShipmentsReached(t *testing.T) {
	// X only at L1, Y only at L2, Z at L3 (and all three at L4).
	stock := allocation.Stock{
		{SKU: "X", Location: "L1"}: onHand("10"), {SKU: "Y", Location: "L2"}: onHand("10"), {SKU: "Z", Location: "L3"}: onHand("10"),
	}
	skus := tracked("X", "Y", "Z")
	o := order("o", "1:X:1", "2:Y:1", "3:Z:1")
	locs := locations("L1", "L2", "L3", "L4")
	t.Run("priority keeps the best-ranked locations, the rest is shortfall", func(t *testing.T) {
		r := rules(func(r *allocation.Rules) { r.Split.MaxShipments = 2 })
		res := mustAllocate(t, o, skus, stock, locs, r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"L1", "L2"}) {
			t.Errorf("shipments from %v, want [L1 L2]", got)
		}
		if len(res.Holds) != 1 || !slices.Equal(holdLines(res.Holds[0]), []string{"3"}) {
			t.Errorf("holds %+v, want line 3 held", res.Holds)
		}
		if len(res.Errors) != 1 || res.Errors[0].LineID != "3" || res.Errors[0].Code != allocation.ErrInsufficientStock {
			t.Errorf("errors %+v, want insufficient_stock on line 3", res.Errors)
		}
	})
	t.Run("fewest_shipments picks the one location covering everything", func(t *testing.T) {
		stock := allocation.Stock{
			{SKU: "X", Location: "L1"}: onHand("10"), {SKU: "Y", Location: "L2"}: onHand("10"), {SKU: "Z", Location: "L3"}: onHand("10"),
			{SKU: "X", Location: "L4"}: onHand("1"), {SKU: "Y", Location: "L4"}: onHand("1"), {SKU: "Z", Location: "L4"}: onHand("1"),
		}
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.FewestShipments })
		res := mustAllocate(t, o, skus, stock, locs, r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"L4"}) {
			t.Errorf("shipments from %v, want [L4]", got)
		}
		cs := res.Explanation.Cover
		if cs == nil || !cs.Found || !slices.Equal(cs.Locations, []string{"L4"}) || cs.Examined != 4 {
			t.Errorf("cover search %+v, want L4 found after 4 combinations", cs)
		}
	})
	t.Run("fewest_shipments finds the best pair", func(t *testing.T) {
		stock := allocation.Stock{
			{SKU: "X", Location: "L1"}: onHand("10"), {SKU: "Y", Location: "L2"}: onHand("10"),
			{SKU: "Z", Location: "L2"}: onHand("1"), {SKU: "X", Location: "L3"}: onHand("1"),
		}
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.FewestShipments })
		res := mustAllocate(t, o, skus, stock, locs, r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"L1", "L2"}) {
			t.Errorf("shipments from %v, want [L1 L2]", got)
		}
	})
	t.Run("no cover within max_shipments: greedy, then the best max_shipments", func(t *testing.T) {
		r := rules(func(r *allocation.Rules) {
			r.Allocation.Strategy = allocation.FewestShipments
			r.Split.MaxShipments = 2
			r.Backorder.Policy = allocation.Allow
		})
		res := mustAllocate(t, o, skus, stock, locs, r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"L1", "L2"}) {
			t.Errorf("shipments from %v, want [L1 L2]", got)
		}
		if len(res.Backorders) != 1 || res.Backorders[0].LineID != "3" || res.Backorders[0].LocationID != "L1" {
			t.Errorf("backorders %+v, want line 3 at L1 (a location the order ships from)", res.Backorders)
		}
		if cs := res.Explanation.Cover; cs == nil || cs.Found || cs.MaxK != 2 {
			t.Errorf("cover search %+v, want none found with k up to 2", cs)
		}
	})
	t.Run("combo_search_cap stops the search", func(t *testing.T) {
		r := rules(func(r *allocation.Rules) {
			r.Allocation.Strategy = allocation.FewestShipments
			r.Split.ComboSearchCap = 5
		})
		res := mustAllocate(t, o, skus, stock, locs, r, nil)
		cs := res.Explanation.Cover
		if cs == nil || !cs.CapReached || cs.Examined != 5 || cs.Found {
			t.Errorf("cover search %+v, want stopped by the cap after 5", cs)
		}
		// It falls through to the greedy fill, which covers with 3 locations.
		if got := shipmentLocations(res); !slices.Equal(got, []string{"L1", "L2", "L3"}) {
			t.Errorf("shipments from %v, want [L1 L2 L3]", got)
		}
	})
}

func shipmentLocations(r allocation.Result) []string {
	var out []string
	for _, s := range r.Shipments {
		out = append(out, s.LocationID)
	}
	return out
}

func holdLines(h allocation.Hold) []string {
	var out []string
	for _, l := range h.Lines {
		out = append(out, l.LineID)
	}
	return out
}

func TestEdge05ShipComplete(t *testing.T) {
	stock := allocation.Stock{{SKU: "A", Location: "L"}: onHand("5"), {SKU: "B", Location: "L"}: onHand("1")}
	o := order("o", "1:A:2", "2:B:3")
	e := exp{"o", allocation.Priority}
	base := func(edit func(*allocation.Rules)) allocation.Rules {
		return rules(func(r *allocation.Rules) {
			r.Split.Mode = allocation.ShipComplete
			r.Backorder.Policy = allocation.Allow
			if edit != nil {
				edit(r)
			}
		})
	}
	t.Run("reserve_while_holding keeps the allocations", func(t *testing.T) {
		res := mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), base(nil), nil)
		checkRecords(t, res, records{
			Allocations: []allocation.Allocation{e.alloc("1", "A", "L", "2", 1), e.alloc("2", "B", "L", "1", 1)},
			Shipments:   []allocation.Shipment{e.ship("L", 1, allocation.Held, sl("1", "A", "2"), sl("2", "B", "1"))},
			Backorders:  []allocation.Backorder{e.backorder("2", "B", "L", "2", false)},
			Holds:       []allocation.Hold{e.hold(allocation.HoldShipComplete, true, hl("1", "A", "2"), hl("2", "B", "1"))},
			Adjustments: []allocation.Adjustment{
				e.adj("1", "A", "L", "2", "allocate"), e.adj("2", "B", "L", "1", "allocate"), e.adj("2", "B", "L", "2", "backorder"),
			},
			Notifications: []allocation.Notification{
				e.holdNote(allocation.HoldShipComplete),
				e.stockNote(allocation.NotifyOutOfStock, "B", "L", "-2"),
			},
		})
	})
	t.Run("without reserve_while_holding nothing is allocated", func(t *testing.T) {
		res := mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), base(func(r *allocation.Rules) { r.Split.ReserveWhileHolding = false }), nil)
		checkRecords(t, res, records{
			Backorders:  []allocation.Backorder{e.backorder("2", "B", "L", "2", false)},
			Holds:       []allocation.Hold{e.hold(allocation.HoldShipComplete, false, hl("1", "A", "2"), hl("2", "B", "1"))},
			Adjustments: []allocation.Adjustment{e.adj("2", "B", "L", "2", "backorder")},
			Notifications: []allocation.Notification{
				e.holdNote(allocation.HoldShipComplete),
				e.stockNote(allocation.NotifyOutOfStock, "B", "L", "-1"), // B's unit is not reserved
			},
		})
	})
	t.Run("a complete order ships", func(t *testing.T) {
		res := mustAllocate(t, order("o", "1:A:2"), tracked("A", "B"), stock, locations("L"), base(nil), nil)
		if len(res.Shipments) != 1 || res.Shipments[0].Status != allocation.Ready || len(res.Holds) != 0 {
			t.Errorf("shipments %+v holds %+v, want one ready shipment and no hold", res.Shipments, res.Holds)
		}
	})
	t.Run("a cancelled remainder leaves nothing to wait for", func(t *testing.T) {
		r := base(func(r *allocation.Rules) {
			r.Backorder.Policy = allocation.Deny
			r.Backorder.RemainderAction = allocation.RemainderCancel
		})
		res := mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), r, nil)
		if len(res.Shipments) != 1 || res.Shipments[0].Status != allocation.Ready || len(res.Cancellations) != 1 {
			t.Errorf("shipments %+v cancellations %+v, want a ready shipment and B's 2 cancelled", res.Shipments, res.Cancellations)
		}
	})
	t.Run("a held remainder holds the shipments too", func(t *testing.T) {
		r := base(func(r *allocation.Rules) { r.Backorder.Policy = allocation.Deny })
		res := mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), r, nil)
		var reasons []string
		for _, h := range res.Holds {
			reasons = append(reasons, h.Reason)
		}
		if len(res.Shipments) != 1 || res.Shipments[0].Status != allocation.Held ||
			!slices.Equal(reasons, []string{allocation.HoldInsufficientStock, allocation.HoldShipComplete}) {
			t.Errorf("shipments %+v holds %v, want a held shipment, insufficient_stock and ship_complete holds", res.Shipments, reasons)
		}
	})
}

func TestEdge06SafetyStock(t *testing.T) {
	// Subtracted before allocation, never allocated, still in on_hand.
	stock := allocation.Stock{{SKU: "S", Location: "L"}: {OnHand: q("10"), SafetyStock: q("1")}}
	r := rules(func(r *allocation.Rules) {
		r.Inventory.SafetyStock = q("3")
		r.Backorder.RemainderAction = allocation.RemainderCancel
	})
	res := mustAllocate(t, order("o", "1:S:10"), tracked("S"), stock, locations("L"), r, nil)
	tot := totals(res)["1"]
	if !tot.allocated.Equal(q("7")) || !tot.cancelled.Equal(q("3")) {
		t.Errorf("allocated %s cancelled %s, want 7 and 3 (3 kept back as safety stock)", tot.allocated, tot.cancelled)
	}
	for _, a := range res.Adjustments {
		if a.Bucket != allocation.Committed {
			t.Errorf("adjustment %+v touches %s; allocation only commits", a, a.Bucket)
		}
	}
	row := res.Explanation.Snapshot[0]
	if !row.OnHand.Equal(q("10")) || !row.Allocatable.Equal(q("7")) {
		t.Errorf("snapshot %+v, want on_hand 10 and allocatable 7", row)
	}
	after := stock.Apply(res.Adjustments)[allocation.Key{SKU: "S", Location: "L"}]
	if !after.OnHand.Equal(q("10")) || !allocation.Available(after, r, "S", "L").Equal(q("0")) {
		t.Errorf("after allocation %+v: on_hand must stay 10 and available be 0", after)
	}
}

func TestEdge07NegativeInputQuantities(t *testing.T) {
	stock := allocation.Stock{{SKU: "S", Location: "L"}: onHand("10")}
	o := order("o", "neg:S:-1", "zero:S:0", "ok:S:2")
	res := mustAllocate(t, o, tracked("S"), stock, locations("L"), rules(nil), nil)
	e := exp{"o", allocation.Priority}
	checkRecords(t, res, records{
		Allocations: []allocation.Allocation{e.alloc("ok", "S", "L", "2", 1)},
		Shipments:   []allocation.Shipment{e.ship("L", 1, allocation.Ready, sl("ok", "S", "2"))},
		Adjustments: []allocation.Adjustment{e.adj("ok", "S", "L", "2", "allocate")},
		Errors: []allocation.LineError{
			e.lineErr(allocation.ErrInvalidQty, "neg", "S", "-1"),
			e.lineErr(allocation.ErrInvalidQty, "zero", "S", "0"),
		},
	})
}

func TestEdge08NegativeOnHandInTheFeed(t *testing.T) {
	stock := allocation.Stock{{SKU: "S", Location: "L1"}: onHand("-2"), {SKU: "S", Location: "L2"}: onHand("5")}
	res := mustAllocate(t, order("o", "1:S:3"), tracked("S"), stock, locations("L1", "L2"), rules(nil), nil)
	e := exp{"o", allocation.Priority}
	checkRecords(t, res, records{
		Allocations: []allocation.Allocation{e.alloc("1", "S", "L2", "3", 2)},
		Shipments:   []allocation.Shipment{e.ship("L2", 1, allocation.Ready, sl("1", "S", "3"))},
		Adjustments: []allocation.Adjustment{e.adj("1", "S", "L2", "3", "allocate")},
		Notifications: []allocation.Notification{
			e.stockNote(allocation.NotifyOutOfStock, "S", "L1", "-2"),
			e.stockNote(allocation.NotifyLowStock, "S", "L2", "2"),
		},
	})
}

func TestEdge09DuplicateSKUOnTwoLines(t *testing.T) {
	t.Run("running ledger across lines, SKUs compared case-insensitively", func(t *testing.T) {
		stock := allocation.Stock{{SKU: "abc", Location: "L1"}: onHand("4"), {SKU: "abc", Location: "L2"}: onHand("2")}
		res := mustAllocate(t, order("o", "1:abc:3", "2:ABC:3"), tracked("ABC"), stock, locations("L1", "L2"), rules(nil), nil)
		e := exp{"o", allocation.Priority}
		want := []allocation.Allocation{e.alloc("1", "ABC", "L1", "3", 1), e.alloc("2", "ABC", "L1", "1", 1), e.alloc("2", "ABC", "L2", "2", 2)}
		if diff := cmp.Diff(want, res.Allocations, opts); diff != "" {
			t.Errorf("allocations (-want +got):\n%s", diff)
		}
	})
	t.Run("the cover search checks the sum per SKU", func(t *testing.T) {
		// Each line alone fits L1 (4); together they need 6, which only L2
		// holds. A stale availability map would pick L1 and come up short.
		stock := allocation.Stock{{SKU: "S", Location: "L1"}: onHand("4"), {SKU: "S", Location: "L2"}: onHand("6")}
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.FewestShipments })
		res := mustAllocate(t, order("o", "1:S:3", "2:S:3"), tracked("S"), stock, locations("L1", "L2"), r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"L2"}) {
			t.Errorf("shipments from %v, want [L2]", got)
		}
		if len(res.Holds)+len(res.Backorders)+len(res.Errors) != 0 {
			t.Errorf("unexpected shortfall: %+v", recordsOf(res))
		}
	})
}

func TestEdge10SKUCaseAndType(t *testing.T) {
	skus := map[string]allocation.SKU{
		"SKU-A": {Tracked: true},
		"123":   {Tracked: true},                   // a numeric WooCommerce SKU
		"TEE":   {Tracked: true, VariantID: "808"}, // found by variant id when a line's SKU is empty
	}
	stock := allocation.Stock{
		{SKU: "sku-a", Location: "L"}: onHand("9"), {SKU: "123", Location: "L"}: onHand("9"), {SKU: "TEE", Location: "L"}: onHand("9"),
	}
	o := order("o", "1: sku-a :1", "2:123:1", "3:nope:1")
	o.Lines = append(o.Lines, allocation.Line{ID: "4", Qty: q("1")}, allocation.Line{ID: "5", VariantID: "808", Qty: q("1")})
	res := mustAllocate(t, o, skus, stock, locations("L"), rules(nil), nil)
	e := exp{"o", allocation.Priority}
	want := records{
		Allocations: []allocation.Allocation{e.alloc("1", "SKU-A", "L", "1", 1), e.alloc("2", "123", "L", "1", 1), e.alloc("5", "TEE", "L", "1", 1)},
		Shipments:   []allocation.Shipment{e.ship("L", 1, allocation.Ready, sl("1", "SKU-A", "1"), sl("2", "123", "1"), sl("5", "TEE", "1"))},
		// Adjustments spell the SKU as the stock row does, for the store.
		Adjustments: []allocation.Adjustment{e.adj("1", "sku-a", "L", "1", "allocate"), e.adj("2", "123", "L", "1", "allocate"), e.adj("5", "TEE", "L", "1", "allocate")},
		Errors:      []allocation.LineError{e.lineErr(allocation.ErrUnknownSKU, "3", "nope", "1"), e.lineErr(allocation.ErrUnknownSKU, "4", "", "1")},
	}
	checkRecords(t, res, want)
}

func TestEdge11BundlesAndKits(t *testing.T) {
	skus := map[string]allocation.SKU{
		"KIT": {Components: []allocation.Component{{SKU: "A", Quantity: q("2")}, {SKU: "B", Quantity: q("1")}}},
		"A":   {Tracked: true}, "B": {Tracked: true},
	}
	// Kit units: L1 min(3/2, 5/1) = 1; L2 min(10/2, 1/1) = 1.
	stock := allocation.Stock{
		{SKU: "A", Location: "L1"}: onHand("3"), {SKU: "B", Location: "L1"}: onHand("5"),
		{SKU: "A", Location: "L2"}: onHand("10"), {SKU: "B", Location: "L2"}: onHand("1"),
	}
	e := exp{"o", allocation.Priority}
	t.Run("each unit whole at one location, components as child lines", func(t *testing.T) {
		res := mustAllocate(t, order("o", "K:KIT:2"), skus, stock, locations("L1", "L2"), rules(nil), nil)
		want := []allocation.Allocation{
			e.kitAlloc("K", "A", "L1", "2", 1), e.kitAlloc("K", "A", "L2", "2", 2),
			e.kitAlloc("K", "B", "L1", "1", 1), e.kitAlloc("K", "B", "L2", "1", 2),
		}
		if diff := cmp.Diff(want, res.Allocations, opts); diff != "" {
			t.Errorf("allocations (-want +got):\n%s", diff)
		}
		for _, s := range res.Shipments {
			for _, l := range s.Lines {
				if l.ParentLineID != "K" {
					t.Errorf("shipment line %+v lost its parent_line_id", l)
				}
			}
		}
		var kitUnits []string
		for _, rk := range res.Explanation.Rankings {
			if rk.SKU == "KIT" {
				for _, c := range rk.Candidates {
					kitUnits = append(kitUnits, c.LocationID+"="+c.Allocatable.String())
				}
			}
		}
		if !slices.Equal(kitUnits, []string{"L1=1", "L2=1"}) {
			t.Errorf("kit availability %v, want L1=1 L2=1 (min over components of floor(available/required))", kitUnits)
		}
	})
	t.Run("without line split one location takes the kit line", func(t *testing.T) {
		r := rules(func(r *allocation.Rules) { r.Split.AllowLineSplit = false })
		res := mustAllocate(t, order("o", "K:KIT:2"), skus, stock, locations("L1", "L2"), r, nil)
		want := records{
			Allocations: []allocation.Allocation{e.kitAlloc("K", "A", "L1", "2", 1), e.kitAlloc("K", "B", "L1", "1", 1)},
			Holds: []allocation.Hold{e.hold(allocation.HoldInsufficientStock, false,
				allocation.HoldLine{LineID: "K/A", ParentLineID: "K", SKU: "A", Qty: q("2")},
				allocation.HoldLine{LineID: "K/B", ParentLineID: "K", SKU: "B", Qty: q("1")})},
		}
		got := recordsOf(res)
		if diff := cmp.Diff(want.Allocations, got.Allocations, opts); diff != "" {
			t.Errorf("allocations (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want.Holds, got.Holds, opts); diff != "" {
			t.Errorf("holds (-want +got):\n%s", diff)
		}
	})
	t.Run("a component that is a kit is a catalog error", func(t *testing.T) {
		bad := map[string]allocation.SKU{
			"OUTER": {Components: []allocation.Component{{SKU: "KIT", Quantity: q("1")}}},
			"KIT":   skus["KIT"], "A": skus["A"], "B": skus["B"],
		}
		if _, err := allocation.Allocate(order("o", "1:OUTER:1"), bad, stock, locations("L1"), rules(nil), nil); err == nil {
			t.Error("nested kit accepted")
		}
	})
	t.Run("a fractional component quantity for a whole-unit component is invalid_qty", func(t *testing.T) {
		half := map[string]allocation.SKU{
			"HALF": {QtyDecimal: true, Components: []allocation.Component{{SKU: "A", Quantity: q("1")}}}, "A": {Tracked: true},
		}
		res := mustAllocate(t, order("o", "1:HALF:1.5"), half, stock, locations("L1"), rules(nil), nil)
		if len(res.Errors) != 1 || res.Errors[0].Code != allocation.ErrInvalidQty || len(res.Allocations) != 0 {
			t.Errorf("got %+v, want one invalid_qty error and nothing allocated", recordsOf(res))
		}
	})
}

func TestEdge12ConfigurableParentAndChildWithTheSameSKU(t *testing.T) {
	// Magento: the configurable parent and its simple child both carry the
	// SKU; only the child is allocated, so the unit counts once.
	stock := allocation.Stock{{SKU: "MS09-M-Red", Location: "L"}: onHand("1")}
	o := order("o", "P:MS09-M-Red:1", "C:MS09-M-Red:1")
	o.Lines[1].ParentLineID = "P"
	res := mustAllocate(t, o, tracked("MS09-M-Red"), stock, locations("L"), rules(nil), nil)
	e := exp{"o", allocation.Priority}
	a := e.alloc("C", "MS09-M-Red", "L", "1", 1)
	a.ParentLineID = "P"
	if diff := cmp.Diff([]allocation.Allocation{a}, res.Allocations, opts); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
	if len(res.Errors)+len(res.Holds)+len(res.Backorders) != 0 {
		t.Errorf("unexpected shortfall: %+v", recordsOf(res))
	}
	if d := res.Explanation.Lines[0]; d.LineID != "P" || !slices.Equal(d.Rules, []string{"parent_of_child_lines"}) {
		t.Errorf("parent decision %+v, want parent_of_child_lines", d)
	}
}

func TestEdge13CancelAfterAllocation(t *testing.T) {
	r := rules(func(r *allocation.Rules) { r.Backorder.Policy = allocation.Allow })
	stock := allocation.Stock{{SKU: "S", Location: "L1"}: onHand("4"), {SKU: "S", Location: "L2"}: onHand("1")}
	prior := mustAllocate(t, order("o", "1:S:7"), tracked("S"), stock, locations("L1", "L2"), r, nil)
	// Allocated L1 4 and L2 1; backordered 2 at L1.
	now := stock.Apply(prior.Adjustments)
	adj := func(loc, qty, event string) allocation.Adjustment {
		return allocation.Adjustment{SKU: "S", LocationID: loc, Bucket: allocation.Committed, Delta: q(qty), Reason: "cancel", Ref: "o/1",
			IdempotencyKey: allocation.RecordKey("o", "cancel_adjustment", event, "1", loc, "committed")}
	}
	t.Run("whole order: release everything, back in stock", func(t *testing.T) {
		backorderRelease := adj("L1", "-2", "c1")
		backorderRelease.Backorder = true
		res, err := allocation.Cancel(prior, allocation.CancelRequest{EventID: "c1"}, now, r)
		if err != nil {
			t.Fatal(err)
		}
		checkRecords(t, res, records{
			Cancellations: []allocation.Cancellation{{OrderID: "o", LineID: "1", SKU: "S", Qty: q("7"), Reason: "cancel",
				IdempotencyKey: allocation.RecordKey("o", "cancellation", "c1", "1")}},
			Adjustments: []allocation.Adjustment{adj("L2", "-1", "c1"), adj("L1", "-4", "c1"), backorderRelease},
			Notifications: []allocation.Notification{
				{Type: allocation.NotifyBackInStock, OrderID: "o", SKU: "S", LocationID: "L1", Qty: q("4"),
					IdempotencyKey: allocation.RecordKey("o", "notification", allocation.NotifyBackInStock, "c1", "s", "L1")},
				{Type: allocation.NotifyBackInStock, OrderID: "o", SKU: "S", LocationID: "L2", Qty: q("1"),
					IdempotencyKey: allocation.RecordKey("o", "notification", allocation.NotifyBackInStock, "c1", "s", "L2")},
			},
		})
		restored := now.Apply(res.Adjustments)
		if diff := cmp.Diff(stock, restored, opts); diff != "" {
			t.Errorf("stock after allocate+cancel differs from before (-before +after):\n%s", diff)
		}
	})
	t.Run("partial: the lowest-ranked allocation is released first", func(t *testing.T) {
		res, err := allocation.Cancel(prior, allocation.CancelRequest{EventID: "c2", Lines: map[string]decimal.Decimal{"1": q("2")}}, now, r)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]allocation.Adjustment{adj("L2", "-1", "c2"), adj("L1", "-1", "c2")}, res.Adjustments, opts); diff != "" {
			t.Errorf("adjustments (-want +got):\n%s", diff)
		}
		// L1 was at -2 (backordered), +1 is still not above 0: no back_in_stock there.
		if len(res.Notifications) != 1 || res.Notifications[0].LocationID != "L2" {
			t.Errorf("notifications %+v, want back_in_stock at L2 only", res.Notifications)
		}
	})
	t.Run("more than the line holds is refused", func(t *testing.T) {
		if _, err := allocation.Cancel(prior, allocation.CancelRequest{EventID: "c3", Lines: map[string]decimal.Decimal{"1": q("8")}}, now, r); err == nil {
			t.Error("cancelling 8 of 7 accepted")
		}
	})
}

func TestEdge14CancelAfterShipment(t *testing.T) {
	stock := allocation.Stock{{SKU: "S", Location: "L1"}: onHand("4"), {SKU: "S", Location: "L2"}: onHand("1")}
	prior := mustAllocate(t, order("o", "1:S:5"), tracked("S"), stock, locations("L1", "L2"), rules(nil), nil)
	now := stock.Apply(prior.Adjustments)
	shipped := []string{prior.Shipments[0].ShipmentID} // L1 shipped
	res, err := allocation.Cancel(prior, allocation.CancelRequest{EventID: "c", Shipped: shipped}, now, rules(nil))
	if err != nil {
		t.Fatal(err)
	}
	// Only L2's unshipped unit is released; L1's 4 wait for a return.
	want := []allocation.Adjustment{{SKU: "S", LocationID: "L2", Bucket: allocation.Committed, Delta: q("-1"), Reason: "cancel", Ref: "o/1",
		IdempotencyKey: allocation.RecordKey("o", "cancel_adjustment", "c", "1", "L2", "committed")}}
	if diff := cmp.Diff(want, res.Adjustments, opts); diff != "" {
		t.Errorf("adjustments (-want +got):\n%s", diff)
	}
	if len(res.Cancellations) != 1 || !res.Cancellations[0].Qty.Equal(q("5")) {
		t.Errorf("cancellations %+v, want the whole line of 5 cancelled", res.Cancellations)
	}
	// Everything shipped: no stock change at all.
	all := []string{prior.Shipments[0].ShipmentID, prior.Shipments[1].ShipmentID}
	res, err = allocation.Cancel(prior, allocation.CancelRequest{EventID: "c", Shipped: all}, now, rules(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Adjustments) != 0 || len(res.Notifications) != 0 {
		t.Errorf("cancel after full shipment changed stock: %+v", res.Adjustments)
	}
}

func TestEdge15ConcurrentOrdersForTheLastUnit(t *testing.T) {
	// Serialized by (created_at, order id); the loser gets the backorder path.
	stock := allocation.Stock{{SKU: "S", Location: "L"}: onHand("1")}
	first := order("b", "1:S:1")
	second := order("a", "1:S:1")
	second.Date = first.Date.Add(time.Second)
	r := rules(func(r *allocation.Rules) { r.Backorder.Policy = allocation.Allow })
	res, err := allocation.AllocateAll([]allocation.Order{second, first}, tracked("S"), stock, locations("L"), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].OrderID != "b" || len(res[0].Allocations) != 1 || len(res[0].Backorders) != 0 {
		t.Errorf("first processed %+v, want b allocated", recordsOf(res[0]))
	}
	if res[1].OrderID != "a" || len(res[1].Allocations) != 0 || len(res[1].Backorders) != 1 {
		t.Errorf("second processed %+v, want a backordered", recordsOf(res[1]))
	}
}

func TestEdge16SameLocationSharedByTwoChannels(t *testing.T) {
	// Reservations and commitments are per location: two orders from two
	// markets (channels) drawing on one shared warehouse see each other's
	// commitments and a cart's reservation there.
	locs := []allocation.Location{{ID: "shared"}}
	stock := allocation.Stock{{SKU: "S", Location: "shared"}: {OnHand: q("5"), Reserved: q("1")}}
	us := order("us-1", "1:S:3")
	us.Destination = &allocation.Address{Country: "US", Market: "us"}
	ca := order("ca-1", "1:S:3")
	ca.Destination = &allocation.Address{Country: "CA", Market: "ca"}
	ca.Date = us.Date.Add(time.Minute)
	res, err := allocation.AllocateAll([]allocation.Order{ca, us}, tracked("S"), stock, locs, rules(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := totals(res[0])["1"].allocated; !got.Equal(q("3")) {
		t.Errorf("us-1 allocated %s, want 3", got)
	}
	if got := totals(res[1])["1"].allocated; !got.Equal(q("1")) {
		t.Errorf("ca-1 allocated %s, want 1 (5 on hand − 1 reserved − 3 committed to us-1)", got)
	}
}

func TestEdge17DecimalQuantities(t *testing.T) {
	skus := map[string]allocation.SKU{"FABRIC": {Tracked: true, QtyDecimal: true}, "SHIRT": {Tracked: true}}
	stock := allocation.Stock{{SKU: "FABRIC", Location: "L"}: onHand("1.2"), {SKU: "SHIRT", Location: "L"}: onHand("16.5")}
	o := order("o", "1:FABRIC:1.5", "2:SHIRT:17", "3:SHIRT:1.5", "4:FABRIC:0.00001")
	r := rules(func(r *allocation.Rules) { r.Backorder.Policy = allocation.Allow })
	res := mustAllocate(t, o, skus, stock, locations("L"), r, nil)
	got := totals(res)
	if a, b := got["1"].allocated, got["1"].backordered; !a.Equal(q("1.2")) || !b.Equal(q("0.3")) {
		t.Errorf("decimal line: allocated %s backordered %s, want 1.2 and 0.3", a, b)
	}
	if a, b := got["2"].allocated, got["2"].backordered; !a.Equal(q("16")) || !b.Equal(q("1")) {
		t.Errorf("whole-unit line on 16.5 in stock: allocated %s backordered %s, want 16 and 1", a, b)
	}
	var codes []string
	for _, e := range res.Errors {
		codes = append(codes, e.LineID+":"+e.Code)
	}
	if !slices.Equal(codes, []string{"3:invalid_qty", "4:invalid_qty"}) {
		t.Errorf("errors %v, want invalid_qty for 1.5 of a whole-unit SKU and for 5 decimal places", codes)
	}
}

func TestEdge18UntrackedSKU(t *testing.T) {
	skus := map[string]allocation.SKU{"GIFTWRAP": {}, "S": {Tracked: true}}
	stock := allocation.Stock{{SKU: "S", Location: "L2"}: onHand("5")}
	e := exp{"o", allocation.Priority}
	untracked := func(line, loc string, rank int) allocation.Allocation {
		a := e.alloc(line, "GIFTWRAP", loc, "1", rank)
		a.Tracked = false
		return a
	}
	t.Run("joins the location the order ships from, no adjustments", func(t *testing.T) {
		res := mustAllocate(t, order("o", "1:GIFTWRAP:1", "2:S:1"), skus, stock, locations("L1", "L2"), rules(nil), nil)
		checkRecords(t, res, records{
			Allocations: []allocation.Allocation{untracked("1", "L2", 2), e.alloc("2", "S", "L2", "1", 2)},
			Shipments:   []allocation.Shipment{e.ship("L2", 1, allocation.Ready, sl("1", "GIFTWRAP", "1"), sl("2", "S", "1"))},
			Adjustments: []allocation.Adjustment{e.adj("2", "S", "L2", "1", "allocate")},
		})
	})
	t.Run("alone, routed to the first candidate", func(t *testing.T) {
		res := mustAllocate(t, order("o", "1:GIFTWRAP:1"), skus, stock, locations("L1", "L2"), rules(nil), nil)
		checkRecords(t, res, records{
			Allocations: []allocation.Allocation{untracked("1", "L1", 1)},
			Shipments:   []allocation.Shipment{e.ship("L1", 1, allocation.Ready, sl("1", "GIFTWRAP", "1"))},
		})
	})
}

func TestEdge19ClickAndCollect(t *testing.T) {
	locs := []allocation.Location{
		{ID: "WH", Priority: 0, Coords: &allocation.LatLng{Lat: 40.7, Lng: -74.0}},
		{ID: "STORE", Priority: 5, Pickup: true, Coords: &allocation.LatLng{Lat: 34.0, Lng: -118.2}},
	}
	stock := allocation.Stock{{SKU: "S", Location: "WH"}: onHand("100"), {SKU: "S", Location: "STORE"}: onHand("2")}
	for _, s := range []allocation.Strategy{allocation.Priority, allocation.HighStock, allocation.Closest, allocation.FewestShipments} {
		t.Run(string(s), func(t *testing.T) {
			o := order("o", "1:S:3")
			o.PickupLocation = "STORE"
			o.Destination = &allocation.Address{Coords: &allocation.LatLng{Lat: 40.7, Lng: -74.0}}
			r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = s })
			res := mustAllocate(t, o, tracked("S"), stock, locs, r, nil)
			if s == allocation.FewestShipments {
				// The pickup location ranks first, but WH alone covers the
				// order: one shipment beats two.
				if got := shipmentLocations(res); !slices.Equal(got, []string{"WH"}) {
					t.Errorf("shipments from %v, want [WH]", got)
				}
				return
			}
			if len(res.Allocations) != 2 || res.Allocations[0].LocationID != "STORE" || !res.Allocations[0].Qty.Equal(q("2")) || res.Allocations[0].Rank != 1 {
				t.Errorf("allocations %+v, want STORE 2 first, then WH", res.Allocations)
			}
		})
	}
	t.Run("pickup_location_first off", func(t *testing.T) {
		o := order("o", "1:S:3")
		o.PickupLocation = "STORE"
		r := rules(func(r *allocation.Rules) { r.Allocation.PickupLocationFirst = false })
		res := mustAllocate(t, o, tracked("S"), stock, locs, r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"WH"}) {
			t.Errorf("shipments from %v, want [WH]", got)
		}
	})
}

func TestEdge20DistanceUnknownForALocation(t *testing.T) {
	dest := &allocation.Address{Coords: &allocation.LatLng{Lat: 52.52, Lng: 13.40}} // Berlin
	locs := []allocation.Location{
		{ID: "madrid", Priority: 1, Coords: &allocation.LatLng{Lat: 40.42, Lng: -3.70}},
		{ID: "unknown-2", Priority: 3},
		{ID: "warsaw", Priority: 4, Coords: &allocation.LatLng{Lat: 52.23, Lng: 21.01}},
		{ID: "unknown-1", Priority: 2},
	}
	r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.Closest })
	o := order("o", "1:S:1")
	o.Destination = dest
	res := mustAllocate(t, o, tracked("S"), allocation.Stock{}, locs, r, nil)
	if got := res.Explanation.Candidates; !slices.Equal(got, []string{"warsaw", "madrid", "unknown-1", "unknown-2"}) {
		t.Errorf("closest ranking %v, want known distances nearest first, then unknown ones in priority order", got)
	}
	if d := res.Explanation.Rankings[0].Candidates[0].DistanceKm; d == nil || *d < 500 || *d > 530 {
		t.Errorf("Berlin-Warsaw distance %v, want about 517 km", d)
	}
	o.Destination = nil
	res = mustAllocate(t, o, tracked("S"), allocation.Stock{}, locs, r, nil)
	if got := res.Explanation.Candidates; !slices.Equal(got, []string{"madrid", "unknown-1", "unknown-2", "warsaw"}) {
		t.Errorf("closest ranking without a destination %v, want priority order", got)
	}
}

func TestEdge21BackorderDepthCap(t *testing.T) {
	stock := allocation.Stock{{SKU: "S", Location: "L"}: onHand("1")}
	depth := q("5")
	r := rules(func(r *allocation.Rules) {
		r.Backorder.Policy = allocation.Allow
		r.Backorder.MaxDepth = &depth
	})
	already := map[string]decimal.Decimal{"s": q("2")} // keys compare case-insensitively
	// Line 1 wants 3: 1 allocated, 2 backordered (2+2 ≤ 5). Line 2 wants 3:
	// only 1 more fits under the cap; 2 take the deny path (hold).
	res := mustAllocate(t, order("o", "1:S:3", "2:S:3"), tracked("S"), stock, locations("L"), r, already)
	e := exp{"o", allocation.Priority}
	checkRecords(t, res, records{
		Allocations: []allocation.Allocation{e.alloc("1", "S", "L", "1", 1)},
		Shipments:   []allocation.Shipment{e.ship("L", 1, allocation.Ready, sl("1", "S", "1"))},
		Backorders:  []allocation.Backorder{e.backorder("1", "S", "L", "2", false), e.backorder("2", "S", "L", "1", false)},
		Holds:       []allocation.Hold{e.hold(allocation.HoldInsufficientStock, false, hl("2", "S", "2"))},
		Adjustments: []allocation.Adjustment{
			e.adj("1", "S", "L", "1", "allocate"), e.adj("1", "S", "L", "2", "backorder"), e.adj("2", "S", "L", "1", "backorder"),
		},
		Errors: []allocation.LineError{e.insufficient("2", "S", "2", "0")},
		Notifications: []allocation.Notification{
			e.lineNote(allocation.NotifyInsufficientStock, "2", "S", "2"),
			e.holdNote(allocation.HoldInsufficientStock),
			e.stockNote(allocation.NotifyOutOfStock, "S", "L", "-3"),
		},
	})
	if d := res.Explanation.Lines[1]; !slices.Contains(d.Rules, "backorder:max_depth") {
		t.Errorf("line 2 rules %v, want backorder:max_depth", d.Rules)
	}
}
