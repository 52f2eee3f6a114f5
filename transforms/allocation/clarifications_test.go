package allocation_test

import (
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// The readings of DOMAIN.md §2.9, one test each.

// TestTieBreakers (§2.9 #6): locations the strategy ranks equal are
// ordered by the tie-breakers, priority, distance, location_id by default;
// unknown coordinates rank after known ones.
func TestTieBreakers(t *testing.T) {
	near := &allocation.LatLng{Lat: 40.7, Lng: -74.0} // the destination's city
	far := &allocation.LatLng{Lat: 34.0, Lng: -118.2}
	locs := []allocation.Location{
		{ID: "a-far", Priority: 1, Coords: far},
		{ID: "b-near", Priority: 1, Coords: near},
		{ID: "0-unknown", Priority: 1},
		{ID: "z-first", Priority: 0, Coords: far},
	}
	o := order("o", "1:S:1")
	o.Destination = &allocation.Address{Coords: &allocation.LatLng{Lat: 40.8, Lng: -73.9}}
	stock := allocation.Stock{}
	for _, l := range locs {
		stock[allocation.Key{SKU: "S", Location: l.ID}] = onHand("1")
	}
	tests := []struct {
		name     string
		strategy allocation.Strategy
		ties     []allocation.TieBreaker
		want     []string
	}{
		{"default: priority, then distance, unknown last", allocation.Priority, nil, []string{"z-first", "b-near", "a-far", "0-unknown"}},
		{"location_id only", allocation.Priority, []allocation.TieBreaker{allocation.TieLocationID}, []string{"z-first", "0-unknown", "a-far", "b-near"}},
		{"location_id is added when missing", allocation.Priority, []allocation.TieBreaker{allocation.TiePriority}, []string{"z-first", "0-unknown", "a-far", "b-near"}},
		// high_stock ranks the equal stocks equal: the tie-breakers decide.
		{"high_stock: distance before priority", allocation.HighStock, []allocation.TieBreaker{allocation.TieDistance, allocation.TiePriority}, []string{"b-near", "z-first", "a-far", "0-unknown"}},
		{"high_stock: default", allocation.HighStock, nil, []string{"z-first", "b-near", "a-far", "0-unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rules(func(r *allocation.Rules) {
				r.Allocation.Strategy = tt.strategy
				if tt.ties != nil {
					r.Allocation.TieBreakers = tt.ties
				}
			})
			res := mustAllocate(t, o, tracked("S"), stock, locs, r, nil)
			if got := res.Explanation.Candidates; !slices.Equal(got, tt.want) {
				t.Errorf("candidates %v, want %v", got, tt.want)
			}
			if got := res.Allocations[0].LocationID; got != tt.want[0] {
				t.Errorf("allocated at %s, want %s", got, tt.want[0])
			}
		})
	}
	// Among equal priorities the nearer location wins under the priority
	// strategy, whatever the ids say.
	two := []allocation.Location{{ID: "a-far", Priority: 1, Coords: far}, {ID: "b-near", Priority: 1, Coords: near}}
	res := mustAllocate(t, o, tracked("S"), stock, two, rules(nil), nil)
	if got := res.Allocations[0].LocationID; got != "b-near" {
		t.Errorf("allocated at %s, want b-near (same priority, nearer)", got)
	}

	for _, bad := range [][]allocation.TieBreaker{
		{"stock"},
		{allocation.TieLocationID, allocation.TiePriority},
		{allocation.TieDistance, allocation.TieDistance},
	} {
		r := rules(func(r *allocation.Rules) { r.Allocation.TieBreakers = bad })
		if err := r.Validate(); err == nil {
			t.Errorf("tie_breakers %v: no error", bad)
		}
	}
}

// TestBackorderLocationUnderMaxShipments (§2.9 #2): once the order ships
// from max_shipments locations, a backorder is booked at one of them, even
// when no trim happened.
func TestBackorderLocationUnderMaxShipments(t *testing.T) {
	stock := allocation.Stock{
		{SKU: "A", Location: "L2"}: onHand("5"),
		{SKU: "B", Location: "L1"}: onHand("0"), // L1 stocks B: priority_stocked would pick it
	}
	o := order("o", "1:A:1", "2:B:2")
	r := rules(func(r *allocation.Rules) {
		r.Backorder.Policy = allocation.Allow
		r.Split.MaxShipments = 1
	})
	res := mustAllocate(t, o, tracked("A", "B"), stock, locations("L1", "L2"), r, nil)
	if len(res.Backorders) != 1 || res.Backorders[0].LocationID != "L2" {
		t.Fatalf("backorders %+v, want B's 2 at L2, the one location the order ships from", res.Backorders)
	}
	// With room for another shipment, §2.4's rule holds: the top-priority
	// location stocking B.
	r.Split.MaxShipments = 2
	res = mustAllocate(t, o, tracked("A", "B"), stock, locations("L1", "L2"), r, nil)
	if len(res.Backorders) != 1 || res.Backorders[0].LocationID != "L1" {
		t.Fatalf("backorders %+v, want B's 2 at L1", res.Backorders)
	}
}

