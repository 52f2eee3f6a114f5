package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// TestConformance runs the one suite every store implementation must pass.
func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) { c.test(t, b.db) })
			}
		})
	}
}

var conformance = []struct {
	name string
	test func(t *testing.T, db backend)
}{
	{"LevelsSetAndAdjustIdempotent", testLevelsIdempotent},
	{"LevelQuantitiesChecked", testLevelQuantities},
	{"AvailableMath", testAvailableMath},
	{"ReservationExpiry", testReservationExpiry},
	{"ReservationsOfTheOrder", testReservationsOfTheOrder},
	{"ApplyAllOrNothing", testApplyAllOrNothing},
	{"ApplyGuards", testApplyGuards},
	{"ApplyReplayIdenticalBytes", testApplyReplay},
	{"ApplyCreatesMissingRows", testApplyCreatesRows},
	{"Explanations", testExplanations},
	{"AuditLog", testAuditLog},
	{"LocationsAndSKUs", testLocationsAndSKUs},
	{"Reopen", testReopen},
	{"OrderLedger", testOrderLedger},
	{"ApplyGroup", testApplyGroup},
	{"ApplyFingerprintConflict", testApplyFingerprint},
	{"ApplyLegacyKey", testApplyLegacyKey},
	{"FeedFingerprintAndLegacyKey", testFeedFingerprint},
	{"FeedAudited", testFeedAudited},
	{"Backordered", testBackordered},
	{"KeyLogClaims", testKeyLogClaims},
	{"KeyLogExpiryAndPruning", testKeyLogPruning},
	{"KeyLogConcurrentClaims", testKeyLogConcurrent},
	{"KeyLogSettling", testKeyLogSettling},
	{"KeyLogConcurrentSettling", testKeyLogConcurrentSettling},
}

// testApplyGroup: a group of events commits together, each seeing the
// stock the events before it left; one that fails (decide errs, it would
// oversell) is undone alone; a key repeated in the group, or applied
// before, replays; and the group's records equal what one Apply per event
// would have stored.
func testApplyGroup(t *testing.T, db backend) {
	s := db.open(t, newClock())
	g, ok := s.(component.GroupApplier)
	if !ok {
		t.Fatal("the store does not apply groups")
	}
	set(t, s, "", "A", "east", "3")
	set(t, s, "", "B", "east", "1")
	apply(t, s, "before", "o0", allocate("o0", line{"B", 1}), "B")
	oversell := func(component.Snapshot) (component.Outcome, error) {
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("100"), Reason: "allocate", Ref: "o3/1"}}}, nil
	}
	reqs := []component.ApplyRequest{
		{IdempotencyKey: "k1", Ref: "o1", SKUs: []string{"A"}},
		{IdempotencyKey: "k2", Ref: "o2", SKUs: []string{"A"}},
		{IdempotencyKey: "k3", Ref: "o3", SKUs: []string{"A"}},
		{IdempotencyKey: "k4", Ref: "o4", SKUs: []string{"A"}},
		{IdempotencyKey: "k1", Ref: "o1", SKUs: []string{"A"}},
		{IdempotencyKey: "before", Ref: "o0", SKUs: []string{"B"}},
		{IdempotencyKey: "k5", Ref: "o5", SKUs: []string{"A"}},
	}
	decides := []func(component.Snapshot) (component.Outcome, error){
		allocate("o1", line{"A", 2}),
		allocate("o2", line{"A", 1}),
		oversell,
		func(component.Snapshot) (component.Outcome, error) {
			return component.Outcome{}, errors.New("order o4 is not valid")
		},
		allocate("o1", line{"A", 2}),
		allocate("o0", line{"B", 1}),
		allocate("o5", line{"A", 1}),
	}
	res, err := g.ApplyGroup(ctx, reqs, func(i int, snap component.Snapshot) (component.Outcome, error) { return decides[i](snap) })
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("%d results for %d events", len(res), len(reqs))
	}
	records := func(o component.Outcome) string {
		var b strings.Builder
		for _, r := range o.Records {
			b.WriteString(r.Output + " " + string(r.Data) + "\n")
		}
		return b.String()
	}
	for i, want := range []struct {
		replayed bool
		err      string
		records  string
	}{
		{records: "allocations {\"order_id\":\"o1\",\"line\":1,\"sku\":\"A\",\"location_id\":\"east\",\"qty\":2}\n"},
		{records: "allocations {\"order_id\":\"o2\",\"line\":1,\"sku\":\"A\",\"location_id\":\"east\",\"qty\":1}\n"},
		{err: "insufficient stock"},
		{err: "order o4 is not valid"},
		{replayed: true, records: "allocations {\"order_id\":\"o1\",\"line\":1,\"sku\":\"A\",\"location_id\":\"east\",\"qty\":2}\n"},
		{replayed: true, records: "allocations {\"order_id\":\"o0\",\"line\":1,\"sku\":\"B\",\"location_id\":\"east\",\"qty\":1}\n"},
		{records: "rejections {\"order_id\":\"o5\",\"line\":1,\"sku\":\"A\",\"short\":1}\n"},
	} {
		r := res[i]
		switch {
		case want.err != "":
			if r.Err == nil || !strings.Contains(r.Err.Error(), want.err) {
				t.Errorf("event %d: error %v, want one containing %q", i, r.Err, want.err)
			}
		case r.Err != nil:
			t.Errorf("event %d: %v", i, r.Err)
		case r.Replayed != want.replayed || records(r.Outcome) != want.records:
			t.Errorf("event %d: replayed %v, records\n%s want replayed %v, records\n%s", i, r.Replayed, records(r.Outcome), want.replayed, want.records)
		}
	}
	// o1 and o2 took all three units; o3 and o4 left nothing behind.
	wantLevel(t, s, "A", "east", "3", "3", "0", "0", "0")
	if ms, err := s.OrderMovements(ctx, "o3"); err != nil || len(ms) != 0 {
		t.Errorf("o3 failed but left movements %v (%v)", ms, err)
	}
	// A failed event is not applied: it may be tried again, and with stock
	// it now succeeds.
	set(t, s, "", "A", "east", "10")
	if _, replayed := apply(t, s, "k4", "o4", allocate("o4", line{"A", 1}), "A"); replayed {
		t.Error("k4 failed in the group, yet applying it again is a replay")
	}
}

