package transforms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/transforms/allocation"
	"github.com/shopspring/decimal"
)

// allocateStep is the run-time part of `allocate`: it reads an order
// through its expressions, settles the rule set for it, and lets the
// inventory store run allocation.Allocate inside one transaction, keyed by
// "allocate:" + the event's scope and key (allocate_keys.go), so a
// replayed order emits what it emitted the first time, byte for byte, and
// another order under the same key is refused.
type allocateStep struct {
	name      string
	pipeline  string
	rulesName string
	// rules holds the rule set in force. The engine swaps it while a run
	// goes on (PrepareRules); a worker loads it once per order, so one
	// order is decided by one version of the rules throughout.
	rules   atomic.Pointer[allocateRules]
	orderID *exprs.Program
	key     *exprs.Program // nil: the order id
	lines   *exprs.Program
	dest    *exprs.Program
	date    *exprs.Program // nil: the run's clock
	inv     component.Inventory
	clock   component.Clock
	decode  *record.Projection
	explain func(step, ref string, explanation []byte)
	// outcome is Runtime.AllocationOutcome.
	outcome func(step, outcome string)
	// replenish gives the reorder levels; requests tracks which rows have
	// a request open.
	replenish allocation.ReplenishmentRules
	requests  *replenishRequests

	locOnce sync.Once
	locs    []allocation.Location
	locErr  error

	// skuMu guards skuCache: SKU settings read from the store, kept for
	// the run like the locations (an absent SKU is cached as absent).
	skuMu    sync.Mutex
	skuCache map[string]*component.SKU
}

