package allocation

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// Allocate decides one order: which locations its lines are taken from,
// which shipments that makes, and what becomes of the shortfall (DOMAIN.md
// §2.3, §2.4). It is pure and deterministic: the same inputs give the same
// Result, whatever the order of the locs slice or of any map.
//
// skus holds the catalog settings by SKU; a SKU missing from it but present
// in stock is tracked, in whole units. alreadyBackordered holds, by SKU, the
// units already outstanding on backorder from other orders (for
// backorder.max_depth); nil is none.
//
// An error is returned for inputs no order could be allocated against
// (invalid rules, an order without id or date, duplicate line or location
// ids, a kit whose components are kits); problems of single lines are
// LineError records in the Result.
func Allocate(o Order, skus map[string]SKU, stock Stock, locs []Location, r Rules, alreadyBackordered map[string]decimal.Decimal) (Result, error) {
	a, err := newAllocator(o, skus, stock, locs, r, alreadyBackordered)
	if err != nil {
		return Result{}, err
	}
	return a.run(), nil
}

// norm is how SKUs are compared: case-insensitively, ignoring surrounding
// space (Magento normalizeSku).
func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// lkey is a normalized stock row key.
type lkey struct{ sku, loc string }

// entry is a catalog SKU under its display name.
type entry struct {
	name string
	sku  SKU
}

// part is one allocatable line: an order line, or a kit component.
type part struct {
	lineID, parentID string
	sku              string // display name
	key              string // normalized
	per              decimal.Decimal
	tracked          bool
}

// group is what is allocated as a unit: an order line (one part) or a kit
// line (one part per component, every unit of the kit at one location).
type group struct {
	line    int // index of the order line
	sku     string
	units   decimal.Decimal
	places  int32 // 0 for whole units, Scale otherwise
	parts   []part
	tracked bool // any part tracked
	rank    []*candidate
	// decision indexes, for the explanation: one per part.
	decisions []int
}

type allocator struct {
	o       Order
	ref     string // the order in the ledger: Order.Ref, else its id
	recKey  string // what record keys derive from (RecordOrder)
	r       Rules
	catalog map[string]entry
	rows    map[lkey]Level
	exists  map[lkey]bool
	rowName map[lkey]string
	stocked map[string]bool
	already map[string]decimal.Decimal

	locs      []Location // in priority order
	ties      []TieBreaker
	cands     []*candidate
	byPrio    []*candidate // candidates, pickup first, then priority
	orderRank []*candidate
	excluded  []ExcludedLocation

	ledger map[lkey]decimal.Decimal // allocatable snapshot
	avail  map[lkey]decimal.Decimal // available snapshot (may be negative)

	groups    []*group
	errors    []lineErr
	decisions []LineDecision
	keys      []string // tracked SKU keys of the order, by display name
}

type lineErr struct {
	line, part int
	err        LineError
}

