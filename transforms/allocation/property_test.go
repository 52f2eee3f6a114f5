package allocation_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// scenario is one random input to Allocate.
type scenario struct {
	o       allocation.Order
	skus    map[string]allocation.SKU
	stock   allocation.Stock
	locs    []allocation.Location
	r       allocation.Rules
	already map[string]decimal.Decimal
	// alreadyFromRows says already is OutstandingBackorders of stock.
	alreadyFromRows bool
}

func (s scenario) String() string {
	return fmt.Sprintf("order %+v\nskus %+v\nstock %v\nlocs %+v\nrules %+v\nalready %v", s.o, s.skus, s.stock, s.locs, s.r, s.already)
}

// randomScenario draws orders, stock and rules over a small world, so
// lines compete for the same rows often.
func randomScenario(rng *rand.Rand) scenario {
	pick := func(n int) int { return rng.IntN(n) }
	chance := func(p float64) bool { return rng.Float64() < p }
	dec := func(lo, hi int64, decimals bool) decimal.Decimal {
		d := decimal.NewFromInt(lo + rng.Int64N(hi-lo+1))
		if decimals && chance(0.5) {
			d = d.Add(decimal.New(rng.Int64N(4)*25, -2)) // .00 .25 .50 .75
		}
		return d
	}
	s := scenario{skus: map[string]allocation.SKU{}, stock: allocation.Stock{}, already: map[string]decimal.Decimal{}}

	markets := []string{"us", "ca"}
	nLocs := 1 + pick(5)
	for i := range nLocs {
		l := allocation.Location{ID: "L" + strconv.Itoa(i), Priority: pick(3), Market: markets[pick(2)], Pickup: chance(0.3)}
		if chance(0.7) {
			l.Coords = &allocation.LatLng{Lat: rng.Float64()*140 - 70, Lng: rng.Float64()*360 - 180}
		}
		s.locs = append(s.locs, l)
	}

	var simple []string
	for i := range 1 + pick(4) {
		name := "S" + strconv.Itoa(i)
		sku := allocation.SKU{Tracked: chance(0.85), QtyDecimal: chance(0.2)}
		s.skus[name] = sku
		simple = append(simple, name)
		for _, l := range s.locs {
			if chance(0.2) {
				continue // no row
			}
			lv := allocation.Level{
				OnHand:      dec(-2, 10, sku.QtyDecimal),
				Committed:   dec(0, 3, sku.QtyDecimal),
				Reserved:    dec(0, 2, false),
				SafetyStock: dec(0, 1, false),
			}
			if chance(0.4) {
				lv.Backordered = decimal.Min(lv.Committed, dec(0, 3, false))
			}
			s.stock[allocation.Key{SKU: name, Location: l.ID}] = lv
		}
		if chance(0.3) {
			s.already[name] = dec(0, 4, false)
		}
	}
	var kits []string
	if chance(0.5) {
		k := allocation.SKU{}
		for range 1 + pick(2) {
			k.Components = append(k.Components, allocation.Component{SKU: simple[pick(len(simple))], Quantity: dec(1, 2, false)})
		}
		s.skus["KIT"] = k
		kits = append(kits, "KIT")
	}

	r := allocation.DefaultRules()
	r.Allocation.Strategy = []allocation.Strategy{allocation.Priority, allocation.HighStock, allocation.Closest, allocation.FewestShipments}[pick(4)]
	for _, l := range s.locs {
		if chance(0.3) {
			r.Allocation.LocationPriority = append(r.Allocation.LocationPriority, l.ID)
		}
		if chance(0.1) {
			r.Allocation.ExcludeLocations = append(r.Allocation.ExcludeLocations, l.ID)
		}
	}
	r.Allocation.TieBreakers = [][]allocation.TieBreaker{
		nil, allocation.DefaultTieBreakers(), {allocation.TieDistance},
		{allocation.TieDistance, allocation.TiePriority, allocation.TieLocationID}, {allocation.TieLocationID},
	}[pick(5)]
	r.Allocation.SameMarketOnly = chance(0.2)
	r.Allocation.PickupLocationFirst = chance(0.7)
	r.Allocation.AllOrNothingPerOrder = chance(0.15)
	r.Inventory.RespectReservations = chance(0.8)
	if chance(0.3) {
		r.Inventory.SafetyStock = dec(0, 2, false)
	}
	if chance(0.2) {
		r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{strings.ToLower(simple[0]): dec(0, 3, false)}
	}
	if chance(0.2) {
		r.Inventory.SafetyStockByLocation = map[string]decimal.Decimal{s.locs[pick(len(s.locs))].ID: dec(0, 3, false)}
	}
	if chance(0.3) {
		r.Split.Mode = allocation.ShipComplete
	}
	r.Split.AllowLineSplit = chance(0.7)
	r.Split.MaxShipments = []int{0, 0, 1, 2, 3}[pick(5)]
	r.Split.ComboSearchCap = []int{1, 3, 10000}[pick(3)]
	r.Split.ReserveWhileHolding = chance(0.7)
	r.Backorder.Policy = []allocation.BackorderPolicy{allocation.Deny, allocation.Allow, allocation.AllowNotify}[pick(3)]
	if chance(0.4) {
		d := dec(0, 6, false)
		r.Backorder.MaxDepth = &d
	}
	r.Backorder.RemainderAction = []allocation.RemainderAction{allocation.RemainderBackorder, allocation.RemainderCancel, allocation.RemainderHold}[pick(3)]
	r.Backorder.BackorderLocation = []allocation.BackorderLocation{allocation.PriorityStocked, allocation.FirstPriority}[pick(2)]
	s.r = r
	// What other orders have outstanding, as the allocate step computes it
	// from the rows, half the time; else a number from nowhere.
	if chance(0.5) {
		s.already, s.alreadyFromRows = allocation.OutstandingBackorders(s.stock, r), true
	}

	s.o = allocation.Order{ID: "o" + strconv.Itoa(pick(1000)), Date: day.Add(time.Duration(pick(1000)) * time.Minute)}
	if chance(0.8) {
		s.o.Destination = &allocation.Address{Market: markets[pick(2)]}
		if chance(0.7) {
			s.o.Destination.Coords = &allocation.LatLng{Lat: rng.Float64()*140 - 70, Lng: rng.Float64()*360 - 180}
		}
	}
	if chance(0.2) {
		s.o.PickupLocation = s.locs[pick(len(s.locs))].ID
	}
	for i := range 1 + pick(5) {
		l := allocation.Line{ID: "l" + strconv.Itoa(i)}
		switch {
		case len(kits) > 0 && chance(0.2):
			l.SKU = kits[0]
			l.Qty = dec(1, 3, false)
		default:
			l.SKU = simple[pick(len(simple))]
			if chance(0.2) {
				l.SKU = strings.ToLower(l.SKU) // case differs from the catalog
			}
			l.Qty = dec(1, 8, s.skus[strings.ToUpper(l.SKU)].QtyDecimal)
		}
		switch {
		case chance(0.03):
			l.Qty = dec(-2, 0, false) // invalid_qty
		case chance(0.03):
			l.SKU = "UNKNOWN" // unknown_sku
		case chance(0.03):
			l.Virtual = true
		}
		s.o.Lines = append(s.o.Lines, l)
	}
	return s
}