// skuSettings returns the settings of the named SKUs, reading from the store
// only those not read before in this run. Settings change rarely and
// reading them per order took a sixth of an allocation's time; a setting
// changed during a run applies from the next run, as for locations.
func (s *allocateStep) skuSettings(ctx context.Context, names []string) (map[string]component.SKU, error) {
	s.skuMu.Lock()
	defer s.skuMu.Unlock()
	if s.skuCache == nil {
		s.skuCache = map[string]*component.SKU{}
	}
	var missing []string
	for _, n := range names {
		if _, ok := s.skuCache[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		got, err := s.inv.SKUs(ctx, missing)
		if err != nil {
			return nil, err
		}
		for _, n := range missing {
			if v, ok := got[n]; ok {
				s.skuCache[n] = &v
			} else {
				s.skuCache[n] = nil
			}
		}
	}
	out := make(map[string]component.SKU, len(names))
	for _, n := range names {
		if v := s.skuCache[n]; v != nil {
			out[n] = *v
		}
	}
	return out, nil
}

// loadRules compiles the fulfillment rule set a step's `rules` setting names
// and puts it in force in holder; it returns the rule set's name.
func loadRules(ctx component.BuildContext, holder *atomic.Pointer[allocateRules]) (string, error) {
	rv := ctx.Config.Get("rules")
	if rv == nil || rv.Str == "" {
		return "", errors.New("rules is not set")
	}
	rs, err := compileAllocateRules(ctx, rv.Str)
	if err != nil {
		return "", err
	}
	holder.Store(rs)
	return rv.Str, nil
}

// allocateRules is one compiled version of the step's rule set.
type allocateRules struct {
	name      string
	version   string // the rules file's hash, from the engine; may be ""
	base      []byte // the rule set's settings as JSON, keys = setting names
	when      *exprs.Program
	overrides []ruleOverride
}

// ruleOverride is one entry of the rule set's `overrides`.
type ruleOverride struct {
	when *exprs.Program
	set  []byte
}

// stepInventory is the store a kind that keeps stock works on, and the
// run's clock: in a dry run, a layer over the store that reads it and
// commits nothing (dryRunInventory).
func stepInventory(ctx component.BuildContext, kind string) (component.Inventory, component.Clock, error) {
	var clock component.Clock = component.SystemClock{}
	if ctx.Runtime == nil || ctx.Runtime.Inventory == nil {
		return nil, nil, fmt.Errorf("%s needs an inventory store, and the run has none (pipectl run --state URL)", kind)
	}
	if ctx.Runtime.Clock != nil {
		clock = ctx.Runtime.Clock
	}
	inv := ctx.Runtime.Inventory
	if ctx.Runtime.DryRun {
		inv = newDryRunInventory(inv, clock)
	}
	return inv, clock, nil
}

// allocateApplyPrefix prefixes an order's scope and key to make the
// store's idempotency key: one Apply per order, whatever the run. Before
// keys were scoped it prefixed the bare order id (the legacy key).
const allocateApplyPrefix = "allocate:"

func newAllocate(ctx component.BuildContext) (component.Step, error) {
	s := &allocateStep{name: ctx.Name, pipeline: ctx.Pipeline, decode: ctx.Decode}
	var err error
	if s.inv, s.clock, err = stepInventory(ctx, "allocate"); err != nil {
		return nil, err
	}
	s.explain = ctx.Runtime.Explain
	s.outcome = ctx.Runtime.AllocationOutcome
	if s.rulesName, err = loadRules(ctx, &s.rules); err != nil {
		return nil, err
	}
	if s.orderID, err = program(ctx.Config.Get("order_id"), "order_id"); err != nil {
		return nil, err
	}
	if s.key, err = optionalProgram(ctx.Config.Get("key"), "key"); err != nil {
		return nil, err
	}
	if s.lines, err = program(ctx.Config.Get("lines"), "lines"); err != nil {
		return nil, err
	}
	if s.dest, err = optionalProgram(ctx.Config.Get("destination"), "destination"); err != nil {
		return nil, err
	}
	if s.date, err = optionalProgram(ctx.Config.Get("date"), "date"); err != nil {
		return nil, err
	}
	if s.replenish, err = replenishmentRules(ctx.Config.Get("replenishment")); err != nil {
		return nil, err
	}
	s.requests = newReplenishRequests(s.name, s.inv, ctx.Runtime.DryRun)
	return s, nil
}

// settingsJSON turns a settings Value into the JSON tree json.Unmarshal
// reads into allocation.Rules: keys are the setting names. Settings that
// only carry their default are left out, so DefaultRules supplies them and
// an override's `set` changes only what it states.
func settingsJSON(v *component.Value) any {
	if v == nil {
		return map[string]any{}
	}
	out, _ := valueJSON(v)
	if out == nil {
		return map[string]any{}
	}
	return out
}

func valueJSON(v *component.Value) (any, bool) {
	if v == nil {
		return nil, false
	}
	kind := component.ObjectField
	if v.Field != nil {
		kind = v.Field.Kind
	} else if v.Map == nil && v.List == nil {
		kind = component.StringField
	}
	switch kind {
	case component.ObjectField, component.MapField, component.MappingField:
		m := map[string]any{}
		for _, k := range v.Keys {
			if x, ok := valueJSON(v.Map[k]); ok {
				m[k] = x
			}
		}
		if len(m) == 0 && !v.Set {
			return nil, false
		}
		return m, true
	case component.ListField:
		if !v.Set {
			return nil, false // a default: DefaultRules has it
		}
		l := make([]any, 0, len(v.List))
		for _, e := range v.List {
			x, _ := valueJSON(e)
			l = append(l, x)
		}
		return l, true
	}
	if !v.Set {
		return nil, false
	}
	switch kind {
	case component.IntField:
		return v.Int, true
	case component.NumberField:
		return json.Number(strconv.FormatFloat(v.Num, 'f', -1, 64)), true
	case component.BoolField:
		return v.Bool, true
	case component.DurationField:
		return v.Dur.String(), true
	}
	return v.Str, true
}

// compileAllocateRules compiles the rule set name as ctx.RuleSet gives it.
// The rule set as written must be valid on its own; an override is checked
// when it applies.
func compileAllocateRules(ctx component.BuildContext, name string) (*allocateRules, error) {
	if ctx.RuleSet == nil {
		return nil, fmt.Errorf("rule set %q: the engine gave no rule sets", name)
	}
	cfg, when, overrides, ok := ctx.RuleSet(name)
	if !ok {
		return nil, fmt.Errorf("rule set %q does not exist", name)
	}
	rs := &allocateRules{name: name, version: ctx.RulesVersion}
	var err error
	if rs.base, err = json.Marshal(settingsJSON(cfg)); err != nil {
		return nil, fmt.Errorf("rule set %q: %w", name, err)
	}
	if _, err := rs.rulesFor(nil, nil); err != nil {
		return nil, err
	}
	if when != nil && when.Str != "" {
		if rs.when, err = program(when, "rule set "+name+" when"); err != nil {
			return nil, err
		}
	}
	if overrides != nil {
		for i, o := range overrides.List {
			p, err := program(o.Get("when"), fmt.Sprintf("rule set %s overrides[%d].when", name, i))
			if err != nil {
				return nil, err
			}
			set, err := json.Marshal(settingsJSON(o.Get("set")))
			if err != nil {
				return nil, fmt.Errorf("rule set %s overrides[%d]: %w", name, i, err)
			}
			rs.overrides = append(rs.overrides, ruleOverride{when: p, set: set})
		}
	}
	return rs, nil
}

// PrepareRules compiles the step's rule set from the rule sets ctx gives
// (component.RuleUser): the commit swaps it in for the orders that start
// after it.
func (s *allocateStep) PrepareRules(ctx component.BuildContext) (func(), error) {
	rs, err := compileAllocateRules(ctx, s.rulesName)
	if err != nil {
		return nil, err
	}
	return func() { s.rules.Store(rs) }, nil
}

// rulesFor settles the rules of one order: the defaults, the rule set's
// settings, then the `set` of every override whose `when` holds, in order.
func (s *allocateRules) rulesFor(machine *vm.VM, env map[string]any) (allocation.Rules, error) {
	r := allocation.DefaultRules()
	if err := json.Unmarshal(s.base, &r); err != nil {
		return r, fmt.Errorf("rule set %q: %w", s.name, err)
	}
	if machine != nil {
		for i, o := range s.overrides {
			ok, err := evalBool(o.when, machine, env)
			if err != nil {
				return r, fmt.Errorf("rule set %s overrides[%d].when: %w", s.name, i, err)
			}
			if ok {
				if err := json.Unmarshal(o.set, &r); err != nil {
					return r, fmt.Errorf("rule set %s overrides[%d]: %w", s.name, i, err)
				}
			}
		}
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("rule set %q: %w", s.name, err)
	}
	return r, nil
}

// locations reads the locations once, on first use: a location added while
// a run goes on is seen by the next run.
func (s *allocateStep) locations(ctx context.Context) ([]allocation.Location, error) {
	s.locOnce.Do(func() {
		ls, err := s.inv.Locations(ctx)
		if err != nil {
			s.locErr = fmt.Errorf("reading locations: %w", err)
			return
		}
		for _, l := range ls {
			if l.Disabled {
				continue
			}
			al := allocation.Location{ID: l.ID, Priority: l.Priority, Market: l.Market, Pickup: l.Pickup}
			if l.Coords != nil {
				al.Coords = &allocation.LatLng{Lat: l.Coords.Lat, Lng: l.Coords.Lng}
			}
			s.locs = append(s.locs, al)
		}
	})
	return s.locs, s.locErr
}

// orStockLocations returns locs, or, when the store has no locations
// configured at all, every location the snapshot holds stock at, with
// priority 0 (so location_priority, then the id, ranks them). A store fed
// only by an inventory feed can then allocate; once any location is
// configured, only configured locations are.
func orStockLocations(locs []allocation.Location, snap component.Snapshot) []allocation.Location {
	if len(locs) > 0 {
		return locs
	}
	var out []allocation.Location
	for _, l := range snap.Levels {
		if !slices.ContainsFunc(out, func(x allocation.Location) bool { return x.ID == l.Location }) {
			out = append(out, allocation.Location{ID: l.Location})
		}
	}
	return out
}

func (s *allocateStep) NewWorker() component.StepWorker { return &allocateWorker{step: s} }

type allocateWorker struct {
	step *allocateStep
	vm   vm.VM
}

func (w *allocateWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	w.emitOutcome(rec, emit)(w.allocate(ctx, rec))
}

// emitOutcome returns what emits an order's outcome, or its error, for rec.
func (w *allocateWorker) emitOutcome(rec *record.Record, emit component.Emit) func(component.Outcome, error) {
	return func(out component.Outcome, err error) {
		if err != nil {
			emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
			return
		}
		for _, r := range out.Records {
			if r.Output == component.ErrorOutput {
				var e struct {
					Error string `json:"error"`
				}
				_ = json.Unmarshal(r.Data, &e)
				emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, errors.New(e.Error)))
				continue
			}
			emit(r.Output, rec.Derive(r.Data))
		}
	}
}

