package allocation

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// Action is what a stock event does to an allocated order (DOMAIN.md §2.5).
type Action string

const (
	// ActionCancel releases what the order holds: allocations in reverse
	// allocation order (committed −q, available +q), then backorders.
	// Quantities already shipped are cancelled without a stock change.
	ActionCancel Action = "cancel"
	// ActionShip consumes committed stock at the shipping location:
	// on_hand −q and committed −q.
	ActionShip Action = "ship"
	// ActionReturn restocks returned units: RETURN puts them back on hand
	// at the line's location, NO_RESTOCK changes nothing.
	ActionReturn Action = "return"
)

// Restock types of a returned line (Shopify refund line items).
const (
	RestockReturn    = "RETURN"
	RestockNoRestock = "NO_RESTOCK"
)

// Ledger reasons the stock events write and read.
const (
	ReasonAllocate   = "allocate"
	ReasonBackorder  = "backorder"
	ReasonDeallocate = "deallocate" // an allocation released by a cancel
	ReasonCancel     = "cancel"     // a backorder cancelled
	ReasonShip       = "ship"
	ReasonReturn     = "return"
)

// LedgerEntry is one movement of the inventory ledger, as the store keeps
// it (component.Movement): the stock events derive what an order holds
// from the movements whose Ref is "<order id>/<line id>".
type LedgerEntry struct {
	Seq      int64
	SKU      string
	Location string
	Bucket   Bucket
	Delta    decimal.Decimal
	Reason   string
	Ref      string
}

// Holding is what an order holds for one line at one location, derived
// from the ledger.
type Holding struct {
	LineID   string
	SKU      string
	Location string
	// Allocated is committed stock allocated to the line and not yet
	// shipped or released; Backordered is committed stock booked as a
	// backorder (it may take available below zero).
	Allocated   decimal.Decimal
	Backordered decimal.Decimal
	// Shipped is what shipments consumed from on_hand here; Returned what
	// returns of the line put back (at any location: see Holdings).
	Shipped  decimal.Decimal
	Returned decimal.Decimal
	// Seq is the ledger position of the first allocation here: the
	// allocation order that partial cancels reverse.
	Seq int64
}

// Held is what the line still holds here: allocated plus backordered.
func (h Holding) Held() decimal.Decimal { return h.Allocated.Add(h.Backordered) }