// wantLines is what the test expects to be allocatable: line id →
// quantity, for valid lines and kit components, computed from the inputs
// independently of the package.
func wantLines(s scenario, res allocation.Result) map[string]decimal.Decimal {
	bad := map[string]bool{}
	for _, e := range res.Errors {
		if e.Code != allocation.ErrInsufficientStock {
			bad[e.LineID] = true
		}
	}
	out := map[string]decimal.Decimal{}
	for _, l := range s.o.Lines {
		if l.Virtual || bad[l.ID] {
			continue
		}
		sku := s.skus[strings.ToUpper(l.SKU)]
		if len(sku.Components) == 0 {
			out[l.ID] = l.Qty
			continue
		}
		for _, c := range sku.Components {
			id := l.ID + "/" + c.SKU
			out[id] = out[id].Add(l.Qty.Mul(c.Quantity))
		}
	}
	return out
}

// TestProperties runs thousands of random scenarios and checks the
// invariants every result must keep.
func TestProperties(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 600
	}
	rng := rand.New(rand.NewPCG(2024, 7))
	seen := map[string]int{}
	for i := range n {
		s := randomScenario(rng)
		res, err := allocation.Allocate(s.o, s.skus, s.stock, s.locs, s.r, s.already)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, s)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("case %d: %s\n%s\nrecords %+v", i, fmt.Sprintf(format, args...), s, recordsOf(res))
		}
		count := func(k string, b bool) {
			if b {
				seen[k]++
			}
		}
		count("allocation", len(res.Allocations) > 0)
		count("backorder", len(res.Backorders) > 0)
		count("cancellation", len(res.Cancellations) > 0)
		count("hold", len(res.Holds) > 0)
		count("held shipment", slices.ContainsFunc(res.Shipments, func(s allocation.Shipment) bool { return s.Status == allocation.Held }))
		count("split line", len(res.Allocations) > len(totals(res)))

		// 1. Every line: allocated + backordered + cancelled + held = ordered.
		want := wantLines(s, res)
		got := totals(res)
		for id, qty := range want {
			if sum := got[id].sum(); !sum.Equal(qty) {
				fail("line %s: allocated %s + backordered %s + cancelled %s + held %s = %s, ordered %s",
					id, got[id].allocated, got[id].backordered, got[id].cancelled, got[id].held, sum, qty)
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				fail("records for line %s, which is in error, virtual or unknown", id)
			}
		}

		// 2. No row's available goes below zero (or further below) except
		// through a backorder; allocations never exceed allocatable.
		after := s.stock.Apply(res.Adjustments)
		allocOnly := s.stock.Apply(slices.DeleteFunc(slices.Clone(res.Adjustments), func(a allocation.Adjustment) bool { return a.AllowNegative }))
		for _, a := range res.Adjustments {
			k := allocation.Key{SKU: a.SKU, Location: a.LocationID}
			before := allocation.Available(s.stock[k], s.r, a.SKU, a.LocationID)
			if a.Reason == "allocate" && a.AllowNegative {
				fail("allocation adjustment %+v allows negatives", a)
			}
			if a.AllowNegative && s.r.Backorder.Policy == allocation.Deny {
				fail("backorder adjustment %+v under deny", a)
			}
			av := allocation.Available(allocOnly[k], s.r, a.SKU, a.LocationID)
			if av.IsNegative() && av.LessThan(before) {
				fail("row %v: allocations took available from %s to %s", k, before, av)
			}
			if !slices.ContainsFunc(res.Adjustments, func(b allocation.Adjustment) bool {
				return b.AllowNegative && b.SKU == a.SKU && b.LocationID == a.LocationID
			}) {
				if aa := allocation.Available(after[k], s.r, a.SKU, a.LocationID); aa.IsNegative() && aa.LessThan(before) {
					fail("row %v went from %s to %s without a backorder", k, before, aa)
				}
			}
		}

		// 3. Replays are identical, whatever the order of the inputs.
		s2 := s
		s2.locs = slices.Clone(s.locs)
		rng.Shuffle(len(s2.locs), func(i, j int) { s2.locs[i], s2.locs[j] = s2.locs[j], s2.locs[i] })
		s2.stock, s2.skus, s2.already = maps.Clone(s.stock), maps.Clone(s.skus), maps.Clone(s.already)
		again, err := allocation.Allocate(s2.o, s2.skus, s2.stock, s2.locs, s2.r, s2.already)
		if err != nil {
			fail("replay: %v", err)
		}
		if diff := cmp.Diff(res, again, decimalsEqual); diff != "" {
			fail("replay differs (-first +replay):\n%s", diff)
		}

		// 4. Shipments: one per location, their lines are the allocations.
		byLoc := map[string]int{}
		var shipped []allocation.Allocation
		for i, sh := range res.Shipments {
			if byLoc[sh.LocationID]++; byLoc[sh.LocationID] > 1 {
				fail("two shipments from %s", sh.LocationID)
			}
			if sh.Seq != i+1 || sh.ShipmentID != allocation.ShipmentID(s.o.ID, sh.LocationID, sh.Seq) {
				fail("shipment %+v: seq or id", sh)
			}
			for _, l := range sh.Lines {
				shipped = append(shipped, allocation.Allocation{LineID: l.LineID, LocationID: sh.LocationID, Qty: l.Qty})
			}
		}
		var allocated []allocation.Allocation
		for _, a := range res.Allocations {
			allocated = append(allocated, allocation.Allocation{LineID: a.LineID, LocationID: a.LocationID, Qty: a.Qty})
		}
		sortAllocs := func(x []allocation.Allocation) {
			slices.SortFunc(x, func(a, b allocation.Allocation) int {
				return strings.Compare(a.LineID+"\x00"+a.LocationID, b.LineID+"\x00"+b.LocationID)
			})
		}
		sortAllocs(shipped)
		sortAllocs(allocated)
		if diff := cmp.Diff(allocated, shipped, decimalsEqual); diff != "" {
			fail("shipment lines differ from allocations (-allocations +shipments):\n%s", diff)
		}

		// 5. The rules hold.
		excluded := map[string]bool{}
		for _, e := range res.Explanation.Excluded {
			excluded[e.LocationID] = true
		}
		perLine := map[string]int{}
		for _, a := range res.Allocations {
			if excluded[a.LocationID] || !slices.Contains(res.Explanation.Candidates, a.LocationID) {
				fail("allocated at %s, not a candidate", a.LocationID)
			}
			if !a.Qty.IsPositive() {
				fail("empty allocation %+v", a)
			}
			perLine[a.LineID]++
		}
		for _, a := range res.Adjustments {
			if !s.skus[strings.ToUpper(a.SKU)].Tracked {
				fail("adjustment %+v for an untracked SKU", a)
			}
		}
		if !s.r.Split.AllowLineSplit {
			for id, n := range perLine {
				if n > 1 {
					fail("line %s split over %d locations with allow_line_split off", id, n)
				}
			}
		}
		if m := s.r.Split.MaxShipments; m > 0 && len(res.Shipments) > m {
			fail("%d shipments, max_shipments %d", len(res.Shipments), m)
		}
		if s.r.Backorder.Policy == allocation.Deny && len(res.Backorders) > 0 {
			fail("backorders under deny")
		}
		if d := s.r.Backorder.MaxDepth; d != nil {
			per := map[string]decimal.Decimal{}
			for _, b := range res.Backorders {
				if b.Tracked {
					per[strings.ToUpper(b.SKU)] = per[strings.ToUpper(b.SKU)].Add(b.Qty)
				}
			}
			for sku, n := range per {
				if n.Add(s.already[sku]).GreaterThan(*d) {
					fail("%s backordered %s with %s already, max_depth %s", sku, n, s.already[sku], d)
				}
			}
		}
		outstanding := len(res.Backorders) > 0 || slices.ContainsFunc(res.Holds, func(h allocation.Hold) bool { return h.Reason == allocation.HoldInsufficientStock })
		for _, sh := range res.Shipments {
			if wantHeld := s.r.Split.Mode == allocation.ShipComplete && outstanding; (sh.Status == allocation.Held) != wantHeld {
				fail("shipment %s status %s, outstanding %v, mode %s", sh.LocationID, sh.Status, outstanding, s.r.Split.Mode)
			}
		}
		if s.r.Allocation.AllOrNothingPerOrder && len(res.Allocations) > 0 &&
			(len(res.Cancellations) > 0 || slices.ContainsFunc(res.Holds, func(h allocation.Hold) bool { return h.Reason == allocation.HoldInsufficientStock })) {
			fail("all_or_nothing_per_order allocated part of an order that took the deny path")
		}
		checkClarifications(s, res, fail)

		keys := map[string]bool{}
		for _, k := range recordKeys(res) {
			if keys[k] {
				fail("idempotency key %s used twice", k)
			}
			keys[k] = true
		}
	}
	t.Logf("scenarios producing each outcome (of %d): %v", n, seen)
	for _, k := range []string{"allocation", "backorder", "cancellation", "hold", "held shipment", "split line"} {
		if seen[k] < n/50 {
			t.Errorf("only %d of %d scenarios produced a %s: the generator no longer covers it", seen[k], n, k)
		}
	}
}