// testOrderLedger: OrderMovements and ApplyRequest.Ledger give an order's
// movements (ref "<order>" or "<order>/..."), oldest first, and no other
// order's, however their refs sort.
func testOrderLedger(t *testing.T, db backend) {
	s := db.open(t, component.FixedClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	for _, sku := range []string{"A", "B"} {
		if _, err := s.SetLevel(ctx, component.LevelUpdate{SKU: sku, Location: "east", Quantity: d("10")}); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(key string, adjs ...component.Adjustment) {
		t.Helper()
		_, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: key, Ref: "x", SKUs: []string{"A", "B"}},
			func(component.Snapshot) (component.Outcome, error) { return component.Outcome{Adjustments: adjs}, nil })
		if err != nil {
			t.Fatal(err)
		}
	}
	adj := func(sku, ref string) component.Adjustment {
		return component.Adjustment{SKU: sku, Location: "east", Bucket: component.Committed, Delta: d("1"), Reason: "allocate", Ref: ref}
	}
	// Refs around o1's range: o1 itself, its lines, and orders whose ids
	// start with o1 or sort next to "o1/".
	commit("k1", adj("A", "o1/1"), adj("B", "o10/1"), adj("A", "o1"))
	commit("k2", adj("B", "o1/2"), adj("A", "o1-2/1"), adj("A", "o1.5/1"), adj("A", "o/1"), adj("A", "o10"))
	refs := func(ms []component.Movement) string {
		var out []string
		for i, m := range ms {
			if i > 0 && ms[i-1].Seq >= m.Seq {
				t.Errorf("ledger not in seq order: %+v", ms)
			}
			out = append(out, m.SKU+":"+m.Ref)
		}
		return strings.Join(out, " ")
	}
	ms, err := s.OrderMovements(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := refs(ms), "A:o1/1 A:o1 B:o1/2"; got != want {
		t.Errorf("OrderMovements(o1) = %s, want %s", got, want)
	}
	if ms, _ := s.OrderMovements(ctx, "nope"); len(ms) != 0 {
		t.Errorf("OrderMovements(nope) = %+v", ms)
	}
	// Apply hands the same ledger to decide, with the order's own
	// movements of the transaction's SKUs and others alike.
	var seen string
	_, _, err = s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k3", Ref: "o1", SKUs: []string{"A"}, Ledger: "o1"},
		func(snap component.Snapshot) (component.Outcome, error) {
			seen = refs(snap.Ledger)
			return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("-1"), Reason: "deallocate", Ref: "o1/1"}}}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := "A:o1/1 A:o1 B:o1/2"; seen != want {
		t.Errorf("snapshot ledger = %s, want %s", seen, want)
	}
	_, _, err = s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k4", Ref: "o1", SKUs: []string{"A"}, Ledger: "o1"},
		func(snap component.Snapshot) (component.Outcome, error) {
			seen = refs(snap.Ledger)
			return component.Outcome{}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := "A:o1/1 A:o1 B:o1/2 A:o1/1"; seen != want {
		t.Errorf("snapshot ledger after a release = %s, want %s", seen, want)
	}
	// Without Ledger, the snapshot carries none.
	_, _, err = s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k5", Ref: "o1", SKUs: []string{"A"}},
		func(snap component.Snapshot) (component.Outcome, error) {
			if snap.Ledger != nil {
				t.Errorf("ledger without a request: %+v", snap.Ledger)
			}
			return component.Outcome{}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()

// level reads one stock row.
func level(t *testing.T, s component.Inventory, sku, loc string) component.Level {
	t.Helper()
	ls, err := s.Levels(ctx, []string{sku})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Location == loc {
			return l
		}
	}
	return component.Level{SKU: sku, Location: loc}
}

// wantLevel checks a row's buckets: on hand, committed, reserved, safety
// stock, available.
func wantLevel(t *testing.T, s component.Inventory, sku, loc string, onHand, committed, reserved, safety, available string) {
	t.Helper()
	l := level(t, s, sku, loc)
	got := []string{l.OnHand.String(), l.Committed.String(), l.Reserved.String(), l.SafetyStock.String(), l.Available().String()}
	want := []string{onHand, committed, reserved, safety, available}
	if !cmp.Equal(got, want) {
		t.Errorf("%s at %s: on_hand, committed, reserved, safety, available = %v, want %v", sku, loc, got, want)
	}
}

func set(t *testing.T, s component.Inventory, k, sku, loc, qty string) {
	t.Helper()
	if _, err := s.SetLevel(ctx, component.LevelUpdate{Key: k, SKU: sku, Location: loc, Quantity: d(qty)}); err != nil {
		t.Fatal(err)
	}
}

// line is an order line of the test allocator.
type line struct {
	sku string
	qty int64
}

// allocate is the decide of a simple allocator: each line takes from the
// locations in order, and the order is all or nothing. It emits one
// allocation record per take, or one rejection, and explains itself.
func allocate(order string, lines ...line) func(component.Snapshot) (component.Outcome, error) {
	return func(snap component.Snapshot) (component.Outcome, error) {
		var out component.Outcome
		left := map[component.StockKey]decimal.Decimal{}
		for _, l := range snap.Levels {
			left[l.Key()] = l.Allocatable()
		}
		var explain strings.Builder
		fmt.Fprintf(&explain, `{"order":%q,"available":{`, order)
		for i, l := range snap.Levels {
			if i > 0 {
				explain.WriteByte(',')
			}
			fmt.Fprintf(&explain, `"%s@%s":"%s"`, l.SKU, l.Location, l.Available())
		}
		explain.WriteString("}}")
		out.Explanation = []byte(explain.String())
		for i, ln := range lines {
			need := decimal.NewFromInt(ln.qty)
			for _, l := range snap.Levels {
				if l.SKU != ln.sku || need.IsZero() {
					continue
				}
				take := decimal.Min(need, left[l.Key()])
				if !take.IsPositive() {
					continue
				}
				left[l.Key()] = left[l.Key()].Sub(take)
				need = need.Sub(take)
				out.Adjustments = append(out.Adjustments, component.Adjustment{SKU: ln.sku, Location: l.Location, Bucket: component.Committed,
					Delta: take, Reason: "allocate", Ref: fmt.Sprintf("%s/%d", order, i+1)})
				out.Records = append(out.Records, component.OutputRecord{Output: "allocations",
					Data: fmt.Appendf(nil, `{"order_id":%q,"line":%d,"sku":%q,"location_id":%q,"qty":%s}`, order, i+1, ln.sku, l.Location, take)})
			}
			if need.IsPositive() {
				return component.Outcome{Explanation: out.Explanation, Records: []component.OutputRecord{{Output: "rejections",
					Data: fmt.Appendf(nil, `{"order_id":%q,"line":%d,"sku":%q,"short":%s}`, order, i+1, ln.sku, need)}}}, nil
			}
		}
		return out, nil
	}
}

func apply(t *testing.T, s component.Inventory, k, order string, decide func(component.Snapshot) (component.Outcome, error), skus ...string) (component.Outcome, bool) {
	t.Helper()
	out, replayed, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: k, Ref: order, SKUs: skus}, decide)
	if err != nil {
		t.Fatalf("apply %s: %v", k, err)
	}
	return out, replayed
}