// ProcessBatch allocates a group of orders in one transaction when the
// store can (group commit): each order is decided against the stock the
// orders before it left, an order that fails is undone alone, and nothing
// is emitted before the group is committed. A group the store cannot
// commit is allocated again order by order, so one bad moment of the store
// costs speed, not orders.
func (w *allocateWorker) ProcessBatch(ctx context.Context, recs []*record.Record, emit func(int, string, *record.Record)) {
	emitFor := func(i int) component.Emit {
		return func(output string, o *record.Record) { emit(i, output, o) }
	}
	group, ok := w.step.inv.(component.GroupApplier)
	if !ok || len(recs) == 1 {
		for i, rec := range recs {
			w.Process(ctx, rec, emitFor(i))
		}
		return
	}
	var preps []prepared
	var index []int
	for i, rec := range recs {
		p, err := w.prepare(ctx, rec)
		if err != nil {
			w.emitOutcome(rec, emitFor(i))(component.Outcome{}, err)
			continue
		}
		preps = append(preps, p)
		index = append(index, i)
	}
	if len(preps) == 0 {
		return
	}
	reqs := make([]component.ApplyRequest, len(preps))
	for j, p := range preps {
		reqs[j] = p.req
	}
	res, err := group.ApplyGroup(ctx, reqs, func(j int, snap component.Snapshot) (component.Outcome, error) { return preps[j].decide(snap) })
	for j, p := range preps {
		i := index[j]
		var out component.Outcome
		var replayed bool
		var applyErr error
		if err != nil {
			out, replayed, applyErr = w.step.inv.Apply(ctx, p.req, p.decide)
		} else {
			out, replayed, applyErr = res[j].Outcome, res[j].Replayed, res[j].Err
		}
		w.emitOutcome(recs[i], emitFor(i))(w.applied(ctx, p, out, replayed, applyErr))
	}
}

