package allocation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// decideShortfalls applies the backorder decision (§2.4) to each group's
// shortfall, in line order: under allow and allow_notify the shortfall is
// backordered up to backorder.max_depth, counting what other orders have
// outstanding (a.already) and what earlier lines of this order backordered;
// the rest, and everything under deny, takes the deny path.
func (a *allocator) decideShortfalls(outs []outcome) {
	boUsed := map[string]decimal.Decimal{}
	for gi, g := range a.groups {
		o := &outs[gi]
		o.backorder, o.deny, o.capped = decimal.Zero, decimal.Zero, false
		if !o.short.IsPositive() {
			continue
		}
		if a.r.Backorder.Policy == Deny {
			o.deny = o.short
			continue
		}
		o.backorder = o.short
		if md := a.r.Backorder.MaxDepth; md != nil {
			for _, pt := range g.parts {
				if !pt.tracked {
					continue
				}
				room := md.Sub(a.already[pt.key]).Sub(boUsed[pt.key])
				u := decimal.Max(floorDiv(room, pt.per, g.places), decimal.Zero)
				if u.LessThan(o.backorder) {
					o.backorder, o.capped = u, true
				}
			}
		}
		o.deny = o.short.Sub(o.backorder)
		for _, pt := range g.parts {
			if pt.tracked {
				boUsed[pt.key] = boUsed[pt.key].Add(o.backorder.Mul(pt.per))
			}
		}
	}
}

// outcome is what became of one group, in units.
type outcome struct {
	takes     []take
	short     decimal.Decimal // not allocated
	backorder decimal.Decimal // of short
	deny      decimal.Decimal // of short: the deny path
	// stockDeny is the deny path's share before all_or_nothing: what
	// neither stock nor an allowed backorder covers.
	stockDeny decimal.Decimal
	capped    bool // max_depth limited the backorder
}