func testLevelsIdempotent(t *testing.T, db backend) {
	s := db.open(t, newClock())
	ok, err := s.SetLevel(ctx, component.LevelUpdate{Key: "wms-1:A:east", SKU: "A", Location: "east", Quantity: d("10"), Ref: "wms-1"})
	if err != nil || !ok {
		t.Fatalf("first set: %v %v", ok, err)
	}
	// The same snapshot row again: nothing changes, even when the stock
	// moved in between.
	if _, err := s.AdjustLevel(ctx, component.LevelUpdate{Key: "recount-7", SKU: "A", Location: "east", Quantity: d("-3")}); err != nil {
		t.Fatal(err)
	}
	ok, err = s.SetLevel(ctx, component.LevelUpdate{Key: "wms-1:A:east", SKU: "A", Location: "east", Quantity: d("10")})
	if err != nil || ok {
		t.Fatalf("replayed set: applied %v, err %v; want not applied", ok, err)
	}
	ok, err = s.AdjustLevel(ctx, component.LevelUpdate{Key: "recount-7", SKU: "A", Location: "east", Quantity: d("-3")})
	if err != nil || ok {
		t.Fatalf("replayed adjust: applied %v, err %v; want not applied", ok, err)
	}
	wantLevel(t, s, "A", "east", "7", "0", "0", "0", "7")
	// A new snapshot sets again; safety stock is a bucket of its own.
	set(t, s, "wms-2:A:east", "A", "east", "12")
	if _, err := s.SetLevel(ctx, component.LevelUpdate{Key: "ss-1", SKU: "A", Location: "east", Bucket: component.SafetyStock, Quantity: d("2")}); err != nil {
		t.Fatal(err)
	}
	set(t, s, "wms-1:B:west", "B", "west", "4")
	wantLevel(t, s, "A", "east", "12", "0", "0", "2", "10")

	ms, err := s.Movements(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%s %s %s %s %s", m.Key, m.Bucket, m.Delta, m.Reason, m.Ref))
	}
	want := []string{
		"wms-1:A:east on_hand 10 set wms-1",
		"recount-7 on_hand -3 adjust ",
		"wms-2:A:east on_hand 5 set ",
		"ss-1 safety_stock 2 set ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ledger (-want +got):\n%s", diff)
	}
	all, err := s.Levels(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []component.StockKey
	for _, l := range all {
		keys = append(keys, l.Key())
	}
	if !cmp.Equal(keys, []component.StockKey{key("A", "east"), key("B", "west")}) {
		t.Errorf("all levels: %v", keys)
	}
}

