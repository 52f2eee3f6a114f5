package transforms

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/transforms/allocation"
	"github.com/shopspring/decimal"
)

// qty writes a decimal as a JSON number with its exact digits, as every
// decimal leaves a record.
type qty decimal.Decimal

func (q qty) MarshalJSON() ([]byte, error) {
	return record.AppendJSON(nil, decimal.Decimal(q))
}

// The output records of DOMAIN.md §2.6, field for field as the output
// types in allocate.go declare them.
type (
	allocationOut struct {
		OrderID        string `json:"order_id"`
		LineID         string `json:"line_id"`
		ParentLineID   string `json:"parent_line_id,omitempty"`
		SKU            string `json:"sku"`
		LocationID     string `json:"location_id"`
		Qty            qty    `json:"qty"`
		Strategy       string `json:"strategy"`
		Rank           int    `json:"rank"`
		Tracked        bool   `json:"tracked"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	shipmentLineOut struct {
		LineID       string `json:"line_id"`
		ParentLineID string `json:"parent_line_id,omitempty"`
		SKU          string `json:"sku"`
		Qty          qty    `json:"qty"`
	}
	shipmentOut struct {
		ShipmentID     string            `json:"shipment_id"`
		OrderID        string            `json:"order_id"`
		LocationID     string            `json:"location_id"`
		Seq            int               `json:"seq"`
		Status         string            `json:"status"`
		Lines          []shipmentLineOut `json:"lines"`
		Order          json.RawMessage   `json:"order"`
		IdempotencyKey string            `json:"idempotency_key"`
	}
	backorderOut struct {
		OrderID        string `json:"order_id"`
		LineID         string `json:"line_id"`
		ParentLineID   string `json:"parent_line_id,omitempty"`
		SKU            string `json:"sku"`
		Qty            qty    `json:"qty"`
		LocationID     string `json:"location_id"`
		Reason         string `json:"reason"`
		PromisedDate   string `json:"promised_date"`
		Notify         bool   `json:"notify"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	cancellationOut struct {
		OrderID        string `json:"order_id"`
		LineID         string `json:"line_id"`
		ParentLineID   string `json:"parent_line_id,omitempty"`
		SKU            string `json:"sku"`
		Qty            qty    `json:"qty"`
		Reason         string `json:"reason"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	holdOut struct {
		OrderID        string            `json:"order_id"`
		Reason         string            `json:"reason"`
		Allocated      bool              `json:"allocated"`
		Lines          []shipmentLineOut `json:"lines"`
		IdempotencyKey string            `json:"idempotency_key"`
	}
	adjustmentOut struct {
		SKU            string `json:"sku"`
		LocationID     string `json:"location_id"`
		Bucket         string `json:"bucket"`
		Delta          qty    `json:"delta"`
		AllowNegative  bool   `json:"allow_negative"`
		Reason         string `json:"reason"`
		Ref            string `json:"ref"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	notificationOut struct {
		Type           string `json:"type"`
		OrderID        string `json:"order_id"`
		LineID         string `json:"line_id,omitempty"`
		SKU            string `json:"sku,omitempty"`
		LocationID     string `json:"location_id,omitempty"`
		Qty            qty    `json:"qty"`
		Reason         string `json:"reason,omitempty"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	// errorOut is a line error as the outcome stores it; the step turns it
	// into an error record of the order.
	errorOut struct {
		Error string `json:"error"`
	}
)

func shipmentLines(ls []allocation.ShipmentLine) []shipmentLineOut {
	out := make([]shipmentLineOut, 0, len(ls))
	for _, l := range ls {
		out = append(out, shipmentLineOut{LineID: l.LineID, ParentLineID: l.ParentLineID, SKU: l.SKU, Qty: qty(l.Qty)})
	}
	return out
}

// outcomeBuilder collects the output records of a decision, JSON-encoded,
// keeping the first encoding error.
type outcomeBuilder struct {
	out component.Outcome
	err error
}

func (ob *outcomeBuilder) add(output string, v any) {
	if ob.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		ob.err = err
		return
	}
	ob.out.Records = append(ob.out.Records, component.OutputRecord{Output: output, Data: b})
}

// adjustment adds an inventory adjustment both as an output record and as
// the change the store applies.
func (ob *outcomeBuilder) adjustment(a allocation.Adjustment) {
	ob.add("adjustments", adjustmentOut{a.SKU, a.LocationID, string(a.Bucket), qty(a.Delta), a.AllowNegative, a.Reason, a.Ref, a.IdempotencyKey})
	ob.out.Adjustments = append(ob.out.Adjustments, component.Adjustment{
		SKU: a.SKU, Location: a.LocationID, Bucket: component.Bucket(a.Bucket), Delta: a.Delta,
		AllowNegative: a.AllowNegative, Backorder: a.Backorder, Reason: a.Reason, Ref: a.Ref,
	})
}

// outcomeOf is what the store keeps of a decision: the adjustments, one
// output record per result record, the line errors (as "error" records)
// and the explanation. order is the input record, carried on shipments.
func outcomeOf(res allocation.Result, order []byte) (component.Outcome, error) {
	var ob outcomeBuilder
	add := ob.add
	for _, a := range res.Allocations {
		add("allocations", allocationOut{a.OrderID, a.LineID, a.ParentLineID, a.SKU, a.LocationID, qty(a.Qty), string(a.Strategy), a.Rank, a.Tracked, a.IdempotencyKey})
	}
	raw := json.RawMessage(order)
	if !json.Valid(order) {
		raw = json.RawMessage("null")
	}
	for _, s := range res.Shipments {
		add("shipments", shipmentOut{s.ShipmentID, s.OrderID, s.LocationID, s.Seq, string(s.Status), shipmentLines(s.Lines), raw, s.IdempotencyKey})
	}
	for _, b := range res.Backorders {
		add("backorders", backorderOut{b.OrderID, b.LineID, b.ParentLineID, b.SKU, qty(b.Qty), b.LocationID, b.Reason, b.PromisedDate.Format("2006-01-02"), b.Notify, b.IdempotencyKey})
	}
	for _, c := range res.Cancellations {
		add("cancellations", cancellationOut{c.OrderID, c.LineID, c.ParentLineID, c.SKU, qty(c.Qty), c.Reason, c.IdempotencyKey})
	}
	for _, h := range res.Holds {
		ls := make([]allocation.ShipmentLine, 0, len(h.Lines))
		for _, l := range h.Lines {
			ls = append(ls, allocation.ShipmentLine{LineID: l.LineID, ParentLineID: l.ParentLineID, SKU: l.SKU, Qty: l.Qty})
		}
		add("holds", holdOut{h.OrderID, h.Reason, h.Allocated, shipmentLines(ls), h.IdempotencyKey})
	}
	for _, a := range res.Adjustments {
		ob.adjustment(a)
	}
	for _, n := range res.Notifications {
		add("notifications", notificationOut{n.Type, n.OrderID, n.LineID, n.SKU, n.LocationID, qty(n.Qty), n.Reason, n.IdempotencyKey})
	}
	if msg := lineErrors(res); msg != "" {
		add(component.ErrorOutput, errorOut{Error: msg})
	}
	if ob.err != nil {
		return component.Outcome{}, ob.err
	}
	if json.Valid(order) {
		res.Explanation.Order = raw
	}
	var err error
	if ob.out.Explanation, err = json.Marshal(res.Explanation); err != nil {
		return component.Outcome{}, err
	}
	ob.out.ReleaseReservations = true
	return ob.out, nil
}

// lineErrors is the error of an order's lines that could not be read:
// unknown SKUs, invalid quantities, all of them in one message, so an
// order sends at most one record to the error output and the run's
// errored count is the records that reach it. An insufficient_stock
// shortfall is no error of the order: it is decided, and its
// cancellation or hold, and the insufficient_stock notification, leave
// through their outputs, so an order that shipped part counts as passed
// on.
func lineErrors(res allocation.Result) string {
	var parts []string
	for _, e := range res.Errors {
		if e.Code == allocation.ErrInsufficientStock {
			continue
		}
		msg := e.Message
		if msg == "" {
			msg = fmt.Sprintf("line %q: %s of sku %q", e.LineID, e.Qty, e.SKU)
		}
		parts = append(parts, e.Code+": "+msg)
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("order %s: %s", res.OrderID, strings.Join(parts, "; "))
}

// dryRunInventory is the store a dry run allocates against: it reads the
// real store's levels and settings, decides, and commits nothing. It keeps
// the run's own adjustments in memory, so orders later in the same dry run
// see the stock earlier ones took, and an order seen twice replays.
type dryRunInventory struct {
	component.Inventory
	clock component.Clock

	mu    sync.Mutex
	delta map[component.StockKey]*component.Level // committed and on_hand moved
	done  map[string]component.Outcome
	moves []component.Movement // the run's own ledger entries
}

func newDryRunInventory(inv component.Inventory, clock component.Clock) *dryRunInventory {
	return &dryRunInventory{Inventory: inv, clock: clock, delta: map[component.StockKey]*component.Level{}, done: map[string]component.Outcome{}}
}

func (d *dryRunInventory) Apply(ctx context.Context, req component.ApplyRequest, decide func(component.Snapshot) (component.Outcome, error)) (component.Outcome, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if out, ok := d.done[req.IdempotencyKey]; ok {
		if out.Fingerprint != "" && req.Fingerprint != "" && out.Fingerprint != req.Fingerprint {
			return component.Outcome{}, false, fmt.Errorf("%s: %w", req.IdempotencyKey, component.ErrConflict)
		}
		return out, true, nil
	}
	levels, err := d.Levels(ctx, req.SKUs)
	if err != nil {
		return component.Outcome{}, false, err
	}
	seen := map[component.StockKey]bool{}
	for i := range levels {
		l := &levels[i]
		seen[l.Key()] = true
		if dl := d.delta[l.Key()]; dl != nil {
			l.OnHand = l.OnHand.Add(dl.OnHand)
			l.Committed = l.Committed.Add(dl.Committed)
			l.Backordered = decimal.Max(l.Backordered.Add(dl.Backordered), decimal.Zero)
		}
	}
	for k, dl := range d.delta {
		if !seen[k] && slices.Contains(req.SKUs, k.SKU) {
			levels = append(levels, component.Level{SKU: k.SKU, Location: k.Location, OnHand: dl.OnHand, Committed: dl.Committed,
				Backordered: decimal.Max(dl.Backordered, decimal.Zero), Exists: true})
		}
	}
	slices.SortFunc(levels, func(a, b component.Level) int {
		if a.SKU != b.SKU {
			if a.SKU < b.SKU {
				return -1
			}
			return 1
		}
		switch {
		case a.Location < b.Location:
			return -1
		case a.Location > b.Location:
			return 1
		}
		return 0
	})
	snap := component.Snapshot{Now: d.clock.Now(), Levels: levels}
	if req.Ledger != "" {
		if snap.Ledger, err = d.orderMovements(ctx, req.Ledger); err != nil {
			return component.Outcome{}, false, err
		}
	}
	out, err := decide(snap)
	if err != nil {
		return component.Outcome{}, false, err
	}
	for _, a := range out.Adjustments {
		d.moves = append(d.moves, component.Movement{
			Seq: int64(1)<<62 + int64(len(d.moves)), SKU: a.SKU, Location: a.Location, Bucket: a.Bucket,
			Delta: a.Delta, Reason: a.Reason, Ref: a.Ref, Key: req.IdempotencyKey, At: snap.Now,
		})
	}
	for _, a := range out.Adjustments {
		k := component.StockKey{SKU: a.SKU, Location: a.Location}
		dl := d.delta[k]
		if dl == nil {
			dl = &component.Level{}
			d.delta[k] = dl
		}
		switch a.Bucket {
		case component.OnHand:
			dl.OnHand = dl.OnHand.Add(a.Delta)
		case component.Committed:
			dl.Committed = dl.Committed.Add(a.Delta)
			if a.Backorder {
				dl.Backordered = dl.Backordered.Add(a.Delta)
			}
		}
	}
	out.Fingerprint = req.Fingerprint
	d.done[req.IdempotencyKey] = out
	return out, false, nil
}

// orderMovements is the store's ledger of an order followed by the run's
// own entries of it (numbered after every stored one). d.mu is held.
func (d *dryRunInventory) orderMovements(ctx context.Context, order string) ([]component.Movement, error) {
	ms, err := d.Inventory.OrderMovements(ctx, order)
	if err != nil {
		return nil, err
	}
	for _, m := range d.moves {
		if m.Ref == order || strings.HasPrefix(m.Ref, order+"/") {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// OrderMovements includes the run's own movements.
func (d *dryRunInventory) OrderMovements(ctx context.Context, order string) ([]component.Movement, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.orderMovements(ctx, order)
}
