package allocation

import (
	"strings"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimal places quantities are kept to (Magento
// compares with bccomp at scale 4).
const Scale = 4

// Where the safety stock Available keeps back at a row comes from, as
// SafetyStockOf reports it and the explanation shows it.
const (
	// SafetyFromRow is the row's stored safety stock (an inventory feed's
	// safety_stock bucket), larger than what the rules keep back.
	SafetyFromRow = "stock row"
	// SafetyFromDefault is inventory.safety_stock, no override matching.
	SafetyFromDefault = "safety_stock"
	// SafetyFromSKU and SafetyFromLocation are the overrides; when both
	// match a row the larger applies (DOMAIN.md §2.9 #4) and the source
	// says so with SafetyFromBoth appended.
	SafetyFromSKU      = "safety_stock_by_sku"
	SafetyFromLocation = "safety_stock_by_location"
	SafetyFromBoth     = ", the larger of by_sku and by_location"
)

// Available is DOMAIN.md §2.1 for one stock row of sku at loc:
//
//	available = on_hand − committed − reserved − unavailable
//
// where reserved counts only when inventory.respect_reservations is on, and
// unavailable is the safety stock SafetyStockOf gives.
//
// The result may be negative (oversold, or a negative on_hand in the feed);
// what may be allocated is max(available, 0). It is floored to Scale places,
// so stock is never overstated.
func Available(l Level, r Rules, sku, loc string) decimal.Decimal {
	a := l.OnHand.Sub(l.Committed)
	if r.Inventory.RespectReservations {
		a = a.Sub(l.Reserved)
	}
	safety, _ := SafetyStockOf(l, r, sku, loc)
	return a.Sub(safety).RoundFloor(Scale)
}

// SafetyStockOf is the safety stock kept back at a row of sku at loc, and
// where it comes from (the Safety* constants; "" when nothing is kept
// back). It is the larger of the row's stored safety stock and the rules'
// for (sku, loc): both say "keep this many back", so they do not add up.
// The rules' is safety_stock_by_sku[sku] or safety_stock_by_location[loc]
// when either matches (the larger when both do), else safety_stock. SKU
// keys match case-insensitively.
func SafetyStockOf(l Level, r Rules, sku, loc string) (decimal.Decimal, string) {
	safety, from := r.Inventory.SafetyStock, SafetyFromDefault
	bySKU, skuMatched := decimal.Zero, false
	for k, v := range r.Inventory.SafetyStockBySKU {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(sku)) && (!skuMatched || v.GreaterThan(bySKU)) {
			bySKU, skuMatched = v, true
		}
	}
	byLoc, locMatched := r.Inventory.SafetyStockByLocation[loc]
	switch {
	case skuMatched && locMatched && byLoc.GreaterThan(bySKU):
		safety, from = byLoc, SafetyFromLocation+SafetyFromBoth
	case skuMatched && locMatched:
		safety, from = bySKU, SafetyFromSKU+SafetyFromBoth
	case skuMatched:
		safety, from = bySKU, SafetyFromSKU
	case locMatched:
		safety, from = byLoc, SafetyFromLocation
	}
	if l.SafetyStock.GreaterThan(safety) {
		safety, from = l.SafetyStock, SafetyFromRow
	}
	if safety.IsZero() {
		from = ""
	}
	return safety, from
}

// OutstandingBackorders is, per SKU (as the rows spell it), the units
// outstanding on backorder across all locations: what backorder.max_depth
// caps (DOMAIN.md §2.9 #5). A row counts the backordered units it holds
// (Level.Backordered: booked, not yet shipped or cancelled) that its stock
// does not cover: min(backordered, max(0, −available)). So stock received
// at the row covers its backorders and they stop counting, and a row fed
// below zero by a stock feed, with nothing backordered, counts nothing.
func OutstandingBackorders(s Stock, r Rules) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for k, l := range s {
		if !l.Backordered.IsPositive() {
			continue
		}
		short := Available(l, r, k.SKU, k.Location).Neg()
		if u := decimal.Min(l.Backordered, short); u.IsPositive() {
			out[k.SKU] = out[k.SKU].Add(u)
		}
	}
	return out
}