// prepared is an order ready for the store: its request and its decision.
type prepared struct {
	order   string
	decided allocation.Order // the order as the step read it
	req     component.ApplyRequest
	decide  func(component.Snapshot) (component.Outcome, error)
}

// allocate decides one order, or returns what stopped it.
func (w *allocateWorker) allocate(ctx context.Context, rec *record.Record) (component.Outcome, error) {
	p, err := w.prepare(ctx, rec)
	if err != nil {
		return component.Outcome{}, err
	}
	out, replayed, err := w.step.inv.Apply(ctx, p.req, p.decide)
	return w.applied(ctx, p, out, replayed, err)
}

// applied finishes an order the store applied (or refused): the
// replenishment requests it raised are recorded as open, unless it was a
// replay, whose requests were recorded the first time. A replay of an
// order an older pipectl allocated (no fingerprint) is checked against
// the lines its explanation stored.
func (w *allocateWorker) applied(ctx context.Context, p prepared, out component.Outcome, replayed bool, err error) (component.Outcome, error) {
	switch {
	case errors.Is(err, component.ErrConflict):
		return component.Outcome{}, conflict("order "+p.order, "order", p.req.IdempotencyKey)
	case err != nil:
		return component.Outcome{}, fmt.Errorf("order %s: %w", p.order, err)
	case replayed && out.Fingerprint == "" && !sameLegacyOrder(p.decided, out.Explanation):
		return component.Outcome{}, conflict("order "+p.order, "order", p.req.LegacyKey)
	}
	s := w.step
	if s.explain != nil && len(out.Explanation) > 0 {
		s.explain(s.name, p.order, out.Explanation)
	}
	if replayed {
		return out, nil
	}
	if s.outcome != nil {
		s.outcome(s.name, component.OrderOutcome(out))
	}
	for _, r := range out.Records {
		if r.Output != "replenishment" {
			continue
		}
		var rq struct {
			SKU          string          `json:"sku"`
			LocationID   string          `json:"location_id"`
			Qty          decimal.Decimal `json:"qty"`
			Available    decimal.Decimal `json:"available"`
			ReorderPoint decimal.Decimal `json:"reorder_point"`
		}
		if err := json.Unmarshal(r.Data, &rq); err != nil {
			return out, fmt.Errorf("order %s: %w", p.order, err)
		}
		why := fmt.Sprintf("allocation of order %s: available %s below reorder point %s; requested %s", p.order, rq.Available, rq.ReorderPoint, rq.Qty)
		if err := s.requests.setOpen(ctx, requestKey(rq.SKU, rq.LocationID), true, why); err != nil {
			return out, fmt.Errorf("order %s: recording the replenishment request of %s at %s: %w", p.order, rq.SKU, rq.LocationID, err)
		}
	}
	return out, nil
}

