package connectors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

var inventorySinkSpec = &component.Spec{
	Kind:    "inventory",
	Section: component.SinkSection,
	Summary: "Sets or adjusts stock levels from a feed: Shopify inventory levels, a WMS snapshot, a recount.",
	Description: "Each record changes one stock row, (`sku`, `location`), of the run's inventory store. " +
		"`mode: set` makes the row's `bucket` equal to `quantity` (a snapshot: Shopify inventory_levels, a WMS " +
		"CSV export); `mode: adjust` adds `quantity`, which may be negative, to it (a movement: a receipt, a " +
		"recount difference).\n\n" +
		"Every update is idempotent by `idempotency_key`, which the pipeline and source names scope, so two pipelines " +
		"sharing a store never take each other's keys: an update whose key was applied before changes nothing, " +
		"so replaying a feed, or a webhook delivered twice, counts once, and one whose key was applied to another SKU, " +
		"location, bucket or quantity is refused to the error output rather than skipped. A key applied by a pipectl " +
		"that did not scope keys is still found. Adjustments need a key; a set without " +
		"one is applied every time it arrives, which is harmless for the same snapshot but lets an old snapshot " +
		"replayed late overwrite a newer one, so give snapshots a key that names them (their time, their file).\n\n" +
		"Quantities keep at most 4 decimal places, and a fraction is refused for a SKU not counted in decimal " +
		"quantities; such records, and records whose SKU or location is empty, go to the sink's `error` output. " +
		"Every change is written to the inventory ledger with the key and `reason`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Inventory feed settings.",
		Fields: []*component.Field{
			{Name: "mode", Kind: component.EnumField, Enum: []string{"set", "adjust"}, Default: "set",
				Doc: "`set` writes the quantity, `adjust` adds it."},
			{Name: "sku", Kind: component.ExprField, Required: true,
				Doc: "Expression giving the SKU: a string, or an integer id.", Examples: []any{"sku", "normalize_sku(sku)", "string(inventory_item_id)"}},
			{Name: "location", Kind: component.ExprField, Required: true,
				Doc: "Expression giving the location id: a string, or an integer id.", Examples: []any{"location_id", `"wh-east"`}},
			{Name: "quantity", Kind: component.ExprField, Required: true, Result: component.DecimalType,
				Doc: "Expression giving the quantity: an integer, decimal, or numeric string.", Examples: []any{"available", "on_hand", "decimal(qty)"}},
			{Name: "bucket", Kind: component.EnumField, Enum: []string{"on_hand", "safety_stock"}, Default: "on_hand",
				Doc: "The quantity of the row the feed sets: physical units on hand, or the safety stock never allocated."},
			{Name: "idempotency_key", Kind: component.ExprField,
				Doc:      "Expression naming the update, so a replay changes nothing. Required with `mode: adjust`.",
				Examples: []any{`"shopify-level-" + string(inventory_item_id) + "-" + string(location_id) + "-" + updated_at`}},
			{Name: "reason", Kind: component.StringField,
				Doc: "Why the stock changed, as the ledger records it; `set` or `adjust` when absent.", Examples: []any{"wms-snapshot", "receipt"}},
		}},
	Validate:  validateInventorySink,
	NewSink:   newInventorySink,
	UsesState: component.Always,
	Examples: []component.Example{{
		Title: "Shopify inventory levels into the store",
		YAML: `sinks:
  stock:
    from: levels
    inventory:
      sku: string(inventory_item_id)
      location: string(location_id)
      quantity: available
      idempotency_key: '"shopify-" + string(inventory_item_id) + "-" + string(location_id) + "-" + updated_at'`,
	}, {
		Title: "Receipts from a WMS export",
		YAML: `sinks:
  receipts:
    from: wms_receipts
    inventory:
      mode: adjust
      sku: normalize_sku(sku)
      location: '"wh-east"'
      quantity: received
      idempotency_key: '"receipt-" + receipt_id + "-" + line'
      reason: receipt`,
	}},
}

