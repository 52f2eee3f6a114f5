package allocation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// day is the order date of every test order unless one says otherwise.
var day = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

// q parses a decimal quantity.
func q(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// decimalsEqual compares decimals by value, so 3 equals 3.0000.
var decimalsEqual = cmp.Comparer(func(a, b decimal.Decimal) bool { return a.Equal(b) })

// opts compares records: decimals by value, nil and empty slices alike,
// messages ignored (tests assert codes, not prose).
var opts = cmp.Options{
	decimalsEqual,
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(allocation.LineError{}, "Message"),
}

// records is a allocation.Result without its explanation: what goes to the outputs.
type records struct {
	Allocations   []allocation.Allocation
	Shipments     []allocation.Shipment
	Backorders    []allocation.Backorder
	Cancellations []allocation.Cancellation
	Holds         []allocation.Hold
	Adjustments   []allocation.Adjustment
	Notifications []allocation.Notification
	Errors        []allocation.LineError
}

func recordsOf(r allocation.Result) records {
	return records{r.Allocations, r.Shipments, r.Backorders, r.Cancellations, r.Holds, r.Adjustments, r.Notifications, r.Errors}
}

// mustAllocate allocates or fails the test.
func mustAllocate(t *testing.T, o allocation.Order, skus map[string]allocation.SKU, stock allocation.Stock, locs []allocation.Location, r allocation.Rules, already map[string]decimal.Decimal) allocation.Result {
	t.Helper()
	res, err := allocation.Allocate(o, skus, stock, locs, r, already)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	return res
}

func checkRecords(t *testing.T, got allocation.Result, want records) {
	t.Helper()
	if diff := cmp.Diff(want, recordsOf(got), opts); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// tracked is a catalog of tracked whole-unit SKUs.
func tracked(skus ...string) map[string]allocation.SKU {
	m := map[string]allocation.SKU{}
	for _, s := range skus {
		m[s] = allocation.SKU{Tracked: true}
	}
	return m
}

// onHand is a stock row with only on_hand set.
func onHand(n string) allocation.Level { return allocation.Level{OnHand: q(n)} }

// locations are locations with priorities in the order given.
func locations(ids ...string) []allocation.Location {
	var out []allocation.Location
	for i, id := range ids {
		out = append(out, allocation.Location{ID: id, Priority: i + 1})
	}
	return out
}

// order is an order of lines "id:sku:qty" placed on day.
func order(id string, lines ...string) allocation.Order {
	o := allocation.Order{ID: id, Date: day}
	for _, l := range lines {
		f := strings.Split(l, ":")
		o.Lines = append(o.Lines, allocation.Line{ID: f[0], SKU: f[1], Qty: q(f[2])})
	}
	return o
}

func rules(edit func(*allocation.Rules)) allocation.Rules {
	r := allocation.DefaultRules()
	if edit != nil {
		edit(&r)
	}
	return r
}

// exp builds expected records of one order, with the keys the package
// derives (allocation.RecordKey itself is pinned by TestRecordKeyIsPinned).
type exp struct {
	order    string
	strategy allocation.Strategy
}

func (e exp) alloc(line, sku, loc, qty string, rank int) allocation.Allocation {
	return allocation.Allocation{OrderID: e.order, LineID: line, SKU: sku, LocationID: loc, Qty: q(qty), Strategy: e.strategy,
		Rank: rank, Tracked: true, IdempotencyKey: allocation.RecordKey(e.order, "allocation", line, loc)}
}

func (e exp) kitAlloc(parent, sku, loc, qty string, rank int) allocation.Allocation {
	a := e.alloc(parent+"/"+sku, sku, loc, qty, rank)
	a.ParentLineID = parent
	return a
}

func (e exp) adj(line, sku, loc, qty, reason string) allocation.Adjustment {
	return allocation.Adjustment{SKU: sku, LocationID: loc, Bucket: allocation.Committed, Delta: q(qty), AllowNegative: reason == "backorder",
		Backorder: reason == "backorder", Reason: reason, Ref: e.order + "/" + line, IdempotencyKey: allocation.RecordKey(e.order, "adjustment", line, loc, reason, "committed")}
}

func (e exp) ship(loc string, seq int, status allocation.ShipmentStatus, lines ...allocation.ShipmentLine) allocation.Shipment {
	return allocation.Shipment{ShipmentID: allocation.ShipmentID(e.order, loc, seq), OrderID: e.order, LocationID: loc, Seq: seq, Status: status,
		Lines: lines, IdempotencyKey: allocation.RecordKey(e.order, "shipment", loc)}
}

func sl(line, sku, qty string) allocation.ShipmentLine {
	return allocation.ShipmentLine{LineID: line, SKU: sku, Qty: q(qty)}
}

func (e exp) backorder(line, sku, loc, qty string, notify bool) allocation.Backorder {
	return allocation.Backorder{OrderID: e.order, LineID: line, SKU: sku, Qty: q(qty), LocationID: loc, Reason: "insufficient_stock",
		PromisedDate: day.AddDate(0, 0, 30), Notify: notify, Tracked: true, IdempotencyKey: allocation.RecordKey(e.order, "backorder", line)}
}

func (e exp) cancel(line, sku, qty, reason string) allocation.Cancellation {
	return allocation.Cancellation{OrderID: e.order, LineID: line, SKU: sku, Qty: q(qty), Reason: reason,
		IdempotencyKey: allocation.RecordKey(e.order, "cancellation", line)}
}

func (e exp) hold(reason string, allocated bool, lines ...allocation.HoldLine) allocation.Hold {
	return allocation.Hold{OrderID: e.order, Reason: reason, Allocated: allocated, Lines: lines, IdempotencyKey: allocation.RecordKey(e.order, "hold", reason)}
}

func hl(line, sku, qty string) allocation.HoldLine {
	return allocation.HoldLine{LineID: line, SKU: sku, Qty: q(qty)}
}

func (e exp) insufficient(line, sku, qty, available string) allocation.LineError {
	return allocation.LineError{Code: allocation.ErrInsufficientStock, OrderID: e.order, LineID: line, SKU: sku, Qty: q(qty), Available: q(available),
		IdempotencyKey: allocation.RecordKey(e.order, "error", allocation.ErrInsufficientStock, line)}
}

func (e exp) lineErr(code, line, sku, qty string) allocation.LineError {
	return allocation.LineError{Code: code, OrderID: e.order, LineID: line, SKU: sku, Qty: q(qty),
		IdempotencyKey: allocation.RecordKey(e.order, "error", code, line)}
}

// stockNote is an out_of_stock or low_stock notification.
func (e exp) stockNote(typ, sku, loc, qty string) allocation.Notification {
	return allocation.Notification{Type: typ, OrderID: e.order, SKU: sku, LocationID: loc, Qty: q(qty),
		IdempotencyKey: allocation.RecordKey(e.order, "notification", typ, strings.ToLower(sku), loc)}
}

// lineNote is a backorder_customer or insufficient_stock notification.
func (e exp) lineNote(typ, line, sku, qty string) allocation.Notification {
	return allocation.Notification{Type: typ, OrderID: e.order, LineID: line, SKU: sku, Qty: q(qty),
		IdempotencyKey: allocation.RecordKey(e.order, "notification", typ, line)}
}

func (e exp) holdNote(reason string) allocation.Notification {
	return allocation.Notification{Type: allocation.NotifyOrderOnHold, OrderID: e.order, Reason: reason,
		IdempotencyKey: allocation.RecordKey(e.order, "notification", allocation.NotifyOrderOnHold, reason)}
}

// lineTotals sums, per line id, what the records did with it: allocated,
// backordered, cancelled and held (not allocated).
type lineTotals struct{ allocated, backordered, cancelled, held decimal.Decimal }

func totals(r allocation.Result) map[string]lineTotals {
	m := map[string]lineTotals{}
	upd := func(id string, f func(*lineTotals)) {
		t := m[id]
		f(&t)
		m[id] = t
	}
	for _, a := range r.Allocations {
		upd(a.LineID, func(t *lineTotals) { t.allocated = t.allocated.Add(a.Qty) })
	}
	for _, b := range r.Backorders {
		upd(b.LineID, func(t *lineTotals) { t.backordered = t.backordered.Add(b.Qty) })
	}
	for _, c := range r.Cancellations {
		upd(c.LineID, func(t *lineTotals) { t.cancelled = t.cancelled.Add(c.Qty) })
	}
	for _, h := range r.Holds {
		if h.Allocated {
			continue
		}
		for _, l := range h.Lines {
			upd(l.LineID, func(t *lineTotals) { t.held = t.held.Add(l.Qty) })
		}
	}
	return m
}

func (t lineTotals) sum() decimal.Decimal {
	return t.allocated.Add(t.backordered).Add(t.cancelled).Add(t.held)
}