// prepare evaluates an order's rules and lines and reads what it needs
// outside the transaction: locations and SKU settings.
func (w *allocateWorker) prepare(ctx context.Context, rec *record.Record) (prepared, error) {
	s := w.step
	rs := s.rules.Load() // once: the whole order sees one version
	env := rec.Fields(s.decode)
	if rs.when != nil {
		ok, err := evalBool(rs.when, &w.vm, env)
		if err != nil {
			return prepared{}, fmt.Errorf("rule set %s when: %w", s.rulesName, err)
		}
		if !ok {
			return prepared{}, fmt.Errorf("rule set %s does not apply to this order: %w", s.rulesName, component.ErrNotInScope)
		}
	}
	rules, err := rs.rulesFor(&w.vm, env)
	if err != nil {
		return prepared{}, err
	}
	order, err := w.order(env)
	if err != nil {
		return prepared{}, err
	}
	if order.Ref, err = w.orderKey(env, order.ID); err != nil {
		return prepared{}, err
	}
	order.Scope = eventScope(s.pipeline, rec)
	locs, err := s.locations(ctx)
	if err != nil {
		return prepared{}, err
	}
	skus, lock, err := s.catalog(ctx, order)
	if err != nil {
		return prepared{}, err
	}
	raw := rec.Raw
	return prepared{
		order:   order.ID,
		decided: order,
		req: component.ApplyRequest{
			IdempotencyKey:     allocateApplyPrefix + order.Scope + ":" + order.Ref,
			LegacyKey:          allocateApplyPrefix + order.ID,
			Fingerprint:        orderFingerprint(order),
			Ref:                order.Ref,
			SKUs:               lock,
			IgnoreReservations: !rules.Inventory.RespectReservations,
		},
		decide: func(snap component.Snapshot) (component.Outcome, error) {
			stock := allocation.Stock{}
			for _, l := range snap.Levels {
				if !l.Exists {
					continue
				}
				stock[allocation.Key{SKU: l.SKU, Location: l.Location}] = allocation.Level{
					OnHand: l.OnHand, Committed: l.Committed, Reserved: l.Reserved, SafetyStock: l.SafetyStock,
					Backordered: l.Backordered,
				}
			}
			// What other orders have outstanding on backorder, per SKU,
			// from the rows locked for this decision (backorder.max_depth
			// caps it, DOMAIN.md §2.9 #5).
			backordered := allocation.OutstandingBackorders(stock, rules)
			res, err := allocation.Allocate(order, skus, stock, orStockLocations(locs, snap), rules, backordered)
			if err != nil {
				return component.Outcome{}, fmt.Errorf("order %s: %w", order.ID, err)
			}
			res.Explanation.RulesVersion = rs.version
			explainSources(&res)
			out, err := outcomeOf(res, raw)
			if err != nil {
				return out, err
			}
			reqs, err := s.replenishments(ctx, order.ID, allocation.RecordOrder(order.Scope, order.Ref), rules, stock, res.Adjustments)
			if err != nil {
				return out, err
			}
			for _, rq := range reqs {
				data, err := json.Marshal(replenishmentOut{rq.SKU, rq.LocationID, qty(rq.Qty), qty(rq.Available), qty(rq.ReorderPoint), qty(rq.TargetLevel), rq.OrderID, rq.IdempotencyKey})
				if err != nil {
					return out, err
				}
				out.Records = append(out.Records, component.OutputRecord{Output: "replenishment", Data: data})
			}
			return out, nil
		},
	}, nil
}