func validateInventorySink(cfg *component.Value, report component.Reporter) {
	mode := cfg.Get("mode")
	if mode == nil || mode.Str != "adjust" {
		return
	}
	if k := cfg.Get("idempotency_key"); k == nil || k.Str == "" {
		report.Errorf(mode, "missing-field", "mode adjust needs `idempotency_key`: without it a replayed feed would count twice")
	}
}

// inventorySink writes each record's update to the run's store. Write runs
// on the caller's goroutine with the sink's VM; Describe, for dry runs, has
// its own.
type inventorySink struct {
	name     string
	pipeline string
	store    component.Inventory
	// discrepancy is Runtime.Discrepancy, for a sink that sets on-hand.
	discrepancy func(sink string, d component.Discrepancy)
	set         bool
	bucket      component.Bucket
	reason      string
	sku, loc    *exprs.Program
	qty, key    *exprs.Program
	decode      *record.Projection

	vm  vm.VM
	dmu sync.Mutex
	dvm vm.VM
}

func newInventorySink(ctx component.BuildContext) (component.Sink, error) {
	cfg := ctx.Config
	s := &inventorySink{
		name:     ctx.Name,
		pipeline: ctx.Pipeline,
		set:      str(cfg, "mode", "set") == "set",
		bucket:   component.Bucket(str(cfg, "bucket", "on_hand")),
		reason:   str(cfg, "reason", ""),
		decode:   ctx.Decode,
	}
	if !s.set {
		if v := cfg.Get("idempotency_key"); v == nil || v.Str == "" {
			return nil, errors.New("mode adjust needs idempotency_key")
		}
	}
	for _, f := range []struct {
		p    **exprs.Program
		name string
	}{{&s.sku, "sku"}, {&s.loc, "location"}, {&s.qty, "quantity"}, {&s.key, "idempotency_key"}} {
		v := cfg.Get(f.name)
		if v == nil || v.Str == "" {
			continue
		}
		p, err := compiled(v, f.name)
		if err != nil {
			return nil, err
		}
		*f.p = p
	}
	if s.sku == nil || s.loc == nil || s.qty == nil {
		return nil, errors.New("sku, location and quantity are required")
	}
	if ctx.Runtime != nil {
		s.store = ctx.Runtime.Inventory
		s.discrepancy = ctx.Runtime.Discrepancy
	}
	// A dry run describes updates and needs no store.
	if s.store == nil && (ctx.Runtime == nil || !ctx.Runtime.DryRun) {
		return nil, errors.New("the run has no inventory store to write to")
	}
	return s, nil
}

// update evaluates a record's expressions.
func (s *inventorySink) update(rec *record.Record, machine *vm.VM) (component.LevelUpdate, error) {
	env := rec.Fields(s.decode)
	u := component.LevelUpdate{Bucket: s.bucket, Reason: s.reason}
	var err error
	if u.SKU, err = s.text(s.sku, "sku", env, machine); err != nil {
		return u, err
	}
	if u.Location, err = s.text(s.loc, "location", env, machine); err != nil {
		return u, err
	}
	v, err := s.qty.Run(machine, env)
	if err != nil {
		return u, fmt.Errorf("quantity: %w", err)
	}
	if u.Quantity, err = quantity(v); err != nil {
		return u, fmt.Errorf("quantity: %w", err)
	}
	if s.key != nil {
		if u.LegacyKey, err = s.text(s.key, "idempotency_key", env, machine); err != nil {
			return u, err
		}
		u.Key = s.scope(rec) + ":" + u.LegacyKey
	}
	return u, nil
}

// scope is what the keys of rec's updates are scoped by: the pipeline and
// the source the record came from. The key as the expression gives it is
// the legacy key an older pipectl used.
func (s *inventorySink) scope(rec *record.Record) string {
	source := ""
	if rec.Origin != nil {
		source = rec.Origin.Source
	}
	return s.pipeline + "/" + source
}