func testLevelQuantities(t *testing.T, db backend) {
	s := db.open(t, newClock())
	for _, tc := range []struct {
		name string
		u    component.LevelUpdate
		want error
	}{
		{"fraction of a whole-unit SKU", component.LevelUpdate{Key: "k1", SKU: "A", Location: "east", Quantity: d("1.5")}, component.ErrInvalidQuantity},
		{"more than 4 decimals", component.LevelUpdate{Key: "k2", SKU: "A", Location: "east", Quantity: d("1.00001")}, component.ErrInvalidQuantity},
		{"negative safety stock", component.LevelUpdate{Key: "k3", SKU: "A", Location: "east", Bucket: component.SafetyStock, Quantity: d("-1")}, component.ErrInvalidQuantity},
		{"out of range", component.LevelUpdate{Key: "k4", SKU: "A", Location: "east", Quantity: d("1e12")}, component.ErrInvalidQuantity},
		{"committed is not fed", component.LevelUpdate{Key: "k5", SKU: "A", Location: "east", Bucket: component.Committed, Quantity: d("1")}, nil},

		{"no location", component.LevelUpdate{Key: "k6", SKU: "A", Quantity: d("1")}, nil},
	} {
		ok, err := s.SetLevel(ctx, tc.u)
		if err == nil || ok || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: applied %v, err %v; want refused (%v)", tc.name, ok, err, tc.want)
		}
	}
	if ls, _ := s.Levels(ctx, nil); len(ls) != 0 {
		t.Errorf("refused updates left rows: %v", ls)
	}
	// A refused update did not use up its key.
	if err := s.SetSKU(ctx, component.SKU{SKU: "A", Tracked: true, QtyDecimal: true}, component.Change{Actor: "ops"}); err != nil {
		t.Fatal(err)
	}
	ok, err := s.SetLevel(ctx, component.LevelUpdate{Key: "k1", SKU: "A", Location: "east", Quantity: d("16.5")})
	if err != nil || !ok {
		t.Fatalf("decimal SKU: %v %v", ok, err)
	}
	// An adjustment needs a key; a set without one applies every time.
	if ok, err := s.AdjustLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Quantity: d("1")}); err == nil || ok {
		t.Errorf("adjust without a key: applied %v, err %v", ok, err)
	}
	for range 2 {
		if ok, err := s.SetLevel(ctx, component.LevelUpdate{SKU: "A", Location: "east", Quantity: d("16.5")}); err != nil || !ok {
			t.Errorf("set without a key: applied %v, err %v", ok, err)
		}
	}
	// Negative on hand from a feed is a fact to record (DOMAIN §2.7 #8).
	if _, err := s.AdjustLevel(ctx, component.LevelUpdate{Key: "k7", SKU: "A", Location: "east", Quantity: d("-17.25")}); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, s, "A", "east", "-0.75", "0", "0", "0", "-0.75")
	if a := level(t, s, "A", "east").Allocatable(); !a.IsZero() {
		t.Errorf("allocatable of a negative row = %s, want 0", a)
	}
}

func testAvailableMath(t *testing.T, db backend) {
	clock := newClock()
	s := db.open(t, clock)
	set(t, s, "f1", "A", "east", "10")
	if _, err := s.SetLevel(ctx, component.LevelUpdate{Key: "f2", SKU: "A", Location: "east", Bucket: component.SafetyStock, Quantity: d("2")}); err != nil {
		t.Fatal(err)
	}
	apply(t, s, "order-1", "1", allocate("1", line{"A", 3}), "A")
	if _, err := s.Reserve(ctx, component.Reservation{ID: "cart-9", SKU: "A", Location: "east", Quantity: d("1"), ExpiresAt: clock.Now().Add(time.Hour), Ref: "cart-9"}); err != nil {
		t.Fatal(err)
	}
	// available = on_hand − committed − reserved(unexpired) − safety
	wantLevel(t, s, "A", "east", "10", "3", "1", "2", "4")
	// Safety stock is never allocated: an order for 5 is refused, for 4 taken.
	out, _ := apply(t, s, "order-2", "2", allocate("2", line{"A", 5}), "A")
	if len(out.Adjustments) != 0 || out.Records[0].Output != "rejections" {
		t.Errorf("order over the available: %+v", out)
	}
	apply(t, s, "order-3", "3", allocate("3", line{"A", 4}), "A")
	wantLevel(t, s, "A", "east", "10", "7", "1", "2", "0")
}