// checkClarifications checks the readings of DOMAIN.md §2.9 on one result.
func checkClarifications(s scenario, res allocation.Result, fail func(string, ...any)) {
	r := s.r
	// #5 max_depth: with what is outstanding read from the rows, the
	// order never takes a SKU's outstanding backorders past the cap (nor
	// further past it, when it was already over).
	if md := r.Backorder.MaxDepth; md != nil && s.alreadyFromRows {
		before := outstandingBySKU(s.stock, r)
		after := outstandingBySKU(s.stock.Apply(res.Adjustments), r)
		for sku, n := range after {
			if limit := decimal.Max(*md, before[sku]); n.GreaterThan(limit) {
				fail("%s: %s outstanding on backorder after the order, %s before, max_depth %s", sku, n, before[sku], md)
			}
		}
	}

	// #6 tie_breakers: the order-level ranking is sorted by the strategy's
	// key, then the tie-breakers, ending in the id.
	ranked := res.Explanation.Candidates
	dist := map[string]*float64{}
	for _, rk := range res.Explanation.Rankings {
		for _, c := range rk.Candidates {
			dist[c.LocationID] = c.DistanceKm
		}
	}
	loc := map[string]allocation.Location{}
	for _, l := range s.locs {
		loc[l.ID] = l
	}
	listed := func(id string) int {
		if i := slices.Index(r.Allocation.LocationPriority, id); i >= 0 {
			return i
		}
		return len(r.Allocation.LocationPriority) + 1000 + loc[id].Priority
	}
	ties := slices.Clone(r.Allocation.TieBreakers)
	if !slices.Contains(ties, allocation.TieLocationID) {
		ties = append(ties, allocation.TieLocationID)
	}
	pickup := func(id string) bool {
		return r.Allocation.PickupLocationFirst && s.o.PickupLocation == id && loc[id].Pickup
	}
	if len(res.Explanation.Rankings) > 0 && (r.Allocation.Strategy == allocation.Priority || r.Allocation.Strategy == allocation.FewestShipments) {
		for i := 1; i < len(ranked); i++ {
			x, y := ranked[i-1], ranked[i]
			if pickup(x) || pickup(y) {
				continue
			}
			c := listed(x) - listed(y)
			for _, tb := range ties {
				if c != 0 {
					break
				}
				switch tb {
				case allocation.TiePriority:
					c = listed(x) - listed(y)
				case allocation.TieDistance:
					dx, dy := dist[x], dist[y]
					switch {
					case dx == nil && dy != nil:
						c = 1
					case dx != nil && dy == nil:
						c = -1
					case dx != nil && dy != nil && *dx != *dy:
						c = map[bool]int{true: -1, false: 1}[*dx < *dy]
					}
				case allocation.TieLocationID:
					c = strings.Compare(x, y)
				}
			}
			if c >= 0 {
				fail("ranking %v: %s before %s breaks the tie-breakers %v", ranked, x, y, ties)
			}
		}
	}

	// #7 all_or_nothing_per_order: any shortfall or line in error, and
	// nothing is allocated.
	if r.Allocation.AllOrNothingPerOrder && len(res.Allocations) > 0 {
		if len(res.Backorders)+len(res.Cancellations)+len(res.Errors) > 0 ||
			slices.ContainsFunc(res.Holds, func(h allocation.Hold) bool { return h.Reason == allocation.HoldInsufficientStock }) {
			fail("all_or_nothing_per_order allocated part of an order with a shortfall")
		}
	}

	// #2 backorder location: once the order ships from max_shipments
	// locations, backorders are booked among them.
	if m := r.Split.MaxShipments; m > 0 {
		ships := map[string]bool{}
		for _, a := range res.Allocations {
			ships[a.LocationID] = true
		}
		if len(ships) >= m {
			for _, b := range res.Backorders {
				if b.LocationID != "" && !ships[b.LocationID] {
					fail("backorder of %s booked at %s, but the order ships from %v (max_shipments %d)", b.LineID, b.LocationID, ships, m)
				}
			}
		}
	}

	// explain adds up: every row of the stock seen is on hand − committed
	// − reserved (unless ignored) − the safety stock shown.
	for _, row := range res.Explanation.Snapshot {
		sum := row.OnHand.Sub(row.Committed).Sub(row.SafetyStock)
		if !row.ReservedIgnored {
			sum = sum.Sub(row.Reserved)
		}
		if !sum.RoundFloor(allocation.Scale).Equal(row.Available) {
			fail("stock seen %+v does not add up: %s", row, sum)
		}
		if row.SafetyStock.IsPositive() != (row.SafetyStockFrom != "") {
			fail("stock seen %+v: safety stock without its source, or a source without one", row)
		}
	}
}