func newAllocator(o Order, skus map[string]SKU, stock Stock, locs []Location, r Rules, already map[string]decimal.Decimal) (*allocator, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if o.ID == "" {
		return nil, errors.New("allocate: order id is empty")
	}
	if o.Date.IsZero() {
		return nil, fmt.Errorf("allocate order %q: order date is required (it orders competing orders and dates backorders)", o.ID)
	}
	a := &allocator{
		o: o, r: r, ref: cmp.Or(o.Ref, o.ID),
		catalog: make(map[string]entry, len(skus)),
		rows:    map[lkey]Level{}, exists: map[lkey]bool{}, rowName: map[lkey]string{},
		stocked: map[string]bool{},
		already: map[string]decimal.Decimal{},
		ledger:  map[lkey]decimal.Decimal{}, avail: map[lkey]decimal.Decimal{},
	}
	a.recKey = RecordOrder(o.Scope, a.ref)
	for _, name := range sortedKeys(skus) {
		k := norm(name)
		if prev, dup := a.catalog[k]; dup {
			return nil, fmt.Errorf("allocate order %q: catalog SKUs %q and %q are the same SKU (SKUs compare case-insensitively)", o.ID, prev.name, name)
		}
		a.catalog[k] = entry{name: strings.TrimSpace(name), sku: skus[name]}
	}
	seen := map[string]bool{}
	for _, l := range locs {
		if l.ID == "" {
			return nil, fmt.Errorf("allocate order %q: a location has an empty id", o.ID)
		}
		if seen[l.ID] {
			return nil, fmt.Errorf("allocate order %q: location %q listed twice", o.ID, l.ID)
		}
		seen[l.ID] = true
	}
	a.locs = priorityOrder(locs, r.Allocation.LocationPriority)
	a.ties = r.Allocation.tieBreakers()
	for _, k := range sortedKeys(already) {
		a.already[norm(k)] = a.already[norm(k)].Add(already[k])
	}
	// Stock rows are read in sorted key order, so the spelling kept for a
	// row whose key appears twice (differing in case) is deterministic.
	keys := make([]Key, 0, len(stock))
	for k := range stock {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		if !seen[k.Location] {
			continue // a location the caller did not pass is not a candidate
		}
		lk := lkey{norm(k.SKU), k.Location}
		a.stocked[lk.sku] = true
		l := a.rows[lk]
		s := stock[k]
		a.rows[lk] = Level{
			OnHand: l.OnHand.Add(s.OnHand), Committed: l.Committed.Add(s.Committed),
			Reserved: l.Reserved.Add(s.Reserved), SafetyStock: l.SafetyStock.Add(s.SafetyStock),
			Backordered: l.Backordered.Add(s.Backordered),
		}
		if !a.exists[lk] {
			a.exists[lk], a.rowName[lk] = true, k.SKU
		}
	}
	if err := a.normalize(); err != nil {
		return nil, err
	}
	a.candidates()
	a.snapshot()
	a.rankGroups()
	return a, nil
}

// lookup resolves a SKU name: the catalog, else a SKU with stock rows
// (tracked, whole units, the store's DefaultSKU).
func (a *allocator) lookup(name string) (entry, bool) {
	k := norm(name)
	if e, ok := a.catalog[k]; ok {
		return e, true
	}
	if a.stocked[k] {
		return entry{name: strings.TrimSpace(name), sku: SKU{Tracked: true}}, true
	}
	return entry{}, false
}

func isWhole(d decimal.Decimal) bool { return d.Equal(d.Truncate(0)) }

func placesOf(decimalQty bool) int32 {
	if decimalQty {
		return Scale
	}
	return 0
}

// floorDiv is floor(x ÷ y) to places decimal places, exactly.
func floorDiv(x, y decimal.Decimal, places int32) decimal.Decimal {
	q, rem := x.QuoRem(y, places)
	if rem.IsNegative() {
		q = q.Sub(decimal.New(1, -places))
	}
	return q
}