func testReservationExpiry(t *testing.T, db backend) {
	clock := newClock()
	s := db.open(t, clock)
	set(t, s, "f1", "A", "east", "5")
	r := component.Reservation{ID: "hold-1", SKU: "A", Location: "east", Quantity: d("3"), ExpiresAt: clock.Now().Add(10 * time.Minute), Ref: "cart-1"}
	if ok, err := s.Reserve(ctx, r); err != nil || !ok {
		t.Fatalf("reserve: %v %v", ok, err)
	}
	if ok, err := s.Reserve(ctx, r); err != nil || ok {
		t.Fatalf("reserve again: created %v, err %v; want neither", ok, err)
	}
	wantLevel(t, s, "A", "east", "5", "0", "3", "0", "2")
	_, err := s.Reserve(ctx, component.Reservation{ID: "hold-2", SKU: "A", Location: "east", Quantity: d("3"), ExpiresAt: clock.Now().Add(time.Minute)})
	if !errors.Is(err, component.ErrInsufficientStock) {
		t.Errorf("reserving more than available: %v", err)
	}
	if _, err := s.Reserve(ctx, component.Reservation{ID: "hold-3", SKU: "Z", Location: "east", Quantity: d("1"), ExpiresAt: clock.Now().Add(time.Minute)}); !errors.Is(err, component.ErrInsufficientStock) {
		t.Errorf("reserving stock that does not exist: %v", err)
	}
	// Orders cannot take held stock.
	out, _ := apply(t, s, "o1", "o1", allocate("o1", line{"A", 3}), "A")
	if len(out.Adjustments) != 0 {
		t.Errorf("allocated held stock: %+v", out.Adjustments)
	}
	clock.Advance(10*time.Minute + time.Second)
	wantLevel(t, s, "A", "east", "5", "0", "0", "0", "5")
	out, _ = apply(t, s, "o2", "o2", allocate("o2", line{"A", 3}), "A")
	if len(out.Adjustments) != 1 {
		t.Errorf("expired hold still counted: %+v", out)
	}
	rs, err := s.Reservations(ctx, "cart-1")
	if err != nil || len(rs) != 1 || !rs[0].Quantity.Equal(d("3")) || !rs[0].ExpiresAt.Equal(r.ExpiresAt) {
		t.Fatalf("reservations of cart-1: %+v %v", rs, err)
	}
	if n, err := s.ExpireReservations(ctx); err != nil || n != 1 {
		t.Errorf("expire: %d %v", n, err)
	}
	if rs, _ := s.Reservations(ctx, "cart-1"); len(rs) != 0 {
		t.Errorf("expired reservation kept: %+v", rs)
	}
	// Release frees at once.
	if _, err := s.Reserve(ctx, component.Reservation{ID: "hold-4", SKU: "A", Location: "east", Quantity: d("2"), ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantLevel(t, s, "A", "east", "5", "3", "2", "0", "0")
	if ok, err := s.Release(ctx, "hold-4"); !ok || err != nil {
		t.Errorf("release: %v %v", ok, err)
	}
	if ok, _ := s.Release(ctx, "hold-4"); ok {
		t.Error("released twice")
	}
	wantLevel(t, s, "A", "east", "5", "3", "0", "0", "2")
}

func testReservationsOfTheOrder(t *testing.T, db backend) {
	clock := newClock()
	s := db.open(t, clock)
	set(t, s, "f1", "A", "east", "4")
	if _, err := s.Reserve(ctx, component.Reservation{ID: "checkout-1", SKU: "A", Location: "east", Quantity: d("4"), ExpiresAt: clock.Now().Add(time.Hour), Ref: "order-1"}); err != nil {
		t.Fatal(err)
	}
	// Another order cannot take the held units; the order holding them can,
	// and its reservation goes as it allocates.
	out, _ := apply(t, s, "other", "order-2", allocate("order-2", line{"A", 1}), "A")
	if len(out.Adjustments) != 0 {
		t.Fatalf("another order took held stock: %+v", out)
	}
	release := func(snap component.Snapshot) (component.Outcome, error) {
		if a := snap.Level("A", "east").Available(); !a.Equal(d("4")) {
			return component.Outcome{}, fmt.Errorf("the order's own hold counted against it: available %s", a)
		}
		out, err := allocate("order-1", line{"A", 4})(snap)
		out.ReleaseReservations = true
		return out, err
	}
	// Rules that do not respect reservations let any order take held
	// stock; the snapshot still shows the hold.
	if _, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "ignore", Ref: "order-3", SKUs: []string{"A"}, IgnoreReservations: true},
		func(snap component.Snapshot) (component.Outcome, error) {
			if r := snap.Level("A", "east").Reserved; !r.Equal(d("4")) {
				return component.Outcome{}, fmt.Errorf("reserved %s, want 4", r)
			}
			return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("1")},
				{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("-1")}}}, nil
		}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "ignore-2", Ref: "order-3", SKUs: []string{"A"}, IgnoreReservations: true},
		func(snap component.Snapshot) (component.Outcome, error) {
			return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("1")}}}, nil
		}); err != nil {
		t.Fatalf("taking held stock when reservations are ignored: %v", err)
	}
	wantLevel(t, s, "A", "east", "4", "1", "4", "0", "-1")
	apply(t, s, "undo", "order-3", func(component.Snapshot) (component.Outcome, error) {
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("-1")}}}, nil
	}, "A")
	apply(t, s, "mine", "order-1", release, "A")
	wantLevel(t, s, "A", "east", "4", "4", "0", "0", "0")
	if rs, _ := s.Reservations(ctx, "order-1"); len(rs) != 0 {
		t.Errorf("reservation kept after the order allocated: %+v", rs)
	}
}