// outstandingBySKU is OutstandingBackorders by upper-case SKU.
func outstandingBySKU(st allocation.Stock, r allocation.Rules) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for k, v := range allocation.OutstandingBackorders(st, r) {
		out[strings.ToUpper(k)] = out[strings.ToUpper(k)].Add(v)
	}
	return out
}

func recordKeys(r allocation.Result) []string {
	var out []string
	for _, x := range r.Allocations {
		out = append(out, x.IdempotencyKey)
	}
	for _, x := range r.Shipments {
		out = append(out, x.IdempotencyKey, x.ShipmentID)
	}
	for _, x := range r.Backorders {
		out = append(out, x.IdempotencyKey)
	}
	for _, x := range r.Cancellations {
		out = append(out, x.IdempotencyKey)
	}
	for _, x := range r.Holds {
		out = append(out, x.IdempotencyKey)
	}
	for _, x := range r.Adjustments {
		out = append(out, x.IdempotencyKey)
	}
	for _, x := range r.Notifications {
		out = append(out, x.IdempotencyKey)
	}
	for _, x := range r.Errors {
		out = append(out, x.IdempotencyKey)
	}
	return out
}

// TestPropertiesAllocateAll: competing orders never take a row below what
// backorders allow, and the processing order is (date, id).
func TestPropertiesAllocateAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for i := range 500 {
		base := randomScenario(rng)
		var orders []allocation.Order
		for j := range 2 + rng.IntN(3) {
			s := randomScenario(rng)
			s.o.ID = "o" + strconv.Itoa(j)
			for k := range s.o.Lines {
				if _, ok := base.skus[strings.ToUpper(s.o.Lines[k].SKU)]; !ok {
					s.o.Lines[k].SKU = "S0"
				}
			}
			orders = append(orders, s.o)
		}
		base.r.Backorder.Policy = allocation.Deny
		res, err := allocation.AllocateAll(orders, base.skus, base.stock, base.locs, base.r, base.already)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		for j := 1; j < len(res); j++ {
			a, b := orderOf(orders, res[j-1].OrderID), orderOf(orders, res[j].OrderID)
			if a.Date.After(b.Date) || (a.Date.Equal(b.Date) && a.ID > b.ID) {
				t.Fatalf("case %d: %s processed before %s", i, a.ID, b.ID)
			}
		}
		stock := base.stock
		for _, r := range res {
			stock = stock.Apply(r.Adjustments)
		}
		for k, l := range stock {
			before := allocation.Available(base.stock[k], base.r, k.SKU, k.Location)
			if a := allocation.Available(l, base.r, k.SKU, k.Location); a.IsNegative() && a.LessThan(before) {
				t.Fatalf("case %d: row %v oversold under deny: %s → %s", i, k, before, a)
			}
		}
	}
}

func orderOf(orders []allocation.Order, id string) allocation.Order {
	for _, o := range orders {
		if o.ID == id {
			return o
		}
	}
	return allocation.Order{}
}