func (a *allocator) run() Result {
	strategy := a.r.Allocation.Strategy
	res := Result{OrderID: a.o.ID, Explanation: Explanation{Strategy: strategy, Excluded: a.excluded}}
	for _, c := range a.orderRank {
		res.Explanation.Candidates = append(res.Explanation.Candidates, c.loc.ID)
	}

	// 1. Choose the locations and fill (§2.3).
	var allowed map[string]bool
	lineRule := map[int][]string{} // group -> rules
	addRule := func(gi int, rule string) { lineRule[gi] = append(lineRule[gi], rule) }
	if strategy == FewestShipments || (a.r.Split.Mode == ShipComplete && a.r.Split.MaxShipments > 0) {
		cs, set := a.searchCover()
		res.Explanation.Cover = cs
		allowed = set
	}
	p := a.fill(allowed)
	trimmed := false
	if m := a.r.Split.MaxShipments; m > 0 && len(p.used) > m {
		keep := map[string]bool{}
		for _, id := range p.used[:m] {
			keep[id] = true
		}
		allowed, trimmed = keep, true
		p = a.fill(allowed)
	}

	outs := make([]outcome, len(a.groups))
	for gi, g := range a.groups {
		outs[gi] = outcome{takes: p.takes[gi], short: p.short[gi]}
		switch {
		case !g.tracked:
			addRule(gi, "untracked")
		default:
			addRule(gi, "strategy:"+string(strategy))
		}
		if len(p.takes[gi]) > 0 && len(a.cands) > 0 && g.rank[0].pickup && p.takes[gi][0].loc == g.rank[0].loc.ID {
			addRule(gi, "pickup_location_first")
		}
		if cs := res.Explanation.Cover; cs != nil {
			if cs.Found {
				addRule(gi, "fewest_shipments:cover")
			} else {
				addRule(gi, "fewest_shipments:no_cover")
			}
		}
		if trimmed {
			addRule(gi, fmt.Sprintf("max_shipments:%d", a.r.Split.MaxShipments))
		}
		if !a.r.Split.AllowLineSplit && g.tracked {
			addRule(gi, "allow_line_split:false")
		}
	}

	// 2. Backorder decision per shortfall (§2.4), with a running depth per
	// SKU. all_or_nothing_per_order (§2.9 #7): any shortfall, backorderable
	// or not, or a line in error discards every allocation, and the
	// decision is made again for every line's full quantity. What the
	// first decision denied is the stock's doing (an insufficient_stock
	// error); what only the second denies is the rule's.
	shortfall := len(a.errors) > 0
	for _, o := range outs {
		shortfall = shortfall || o.short.IsPositive()
	}
	a.decideShortfalls(outs)
	for gi := range outs {
		outs[gi].stockDeny = outs[gi].deny
	}
	if a.r.Allocation.AllOrNothingPerOrder && shortfall {
		for gi, g := range a.groups {
			outs[gi] = outcome{short: g.units, stockDeny: outs[gi].stockDeny}
			addRule(gi, "all_or_nothing_per_order")
		}
		a.decideShortfalls(outs)
	}
	policy := a.r.Backorder.Policy

	// The locations the order ships from: under max_shipments, once the
	// order uses that many, backorders are booked among them (§2.9 #2).
	var boAt map[string]bool
	if m := a.r.Split.MaxShipments; m > 0 {
		ships := map[string]bool{}
		for _, o := range outs {
			for _, t := range o.takes {
				ships[t.loc] = true
			}
		}
		if len(ships) >= m {
			boAt = ships
		}
	}

	// 3. Ship complete: hold while anything is outstanding (§2.3, edge 5).
	action := a.r.Backorder.RemainderAction
	outstanding := false
	for _, o := range outs {
		if o.backorder.IsPositive() || (o.deny.IsPositive() && action != RemainderCancel) {
			outstanding = true
		}
	}
	held := a.r.Split.Mode == ShipComplete && outstanding
	var shipHold *Hold
	if held {
		shipHold = &Hold{OrderID: a.o.ID, Reason: HoldShipComplete, Allocated: a.r.Split.ReserveWhileHolding}
		for gi, g := range a.groups {
			var units decimal.Decimal
			for _, t := range outs[gi].takes {
				units = units.Add(t.units)
			}
			if !units.IsPositive() {
				continue
			}
			for _, pt := range g.parts {
				shipHold.Lines = append(shipHold.Lines, HoldLine{LineID: pt.lineID, ParentLineID: pt.parentID, SKU: pt.sku, Qty: units.Mul(pt.per)})
			}
			if a.r.Split.ReserveWhileHolding {
				addRule(gi, "ship_complete:held")
			} else {
				outs[gi].takes = nil
				addRule(gi, "ship_complete:not_reserved")
			}
		}
	}

	// 4. Records, in line order.
	committed := map[lkey]decimal.Decimal{}
	rankOf := func(g *group, loc string) int {
		return slices.IndexFunc(g.rank, func(c *candidate) bool { return c.loc.ID == loc }) + 1
	}
	for gi, g := range a.groups {
		for _, pt := range g.parts {
			for _, t := range outs[gi].takes {
				q := t.units.Mul(pt.per)
				res.Allocations = append(res.Allocations, Allocation{
					OrderID: a.o.ID, LineID: pt.lineID, ParentLineID: pt.parentID, SKU: pt.sku, LocationID: t.loc,
					Qty: q, Strategy: strategy, Rank: rankOf(g, t.loc), Tracked: pt.tracked,
					IdempotencyKey: RecordKey(a.recKey, "allocation", pt.lineID, t.loc),
				})
				if pt.tracked {
					res.Adjustments = append(res.Adjustments, a.adjust(pt, t.loc, q, "allocate", false))
					committed[lkey{pt.key, t.loc}] = committed[lkey{pt.key, t.loc}].Add(q)
				}
			}
		}
	}
	var denyHold *Hold
	notify := policy == AllowNotify
	for gi, g := range a.groups {
		o := outs[gi]
		if o.backorder.IsPositive() {
			loc := a.backorderLocation(g, o, boAt)
			addRule(gi, "backorder:"+string(policy))
			if o.capped {
				addRule(gi, "backorder:max_depth")
			}
			for _, pt := range g.parts {
				q := o.backorder.Mul(pt.per)
				res.Backorders = append(res.Backorders, Backorder{
					OrderID: a.o.ID, LineID: pt.lineID, ParentLineID: pt.parentID, SKU: pt.sku, Qty: q, LocationID: loc,
					Reason: ErrInsufficientStock, PromisedDate: a.o.Date.AddDate(0, 0, a.r.Backorder.PromiseDaysDefault),
					Notify: notify, Tracked: pt.tracked, IdempotencyKey: RecordKey(a.recKey, "backorder", pt.lineID),
				})
				if pt.tracked && loc != "" {
					res.Adjustments = append(res.Adjustments, a.adjust(pt, loc, q, "backorder", true))
					committed[lkey{pt.key, loc}] = committed[lkey{pt.key, loc}].Add(q)
				}
			}
		} else if o.capped {
			addRule(gi, "backorder:max_depth")
		}
		if !o.deny.IsPositive() {
			continue
		}
		reason := ErrInsufficientStock
		if !o.stockDeny.IsPositive() {
			reason = "all_or_nothing_per_order"
		}
		switch action {
		case RemainderCancel:
			addRule(gi, "remainder:cancel")
		case RemainderHold:
			addRule(gi, "remainder:hold")
		default:
			addRule(gi, "remainder:backorder_denied:hold")
		}
		for pi, pt := range g.parts {
			q := o.deny.Mul(pt.per)
			if o.stockDeny.IsPositive() {
				a.errors = append(a.errors, lineErr{line: g.line, part: pi + 1, err: LineError{
					Code: ErrInsufficientStock, OrderID: a.o.ID, LineID: pt.lineID, ParentLineID: pt.parentID, SKU: pt.sku,
					Qty: o.stockDeny.Mul(pt.per), Available: p.offered[gi][pi],
					Message: fmt.Sprintf("line %q: %s of sku %q can be neither allocated nor backordered", pt.lineID, o.stockDeny.Mul(pt.per), pt.sku),
				}})
			}
			if action == RemainderCancel {
				res.Cancellations = append(res.Cancellations, Cancellation{
					OrderID: a.o.ID, LineID: pt.lineID, ParentLineID: pt.parentID, SKU: pt.sku, Qty: q, Reason: reason,
					IdempotencyKey: RecordKey(a.recKey, "cancellation", pt.lineID),
				})
				continue
			}
			if denyHold == nil {
				denyHold = &Hold{OrderID: a.o.ID, Reason: HoldInsufficientStock}
			}
			denyHold.Lines = append(denyHold.Lines, HoldLine{LineID: pt.lineID, ParentLineID: pt.parentID, SKU: pt.sku, Qty: q})
		}
	}
	for _, h := range []*Hold{denyHold, shipHold} {
		if h != nil && len(h.Lines) > 0 {
			h.IdempotencyKey = RecordKey(a.recKey, "hold", h.Reason)
			res.Holds = append(res.Holds, *h)
		}
	}

	// Shipments: one per location, numbered in order rank.
	status := Ready
	if held {
		status = Held
	}
	byLoc := map[string][]ShipmentLine{}
	for _, al := range res.Allocations {
		byLoc[al.LocationID] = append(byLoc[al.LocationID], ShipmentLine{LineID: al.LineID, ParentLineID: al.ParentLineID, SKU: al.SKU, Qty: al.Qty})
	}
	for _, c := range a.orderRank {
		lines, ok := byLoc[c.loc.ID]
		if !ok {
			continue
		}
		seq := len(res.Shipments) + 1
		res.Shipments = append(res.Shipments, Shipment{
			ShipmentID: ShipmentID(a.recKey, c.loc.ID, seq), OrderID: a.o.ID, LocationID: c.loc.ID, Seq: seq,
			Status: status, Lines: lines, IdempotencyKey: RecordKey(a.recKey, "shipment", c.loc.ID),
		})
	}

	// Errors, in line order: a line's own error, then its parts'.
	slices.SortStableFunc(a.errors, func(x, y lineErr) int {
		if x.line != y.line {
			return x.line - y.line
		}
		return x.part - y.part
	})
	for _, e := range a.errors {
		e.err.IdempotencyKey = RecordKey(a.recKey, "error", e.err.Code, e.err.LineID)
		res.Errors = append(res.Errors, e.err)
	}

	// Notifications: backorder_customer, insufficient_stock, order_on_hold,
	// then stock levels by (sku, location).
	if notify {
		for _, b := range res.Backorders {
			res.Notifications = append(res.Notifications, Notification{
				Type: NotifyBackorderCustomer, OrderID: a.o.ID, LineID: b.LineID, SKU: b.SKU, Qty: b.Qty,
				IdempotencyKey: RecordKey(a.recKey, "notification", NotifyBackorderCustomer, b.LineID),
			})
		}
	}
	for _, e := range res.Errors {
		if e.Code == ErrInsufficientStock {
			res.Notifications = append(res.Notifications, Notification{
				Type: NotifyInsufficientStock, OrderID: a.o.ID, LineID: e.LineID, SKU: e.SKU, Qty: e.Qty,
				IdempotencyKey: RecordKey(a.recKey, "notification", NotifyInsufficientStock, e.LineID),
			})
		}
	}
	for _, h := range res.Holds {
		res.Notifications = append(res.Notifications, Notification{
			Type: NotifyOrderOnHold, OrderID: a.o.ID, Reason: h.Reason,
			IdempotencyKey: RecordKey(a.recKey, "notification", NotifyOrderOnHold, h.Reason),
		})
	}
	res.Notifications = append(res.Notifications, a.stockNotifications(committed)...)

	// Explanation.
	res.Explanation.Snapshot = a.snapshotRows()
	res.Explanation.Rankings = a.rankings()
	a.explainLines(outs, lineRule, res)
	res.Explanation.Lines = a.decisions
	return res
}

