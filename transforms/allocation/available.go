package allocation

import (
	"strings"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimal places quantities are kept to (Magento
// compares with bccomp at scale 4).
const Scale = 4

// Available is DOMAIN.md §2.1 for one stock row of sku at loc:
//
//	available = on_hand − committed − reserved − unavailable
//
// where reserved counts only when inventory.respect_reservations is on, and
// unavailable is the larger of the row's stored safety stock and the rules'
// safety stock for (sku, loc): both say "keep this many back", so they do
// not add up. The rules' safety stock is safety_stock_by_sku[sku] or
// safety_stock_by_location[loc] when either matches (the larger when both
// do), else safety_stock. SKU keys match case-insensitively.
//
// The result may be negative (oversold, or a negative on_hand in the feed);
// what may be allocated is max(available, 0). It is floored to Scale places,
// so stock is never overstated.
func Available(l Level, r Rules, sku, loc string) decimal.Decimal {
	a := l.OnHand.Sub(l.Committed)
	if r.Inventory.RespectReservations {
		a = a.Sub(l.Reserved)
	}
	safety, overridden := decimal.Zero, false
	for k, v := range r.Inventory.SafetyStockBySKU {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(sku)) && (!overridden || v.GreaterThan(safety)) {
			safety, overridden = v, true
		}
	}
	if v, ok := r.Inventory.SafetyStockByLocation[loc]; ok && (!overridden || v.GreaterThan(safety)) {
		safety, overridden = v, true
	}
	if !overridden {
		safety = r.Inventory.SafetyStock
	}
	return a.Sub(decimal.Max(safety, l.SafetyStock)).RoundFloor(Scale)
}
