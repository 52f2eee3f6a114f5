package transforms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/transforms/allocation"
	"github.com/shopspring/decimal"
)

// stockStep is the run-time part of `stock`: it reads a cancellation,
// shipment or return through its expressions and lets the store apply
// allocation.ApplyStockEvent in one transaction keyed by
// "<action>:<scope>:<order key>:<event id>" (allocate_keys.go), deciding
// from the order's ledger (the movements whose ref is "<order key>/<line>",
// which allocate writes) as the store reads it under the rows' locks. An
// event sent again with other lines is refused, not replayed; one an older
// pipectl applied under "<action>:<order id>:<event id>" replays.
//
// Open replenishment requests are kept as replenishRequests says.
type stockStep struct {
	name      string
	pipeline  string
	action    allocation.Action
	rulesName string
	// rules is the rule set in force, swapped by PrepareRules while a run
	// goes on; an event is decided by one version throughout.
	rules     atomic.Pointer[allocateRules]
	orderID   *exprs.Program
	key       *exprs.Program // nil: the order id
	eventID   *exprs.Program
	lines     *exprs.Program
	location  *exprs.Program // nil: lines name their location
	replenish allocation.ReplenishmentRules
	inv       component.Inventory
	dryRun    bool
	decode    *record.Projection
	requests  *replenishRequests
}

func newStock(ctx component.BuildContext) (component.Step, error) {
	s := &stockStep{name: ctx.Name, pipeline: ctx.Pipeline, decode: ctx.Decode}
	var err error
	if s.inv, _, err = stepInventory(ctx, "stock"); err != nil {
		return nil, err
	}
	s.dryRun = ctx.Runtime.DryRun
	av := ctx.Config.Get("action")
	if av == nil || av.Str == "" {
		return nil, errors.New("action is not set")
	}
	s.action = allocation.Action(av.Str)
	if s.rulesName, err = loadRules(ctx, &s.rules); err != nil {
		return nil, err
	}
	if s.orderID, err = program(ctx.Config.Get("order_id"), "order_id"); err != nil {
		return nil, err
	}
	if s.key, err = optionalProgram(ctx.Config.Get("key"), "key"); err != nil {
		return nil, err
	}
	if s.eventID, err = program(ctx.Config.Get("event_id"), "event_id"); err != nil {
		return nil, err
	}
	if s.lines, err = program(ctx.Config.Get("lines"), "lines"); err != nil {
		return nil, err
	}
	if s.location, err = optionalProgram(ctx.Config.Get("location"), "location"); err != nil {
		return nil, err
	}
	if s.replenish, err = replenishmentRules(ctx.Config.Get("replenishment")); err != nil {
		return nil, err
	}
	s.requests = newReplenishRequests(s.name, s.inv, s.dryRun)
	return s, nil
}

// PrepareRules compiles the step's rule set from the rule sets ctx gives
// (component.RuleUser): the commit swaps it in for the events that start
// after it.
func (s *stockStep) PrepareRules(ctx component.BuildContext) (func(), error) {
	rs, err := compileAllocateRules(ctx, s.rulesName)
	if err != nil {
		return nil, err
	}
	return func() { s.rules.Store(rs) }, nil
}

// replenishmentRules reads the `replenishment` settings.
func replenishmentRules(v *component.Value) (allocation.ReplenishmentRules, error) {
	var r allocation.ReplenishmentRules
	level := func(v *component.Value, what string) (allocation.ReorderLevel, error) {
		var l allocation.ReorderLevel
		num := func(name string) (decimal.Decimal, error) {
			x := v.Get(name)
			if x == nil || !x.Set {
				return decimal.Zero, nil
			}
			d, err := decimal.NewFromString(strconv.FormatFloat(x.Num, 'f', -1, 64))
			if err != nil || d.IsNegative() {
				return d, fmt.Errorf("%s%s %v: want a quantity of zero or more", what, name, x.Num)
			}
			return d, nil
		}
		var err error
		if l.Point, err = num("reorder_point"); err != nil {
			return l, err
		}
		if l.Target, err = num("target_level"); err != nil {
			return l, err
		}
		if l.Target.IsPositive() && l.Target.LessThan(l.Point) {
			return l, fmt.Errorf("%starget_level %s is below reorder_point %s", what, l.Target, l.Point)
		}
		return l, nil
	}
	if v == nil {
		return r, nil
	}
	var err error
	if r.Default, err = level(v, "replenishment."); err != nil {
		return r, err
	}
	if m := v.Get("by_sku"); m != nil {
		for _, k := range m.Keys {
			l, err := level(m.Map[k], fmt.Sprintf("replenishment.by_sku[%q].", k))
			if err != nil {
				return r, err
			}
			if r.BySKU == nil {
				r.BySKU = map[string]allocation.ReorderLevel{}
			}
			r.BySKU[k] = l
		}
	}
	return r, nil
}