func testApplyAllOrNothing(t *testing.T, db backend) {
	s := db.open(t, newClock())
	set(t, s, "f1", "A", "east", "5")
	set(t, s, "f2", "B", "east", "5")
	calls := 0
	boom := errors.New("rules not loaded")
	failing := func(snap component.Snapshot) (component.Outcome, error) {
		calls++
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("1")}}}, boom
	}
	_, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k", Ref: "o", SKUs: []string{"A"}}, failing)
	if !errors.Is(err, boom) {
		t.Fatalf("decide's error: %v", err)
	}
	// The second adjustment fails its guard: the first is not applied.
	overdraw := func(snap component.Snapshot) (component.Outcome, error) {
		calls++
		return component.Outcome{
			Adjustments: []component.Adjustment{
				{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("2")},
				{SKU: "B", Location: "east", Bucket: component.Committed, Delta: d("6")},
			},
			Explanation: []byte(`{}`),
		}, nil
	}
	_, _, err = s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k", Ref: "o", SKUs: []string{"A", "B"}}, overdraw)
	if !errors.Is(err, component.ErrInsufficientStock) {
		t.Fatalf("overdraw: %v", err)
	}
	outside := func(snap component.Snapshot) (component.Outcome, error) {
		calls++
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "B", Location: "east", Bucket: component.Committed, Delta: d("1")}}}, nil
	}
	if _, _, err = s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k", Ref: "o", SKUs: []string{"A"}}, outside); err == nil {
		t.Fatal("adjusting a SKU that was not locked was accepted")
	}
	badBucket := func(snap component.Snapshot) (component.Outcome, error) {
		calls++
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.SafetyStock, Delta: d("1")}}}, nil
	}
	if _, _, err = s.Apply(ctx, component.ApplyRequest{IdempotencyKey: "k", Ref: "o", SKUs: []string{"A"}}, badBucket); err == nil {
		t.Fatal("an order adjusting safety stock was accepted")
	}
	wantLevel(t, s, "A", "east", "5", "0", "0", "0", "5")
	wantLevel(t, s, "B", "east", "5", "0", "0", "0", "5")
	if ms, _ := s.Movements(ctx, "A"); len(ms) != 1 {
		t.Errorf("ledger of A after failures: %+v", ms)
	}
	if es, _ := s.Explanations(ctx, "o"); len(es) != 0 {
		t.Errorf("explanations after failures: %+v", es)
	}
	// Failures do not use up the key: it applies now.
	_, replayed := apply(t, s, "k", "o", allocate("o", line{"A", 1}, line{"B", 1}), "A", "B")
	if replayed || calls != 4 {
		t.Errorf("after failures: replayed %v, decide called %d times", replayed, calls)
	}
	wantLevel(t, s, "A", "east", "5", "1", "0", "0", "4")
	if _, _, err := s.Apply(ctx, component.ApplyRequest{SKUs: []string{"A"}}, overdraw); err == nil {
		t.Error("no idempotency key was accepted")
	}
}

func testApplyGuards(t *testing.T, db backend) {
	s := db.open(t, newClock())
	set(t, s, "f1", "A", "east", "2")
	adj := func(k string, allow bool, as ...component.Adjustment) error {
		for i := range as {
			as[i].SKU, as[i].Location, as[i].AllowNegative = "A", "east", allow
		}
		_, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: k, SKUs: []string{"A"}}, func(component.Snapshot) (component.Outcome, error) {
			return component.Outcome{Adjustments: as}, nil
		})
		return err
	}
	commit := func(q string) component.Adjustment {
		return component.Adjustment{Bucket: component.Committed, Delta: d(q), Reason: "allocate"}
	}
	onHand := func(q string) component.Adjustment {
		return component.Adjustment{Bucket: component.OnHand, Delta: d(q), Reason: "ship"}
	}
	for _, tc := range []struct {
		name  string
		allow bool
		adj   []component.Adjustment
		ok    bool
		after string // on_hand committed available
	}{
		{"commit past available", false, []component.Adjustment{commit("3")}, false, "2 0 2"},
		{"backorder allowed", true, []component.Adjustment{commit("3")}, true, "2 3 -1"},
		{"more while negative", false, []component.Adjustment{commit("1")}, false, "2 3 -1"},
		{"release while negative", false, []component.Adjustment{commit("-1")}, true, "2 2 0"},
		{"ship leaves available unchanged", false, []component.Adjustment{onHand("-2"), commit("-2")}, true, "0 0 0"},
		{"ship with nothing on hand", false, []component.Adjustment{onHand("-1"), commit("-1")}, false, "0 0 0"},
		{"release more than committed", false, []component.Adjustment{commit("-1")}, false, "0 0 0"},
		{"return", false, []component.Adjustment{onHand("1.0")}, true, "1 0 1"},
		{"five decimals", false, []component.Adjustment{onHand("0.00001")}, false, "1 0 1"},
	} {
		err := adj(tc.name, tc.allow, tc.adj...)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
		l := level(t, s, "A", "east")
		if got := fmt.Sprint(l.OnHand, " ", l.Committed, " ", l.Available()); got != tc.after {
			t.Errorf("%s: on_hand committed available = %s, want %s", tc.name, got, tc.after)
		}
	}
}

