package allocation

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// CancelRequest asks to cancel some or all of an allocated order (§2.5).
type CancelRequest struct {
	// EventID identifies this cancellation (a webhook's event id): the
	// records' idempotency keys derive from it, so two partial
	// cancellations of one order do not collide and a replay of one does.
	EventID string
	// Lines maps line ids to the quantity to cancel; empty cancels every
	// line in full.
	Lines map[string]decimal.Decimal
	// Shipped lists the shipments already shipped: what they carry is
	// cancelled without any stock change, until a return (edge case 14).
	Shipped []string
	// Reason is the cancellations' reason; "" is "cancel".
	Reason string
}

// Cancel releases what prior (the order's allocation, as Allocate returned
// it) holds for the cancelled quantities. Per line it releases, in this
// order: unshipped allocations, the most recently made first (the
// lowest-ranked location is freed first); then the backorder; then the
// held quantity; then shipped quantities, which change no stock. A
// release moves units out of committed (available rises); a row whose
// available goes from ≤ 0 to > 0 gets a back_in_stock notification
// (Saleor). stock is the current snapshot, after prior was applied.
//
// prior must describe what the order holds now: cancelling twice from the
// same prior releases twice.
func Cancel(prior Result, req CancelRequest, stock Stock, r Rules) (Result, error) {
	if prior.OrderID == "" {
		return Result{}, errors.New("cancel: the prior result has no order id")
	}
	if req.EventID == "" {
		return Result{}, fmt.Errorf("cancel order %q: event id is empty", prior.OrderID)
	}
	reason := req.Reason
	if reason == "" {
		reason = "cancel"
	}
	type held struct {
		sku, parent string
		qty         decimal.Decimal
	}
	var order []string
	seen := map[string]bool{}
	note := func(id string) {
		if !seen[id] {
			seen[id] = true
			order = append(order, id)
		}
	}
	allocs := map[string][]Allocation{}
	for _, a := range prior.Allocations {
		note(a.LineID)
		allocs[a.LineID] = append(allocs[a.LineID], a)
	}
	backorders := map[string]Backorder{}
	for _, b := range prior.Backorders {
		note(b.LineID)
		backorders[b.LineID] = b
	}
	holds := map[string]held{}
	for _, h := range prior.Holds {
		if h.Allocated {
			continue
		}
		for _, l := range h.Lines {
			note(l.LineID)
			x := holds[l.LineID]
			holds[l.LineID] = held{l.SKU, l.ParentLineID, x.qty.Add(l.Qty)}
		}
	}
	for _, id := range sortedKeys(req.Lines) {
		if !seen[id] {
			return Result{}, fmt.Errorf("cancel order %q: line %q holds nothing to cancel", prior.OrderID, id)
		}
		if q := req.Lines[id]; !q.IsPositive() {
			return Result{}, fmt.Errorf("cancel order %q: line %q: quantity %s must be positive", prior.OrderID, id, q)
		}
	}
	shippedLoc := map[string]bool{}
	for _, s := range prior.Shipments {
		if slices.Contains(req.Shipped, s.ShipmentID) {
			shippedLoc[s.LocationID] = true
		}
	}

	res := Result{OrderID: prior.OrderID}
	released := map[Key]decimal.Decimal{}
	var touched []Key
	release := func(sku, loc, line string, x decimal.Decimal, backorder bool) {
		k := rowKey(stock, sku, loc)
		if _, ok := released[k]; !ok {
			touched = append(touched, k)
		}
		released[k] = released[k].Add(x)
		res.Adjustments = append(res.Adjustments, Adjustment{
			SKU: k.SKU, LocationID: loc, Bucket: Committed, Delta: x.Neg(), Reason: "cancel", Backorder: backorder,
			Ref:            prior.OrderID + "/" + line,
			IdempotencyKey: RecordKey(prior.OrderID, "cancel_adjustment", req.EventID, line, loc, string(Committed)),
		})
	}
	for _, line := range order {
		var total decimal.Decimal
		for _, a := range allocs[line] {
			total = total.Add(a.Qty)
		}
		total = total.Add(backorders[line].Qty).Add(holds[line].qty)
		q := total
		if len(req.Lines) > 0 {
			var ok bool
			if q, ok = req.Lines[line]; !ok {
				continue
			}
			if q.GreaterThan(total) {
				return Result{}, fmt.Errorf("cancel order %q: line %q: cancel %s, but it holds %s", prior.OrderID, line, q, total)
			}
		}
		rem := q
		as := allocs[line]
		var sku, parent string
		switch b, h := backorders[line], holds[line]; {
		case len(as) > 0:
			sku, parent = as[0].SKU, as[0].ParentLineID
		case b.LineID != "":
			sku, parent = b.SKU, b.ParentLineID
		default:
			sku, parent = h.sku, h.parent
		}
		for i := len(as) - 1; i >= 0 && rem.IsPositive(); i-- {
			a := as[i]
			if shippedLoc[a.LocationID] {
				continue
			}
			x := decimal.Min(rem, a.Qty)
			if a.Tracked {
				release(a.SKU, a.LocationID, line, x, false)
			}
			rem = rem.Sub(x)
		}
		if b, ok := backorders[line]; ok && rem.IsPositive() {
			x := decimal.Min(rem, b.Qty)
			if b.Tracked && b.LocationID != "" {
				release(b.SKU, b.LocationID, line, x, true)
			}
		}
		// What remains is held (no stock was taken for it) or shipped (no
		// stock changes until a return).
		res.Cancellations = append(res.Cancellations, Cancellation{
			OrderID: prior.OrderID, LineID: line, ParentLineID: parent, SKU: sku, Qty: q, Reason: reason,
			IdempotencyKey: RecordKey(prior.OrderID, "cancellation", req.EventID, line),
		})
	}
	slices.SortFunc(touched, compareKeys)
	for _, k := range touched {
		before := Available(stock[k], r, k.SKU, k.Location)
		after := before.Add(released[k])
		if !before.IsPositive() && after.IsPositive() {
			res.Notifications = append(res.Notifications, Notification{
				Type: NotifyBackInStock, OrderID: prior.OrderID, SKU: k.SKU, LocationID: k.Location, Qty: after,
				IdempotencyKey: RecordKey(prior.OrderID, "notification", NotifyBackInStock, req.EventID, norm(k.SKU), k.Location),
			})
		}
	}
	return res, nil
}

// rowKey finds the stock row of (sku, loc): by exact key, else by SKU
// compared case-insensitively (the first spelling in sorted order).
func rowKey(stock Stock, sku, loc string) Key {
	k := Key{sku, loc}
	if _, ok := stock[k]; ok {
		return k
	}
	var match []string
	for sk := range stock {
		if sk.Location == loc && norm(sk.SKU) == norm(sku) {
			match = append(match, sk.SKU)
		}
	}
	if len(match) > 0 {
		slices.Sort(match)
		k.SKU = match[0]
	}
	return k
}