// adjust is one committed-bucket movement; a backorder may take available
// below zero and is counted as backordered.
func (a *allocator) adjust(pt part, loc string, q decimal.Decimal, reason string, backorder bool) Adjustment {
	return Adjustment{
		SKU: a.rowSKU(pt, loc), LocationID: loc, Bucket: Committed, Delta: q, AllowNegative: backorder, Backorder: backorder,
		Reason: reason, Ref: a.ref + "/" + pt.lineID,
		IdempotencyKey: RecordKey(a.recKey, "adjustment", pt.lineID, loc, reason, string(Committed)),
	}
}

// backorderLocation books a backorder (§2.4): where an unsplit line was
// allocated, so it stays whole; else, among the candidates (among the
// locations in at, when at is set: those the order ships from under
// max_shipments), the top-priority one with a stock row for every tracked
// part (priority_stocked), or the top-priority one. Priority ties are
// broken by the tie-breakers.
func (a *allocator) backorderLocation(g *group, o outcome, at map[string]bool) string {
	if !a.r.Split.AllowLineSplit && len(o.takes) == 1 {
		return o.takes[0].loc
	}
	first := ""
	for _, c := range a.byPrio {
		if at != nil && !at[c.loc.ID] {
			continue
		}
		if first == "" {
			first = c.loc.ID
			if a.r.Backorder.BackorderLocation == FirstPriority {
				return first
			}
		}
		stocked := true
		for _, pt := range g.parts {
			if pt.tracked && !a.exists[lkey{pt.key, c.loc.ID}] {
				stocked = false
			}
		}
		if stocked {
			return c.loc.ID
		}
	}
	return first
}