// normalize turns order lines into allocation groups (§2.3 normalize).
func (a *allocator) normalize() error {
	ids := map[string]bool{}
	for _, l := range a.o.Lines {
		if l.ID == "" {
			return fmt.Errorf("allocate order %q: a line has an empty id", a.o.ID)
		}
		if ids[l.ID] {
			return fmt.Errorf("allocate order %q: line id %q appears twice", a.o.ID, l.ID)
		}
		ids[l.ID] = true
	}
	hasChildren := map[string]bool{}
	for _, l := range a.o.Lines {
		if l.ParentLineID != "" && l.ParentLineID != l.ID && ids[l.ParentLineID] {
			hasChildren[l.ParentLineID] = true
		}
	}
	keys := map[string]string{} // tracked key -> display name
	for i, l := range a.o.Lines {
		d := LineDecision{LineID: l.ID, ParentLineID: l.ParentLineID, SKU: l.SKU, Qty: l.Qty}
		di := len(a.decisions)
		a.decisions = append(a.decisions, d)
		fail := func(code, format string, args ...any) {
			a.decisions[di].Rules = append(a.decisions[di].Rules, code)
			a.errors = append(a.errors, lineErr{line: i, err: LineError{
				Code: code, OrderID: a.o.ID, LineID: l.ID, ParentLineID: l.ParentLineID, SKU: l.SKU, Qty: l.Qty,
				Message: fmt.Sprintf(format, args...),
			}})
		}
		switch {
		case l.Virtual:
			a.decisions[di].Rules = []string{"virtual"}
			continue
		case hasChildren[l.ID]:
			a.decisions[di].Rules = []string{"parent_of_child_lines"}
			continue
		case !l.Qty.IsPositive():
			fail(ErrInvalidQty, "line %q: quantity %s must be positive (negative quantities belong to refunds)", l.ID, l.Qty)
			continue
		case !l.Qty.Equal(l.Qty.Truncate(Scale)):
			fail(ErrInvalidQty, "line %q: quantity %s has more than %d decimal places", l.ID, l.Qty, Scale)
			continue
		}
		e, ok := a.resolve(l)
		if !ok {
			if norm(l.SKU) == "" {
				fail(ErrUnknownSKU, "line %q: empty sku", l.ID)
			} else {
				fail(ErrUnknownSKU, "line %q: unknown sku %q", l.ID, l.SKU)
			}
			continue
		}
		a.decisions[di].SKU = e.name
		if !e.sku.QtyDecimal && !isWhole(l.Qty) {
			fail(ErrInvalidQty, "line %q: sku %q is counted in whole units, not %s", l.ID, e.name, l.Qty)
			continue
		}
		g := &group{line: i, sku: e.name, units: l.Qty, places: placesOf(e.sku.QtyDecimal)}
		if len(e.sku.Components) == 0 {
			g.parts = []part{{lineID: l.ID, parentID: l.ParentLineID, sku: e.name, key: norm(e.name), per: decimal.NewFromInt(1), tracked: e.sku.Tracked}}
			g.decisions = []int{di}
		} else {
			a.decisions[di].Rules = []string{"kit"}
			parts, bad, err := a.explode(l, e)
			if err != nil {
				return err
			}
			if bad != "" {
				fail(ErrInvalidQty, "%s", bad)
				continue
			}
			if parts == nil {
				fail(ErrUnknownSKU, "line %q: kit %q has a component that is not a known sku", l.ID, e.name)
				continue
			}
			g.parts = parts
			for _, p := range parts {
				if ids[p.lineID] {
					return fmt.Errorf("allocate order %q: kit component line id %q is also an order line id", a.o.ID, p.lineID)
				}
				ids[p.lineID] = true
				g.decisions = append(g.decisions, len(a.decisions))
				a.decisions = append(a.decisions, LineDecision{
					LineID: p.lineID, ParentLineID: p.parentID, SKU: p.sku, Qty: l.Qty.Mul(p.per), Rules: []string{"kit_component"},
				})
			}
		}
		for _, p := range g.parts {
			if p.tracked {
				g.tracked = true
				keys[p.key] = p.sku
			}
		}
		a.groups = append(a.groups, g)
	}
	a.keys = sortedKeys(keys)
	slices.SortFunc(a.keys, func(x, y string) int { return strings.Compare(keys[x], keys[y]) })
	return nil
}

// resolve finds a line's SKU: by name, or, when the name is empty, by
// variant id among catalog SKUs (edge case 10).
func (a *allocator) resolve(l Line) (entry, bool) {
	if norm(l.SKU) != "" {
		return a.lookup(l.SKU)
	}
	if l.VariantID == "" {
		return entry{}, false
	}
	var found []entry
	for _, k := range sortedKeys(a.catalog) {
		if e := a.catalog[k]; e.sku.VariantID == l.VariantID {
			found = append(found, e)
		}
	}
	if len(found) != 1 {
		return entry{}, false
	}
	return found[0], true
}