// Holdings folds the ledger entries of an order into holdings, sorted by
// allocation order (Seq, then line and location). Entries of other orders
// are ignored. Negative committed movements reduce Allocated first, except
// a backorder cancel (reason cancel), which reduces Backordered first.
func Holdings(orderID string, ledger []LedgerEntry) []Holding {
	prefix := orderID + "/"
	type key struct{ line, sku, loc string }
	idx := map[key]int{}
	var out []Holding
	get := func(e LedgerEntry, line string) *Holding {
		k := key{line, e.SKU, e.Location}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Holding{LineID: line, SKU: e.SKU, Location: e.Location, Seq: e.Seq})
		}
		return &out[i]
	}
	sorted := slices.Clone(ledger)
	slices.SortStableFunc(sorted, func(a, b LedgerEntry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	for _, e := range sorted {
		line, ok := strings.CutPrefix(e.Ref, prefix)
		if !ok || line == "" {
			continue
		}
		h := get(e, line)
		switch e.Bucket {
		case Committed:
			if e.Delta.IsPositive() {
				if e.Reason == ReasonBackorder {
					h.Backordered = h.Backordered.Add(e.Delta)
				} else {
					h.Allocated = h.Allocated.Add(e.Delta)
				}
				continue
			}
			x := e.Delta.Neg()
			first, second := &h.Allocated, &h.Backordered
			if e.Reason == ReasonCancel {
				first, second = second, first
			}
			take := decimal.Min(x, decimal.Max(*first, decimal.Zero))
			*first = first.Sub(take)
			*second = second.Sub(x.Sub(take))
		case OnHand:
			switch e.Reason {
			case ReasonShip:
				h.Shipped = h.Shipped.Sub(e.Delta)
			case ReasonReturn:
				h.Returned = h.Returned.Add(e.Delta)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Holding) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		if c := strings.Compare(a.LineID, b.LineID); c != 0 {
			return c
		}
		return strings.Compare(a.Location, b.Location)
	})
	return out
}

// StockEvent is one cancellation, shipment or return of an order.
type StockEvent struct {
	Action  Action
	OrderID string
	// Ref names the order in the ledger, as allocate's Order.Ref did: the
	// event reads and writes the movements whose ref is Ref + "/" + line.
	// Empty is OrderID.
	Ref string
	// Scope is the event's origin (pipeline and source) its records' keys
	// derive from, with Ref (RecordOrder); empty derives them from Ref.
	Scope string
	// EventID identifies the event (a webhook's id, a shipment id): the
	// records' idempotency keys derive from it.
	EventID string
	// Lines are the event's lines. A cancel without lines cancels
	// everything the order holds.
	Lines []EventLine
}

// EventLine is one line of a stock event.
type EventLine struct {
	// LineID picks the order line; empty matches every line of the order
	// with the SKU, in allocation order.
	LineID   string
	SKU      string
	Location string // required to ship and to restock; a cancel may restrict itself to one
	Qty      decimal.Decimal
	// RestockType is RETURN or NO_RESTOCK (returns only).
	RestockType string
}

// ReorderLevel is when a stock row is replenished: when its available
// quantity falls below Point, a request for Target − available is opened.
// A zero Target turns replenishment off.
type ReorderLevel struct {
	Point  decimal.Decimal
	Target decimal.Decimal
}

// ReplenishmentRules give the reorder level of each SKU.
type ReplenishmentRules struct {
	Default ReorderLevel
	// BySKU overrides Default; keys match case-insensitively.
	BySKU map[string]ReorderLevel
}

// For returns the reorder level of sku.
func (r ReplenishmentRules) For(sku string) ReorderLevel {
	for k, v := range r.BySKU {
		if strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(sku)) {
			return v
		}
	}
	return r.Default
}

// Replenishment is a request to bring a stock row back to its target
// level.
type Replenishment struct {
	SKU            string
	LocationID     string
	Qty            decimal.Decimal // target − available
	Available      decimal.Decimal
	ReorderPoint   decimal.Decimal
	TargetLevel    decimal.Decimal
	OrderID        string // the order whose event found the row low
	IdempotencyKey string
}

// EventLineResult says what happened to one line of the event at one
// location (or without one: a cancel of shipped units, a NO_RESTOCK).
type EventLineResult struct {
	LineID   string
	SKU      string
	Location string
	Qty      decimal.Decimal
	// Released is committed stock released (cancel), Consumed is stock
	// shipped, Restocked is stock put back on hand (return).
	Released  decimal.Decimal
	Consumed  decimal.Decimal
	Restocked decimal.Decimal
}

// StockEventResult is what a stock event decided.
type StockEventResult struct {
	Adjustments    []Adjustment
	Cancellations  []Cancellation
	Lines          []EventLineResult
	Notifications  []Notification
	Replenishments []Replenishment
	// Opened and Closed are the rows whose replenishment request this
	// event opened or closed.
	Opened []Key
	Closed []Key
}

// ErrRefused wraps every reason a stock event is refused as a whole.
var ErrRefused = errors.New("stock event refused")

// untracked reports whether skus says sku has no stock.
func untracked(skus map[string]SKU, sku string) bool {
	for k, s := range skus {
		if strings.EqualFold(k, sku) {
			return !s.Tracked
		}
	}
	return false
}