// stockNotifications reports rows this order took to or below a threshold,
// and rows whose feed on_hand is negative (edge case 8), once per row:
// out_of_stock wins over low_stock.
func (a *allocator) stockNotifications(committed map[lkey]decimal.Decimal) []Notification {
	var out []Notification
	outThr, lowThr := a.r.Notifications.OutOfStockThreshold, a.r.Notifications.LowStockThreshold
	cands := slices.Clone(a.cands)
	slices.SortFunc(cands, func(x, y *candidate) int { return strings.Compare(x.loc.ID, y.loc.ID) })
	for _, k := range a.keys {
		for _, c := range cands {
			lk := lkey{k, c.loc.ID}
			delta := committed[lk]
			before := a.avail[lk]
			after := before.Sub(delta)
			touched := !delta.IsZero()
			typ := ""
			switch {
			case a.exists[lk] && a.rows[lk].OnHand.IsNegative(),
				touched && before.GreaterThan(outThr) && after.LessThanOrEqual(outThr):
				typ = NotifyOutOfStock
			case touched && before.GreaterThan(lowThr) && after.LessThanOrEqual(lowThr):
				typ = NotifyLowStock
			default:
				continue
			}
			sku := a.nameOf(k)
			if n, ok := a.rowName[lk]; ok {
				sku = n
			}
			out = append(out, Notification{
				Type: typ, OrderID: a.o.ID, SKU: sku, LocationID: c.loc.ID, Qty: after,
				IdempotencyKey: RecordKey(a.recKey, "notification", typ, k, c.loc.ID),
			})
		}
	}
	return out
}