func testApplyReplay(t *testing.T, db backend) {
	s := db.open(t, newClock())
	set(t, s, "f1", "A", "east", "3")
	set(t, s, "f2", "A", "west", "3")
	set(t, s, "f3", "B", "west", "1")
	first, replayed := apply(t, s, "shopify:orders/create:1001", "1001", allocate("1001", line{"A", 4}, line{"B", 1}), "B", "A", "A")
	if replayed || len(first.Records) != 3 {
		t.Fatalf("first apply: replayed %v, records %d", replayed, len(first.Records))
	}
	wantLevel(t, s, "A", "east", "3", "3", "0", "0", "0")
	wantLevel(t, s, "A", "west", "3", "1", "0", "0", "2")
	called := false
	again, replayed := apply(t, s, "shopify:orders/create:1001", "1001", func(component.Snapshot) (component.Outcome, error) {
		called = true
		return component.Outcome{}, nil
	}, "A", "B")
	if !replayed || called {
		t.Fatalf("replay: replayed %v, decide called %v", replayed, called)
	}
	if len(again.Records) != len(first.Records) {
		t.Fatalf("replay has %d records, want %d", len(again.Records), len(first.Records))
	}
	for i := range first.Records {
		if again.Records[i].Output != first.Records[i].Output || !bytes.Equal(again.Records[i].Data, first.Records[i].Data) {
			t.Errorf("replayed record %d = %s %s, want %s %s", i, again.Records[i].Output, again.Records[i].Data, first.Records[i].Output, first.Records[i].Data)
		}
	}
	if !bytes.Equal(again.Explanation, first.Explanation) {
		t.Errorf("replayed explanation %s, want %s", again.Explanation, first.Explanation)
	}
	if !cmp.Equal(again.Adjustments, first.Adjustments, cmp.Comparer(func(a, b decimal.Decimal) bool { return a.Equal(b) })) {
		t.Errorf("replayed adjustments %+v, want %+v", again.Adjustments, first.Adjustments)
	}
	wantLevel(t, s, "A", "east", "3", "3", "0", "0", "0")
	wantLevel(t, s, "A", "west", "3", "1", "0", "0", "2")
	if ms, _ := s.Movements(ctx, "A"); len(ms) != 4 {
		t.Errorf("ledger of A has %d entries, want 2 feeds + 2 allocations", len(ms))
	}
	// A rejection is an outcome too, and replays as one.
	rej, _ := apply(t, s, "shopify:orders/create:1002", "1002", allocate("1002", line{"B", 1}), "B")
	rej2, replayed := apply(t, s, "shopify:orders/create:1002", "1002", allocate("1002", line{"B", 1}), "B")
	if !replayed || rej.Records[0].Output != "rejections" || !bytes.Equal(rej.Records[0].Data, rej2.Records[0].Data) {
		t.Errorf("replayed rejection: %v %s / %s", replayed, rej.Records[0].Data, rej2.Records[0].Data)
	}
}

func testApplyCreatesRows(t *testing.T, db backend) {
	s := db.open(t, newClock())
	// A backorder at a location that never stocked the SKU.
	out, _ := apply(t, s, "o1", "o1", func(snap component.Snapshot) (component.Outcome, error) {
		if len(snap.Levels) != 0 {
			return component.Outcome{}, fmt.Errorf("snapshot of nothing: %+v", snap.Levels)
		}
		if l := snap.Level("A", "east"); l.Exists || !l.Available().IsZero() {
			return component.Outcome{}, fmt.Errorf("missing row: %+v", l)
		}
		return component.Outcome{Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: d("2"), AllowNegative: true, Reason: "backorder"}}}, nil
	}, "A")
	if len(out.Adjustments) != 1 {
		t.Fatal(out)
	}
	wantLevel(t, s, "A", "east", "0", "2", "0", "0", "-2")
	if l := level(t, s, "A", "east"); !l.Exists {
		t.Error("the created row does not exist")
	}
	set(t, s, "f1", "A", "east", "5")
	wantLevel(t, s, "A", "east", "5", "2", "0", "0", "3")
}

func testExplanations(t *testing.T, db backend) {
	clock := newClock()
	s := db.open(t, clock)
	set(t, s, "f1", "A", "east", "1")
	apply(t, s, "evt-1", "order-7", allocate("order-7", line{"A", 1}), "A")
	clock.Advance(time.Minute)
	apply(t, s, "evt-2", "order-7", allocate("order-7", line{"A", 1}), "A")
	apply(t, s, "evt-2", "order-7", allocate("order-7", line{"A", 1}), "A") // replay: no new record
	es, err := s.Explanations(ctx, "order-7")
	if err != nil {
		t.Fatal(err)
	}
	want := []component.Explanation{
		{Ref: "order-7", IdempotencyKey: "evt-1", At: newClock().Now(), Data: []byte(`{"order":"order-7","available":{"A@east":"1"}}`)},
		{Ref: "order-7", IdempotencyKey: "evt-2", At: newClock().Now().Add(time.Minute), Data: []byte(`{"order":"order-7","available":{"A@east":"0"}}`)},
	}
	if diff := cmp.Diff(want, es); diff != "" {
		t.Errorf("explanations (-want +got):\n%s", diff)
	}
	if es, _ := s.Explanations(ctx, "order-8"); len(es) != 0 {
		t.Errorf("explanations of another order: %+v", es)
	}
}