func (s *stockStep) NewWorker() component.StepWorker { return &stockWorker{step: s} }

type stockWorker struct {
	step *stockStep
	vm   vm.VM
}

func (w *stockWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	out, err := w.apply(ctx, rec)
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
		return
	}
	emit(component.DefaultOutput, rec)
	for _, r := range out.Records {
		emit(r.Output, rec.Derive(r.Data))
	}
}

// apply decides one event, or returns what stopped it.
func (w *stockWorker) apply(ctx context.Context, rec *record.Record) (component.Outcome, error) {
	s := w.step
	env := rec.Fields(s.decode)
	rules, err := s.rules.Load().rulesFor(&w.vm, env)
	if err != nil {
		return component.Outcome{}, err
	}
	ev, err := w.event(env)
	if err != nil {
		return component.Outcome{}, err
	}
	ev.Scope = eventScope(s.pipeline, rec)
	var names []string
	for _, l := range ev.Lines {
		if l.SKU != "" && !slices.Contains(names, l.SKU) {
			names = append(names, l.SKU)
		}
	}
	// What the order holds is decided from the ledger the store reads
	// under the rows' locks (ApplyRequest.Ledger); this read, outside the
	// transaction, only finds the rows whose replenishment state to load.
	prior, err := s.inv.OrderMovements(ctx, ev.Ref)
	if err != nil {
		return component.Outcome{}, fmt.Errorf("order %s: reading its ledger: %w", ev.OrderID, err)
	}
	settings, err := s.inv.SKUs(ctx, names)
	if err != nil {
		return component.Outcome{}, fmt.Errorf("reading SKU settings: %w", err)
	}
	skus := map[string]allocation.SKU{}
	for k, c := range settings {
		skus[k] = allocation.SKU{Tracked: c.Tracked, QtyDecimal: c.QtyDecimal}
	}
	// The rows the event may touch, and whether a request is open for each.
	lock := slices.Clone(names)
	open := map[allocation.Key]bool{}
	note := func(sku, loc string) error {
		if !slices.Contains(lock, sku) {
			lock = append(lock, sku)
		}
		if loc == "" {
			return nil
		}
		k := allocation.Key{SKU: strings.ToLower(strings.TrimSpace(sku)), Location: loc}
		v, err := s.requests.isOpen(ctx, k)
		open[k] = v
		return err
	}
	for _, h := range allocation.Holdings(ev.Ref, ledgerEntries(prior)) {
		if err := note(h.SKU, h.Location); err != nil {
			return component.Outcome{}, err
		}
	}
	for _, l := range ev.Lines {
		if err := note(l.SKU, l.Location); err != nil {
			return component.Outcome{}, err
		}
	}
	slices.Sort(lock)
	req := component.ApplyRequest{
		IdempotencyKey:     string(s.action) + ":" + ev.Scope + ":" + ev.Ref + ":" + ev.EventID,
		LegacyKey:          string(s.action) + ":" + ev.OrderID + ":" + ev.EventID,
		Fingerprint:        eventFingerprint(ev),
		Ref:                ev.Ref,
		SKUs:               lock,
		IgnoreReservations: !rules.Inventory.RespectReservations,
		Ledger:             ev.Ref,
	}
	var decided allocation.StockEventResult
	out, replayed, err := s.inv.Apply(ctx, req, func(snap component.Snapshot) (component.Outcome, error) {
		stock := allocation.Stock{}
		for _, l := range snap.Levels {
			if !l.Exists {
				continue
			}
			stock[allocation.Key{SKU: l.SKU, Location: l.Location}] = allocation.Level{
				OnHand: l.OnHand, Committed: l.Committed, Reserved: l.Reserved, SafetyStock: l.SafetyStock,
			}
		}
		if err := oneAllocation(ev, snap.Ledger); err != nil {
			return component.Outcome{}, err
		}
		holdings := allocation.Holdings(ev.Ref, ledgerEntries(snap.Ledger))
		res, err := allocation.ApplyStockEvent(ev, holdings, stock, skus, rules, s.replenish, open)
		if err != nil {
			return component.Outcome{}, err
		}
		decided = res
		return stockOutcome(res)
	})
	if errors.Is(err, component.ErrConflict) {
		return component.Outcome{}, conflict(fmt.Sprintf("%s %s of order %s", s.action, ev.EventID, ev.OrderID), "event", req.IdempotencyKey)
	}
	if err != nil {
		return component.Outcome{}, err
	}
	if !replayed {
		for _, rq := range decided.Replenishments {
			k := allocation.Key{SKU: strings.ToLower(strings.TrimSpace(rq.SKU)), Location: rq.LocationID}
			why := fmt.Sprintf("%s of order %s: available %s below reorder point %s; requested %s", s.action, ev.OrderID, rq.Available, rq.ReorderPoint, rq.Qty)
			if err := s.requests.setOpen(ctx, k, true, why); err != nil {
				return component.Outcome{}, fmt.Errorf("recording the replenishment request of %s at %s: %w", rq.SKU, rq.LocationID, err)
			}
		}
		for _, k := range decided.Closed {
			if err := s.requests.setOpen(ctx, k, false, fmt.Sprintf("%s of order %s: available back at the reorder point", s.action, ev.OrderID)); err != nil {
				return component.Outcome{}, fmt.Errorf("closing the replenishment request of %s at %s: %w", k.SKU, k.Location, err)
			}
		}
	}
	return out, nil
}