// replenishments returns the requests an order's adjustments raise: one
// for each stock row the order takes from at or above its reorder point
// to below it, unless a request is open for the row already. Deciding on
// the crossing, from the stock the transaction read, keeps it to one
// request per row however many orders take from it, also within a group
// committed together, and makes a replay raise the same ones.
func (s *allocateStep) replenishments(ctx context.Context, orderID, recKey string, rules allocation.Rules, stock allocation.Stock, adjs []allocation.Adjustment) ([]allocation.Replenishment, error) {
	if !s.replenish.Default.Target.IsPositive() && len(s.replenish.BySKU) == 0 {
		return nil, nil
	}
	taken := map[allocation.Key]decimal.Decimal{}
	var rows []allocation.Key
	for _, a := range adjs {
		if a.Bucket != allocation.Committed {
			continue
		}
		k := allocation.Key{SKU: a.SKU, Location: a.LocationID}
		if _, ok := taken[k]; !ok {
			rows = append(rows, k)
		}
		taken[k] = taken[k].Add(a.Delta)
	}
	var out []allocation.Replenishment
	for _, k := range rows {
		lvl := s.replenish.For(k.SKU)
		if !lvl.Target.IsPositive() {
			continue
		}
		before := allocation.Available(stock[k], rules, k.SKU, k.Location)
		after := before.Sub(taken[k])
		if before.LessThan(lvl.Point) || !after.LessThan(lvl.Point) {
			continue
		}
		open, err := s.requests.isOpen(ctx, requestKey(k.SKU, k.Location))
		if err != nil {
			return nil, err
		}
		if open {
			continue
		}
		out = append(out, allocation.Replenishment{
			SKU: k.SKU, LocationID: k.Location, Qty: lvl.Target.Sub(after), Available: after,
			ReorderPoint: lvl.Point, TargetLevel: lvl.Target, OrderID: orderID,
			IdempotencyKey: allocation.RecordKey(recKey, "replenishment", "allocate", strings.ToLower(strings.TrimSpace(k.SKU)), k.Location),
		})
	}
	return out, nil
}

// explainSources records in each line's decision the locations its
// allocations took stock from.
func explainSources(res *allocation.Result) {
	lines := res.Explanation.Lines
	for _, a := range res.Allocations {
		for i := range lines {
			l := &lines[i]
			if l.LineID == a.LineID && l.ParentLineID == a.ParentLineID && l.SKU == a.SKU {
				l.From = append(l.From, allocation.LineSource{LocationID: a.LocationID, Qty: a.Qty})
				break
			}
		}
	}
}

