package allocation_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// book is an order's ledger and the stock it moved, built up event by
// event as the store would.
type book struct {
	order  string
	ledger []allocation.LedgerEntry
	stock  allocation.Stock
	open   map[allocation.Key]bool
	rules  allocation.Rules
	rp     allocation.ReplenishmentRules
}

func newBook(onHand map[allocation.Key]string) *book {
	b := &book{order: "o1", stock: allocation.Stock{}, open: map[allocation.Key]bool{}, rules: allocation.DefaultRules()}
	for k, v := range onHand {
		b.stock[k] = allocation.Level{OnHand: q(v)}
	}
	return b
}

// commit records what allocate would: committed +qty for line at loc.
func (b *book) commit(line, sku, loc, qty string, backorder bool) {
	reason := allocation.ReasonAllocate
	if backorder {
		reason = allocation.ReasonBackorder
	}
	b.post([]allocation.Adjustment{{SKU: sku, LocationID: loc, Bucket: allocation.Committed, Delta: q(qty), Reason: reason, Ref: b.order + "/" + line}})
}

func (b *book) post(adjs []allocation.Adjustment) {
	for _, a := range adjs {
		b.ledger = append(b.ledger, allocation.LedgerEntry{Seq: int64(len(b.ledger) + 1), SKU: a.SKU, Location: a.LocationID,
			Bucket: a.Bucket, Delta: a.Delta, Reason: a.Reason, Ref: a.Ref})
	}
	b.stock = b.stock.Apply(adjs)
}

// do applies one event; on success the book moves on.
func (b *book) do(t *testing.T, action allocation.Action, id string, lines ...allocation.EventLine) (allocation.StockEventResult, error) {
	t.Helper()
	ev := allocation.StockEvent{Action: action, OrderID: b.order, EventID: id, Lines: lines}
	res, err := allocation.ApplyStockEvent(ev, allocation.Holdings(b.order, b.ledger), b.stock, nil, b.rules, b.rp, b.open)
	if err == nil {
		b.post(res.Adjustments)
		for _, k := range res.Opened {
			b.open[k] = true
		}
		for _, k := range res.Closed {
			b.open[k] = false
		}
	}
	return res, err
}

func line(id, sku, loc, qty string) allocation.EventLine {
	return allocation.EventLine{LineID: id, SKU: sku, Location: loc, Qty: q(qty)}
}

type adj struct {
	loc, bucket, reason string
	delta               string
}

func adjs(res allocation.StockEventResult) []adj {
	var out []adj
	for _, a := range res.Adjustments {
		out = append(out, adj{a.LocationID, string(a.Bucket), a.Reason, a.Delta.String()})
	}
	return out
}

func wantAdjs(t *testing.T, res allocation.StockEventResult, want ...adj) {
	t.Helper()
	if got := adjs(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("adjustments:\n got %v\nwant %v", got, want)
	}
}

func wantRefused(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, allocation.ErrRefused) {
		t.Errorf("err = %v, want a refusal", err)
	}
}

var (
	a = allocation.Key{SKU: "X", Location: "A"}
	b = allocation.Key{SKU: "X", Location: "B"}
)

func TestPartialCancelReleasesInReverseAllocationOrder(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "3", b: "2"})
	bk.commit("1", "X", "A", "3", false) // ranked first
	bk.commit("1", "X", "B", "2", false)
	bk.commit("1", "X", "A", "1", true) // the shortfall, backordered at A

	res, err := bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", "3"))
	if err != nil {
		t.Fatal(err)
	}
	// B, the lowest-ranked location, is freed first.
	wantAdjs(t, res, adj{"B", "committed", "deallocate", "-2"}, adj{"A", "committed", "deallocate", "-1"})

	// Cancelling the rest releases A's allocation, then the backorder.
	res, err = bk.do(t, allocation.ActionCancel, "c2", line("1", "X", "", "3"))
	if err != nil {
		t.Fatal(err)
	}
	wantAdjs(t, res, adj{"A", "committed", "deallocate", "-2"}, adj{"A", "committed", "cancel", "-1"})
	for _, k := range []allocation.Key{a, b} {
		if c := bk.stock[k].Committed; !c.IsZero() {
			t.Errorf("%v committed = %s, want 0", k, c)
		}
	}
	// Nothing is left to cancel.
	_, err = bk.do(t, allocation.ActionCancel, "c3", line("1", "X", "", "1"))
	wantRefused(t, err)
}