// event evaluates the event's expressions.
func (w *stockWorker) event(env map[string]any) (allocation.StockEvent, error) {
	s := w.step
	ev := allocation.StockEvent{Action: s.action}
	v, err := s.orderID.Run(&w.vm, env)
	if err != nil {
		return ev, fmt.Errorf("order_id: %w", err)
	}
	if ev.OrderID = scalarString(v); ev.OrderID == "" || ev.OrderID == "<nil>" {
		return ev, fmt.Errorf("order_id %q gave no id", s.orderID.Source())
	}
	ev.Ref = ev.OrderID
	if s.key != nil {
		if v, err = s.key.Run(&w.vm, env); err != nil {
			return ev, fmt.Errorf("key: %w", err)
		}
		if ev.Ref = scalarString(v); strings.TrimSpace(ev.Ref) == "" || ev.Ref == "<nil>" {
			return ev, fmt.Errorf("order %s: key %q gave no key", ev.OrderID, s.key.Source())
		}
	}
	if v, err = s.eventID.Run(&w.vm, env); err != nil {
		return ev, fmt.Errorf("event_id: %w", err)
	}
	// string(nil) is "<nil>": a missing id must not make every event of
	// the order one event (the later ones would replay the first).
	if ev.EventID = scalarString(v); ev.EventID == "" || ev.EventID == "<nil>" {
		return ev, fmt.Errorf("order %s: event_id %q gave no id", ev.OrderID, s.eventID.Source())
	}
	var loc string
	if s.location != nil {
		if v, err = s.location.Run(&w.vm, env); err != nil {
			return ev, fmt.Errorf("location: %w", err)
		}
		loc = scalarString(v)
	}
	if v, err = s.lines.Run(&w.vm, env); err != nil {
		return ev, fmt.Errorf("lines: %w", err)
	}
	list, ok := v.([]any)
	if !ok {
		return ev, fmt.Errorf("order %s: lines gave %T, want an array of objects", ev.OrderID, v)
	}
	if len(list) == 0 {
		return ev, fmt.Errorf("order %s: the event has no lines", ev.OrderID)
	}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return ev, fmt.Errorf("order %s: lines[%d] is %T, want an object with sku and quantity", ev.OrderID, i, e)
		}
		l := allocation.EventLine{
			LineID:      scalarString(m["line_id"]),
			SKU:         strings.TrimSpace(scalarString(m["sku"])),
			Location:    scalarString(m["location"]),
			RestockType: scalarString(m["restock_type"]),
		}
		if l.LineID == "" {
			l.LineID = scalarString(m["id"])
		}
		if l.Location == "" {
			l.Location = scalarString(m["location_id"])
		}
		if l.Location == "" {
			l.Location = loc
		}
		if l.SKU == "" {
			return ev, fmt.Errorf("order %s: lines[%d] has no sku", ev.OrderID, i)
		}
		if l.Qty, err = quantity(m["quantity"]); err != nil {
			return ev, fmt.Errorf("order %s: lines[%d].quantity: %w", ev.OrderID, i, err)
		}
		ev.Lines = append(ev.Lines, l)
	}
	return ev, nil
}