// orderKey is the order's key within its scope: the `key` expression's
// text, else the order id.
func (w *allocateWorker) orderKey(env map[string]any, id string) (string, error) {
	s := w.step
	if s.key == nil {
		return id, nil
	}
	v, err := s.key.Run(&w.vm, env)
	if err != nil {
		return "", fmt.Errorf("key: %w", err)
	}
	k := scalarString(v)
	if strings.TrimSpace(k) == "" || k == "<nil>" {
		return "", fmt.Errorf("order %s: key %q gave no key", id, s.key.Source())
	}
	return k, nil
}

// order evaluates the order's expressions.
func (w *allocateWorker) order(env map[string]any) (allocation.Order, error) {
	s := w.step
	var o allocation.Order
	v, err := s.orderID.Run(&w.vm, env)
	if err != nil {
		return o, fmt.Errorf("order_id: %w", err)
	}
	if o.ID = scalarString(v); o.ID == "" {
		return o, fmt.Errorf("order_id %q gave no id", s.orderID.Source())
	}
	if v, err = s.lines.Run(&w.vm, env); err != nil {
		return o, fmt.Errorf("lines: %w", err)
	}
	if o.Lines, err = orderLines(v); err != nil {
		return o, err
	}
	o.Date = s.clock.Now()
	if s.date != nil {
		if v, err = s.date.Run(&w.vm, env); err != nil {
			return o, fmt.Errorf("date: %w", err)
		}
		switch d := v.(type) {
		case nil:
		case time.Time:
			o.Date = d
		case string:
			if o.Date, err = time.Parse(time.RFC3339Nano, d); err != nil {
				return o, fmt.Errorf("date %q: want RFC 3339 text", d)
			}
		default:
			return o, fmt.Errorf("date gave %T, want a time or RFC 3339 text", v)
		}
	}
	if s.dest != nil {
		if v, err = s.dest.Run(&w.vm, env); err != nil {
			return o, fmt.Errorf("destination: %w", err)
		}
		o.Destination = address(v)
	}
	return o, nil
}

// orderLines reads the lines: objects with sku and quantity, and
// optionally id (or line_id), parent_line_id, variant_id and virtual. A
// line without an id is numbered by its position, from 1.
func orderLines(v any) ([]allocation.Line, error) {
	list, ok := v.([]any)
	if !ok {
		if v == nil {
			return nil, errors.New("lines is null")
		}
		return nil, fmt.Errorf("lines gave %T, want an array of objects", v)
	}
	out := make([]allocation.Line, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("lines[%d] is %T, want an object with sku and quantity", i, e)
		}
		l := allocation.Line{ID: scalarString(m["id"])}
		if l.ID == "" {
			l.ID = scalarString(m["line_id"])
		}
		if l.ID == "" {
			l.ID = strconv.Itoa(i + 1)
		}
		l.SKU = strings.TrimSpace(scalarString(m["sku"]))
		l.VariantID = scalarString(m["variant_id"])
		l.ParentLineID = scalarString(m["parent_line_id"])
		l.Virtual, _ = m["virtual"].(bool)
		q, err := quantity(m["quantity"])
		if err != nil {
			return nil, fmt.Errorf("lines[%d].quantity: %w", i, err)
		}
		l.Qty = q
		out = append(out, l)
	}
	return out, nil
}

func quantity(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case int:
		return decimal.NewFromInt(int64(x)), nil
	case int64:
		return decimal.NewFromInt(x), nil
	case float64:
		return decimal.NewFromFloat(x), nil
	case decimal.Decimal:
		return x, nil
	case json.Number:
		return decimal.NewFromString(string(x))
	case string:
		return decimal.NewFromString(x)
	case nil:
		return decimal.Decimal{}, errors.New("missing")
	}
	return decimal.Decimal{}, fmt.Errorf("%T is not a number", v)
}

// scalarString is the text of an id: strings as they are, integers in
// full, null as "".
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case decimal.Decimal:
		return x.String()
	}
	return fmt.Sprint(v)
}

