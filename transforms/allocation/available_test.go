package allocation_test

import (
	"cmp"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// TestAvailable is the one table of DOMAIN.md §2.1: available = on_hand −
// committed − reserved − unavailable, allocatable = max(available, 0),
// scale 4.
func TestAvailable(t *testing.T) {
	tests := []struct {
		name        string
		level       allocation.Level
		edit        func(*allocation.Rules)
		sku, loc    string
		available   string
		allocatable string
	}{
		{name: "on hand only", level: onHand("10"), available: "10", allocatable: "10"},
		{name: "empty row", available: "0", allocatable: "0"},
		{name: "committed", level: allocation.Level{OnHand: q("10"), Committed: q("3")}, available: "7", allocatable: "7"},
		{name: "reservations respected", level: allocation.Level{OnHand: q("10"), Committed: q("3"), Reserved: q("2")}, available: "5", allocatable: "5"},
		{name: "reservations ignored", level: allocation.Level{OnHand: q("10"), Committed: q("3"), Reserved: q("2")},
			edit: func(r *allocation.Rules) { r.Inventory.RespectReservations = false }, available: "7", allocatable: "7"},
		{name: "row safety stock", level: allocation.Level{OnHand: q("10"), SafetyStock: q("2")}, available: "8", allocatable: "8"},
		{name: "rules safety stock", level: onHand("10"),
			edit: func(r *allocation.Rules) { r.Inventory.SafetyStock = q("3") }, available: "7", allocatable: "7"},
		{name: "row and rules safety stock: the larger, not the sum", level: allocation.Level{OnHand: q("10"), SafetyStock: q("2")},
			edit: func(r *allocation.Rules) { r.Inventory.SafetyStock = q("3") }, available: "7", allocatable: "7"},
		{name: "row safety stock larger than the rules'", level: allocation.Level{OnHand: q("10"), SafetyStock: q("4")},
			edit: func(r *allocation.Rules) { r.Inventory.SafetyStock = q("3") }, available: "6", allocatable: "6"},
		{name: "by sku overrides the default, even lower", level: onHand("10"), sku: "S",
			edit: func(r *allocation.Rules) {
				r.Inventory.SafetyStock = q("5")
				r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"S": q("1")}
			}, available: "9", allocatable: "9"},
		{name: "by sku matches case-insensitively", level: onHand("10"), sku: "Tee-Blue",
			edit: func(r *allocation.Rules) {
				r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"tee-blue ": q("4")}
			},
			available: "6", allocatable: "6"},
		{name: "by sku of another sku does not apply", level: onHand("10"), sku: "S",
			edit: func(r *allocation.Rules) {
				r.Inventory.SafetyStock = q("2")
				r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"OTHER": q("9")}
			}, available: "8", allocatable: "8"},
		{name: "by location overrides the default", level: onHand("10"), loc: "L",
			edit: func(r *allocation.Rules) {
				r.Inventory.SafetyStock = q("5")
				r.Inventory.SafetyStockByLocation = map[string]decimal.Decimal{"L": q("2")}
			}, available: "8", allocatable: "8"},
		{name: "by sku and by location: the larger", level: onHand("10"), sku: "S", loc: "L",
			edit: func(r *allocation.Rules) {
				r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"S": q("1")}
				r.Inventory.SafetyStockByLocation = map[string]decimal.Decimal{"L": q("4")}
			}, available: "6", allocatable: "6"},
		{name: "oversold row", level: allocation.Level{OnHand: q("2"), Committed: q("5")}, available: "-3", allocatable: "0"},
		{name: "negative on hand in the feed", level: onHand("-4"), available: "-4", allocatable: "0"},
		{name: "safety stock above on hand", level: onHand("1"),
			edit: func(r *allocation.Rules) { r.Inventory.SafetyStock = q("3") }, available: "-2", allocatable: "0"},
		{name: "decimal stock", level: onHand("16.5"), available: "16.5", allocatable: "16.5"},
		{name: "floored to scale 4", level: onHand("1.00009"), available: "1.0000", allocatable: "1"},
		{name: "negative floored away from zero", level: onHand("-0.00005"), available: "-0.0001", allocatable: "0"},
		{name: "everything", level: allocation.Level{OnHand: q("20"), Committed: q("4.5"), Reserved: q("1.25"), SafetyStock: q("2")}, sku: "S",
			edit:      func(r *allocation.Rules) { r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"s": q("3")} },
			available: "11.25", allocatable: "11.25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := allocation.Available(tt.level, rules(tt.edit), tt.sku, tt.loc)
			if !got.Equal(q(tt.available)) {
				t.Errorf("Available = %s, want %s", got, tt.available)
			}
			if got.Exponent() < -allocation.Scale {
				t.Errorf("Available = %s has more than %d decimal places", got, allocation.Scale)
			}
			// Allocate's ledger is the same function: its snapshot row shows
			// the allocatable quantity the fill starts from.
			sku, loc := cmp.Or(tt.sku, "S"), cmp.Or(tt.loc, "L")
			stock := allocation.Stock{{SKU: sku, Location: loc}: tt.level}
			skus := map[string]allocation.SKU{sku: {Tracked: true, QtyDecimal: true}}
			res := mustAllocate(t, order("o", "1:"+sku+":1"), skus, stock, []allocation.Location{{ID: loc}}, rules(tt.edit), nil)
			row := res.Explanation.Snapshot[0]
			if !row.Available.Equal(got) || !row.Allocatable.Equal(q(tt.allocatable)) {
				t.Errorf("snapshot row available %s allocatable %s, want %s and %s", row.Available, row.Allocatable, got, tt.allocatable)
			}
		})
	}
}
