package allocation

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// Apply returns a copy of s with the adjustments applied to their rows
// (committed or on_hand, and backordered for a Backorder movement, never
// below zero, as the store keeps it). An adjustment finds its row by exact key, else by
// SKU compared case-insensitively; a row that does not exist is created.
// It is the in-memory counterpart of the inventory store's Apply, for
// AllocateAll, tests and dry runs.
func (s Stock) Apply(adjs []Adjustment) Stock {
	out := maps.Clone(s)
	if out == nil {
		out = Stock{}
	}
	for _, adj := range adjs {
		k := rowKey(out, adj.SKU, adj.LocationID)
		l := out[k]
		switch adj.Bucket {
		case Committed:
			l.Committed = l.Committed.Add(adj.Delta)
			if adj.Backorder {
				l.Backordered = decimal.Max(l.Backordered.Add(adj.Delta), decimal.Zero)
			}
		case OnHand:
			l.OnHand = l.OnHand.Add(adj.Delta)
		}
		out[k] = l
	}
	return out
}

// AllocateAll allocates orders that compete for the same stock one after
// another, as the inventory store serializes them (edge case 15): by order
// date, then order id, each seeing the stock and backorders the earlier
// ones left. The results are in that processing order. The store does the
// same with row locks; this is its pure model, and the deterministic
// answer to "who gets the last unit": the earlier order.
func AllocateAll(orders []Order, skus map[string]SKU, stock Stock, locs []Location, r Rules, alreadyBackordered map[string]decimal.Decimal) ([]Result, error) {
	sorted := slices.Clone(orders)
	slices.SortFunc(sorted, func(x, y Order) int {
		return cmp.Or(x.Date.Compare(y.Date), strings.Compare(x.ID, y.ID))
	})
	ids := map[string]bool{}
	for _, o := range sorted {
		if ids[o.ID] {
			return nil, fmt.Errorf("allocate: order %q given twice", o.ID)
		}
		ids[o.ID] = true
	}
	already := maps.Clone(alreadyBackordered)
	if already == nil {
		already = map[string]decimal.Decimal{}
	}
	results := make([]Result, 0, len(sorted))
	for _, o := range sorted {
		res, err := Allocate(o, skus, stock, locs, r, already)
		if err != nil {
			return nil, err
		}
		stock = stock.Apply(res.Adjustments)
		for _, b := range res.Backorders {
			if b.Tracked {
				already[b.SKU] = already[b.SKU].Add(b.Qty)
			}
		}
		results = append(results, res)
	}
	return results, nil
}