func TestCancelMoreThanHeldIsRefused(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "3"})
	bk.commit("1", "X", "A", "2", false)
	_, err := bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", "3"))
	wantRefused(t, err)
	_, err = bk.do(t, allocation.ActionCancel, "c1", line("9", "X", "", "1"))
	wantRefused(t, err)
	_, err = bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", "0"))
	wantRefused(t, err)
	_, err = bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", "0.00001"))
	wantRefused(t, err)
}

func TestCancelWithoutLinesCancelsEverything(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "3"})
	bk.commit("1", "X", "A", "2", false)
	bk.commit("2", "X", "A", "1", false)
	res, err := bk.do(t, allocation.ActionCancel, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cancellations) != 2 {
		t.Errorf("cancellations = %d, want 2", len(res.Cancellations))
	}
	if c := bk.stock[a].Committed; !c.IsZero() {
		t.Errorf("committed = %s, want 0", c)
	}
}

func TestCancelAfterShipmentChangesNoStock(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "3"})
	bk.commit("1", "X", "A", "2", false)
	if _, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "2")); err != nil {
		t.Fatal(err)
	}
	res, err := bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", "2"))
	if err != nil {
		t.Fatal(err)
	}
	wantAdjs(t, res)
	if len(res.Cancellations) != 1 || !res.Cancellations[0].Qty.Equal(q("2")) {
		t.Errorf("cancellations = %+v, want one of 2", res.Cancellations)
	}
}

func TestShipConsumesOnHandAndCommitted(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "5", b: "1"})
	bk.commit("1", "X", "A", "2", false)
	bk.commit("1", "X", "B", "1", false)
	res, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "2"))
	if err != nil {
		t.Fatal(err)
	}
	wantAdjs(t, res, adj{"A", "on_hand", "ship", "-2"}, adj{"A", "committed", "ship", "-2"})
	if l := bk.stock[a]; !l.OnHand.Equal(q("3")) || !l.Committed.IsZero() {
		t.Errorf("A = %+v, want on hand 3, committed 0", l)
	}
	// A holds nothing more for the order; B's unit ships only from B.
	_, err = bk.do(t, allocation.ActionShip, "s2", line("1", "X", "A", "1"))
	wantRefused(t, err)
	_, err = bk.do(t, allocation.ActionShip, "s2", line("1", "X", "", "1"))
	wantRefused(t, err)
	if _, err := bk.do(t, allocation.ActionShip, "s2", line("", "x", "B", "1")); err != nil {
		t.Errorf("shipping B's unit by SKU: %v", err)
	}
}

func TestShipRefusesNegativeOnHand(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "0"})
	bk.commit("1", "X", "A", "1", true) // a backorder: nothing on hand
	_, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "1"))
	wantRefused(t, err)

	bk.rules.Inventory.NegativeOnHand = true
	res, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Adjustments[0].AllowNegative || !bk.stock[a].OnHand.Equal(q("-1")) {
		t.Errorf("want on hand -1 allowed, got %+v and %+v", res.Adjustments[0], bk.stock[a])
	}
}

func TestUntrackedSKUsChangeNoStock(t *testing.T) {
	skus := map[string]allocation.SKU{"GIFT": {Tracked: false}}
	ev := allocation.StockEvent{Action: allocation.ActionShip, OrderID: "o1", EventID: "s1", Lines: []allocation.EventLine{line("1", "GIFT", "A", "1")}}
	res, err := allocation.ApplyStockEvent(ev, nil, allocation.Stock{}, skus, allocation.DefaultRules(), allocation.ReplenishmentRules{}, nil)
	if err != nil || len(res.Adjustments) != 0 {
		t.Errorf("got %+v, %v; want no adjustments, no error", res.Adjustments, err)
	}
}