// explode turns a kit line into its components (Medusa kits). A component
// listed twice is summed. It returns nil parts for an unknown component,
// bad for a quantity the components cannot take, and an error for a
// catalog no order could use.
func (a *allocator) explode(l Line, kit entry) (parts []part, bad string, err error) {
	index := map[string]int{}
	for _, c := range kit.sku.Components {
		if !c.Quantity.IsPositive() || !c.Quantity.Equal(c.Quantity.Truncate(Scale)) {
			return nil, "", fmt.Errorf("allocate order %q: kit %q component %q: quantity %s must be positive with at most %d decimal places", a.o.ID, kit.name, c.SKU, c.Quantity, Scale)
		}
		e, ok := a.lookup(c.SKU)
		if !ok {
			return nil, "", nil
		}
		if len(e.sku.Components) > 0 {
			return nil, "", fmt.Errorf("allocate order %q: kit %q component %q is itself a kit; kits are one level deep", a.o.ID, kit.name, e.name)
		}
		if i, dup := index[norm(e.name)]; dup {
			parts[i].per = parts[i].per.Add(c.Quantity)
			continue
		}
		index[norm(e.name)] = len(parts)
		parts = append(parts, part{
			lineID: l.ID + "/" + e.name, parentID: l.ID, sku: e.name, key: norm(e.name),
			per: c.Quantity, tracked: e.sku.Tracked,
		})
	}
	for _, p := range parts {
		q := l.Qty.Mul(p.per)
		if e, _ := a.lookup(p.sku); !e.sku.QtyDecimal && !isWhole(q) {
			return nil, fmt.Sprintf("line %q: kit %q needs %s of component %q, which is counted in whole units", l.ID, kit.name, q, p.sku), nil
		}
		if !q.Equal(q.Truncate(Scale)) {
			return nil, fmt.Sprintf("line %q: kit %q needs %s of component %q, more than %d decimal places", l.ID, kit.name, q, p.sku, Scale), nil
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Sprintf("line %q: kit %q has no components", l.ID, kit.name), nil
	}
	return parts, "", nil
}

// candidates filters the eligible locations (exclusions, market) and ranks
// them for the order.
func (a *allocator) candidates() {
	excluded := map[string]bool{}
	for _, id := range a.r.Allocation.ExcludeLocations {
		excluded[id] = true
	}
	market := ""
	if d := a.o.Destination; d != nil {
		market = strings.TrimSpace(cmp.Or(d.Market, d.Country))
	}
	pickup := ""
	if a.r.Allocation.PickupLocationFirst {
		pickup = a.o.PickupLocation
	}
	pos := listPositions(a.r.Allocation.LocationPriority)
	for _, l := range a.locs {
		isPickup := pickup != "" && l.ID == pickup && l.Pickup
		switch {
		case excluded[l.ID]:
			a.excluded = append(a.excluded, ExcludedLocation{LocationID: l.ID, Reason: "exclude_locations"})
			continue
		case a.r.Allocation.SameMarketOnly && market != "" && !isPickup && !strings.EqualFold(strings.TrimSpace(l.Market), market):
			a.excluded = append(a.excluded, ExcludedLocation{LocationID: l.ID, Reason: "other_market"})
			continue
		}
		c := &candidate{loc: l, listed: position(pos, l.ID), pickup: isPickup}
		if a.o.Destination != nil && a.o.Destination.Coords != nil && l.Coords != nil {
			d := haversineKm(*a.o.Destination.Coords, *l.Coords)
			c.dist = &d
		}
		a.cands = append(a.cands, c)
	}
	a.byPrio = rankBy(a.cands, byPriority, a.ties)
}

// snapshot computes available and allocatable for every tracked SKU of the
// order at every candidate (the ledger the fill runs down).
func (a *allocator) snapshot() {
	for _, k := range a.keys {
		name := a.nameOf(k)
		for _, l := range a.locs {
			lk := lkey{k, l.ID}
			a.avail[lk] = Available(a.rows[lk], a.r, name, l.ID)
		}
		for _, c := range a.cands {
			lk := lkey{k, c.loc.ID}
			a.ledger[lk] = decimal.Max(a.avail[lk], decimal.Zero) // §2.1 allocatable; edge case 8
		}
	}
}

// nameOf is the display name of a tracked SKU key.
func (a *allocator) nameOf(k string) string {
	if e, ok := a.catalog[k]; ok {
		return e.name
	}
	for _, g := range a.groups {
		for _, p := range g.parts {
			if p.key == k {
				return p.sku
			}
		}
	}
	return k
}

// rowSKU is the SKU spelled as the stock row spells it, so the inventory
// store, which compares exactly, finds the row an adjustment names.
func (a *allocator) rowSKU(p part, loc string) string {
	if n, ok := a.rowName[lkey{p.key, loc}]; ok {
		return n
	}
	return p.sku
}

// unitsAt is how many units of g the ledger offers at loc: for a kit, the
// minimum over its tracked components of floor(allocatable ÷ required)
// (Medusa getVariantAvailability, per location).
func (a *allocator) unitsAt(g *group, loc string, ledger map[lkey]decimal.Decimal) decimal.Decimal {
	var u decimal.Decimal
	first := true
	for _, p := range g.parts {
		if !p.tracked {
			continue
		}
		q := floorDiv(ledger[lkey{p.key, loc}], p.per, g.places)
		if first || q.LessThan(u) {
			u, first = q, false
		}
	}
	return u
}

// rankGroups computes the order-level ranking and each group's ranking.
// high_stock ranks from the snapshot, once, before anything is allocated
// (Saleor PRIORITIZE_HIGH_STOCK).
func (a *allocator) rankGroups() {
	switch a.r.Allocation.Strategy {
	case Closest:
		a.orderRank = rankBy(a.cands, byDistance, a.ties)
	case HighStock:
		total := map[string]decimal.Decimal{}
		for _, c := range a.cands {
			for _, k := range a.keys {
				total[c.loc.ID] = total[c.loc.ID].Add(a.ledger[lkey{k, c.loc.ID}])
			}
		}
		a.orderRank = rankBy(a.cands, byStock(total), a.ties)
	default:
		a.orderRank = a.byPrio
	}
	for _, g := range a.groups {
		if a.r.Allocation.Strategy == HighStock && g.tracked {
			units := map[string]decimal.Decimal{}
			for _, c := range a.cands {
				units[c.loc.ID] = a.unitsAt(g, c.loc.ID, a.ledger)
			}
			g.rank = rankBy(a.cands, byStock(units), a.ties)
		} else {
			g.rank = a.orderRank
		}
	}
}

// take is units of a group taken at a location.
type take struct {
	loc   string
	units decimal.Decimal
}

// plan is one run of the fill.
type plan struct {
	takes   [][]take          // per group
	short   []decimal.Decimal // per group, units
	offered [][]decimal.Decimal
	used    []string // locations used, in order rank
}

// fill runs the greedy fill of §2.3 over the candidates allowed (nil: all)
// against a running ledger: every group in line order takes what its
// ranking offers, and what one line takes the next cannot.
func (a *allocator) fill(allowed map[string]bool) plan {
	ledger := make(map[lkey]decimal.Decimal, len(a.ledger))
	for k, v := range a.ledger {
		ledger[k] = v
	}
	ok := func(c *candidate) bool { return allowed == nil || allowed[c.loc.ID] }
	p := plan{takes: make([][]take, len(a.groups)), short: make([]decimal.Decimal, len(a.groups)), offered: make([][]decimal.Decimal, len(a.groups))}
	usedSet := map[string]bool{}
	for gi, g := range a.groups {
		p.offered[gi] = make([]decimal.Decimal, len(g.parts))
		for pi, pt := range g.parts {
			if !pt.tracked {
				continue
			}
			for _, c := range g.rank {
				if ok(c) {
					p.offered[gi][pi] = p.offered[gi][pi].Add(ledger[lkey{pt.key, c.loc.ID}])
				}
			}
		}
		if !g.tracked {
			continue // routed below, once the tracked lines chose their locations
		}
		rem := g.units
		grab := func(loc string, u decimal.Decimal) {
			p.takes[gi] = append(p.takes[gi], take{loc, u})
			usedSet[loc] = true
			for _, pt := range g.parts {
				if pt.tracked {
					k := lkey{pt.key, loc}
					ledger[k] = ledger[k].Sub(u.Mul(pt.per))
				}
			}
			rem = rem.Sub(u)
		}
		if a.r.Split.AllowLineSplit {
			for _, c := range g.rank {
				if !ok(c) {
					continue
				}
				if u := decimal.Min(rem, a.unitsAt(g, c.loc.ID, ledger)); u.IsPositive() {
					grab(c.loc.ID, u)
					if !rem.IsPositive() {
						break
					}
				}
			}
		} else {
			// Shopify legacy: the first location that covers the line whole,
			// else the first that has any of it; never several.
			var best *candidate
			for _, c := range g.rank {
				if !ok(c) {
					continue
				}
				u := a.unitsAt(g, c.loc.ID, ledger)
				if u.GreaterThanOrEqual(rem) {
					best = c
					break
				}
				if best == nil && u.IsPositive() {
					best = c
				}
			}
			if best != nil {
				grab(best.loc.ID, decimal.Min(rem, a.unitsAt(g, best.loc.ID, ledger)))
			}
		}
		p.short[gi] = rem
	}
	for _, c := range a.orderRank {
		if usedSet[c.loc.ID] {
			p.used = append(p.used, c.loc.ID)
		}
	}
	// Untracked lines are always available: they join the best-ranked
	// location the order already ships from, else their first candidate,
	// so they never add a shipment they need not.
	for gi, g := range a.groups {
		if g.tracked {
			continue
		}
		loc := ""
		if len(p.used) > 0 {
			loc = p.used[0]
		} else {
			for _, c := range g.rank {
				if ok(c) {
					loc = c.loc.ID
					break
				}
			}
		}
		if loc == "" {
			p.short[gi] = g.units
			continue
		}
		p.takes[gi] = []take{{loc, g.units}}
		if !usedSet[loc] {
			usedSet[loc] = true
			p.used = append(p.used, loc)
		}
	}
	return p
}

func (p plan) complete() bool {
	for _, s := range p.short {
		if s.IsPositive() {
			return false
		}
	}
	return true
}

// searchCover looks for the smallest set of locations that covers the
// whole order: single locations first, then pairs, and so on (Salesforce
// OM "fewest splits"), combinations in rank order, at most combo_search_cap
// of them examined. It returns the set when it finds one.
func (a *allocator) searchCover() (*CoverSearch, map[string]bool) {
	n := len(a.orderRank)
	cs := &CoverSearch{MaxK: n}
	if m := a.r.Split.MaxShipments; m > 0 && m < n {
		cs.MaxK = m
	}
	demand := map[string]decimal.Decimal{}
	for _, g := range a.groups {
		for _, p := range g.parts {
			if p.tracked {
				demand[p.key] = demand[p.key].Add(g.units.Mul(p.per))
			}
		}
	}
	covers := func(idx []int) bool {
		for k, d := range demand {
			var s decimal.Decimal
			for _, i := range idx {
				s = s.Add(a.ledger[lkey{k, a.orderRank[i].loc.ID}])
			}
			if s.LessThan(d) {
				return false
			}
		}
		return true
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if n == 0 || !covers(all) {
		return cs, nil // no set covers what all of them together cannot
	}
	for k := 1; k <= cs.MaxK; k++ {
		idx := make([]int, k)
		for i := range idx {
			idx[i] = i
		}
		for {
			if cs.Examined >= a.r.Split.ComboSearchCap {
				cs.CapReached = true
				return cs, nil
			}
			cs.Examined++
			if covers(idx) {
				allowed := make(map[string]bool, k)
				for _, i := range idx {
					allowed[a.orderRank[i].loc.ID] = true
				}
				if a.fill(allowed).complete() {
					cs.Found = true
					for _, i := range idx {
						cs.Locations = append(cs.Locations, a.orderRank[i].loc.ID)
					}
					return cs, allowed
				}
			}
			// next combination in lexicographic order
			i := k - 1
			for i >= 0 && idx[i] == n-k+i {
				i--
			}
			if i < 0 {
				break
			}
			idx[i]++
			for j := i + 1; j < k; j++ {
				idx[j] = idx[j-1] + 1
			}
		}
	}
	return cs, nil
}