func (a *allocator) snapshotRows() []SnapshotRow {
	locs := slices.Clone(a.locs)
	slices.SortFunc(locs, func(x, y Location) int { return strings.Compare(x.ID, y.ID) })
	var rows []SnapshotRow
	for _, k := range a.keys {
		name := a.nameOf(k)
		for _, l := range locs {
			lk := lkey{k, l.ID}
			lv := a.rows[lk]
			av := a.avail[lk]
			safety, from := SafetyStockOf(lv, a.r, name, l.ID)
			rows = append(rows, SnapshotRow{
				SKU: name, LocationID: l.ID, Exists: a.exists[lk],
				OnHand: lv.OnHand, Committed: lv.Committed, Reserved: lv.Reserved,
				ReservedIgnored: !a.r.Inventory.RespectReservations,
				SafetyStock:     safety, SafetyStockFrom: from, Backordered: lv.Backordered,
				Available: av, Allocatable: decimal.Max(av, decimal.Zero),
			})
		}
	}
	return rows
}

func (a *allocator) rankings() []Ranking {
	seen := map[string]bool{}
	var out []Ranking
	for _, g := range a.groups {
		if seen[g.sku] {
			continue
		}
		seen[g.sku] = true
		rk := Ranking{SKU: g.sku}
		for i, c := range g.rank {
			rc := RankedCandidate{LocationID: c.loc.ID, Rank: i + 1, DistanceKm: c.dist, Pickup: c.pickup}
			if g.tracked {
				rc.Allocatable = a.unitsAt(g, c.loc.ID, a.ledger)
			}
			rk.Candidates = append(rk.Candidates, rc)
		}
		out = append(out, rk)
	}
	slices.SortFunc(out, func(x, y Ranking) int { return strings.Compare(x.SKU, y.SKU) })
	return out
}

// explainLines fills each line decision's quantities and rules from the
// records.
func (a *allocator) explainLines(outs []outcome, rules map[int][]string, res Result) {
	byLine := map[string]int{}
	for i, d := range a.decisions {
		byLine[d.LineID] = i
	}
	add := func(line string, f func(*LineDecision) *decimal.Decimal, q decimal.Decimal) {
		d := &a.decisions[byLine[line]]
		*f(d) = f(d).Add(q)
	}
	for _, al := range res.Allocations {
		add(al.LineID, func(d *LineDecision) *decimal.Decimal { return &d.Allocated }, al.Qty)
	}
	for _, b := range res.Backorders {
		add(b.LineID, func(d *LineDecision) *decimal.Decimal { return &d.Backordered }, b.Qty)
	}
	for _, c := range res.Cancellations {
		add(c.LineID, func(d *LineDecision) *decimal.Decimal { return &d.Cancelled }, c.Qty)
	}
	for _, h := range res.Holds {
		if h.Allocated {
			continue
		}
		for _, l := range h.Lines {
			add(l.LineID, func(d *LineDecision) *decimal.Decimal { return &d.Held }, l.Qty)
		}
	}
	for gi, g := range a.groups {
		for _, di := range g.decisions {
			a.decisions[di].Rules = append(a.decisions[di].Rules, rules[gi]...)
		}
	}
}