// replenishmentOut is a replenishment record, field for field as
// replenishmentRecord declares it.
type replenishmentOut struct {
	SKU            string `json:"sku"`
	LocationID     string `json:"location_id"`
	Qty            qty    `json:"qty"`
	Available      qty    `json:"available"`
	ReorderPoint   qty    `json:"reorder_point"`
	TargetLevel    qty    `json:"target_level"`
	OrderID        string `json:"order_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// stockOutcome is what the store keeps of a stock event.
func stockOutcome(res allocation.StockEventResult) (component.Outcome, error) {
	var ob outcomeBuilder
	add := ob.add
	for _, c := range res.Cancellations {
		add("cancellations", cancellationOut{c.OrderID, c.LineID, c.ParentLineID, c.SKU, qty(c.Qty), c.Reason, c.IdempotencyKey})
	}
	for _, a := range res.Adjustments {
		ob.adjustment(a)
	}
	for _, n := range res.Notifications {
		add("notifications", notificationOut{n.Type, n.OrderID, n.LineID, n.SKU, n.LocationID, qty(n.Qty), n.Reason, n.IdempotencyKey})
	}
	for _, r := range res.Replenishments {
		add("replenishment", replenishmentOut{r.SKU, r.LocationID, qty(r.Qty), qty(r.Available), qty(r.ReorderPoint), qty(r.TargetLevel), r.OrderID, r.IdempotencyKey})
	}
	if ob.err != nil {
		return component.Outcome{}, ob.err
	}
	return ob.out, nil
}

// eventFingerprint is what decided a stock event: its action, order, key,
// event id and lines.
func eventFingerprint(ev allocation.StockEvent) string {
	parts := []string{"stock/1", string(ev.Action), ev.OrderID, ev.Ref, ev.EventID}
	for _, l := range ev.Lines {
		parts = append(parts, l.LineID, normSKU(l.SKU), l.Location, strings.ToUpper(strings.TrimSpace(l.RestockType)), l.Qty.String())
	}
	return fingerprint(parts...)
}

// oneAllocation refuses an event about an order whose ledger holds the
// allocations of two orders: two pipelines or shops whose order ids
// collide and whose allocate steps were given no `key` to tell them apart.
// Cancelling or shipping such an order could release the other's stock.
func oneAllocation(ev allocation.StockEvent, ledger []component.Movement) error {
	var keys []string
	for _, m := range ledger {
		if strings.HasPrefix(m.Key, allocateApplyPrefix) && !slices.Contains(keys, m.Key) && (m.Ref == ev.Ref || strings.HasPrefix(m.Ref, ev.Ref+"/")) {
			keys = append(keys, m.Key)
		}
	}
	if len(keys) > 1 {
		return fmt.Errorf("%w: order %s: the ledger holds the allocations of %d orders with this id (%s): give the allocate steps and this step a `key` that tells them apart",
			allocation.ErrRefused, ev.OrderID, len(keys), strings.Join(keys, ", "))
	}
	return nil
}

// ledgerEntries converts the store's ledger for allocation.Holdings.
func ledgerEntries(ms []component.Movement) []allocation.LedgerEntry {
	out := make([]allocation.LedgerEntry, 0, len(ms))
	for _, m := range ms {
		out = append(out, allocation.LedgerEntry{Seq: m.Seq, SKU: m.SKU, Location: m.Location,
			Bucket: allocation.Bucket(m.Bucket), Delta: m.Delta, Reason: m.Reason, Ref: m.Ref})
	}
	return out
}