func TestReturnRestocks(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "2"})
	bk.commit("1", "X", "A", "2", false)
	if _, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "2")); err != nil {
		t.Fatal(err)
	}
	ret := func(typ, loc, qty string) allocation.EventLine {
		l := line("1", "X", loc, qty)
		l.RestockType = typ
		return l
	}
	res, err := bk.do(t, allocation.ActionReturn, "r1", ret("NO_RESTOCK", "", "1"))
	if err != nil {
		t.Fatal(err)
	}
	wantAdjs(t, res)
	// Returned to another location than it shipped from.
	res, err = bk.do(t, allocation.ActionReturn, "r2", ret("return", "B", "1"))
	if err != nil {
		t.Fatal(err)
	}
	wantAdjs(t, res, adj{"B", "on_hand", "return", "1"})
	if res.Notifications[0].Type != allocation.NotifyBackInStock {
		t.Errorf("notifications = %+v, want back_in_stock at B", res.Notifications)
	}
	if _, err := bk.do(t, allocation.ActionReturn, "r3", ret("RETURN", "A", "1")); err != nil {
		t.Fatal(err)
	}
	// Both shipped units are back: a third return is refused.
	_, err = bk.do(t, allocation.ActionReturn, "r4", ret("RETURN", "A", "1"))
	wantRefused(t, err)
	_, err = bk.do(t, allocation.ActionReturn, "r4", ret("", "A", "1"))
	wantRefused(t, err)
	_, err = bk.do(t, allocation.ActionReturn, "r4", ret("RETURN", "", "1"))
	wantRefused(t, err)
}

// TestStockNotificationsFireOnTheThresholds: back_in_stock exactly when
// available goes from ≤ 0 to > 0. Cancels and returns only raise
// available and shipments leave it as it is, so low_stock and out_of_stock
// never fire from them.
func TestStockNotificationsFireOnTheThresholds(t *testing.T) {
	for _, tc := range []struct {
		onHand, committed, cancel string
		want                      string
	}{
		{"2", "2", "1", "back_in_stock"}, // 0 -> 1
		{"1", "2", "1", ""},              // -1 -> 0
		{"1", "3", "3", "back_in_stock"}, // -2 -> 1
		{"3", "2", "1", ""},              // 1 -> 2
	} {
		t.Run(fmt.Sprintf("%s-%s+%s", tc.onHand, tc.committed, tc.cancel), func(t *testing.T) {
			bk := newBook(map[allocation.Key]string{a: tc.onHand})
			bk.commit("1", "X", "A", tc.committed, true)
			res, err := bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", tc.cancel))
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, n := range res.Notifications {
				got += n.Type
			}
			if got != tc.want {
				t.Errorf("notifications %q, want %q", got, tc.want)
			}
		})
	}
	bk := newBook(map[allocation.Key]string{a: "3"})
	bk.commit("1", "X", "A", "3", false)
	res, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "3"))
	if err != nil || len(res.Notifications) != 0 {
		t.Errorf("ship: notifications %+v, err %v; want none", res.Notifications, err)
	}
}