// TestOutstandingBackorders (§2.9 #5): backordered units not covered by
// stock count; a row a feed took below zero does not.
func TestOutstandingBackorders(t *testing.T) {
	r := rules(func(r *allocation.Rules) { r.Inventory.SafetyStock = q("1") })
	stock := allocation.Stock{
		{SKU: "fed", Location: "L1"}:       {OnHand: q("-3")},
		{SKU: "bo", Location: "L1"}:        {OnHand: q("1"), Committed: q("3"), Backordered: q("3")},                      // available -3
		{SKU: "bo", Location: "L2"}:        {OnHand: q("5"), Committed: q("2"), Backordered: q("2")},                      // covered: available 2
		{SKU: "partly", Location: "L1"}:    {OnHand: q("3"), Committed: q("4"), Backordered: q("3")},                      // available -2
		{SKU: "safety", Location: "L1"}:    {OnHand: q("5"), Committed: q("3"), Backordered: q("3"), SafetyStock: q("5")}, // available -3
		{SKU: "allocated", Location: "L1"}: {OnHand: q("0"), Committed: q("2")},
	}
	got := allocation.OutstandingBackorders(stock, r)
	want := map[string]decimal.Decimal{"bo": q("3"), "partly": q("2"), "safety": q("3")}
	if len(got) != len(want) {
		t.Errorf("outstanding %v, want %v", got, want)
	}
	for k, v := range want {
		if !got[k].Equal(v) {
			t.Errorf("%s: outstanding %s, want %s", k, got[k], v)
		}
	}
}

// TestExplainSnapshotAddsUp: a row of the stock seen shows the safety stock
// that was applied and where it came from, so on hand − committed −
// reserved − safety stock is the available shown.
func TestExplainSnapshotAddsUp(t *testing.T) {
	stock := allocation.Stock{
		{SKU: "S", Location: "L1"}: {OnHand: q("9"), Committed: q("1"), Reserved: q("1")},
		{SKU: "S", Location: "L2"}: {OnHand: q("9"), SafetyStock: q("4")},
		{SKU: "S", Location: "L3"}: {OnHand: q("9")},
		{SKU: "S", Location: "L4"}: {OnHand: q("9")},
	}
	r := rules(func(r *allocation.Rules) {
		r.Inventory.SafetyStock = q("1")
		r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"s": q("2")}
		r.Inventory.SafetyStockByLocation = map[string]decimal.Decimal{"L3": q("3"), "L4": q("1")}
	})
	res := mustAllocate(t, order("o", "1:S:1"), tracked("S"), stock, locations("L1", "L2", "L3", "L4", "L5"), r, nil)
	want := map[string]struct{ safety, from, available string }{
		"L1": {"2", allocation.SafetyFromSKU, "5"},
		"L2": {"4", allocation.SafetyFromRow, "5"},
		"L3": {"3", allocation.SafetyFromLocation + allocation.SafetyFromBoth, "6"},
		"L4": {"2", allocation.SafetyFromSKU + allocation.SafetyFromBoth, "7"},
		"L5": {"2", allocation.SafetyFromSKU, "-2"},
	}
	for _, row := range res.Explanation.Snapshot {
		w := want[row.LocationID]
		if !row.SafetyStock.Equal(q(w.safety)) || row.SafetyStockFrom != w.from || !row.Available.Equal(q(w.available)) {
			t.Errorf("%s: safety %s from %q, available %s; want %s from %q, available %s",
				row.LocationID, row.SafetyStock, row.SafetyStockFrom, row.Available, w.safety, w.from, w.available)
		}
		if sum := row.OnHand.Sub(row.Committed).Sub(row.Reserved).Sub(row.SafetyStock); !sum.Equal(row.Available) {
			t.Errorf("%s: on hand %s − committed %s − reserved %s − safety %s = %s, available shown %s",
				row.LocationID, row.OnHand, row.Committed, row.Reserved, row.SafetyStock, sum, row.Available)
		}
	}
}