// address reads a destination: country (or country_code), market, and
// latitude/longitude (or lat/lng). Anything else is an unknown destination.
func address(v any) *allocation.Address {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	a := &allocation.Address{Country: scalarString(m["country"]), Market: scalarString(m["market"])}
	if a.Country == "" {
		a.Country = scalarString(m["country_code"])
	}
	lat, okLat := number(m["latitude"], m["lat"])
	lng, okLng := number(m["longitude"], m["lng"])
	if okLat && okLng {
		a.Coords = &allocation.LatLng{Lat: lat, Lng: lng}
	}
	return a
}

func number(vs ...any) (float64, bool) {
	for _, v := range vs {
		switch x := v.(type) {
		case int:
			return float64(x), true
		case float64:
			return x, true
		case decimal.Decimal:
			return x.InexactFloat64(), true
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// catalog reads the settings of the order's SKUs and of their kits'
// components, and lists the SKUs whose rows Apply must lock. Settings are
// read outside the transaction, once per run (skuSettings).
func (s *allocateStep) catalog(ctx context.Context, o allocation.Order) (map[string]allocation.SKU, []string, error) {
	var names []string
	for _, l := range o.Lines {
		if l.SKU != "" && !slices.Contains(names, l.SKU) {
			names = append(names, l.SKU)
		}
	}
	settings, err := s.skuSettings(ctx, names)
	if err != nil {
		return nil, nil, fmt.Errorf("reading SKU settings: %w", err)
	}
	var parts []string
	for _, c := range settings {
		for _, p := range c.Components {
			if _, ok := settings[p.SKU]; !ok && !slices.Contains(parts, p.SKU) {
				parts = append(parts, p.SKU)
			}
		}
	}
	if len(parts) > 0 {
		more, err := s.skuSettings(ctx, parts)
		if err != nil {
			return nil, nil, fmt.Errorf("reading SKU settings: %w", err)
		}
		for k, v := range more {
			settings[k] = v
		}
	}
	skus := make(map[string]allocation.SKU, len(settings))
	lock := slices.Clone(names)
	for k, c := range settings {
		as := allocation.SKU{Tracked: c.Tracked, QtyDecimal: c.QtyDecimal}
		for _, p := range c.Components {
			as.Components = append(as.Components, allocation.Component{SKU: p.SKU, Quantity: p.Quantity})
		}
		skus[k] = as
	}
	for _, p := range parts {
		if !slices.Contains(lock, p) {
			lock = append(lock, p)
		}
	}
	slices.Sort(lock)
	return skus, lock, nil
}

// Redecide decides a recorded order again under the rules this step was
// built with, against the stock its explanation recorded, without a store
// transaction: nothing is written. An explanation without its order (made
// before orders were recorded) cannot be decided again.
func (s *allocateStep) Redecide(ctx context.Context, explanation []byte) (component.Outcome, error) {
	var x allocation.Explanation
	if err := json.Unmarshal(explanation, &x); err != nil {
		return component.Outcome{}, fmt.Errorf("the recorded explanation: %w", err)
	}
	if len(x.Order) == 0 || string(x.Order) == "null" {
		return component.Outcome{}, errors.New("the decision was recorded without its order")
	}
	w := &allocateWorker{step: s}
	p, err := w.prepare(ctx, record.New(x.Order, nil))
	if err != nil {
		return component.Outcome{}, err
	}
	snap := component.Snapshot{Now: s.clock.Now()}
	for _, r := range x.Snapshot {
		l := component.Level{SKU: r.SKU, Location: r.LocationID, OnHand: r.OnHand, Committed: r.Committed, Reserved: r.Reserved,
			Backordered: r.Backordered, Exists: r.Exists}
		if r.SafetyStockFrom == allocation.SafetyFromRow {
			l.SafetyStock = r.SafetyStock // the row's own; the rules' are computed again
		}
		snap.Levels = append(snap.Levels, l)
	}
	return p.decide(snap)
}