// TestOneReplenishmentRequestPerRow: a request opens when available is
// below the reorder point, no second one while it is open, and it closes
// when available is back at the reorder point.
func TestOneReplenishmentRequestPerRow(t *testing.T) {
	bk := newBook(map[allocation.Key]string{a: "5"})
	bk.rp = allocation.ReplenishmentRules{Default: allocation.ReorderLevel{Point: q("2"), Target: q("10")},
		BySKU: map[string]allocation.ReorderLevel{"other": {Point: q("1"), Target: q("2")}}}
	bk.commit("1", "X", "A", "4", false) // available 1
	bk.commit("2", "X", "A", "1", false) // available 0
	res, err := bk.do(t, allocation.ActionShip, "s1", line("1", "X", "A", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replenishments) != 1 || !res.Replenishments[0].Qty.Equal(q("10")) {
		t.Fatalf("replenishments = %+v, want one for 10", res.Replenishments)
	}
	for i := range 2 {
		res, err = bk.do(t, allocation.ActionShip, fmt.Sprint("s", i+2), line("1", "X", "A", "1"))
		if err != nil || len(res.Replenishments) != 0 {
			t.Fatalf("while open: replenishments %+v, err %v; want none", res.Replenishments, err)
		}
	}
	// Cancelling 1 of line 1 and line 2's unit: available 2, still low.
	if res, err = bk.do(t, allocation.ActionCancel, "c1", line("1", "X", "", "1")); err != nil || len(res.Closed) != 0 {
		t.Fatalf("closed %v, err %v", res.Closed, err)
	}
	if res, err = bk.do(t, allocation.ActionCancel, "c2", line("2", "X", "", "1")); err != nil || len(res.Closed) != 1 {
		t.Fatalf("closed %v, err %v; want the request closed at available 2", res.Closed, err)
	}
	if bk.open[allocation.Key{SKU: "x", Location: "A"}] {
		t.Error("the request is still open")
	}
}

// TestStockEventsConserveAllocations is the property: whatever sequence of
// shipments and cancellations an order goes through, per line
// released + consumed + remaining = allocated, nothing goes negative, and
// a refused event changes nothing.
func TestStockEventsConserveAllocations(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	locs := []string{"A", "B", "C"}
	for round := range 300 {
		bk := newBook(nil)
		allocated := map[string]decimal.Decimal{}
		for _, l := range []string{"1", "2"} {
			for _, loc := range locs {
				if n := r.IntN(4); n > 0 {
					k := allocation.Key{SKU: "X", Location: loc}
					lv := bk.stock[k]
					lv.OnHand = lv.OnHand.Add(decimal.NewFromInt(int64(n + r.IntN(2))))
					bk.stock[k] = lv
					bk.commit(l, "X", loc, fmt.Sprint(n), r.IntN(5) == 0)
					allocated[l] = allocated[l].Add(decimal.NewFromInt(int64(n)))
				}
			}
		}
		released, consumed := map[string]decimal.Decimal{}, map[string]decimal.Decimal{}
		for step := range 8 {
			l := fmt.Sprint(1 + r.IntN(2))
			n := fmt.Sprint(1 + r.IntN(3))
			id := fmt.Sprintf("e%d", step)
			before := len(bk.ledger)
			var err error
			var res allocation.StockEventResult
			if r.IntN(2) == 0 {
				res, err = bk.do(t, allocation.ActionShip, id, line(l, "X", locs[r.IntN(3)], n))
			} else {
				res, err = bk.do(t, allocation.ActionCancel, id, line(l, "X", "", n))
			}
			if err != nil {
				if len(bk.ledger) != before {
					t.Fatalf("round %d: a refused event moved stock", round)
				}
				continue
			}
			for _, a := range res.Adjustments {
				if a.Bucket != allocation.Committed {
					continue
				}
				line := a.Ref[len("o1/"):]
				if a.Reason == allocation.ReasonShip {
					consumed[line] = consumed[line].Sub(a.Delta)
				} else {
					released[line] = released[line].Sub(a.Delta)
				}
			}
		}
		remaining := map[string]decimal.Decimal{}
		for _, h := range allocation.Holdings("o1", bk.ledger) {
			if h.Allocated.IsNegative() || h.Backordered.IsNegative() {
				t.Fatalf("round %d: negative holding %+v", round, h)
			}
			remaining[h.LineID] = remaining[h.LineID].Add(h.Held())
		}
		for l, want := range allocated {
			if got := released[l].Add(consumed[l]).Add(remaining[l]); !got.Equal(want) {
				t.Fatalf("round %d line %s: released %s + consumed %s + remaining %s = %s, allocated %s",
					round, l, released[l], consumed[l], remaining[l], got, want)
			}
		}
		for k, lv := range bk.stock {
			if lv.OnHand.IsNegative() || lv.Committed.IsNegative() {
				t.Fatalf("round %d: %v went negative: %+v", round, k, lv)
			}
		}
	}
}