func testAuditLog(t *testing.T, db backend) {
	clock := newClock()
	s := db.open(t, clock)
	if err := s.RecordRuleChange(ctx, component.RuleChange{Rule: "fulfillment.split.mode", Actor: "ana@ops", Old: "ship_partial", New: "ship_complete", Reason: "peak season"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if err := s.RecordRuleChange(ctx, component.RuleChange{Rule: "fulfillment.backorder.policy", Actor: "bo@ops", Old: "deny", New: "allow"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := s.RecordRuleChange(ctx, component.RuleChange{Rule: "fulfillment.split.mode", Actor: "ana@ops", At: at, Old: "ship_complete", New: "ship_partial", Reason: "rollback"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRuleChange(ctx, component.RuleChange{Rule: "x", New: "y"}); err == nil {
		t.Error("a change by nobody was recorded")
	}
	h, err := s.RuleHistory(ctx, "fulfillment.split.mode")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Seq >= h[1].Seq {
		t.Fatalf("history: %+v", h)
	}
	for i := range h {
		h[i].Seq = 0
	}
	want := []component.RuleChange{
		{Rule: "fulfillment.split.mode", Actor: "ana@ops", At: newClock().Now(), Old: "ship_partial", New: "ship_complete", Reason: "peak season"},
		{Rule: "fulfillment.split.mode", Actor: "ana@ops", At: at, Old: "ship_complete", New: "ship_partial", Reason: "rollback"},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if all, _ := s.RuleHistory(ctx, ""); len(all) != 3 {
		t.Errorf("whole log has %d entries, want 3", len(all))
	}
}

func testLocationsAndSKUs(t *testing.T, db backend) {
	s := db.open(t, newClock())
	east := component.Location{ID: "wh-east", Name: "East", Priority: 2, Market: "US", Coords: &component.LatLng{Lat: 40.7, Lng: -74}}
	west := component.Location{ID: "wh-west", Priority: 1, Market: "US"}
	nyc := component.Location{ID: "store-nyc", Priority: 2, Market: "US", Pickup: true}
	for _, l := range []component.Location{east, west, nyc} {
		if err := s.SetLocation(ctx, l, component.Change{Actor: "setup"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLocation(ctx, nyc, component.Change{Actor: "setup"}); err != nil { // unchanged: not audited
		t.Fatal(err)
	}
	east2 := east
	east2.Priority, east2.Disabled = 0, true
	if err := s.SetLocation(ctx, east2, component.Change{Actor: "ana@ops", Reason: "flood"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLocation(ctx, west, component.Change{}); err == nil {
		t.Error("a location change by nobody was accepted")
	}
	if err := s.SetLocation(ctx, component.Location{ID: "x", Coords: &component.LatLng{Lat: 91}}, component.Change{Actor: "a"}); err == nil {
		t.Error("latitude 91 was accepted")
	}
	locs, err := s.Locations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]component.Location{east2, west, nyc}, locs); diff != "" {
		t.Errorf("locations by priority then id (-want +got):\n%s", diff)
	}
	h, _ := s.RuleHistory(ctx, "location/wh-east")
	if len(h) != 2 || h[0].Old != "" || h[1].Actor != "ana@ops" || h[1].Reason != "flood" ||
		!strings.Contains(h[1].Old, `"priority":2`) || !strings.Contains(h[1].New, `"disabled":true`) {
		t.Errorf("history of wh-east: %+v", h)
	}
	if h, _ := s.RuleHistory(ctx, "location/store-nyc"); len(h) != 1 {
		t.Errorf("an unchanged location was audited: %+v", h)
	}

	kit := component.SKU{SKU: "KIT-1", Tracked: true, Components: []component.Component{{SKU: "A", Quantity: d("2")}, {SKU: "B", Quantity: d("1")}}}
	gift := component.SKU{SKU: "GIFT", Tracked: false}
	for _, c := range []component.SKU{kit, gift} {
		if err := s.SetSKU(ctx, c, component.Change{Actor: "setup"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetSKU(ctx, component.SKU{SKU: "BAD", Components: []component.Component{{SKU: "A", Quantity: d("0")}}}, component.Change{Actor: "a"}); err == nil {
		t.Error("a kit component of quantity 0 was accepted")
	}
	got, err := s.SKUs(ctx, []string{"KIT-1", "GIFT", "UNKNOWN"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]component.SKU{"KIT-1": kit, "GIFT": gift}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b decimal.Decimal) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("SKUs (-want +got):\n%s", diff)
	}
	if h, _ := s.RuleHistory(ctx, "sku/GIFT"); len(h) != 1 || h[0].New != `{"sku":"GIFT","tracked":false,"qty_decimal":false}` {
		t.Errorf("history of GIFT: %+v", h)
	}
	if d := component.DefaultSKU("UNKNOWN"); !d.Tracked || d.QtyDecimal {
		t.Errorf("default SKU settings: %+v", d)
	}
}

// testReopen checks that what a store holds survives closing it, and that
// two stores open on the same database at once (two processes) see each
// other's changes and never apply a key twice.
func testReopen(t *testing.T, db backend) {
	u := db(t)
	s1 := mustOpen(t, u, newClock())
	set(t, s1, "f1", "A", "east", "3")
	apply(t, s1, "o1", "o1", allocate("o1", line{"A", 1}), "A")
	s2 := mustOpen(t, u, newClock())
	if _, replayed := apply(t, s2, "o1", "o1", allocate("o1", line{"A", 1}), "A"); !replayed {
		t.Error("the second store applied a key the first had applied")
	}
	apply(t, s2, "o2", "o2", allocate("o2", line{"A", 1}), "A")
	wantLevel(t, s1, "A", "east", "3", "2", "0", "0", "1")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := mustOpen(t, u, newClock())
	wantLevel(t, s3, "A", "east", "3", "2", "0", "0", "1")
	if _, replayed := apply(t, s3, "o2", "o2", allocate("o2", line{"A", 1}), "A"); !replayed {
		t.Error("a key was forgotten when the store was reopened")
	}
	if ms, _ := s3.Movements(ctx, "A"); len(ms) != 3 {
		t.Errorf("ledger after reopening: %+v", ms)
	}
}