// ApplyStockEvent decides a cancellation, shipment or return (§2.5) of an
// order, given what the order holds (Holdings of the ledger), the current
// stock of the rows involved, the rules (negative_on_hand, notification
// thresholds, safety stock) and which rows have a replenishment request
// open. It refuses (an error wrapping ErrRefused) anything it cannot do in
// full: the event changes all or nothing.
//
//   - cancel: per line, releases allocations in reverse allocation order,
//     then the backorder; what remains must have been shipped and is
//     cancelled without a stock change. More than the line ever held is
//     refused.
//   - ship: consumes at the line's location (on_hand −q, committed −q),
//     from the line's allocations there, then its backorder there. More than
//     the order holds there is refused, and so is on_hand going below zero
//     unless negative_on_hand.
//   - return: RETURN puts q back on hand at the line's location; more than
//     the order's lines of that SKU shipped and did not yet return is
//     refused. NO_RESTOCK changes nothing.
//
// Untracked SKUs change no stock and are never refused.
//
// Every row the event touches is then checked: back_in_stock when its
// available quantity goes from ≤ 0 to > 0; out_of_stock or low_stock when
// it goes from above the threshold to at or below it; a replenishment when
// available is below the SKU's reorder point and no request is open for
// the row (one open request per SKU and location); a request is closed when
// available is back at or above the reorder point.
func ApplyStockEvent(ev StockEvent, held []Holding, stock Stock, skus map[string]SKU, r Rules, rp ReplenishmentRules, open map[Key]bool) (StockEventResult, error) {
	var res StockEventResult
	ref := ev.Ref
	if ref == "" {
		ref = ev.OrderID
	}
	recKey := RecordOrder(ev.Scope, ref)
	refuse := func(format string, args ...any) (StockEventResult, error) {
		return StockEventResult{}, fmt.Errorf("%w: order %s: %s", ErrRefused, ev.OrderID, fmt.Sprintf(format, args...))
	}
	if ev.OrderID == "" {
		return refuse("the event has no order id")
	}
	if ev.EventID == "" {
		return refuse("the event has no event id")
	}
	switch ev.Action {
	case ActionCancel, ActionShip, ActionReturn:
	default:
		return refuse("action %q: want cancel, ship or return", ev.Action)
	}
	holdings := slices.Clone(held)
	lines := ev.Lines
	if len(lines) == 0 {
		if ev.Action != ActionCancel {
			return refuse("a %s needs lines", ev.Action)
		}
		// Cancel everything: one event line per order line.
		seen := map[string]bool{}
		for _, h := range holdings {
			if !seen[h.LineID] {
				seen[h.LineID] = true
				var total decimal.Decimal
				for _, x := range holdings {
					if x.LineID == h.LineID {
						total = total.Add(x.Held())
					}
				}
				if total.IsPositive() {
					lines = append(lines, EventLine{LineID: h.LineID, SKU: h.SKU, Qty: total})
				}
			}
		}
	}
	delta := map[Key]*Level{}
	var touched []Key
	// move adds one adjustment; backorder marks a committed movement of
	// backordered units (Adjustment.Backorder).
	move := func(h *Holding, b Bucket, d decimal.Decimal, reason string, allowNeg, backorder bool) {
		k := rowKey(stock, h.SKU, h.Location)
		if delta[k] == nil {
			delta[k] = &Level{}
			touched = append(touched, k)
		}
		if b == OnHand {
			delta[k].OnHand = delta[k].OnHand.Add(d)
		} else {
			delta[k].Committed = delta[k].Committed.Add(d)
		}
		res.Adjustments = append(res.Adjustments, Adjustment{
			SKU: k.SKU, LocationID: h.Location, Bucket: b, Delta: d, AllowNegative: allowNeg, Backorder: backorder, Reason: reason,
			Ref:            ref + "/" + h.LineID,
			IdempotencyKey: RecordKey(recKey, "adjustment", string(ev.Action), ev.EventID, h.LineID, h.Location, reason, string(b)),
		})
	}
	matches := func(l EventLine, h Holding) bool {
		if l.LineID != "" && h.LineID != l.LineID {
			return false
		}
		return strings.EqualFold(strings.TrimSpace(h.SKU), strings.TrimSpace(l.SKU)) || (l.SKU == "" && l.LineID != "")
	}
	for i, l := range lines {
		where := fmt.Sprintf("line %d (sku %q)", i+1, l.SKU)
		if l.LineID != "" {
			where = fmt.Sprintf("line %q (sku %q)", l.LineID, l.SKU)
		}
		if !l.Qty.IsPositive() {
			return refuse("%s: quantity %s must be positive", where, l.Qty)
		}
		if !l.Qty.Equal(l.Qty.Truncate(Scale)) {
			return refuse("%s: quantity %s has more than %d decimal places", where, l.Qty, Scale)
		}
		if l.SKU == "" && l.LineID == "" {
			return refuse("%s: no sku and no line id", where)
		}
		skipStock := l.SKU != "" && untracked(skus, l.SKU)
		lr := EventLineResult{LineID: l.LineID, SKU: l.SKU, Location: l.Location, Qty: l.Qty,
			Released: decimal.Zero, Consumed: decimal.Zero, Restocked: decimal.Zero}
		switch ev.Action {
		case ActionCancel:
			var total, shipped decimal.Decimal
			var idx []int
			for j, h := range holdings {
				if matches(l, h) && (l.Location == "" || h.Location == l.Location) {
					idx = append(idx, j)
					total = total.Add(h.Held())
					shipped = shipped.Add(h.Shipped)
				}
			}
			if len(idx) == 0 && !skipStock {
				return refuse("%s: the order holds nothing of it to cancel", where)
			}
			if !skipStock && l.Qty.GreaterThan(total.Add(shipped)) {
				return refuse("%s: cancel %s, but the order holds %s and shipped %s of it", where, l.Qty, total, shipped)
			}
			rem := l.Qty
			if !skipStock {
				// Allocations, the most recent first, then backorders.
				for j := len(idx) - 1; j >= 0 && rem.IsPositive(); j-- {
					h := &holdings[idx[j]]
					if x := decimal.Min(rem, h.Allocated); x.IsPositive() {
						move(h, Committed, x.Neg(), ReasonDeallocate, false, false)
						h.Allocated = h.Allocated.Sub(x)
						lr.Released = lr.Released.Add(x)
						rem = rem.Sub(x)
					}
				}
				for j := len(idx) - 1; j >= 0 && rem.IsPositive(); j-- {
					h := &holdings[idx[j]]
					if x := decimal.Min(rem, h.Backordered); x.IsPositive() {
						move(h, Committed, x.Neg(), ReasonCancel, false, true)
						h.Backordered = h.Backordered.Sub(x)
						lr.Released = lr.Released.Add(x)
						rem = rem.Sub(x)
					}
				}
			}
			lineIDs := []string{l.LineID}
			if l.LineID == "" {
				lineIDs = nil
				for _, j := range idx {
					if !slices.Contains(lineIDs, holdings[j].LineID) {
						lineIDs = append(lineIDs, holdings[j].LineID)
					}
				}
				if len(lineIDs) == 0 {
					lineIDs = []string{""}
				}
			}
			res.Cancellations = append(res.Cancellations, Cancellation{
				OrderID: ev.OrderID, LineID: strings.Join(lineIDs, ","), SKU: l.SKU, Qty: l.Qty, Reason: ReasonCancel,
				IdempotencyKey: RecordKey(recKey, "cancellation", ev.EventID, l.LineID, l.SKU, l.Location),
			})
		case ActionShip:
			if l.Location == "" {
				return refuse("%s: a shipped line needs a location", where)
			}
			if skipStock {
				break
			}
			var idx []int
			var total decimal.Decimal
			for j, h := range holdings {
				if matches(l, h) && h.Location == l.Location {
					idx = append(idx, j)
					total = total.Add(h.Held())
				}
			}
			if l.Qty.GreaterThan(total) {
				return refuse("%s: ship %s from %s, but the order holds %s there", where, l.Qty, l.Location, total)
			}
			rem := l.Qty
			for _, bucket := range []bool{false, true} { // allocations, then backorders
				for _, j := range idx {
					h := &holdings[j]
					have := h.Allocated
					if bucket {
						have = h.Backordered
					}
					x := decimal.Min(rem, have)
					if !x.IsPositive() {
						continue
					}
					move(h, OnHand, x.Neg(), ReasonShip, r.Inventory.NegativeOnHand, false)
					move(h, Committed, x.Neg(), ReasonShip, false, bucket)
					if bucket {
						h.Backordered = h.Backordered.Sub(x)
					} else {
						h.Allocated = h.Allocated.Sub(x)
					}
					h.Shipped = h.Shipped.Add(x)
					lr.Consumed = lr.Consumed.Add(x)
					rem = rem.Sub(x)
				}
			}
		case ActionReturn:
			switch t := strings.ToUpper(strings.TrimSpace(l.RestockType)); t {
			case RestockNoRestock:
			case RestockReturn:
				if l.Location == "" {
					return refuse("%s: a restocked line needs a location", where)
				}
				if skipStock {
					break
				}
				var out decimal.Decimal
				first := -1
				for j, h := range holdings {
					if matches(l, h) {
						out = out.Add(h.Shipped).Sub(h.Returned)
						if first < 0 {
							first = j
						}
					}
				}
				if l.Qty.GreaterThan(out) {
					return refuse("%s: return %s, but the order shipped %s of it not yet returned", where, l.Qty, out)
				}
				h := holdings[first]
				h.Location = l.Location
				move(&h, OnHand, l.Qty, ReasonReturn, false, false)
				// Count the return against the shipped holdings, in order.
				rem := l.Qty
				for j := range holdings {
					if rem.IsPositive() && matches(l, holdings[j]) {
						x := decimal.Min(rem, holdings[j].Shipped.Sub(holdings[j].Returned))
						if x.IsPositive() {
							holdings[j].Returned = holdings[j].Returned.Add(x)
							rem = rem.Sub(x)
						}
					}
				}
				lr.Restocked = l.Qty
			default:
				return refuse("%s: restock_type %q: want RETURN or NO_RESTOCK", where, l.RestockType)
			}
		}
		res.Lines = append(res.Lines, lr)
	}

	// The guards, as the store applies them.
	slices.SortFunc(touched, compareKeys)
	for _, k := range touched {
		d := delta[k]
		before := stock[k]
		if after := before.OnHand.Add(d.OnHand); after.IsNegative() && d.OnHand.IsNegative() && !r.Inventory.NegativeOnHand {
			return refuse("%s at %s: on hand would go to %s (inventory.negative_on_hand is off)", k.SKU, k.Location, after)
		}
		if after := before.Committed.Add(d.Committed); after.IsNegative() && d.Committed.IsNegative() {
			return refuse("%s at %s: committed would go to %s", k.SKU, k.Location, after)
		}
	}

	// Notifications and replenishment, per touched row.
	outThr, lowThr := r.Notifications.OutOfStockThreshold, r.Notifications.LowStockThreshold
	for _, k := range touched {
		d := delta[k]
		lv := stock[k]
		before := Available(lv, r, k.SKU, k.Location)
		lv.OnHand = lv.OnHand.Add(d.OnHand)
		lv.Committed = lv.Committed.Add(d.Committed)
		after := Available(lv, r, k.SKU, k.Location)
		note := func(typ string) {
			res.Notifications = append(res.Notifications, Notification{
				Type: typ, OrderID: ev.OrderID, SKU: k.SKU, LocationID: k.Location, Qty: after,
				IdempotencyKey: RecordKey(recKey, "notification", typ, string(ev.Action), ev.EventID, norm(k.SKU), k.Location),
			})
		}
		switch {
		case !before.IsPositive() && after.IsPositive():
			note(NotifyBackInStock)
		case before.GreaterThan(outThr) && after.LessThanOrEqual(outThr):
			note(NotifyOutOfStock)
		case before.GreaterThan(lowThr) && after.LessThanOrEqual(lowThr):
			note(NotifyLowStock)
		}
		lvl := rp.For(k.SKU)
		if !lvl.Target.IsPositive() {
			continue
		}
		ok := open[Key{norm(k.SKU), k.Location}]
		switch {
		case after.LessThan(lvl.Point) && !ok:
			res.Replenishments = append(res.Replenishments, Replenishment{
				SKU: k.SKU, LocationID: k.Location, Qty: lvl.Target.Sub(after), Available: after,
				ReorderPoint: lvl.Point, TargetLevel: lvl.Target, OrderID: ev.OrderID,
				IdempotencyKey: RecordKey(recKey, "replenishment", string(ev.Action), ev.EventID, norm(k.SKU), k.Location),
			})
			res.Opened = append(res.Opened, Key{norm(k.SKU), k.Location})
		case !after.LessThan(lvl.Point) && ok:
			res.Closed = append(res.Closed, Key{norm(k.SKU), k.Location})
		}
	}
	return res, nil
}