// text evaluates an expression that names something: a non-empty string,
// or an integer id written in decimal.
func (s *inventorySink) text(p *exprs.Program, what string, env map[string]any, machine *vm.VM) (string, error) {
	v, err := p.Run(machine, env)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	var t string
	switch x := v.(type) {
	case string:
		t = x
	case int:
		t = strconv.Itoa(x)
	case int64:
		t = strconv.FormatInt(x, 10)
	case uint64:
		t = strconv.FormatUint(x, 10)
	case float64:
		if x != math.Trunc(x) || math.Abs(x) >= 1<<53 {
			return "", fmt.Errorf("%s gave %v, not a string or an integer", what, x)
		}
		t = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return "", fmt.Errorf("%s gave %s, not a string", what, typeName(v))
	}
	if strings.TrimSpace(t) == "" {
		return "", fmt.Errorf("%s is empty", what)
	}
	return t, nil
}

// quantity converts what a quantity expression gave to a decimal: numbers
// as they print (1.5 stays 1.5), numeric strings as written.
func quantity(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, nil
	case int:
		return decimal.NewFromInt(int64(x)), nil
	case int64:
		return decimal.NewFromInt(x), nil
	case uint64:
		return decimal.NewFromUint64(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return decimal.Decimal{}, fmt.Errorf("%v is not a quantity", x)
		}
		return decimal.NewFromFloat(x), nil
	case string:
		d, err := decimal.NewFromString(strings.TrimSpace(x))
		if err != nil {
			return decimal.Decimal{}, fmt.Errorf("%q is not a number", x)
		}
		return d, nil
	}
	return decimal.Decimal{}, fmt.Errorf("gave %s, not a number", typeName(v))
}

func (s *inventorySink) Write(ctx context.Context, rec *record.Record) error {
	u, err := s.update(rec, &s.vm)
	if err != nil {
		return err
	}
	if s.store == nil {
		return errors.New("the run has no inventory store to write to")
	}
	if s.set {
		if s.discrepancy != nil && (u.Bucket == "" || u.Bucket == component.OnHand) {
			sku, loc := u.SKU, u.Location
			u.Applied = func(before, after decimal.Decimal, existed bool) {
				if existed && !before.Equal(after) {
					s.discrepancy(s.name, component.Discrepancy{SKU: sku, Location: loc, Held: before, Counted: after})
				}
			}
		}
		_, err = s.store.SetLevel(ctx, u)
	} else {
		_, err = s.store.AdjustLevel(ctx, u)
	}
	return err
}

// InventoryUpdate is what an inventory sink would do with a record:
// Describe's answer, printed by dry runs.
type InventoryUpdate struct {
	Mode           string `json:"mode"`
	SKU            string `json:"sku"`
	Location       string `json:"location"`
	Bucket         string `json:"bucket"`
	Quantity       string `json:"quantity"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

func (s *inventorySink) Describe(rec *record.Record) (any, error) {
	s.dmu.Lock()
	u, err := s.update(rec, &s.dvm)
	s.dmu.Unlock()
	if err != nil {
		return nil, err
	}
	mode := "adjust"
	if s.set {
		mode = "set"
	}
	return &InventoryUpdate{Mode: mode, SKU: u.SKU, Location: u.Location, Bucket: string(u.Bucket), Quantity: u.Quantity.String(), IdempotencyKey: u.Key}, nil
}

// Flush has nothing to wait for: each Write commits its update.
func (s *inventorySink) Flush(context.Context) error { return nil }

// Close leaves the store open: the run that opened it closes it. Updates
// are committed one by one as they are written, each idempotent, so a run
// that does not commit has nothing to undo: running it again applies each
// keyed update once.
func (s *inventorySink) Close(context.Context, bool) error { return nil }
