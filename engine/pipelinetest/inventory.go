package pipelinetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// inventory is a test's stock: the locations, levels and SKU settings a
// fresh store is seeded with before the test runs.
//
//	inventory:
//	  locations:
//	    - {id: wh-east, priority: 1, market: US, coords: {lat: 40.7, lng: -74.0}}
//	  levels:
//	    SKU-1: {wh-east: 5, wh-west: {on_hand: 3, safety_stock: 1}}
//	  skus:
//	    - {sku: GIFT-CARD, tracked: false}
//	    - {sku: KIT, components: [{sku: SKU-1, qty: 2}]}
//	  committed:
//	    - {order_id: "1001", line_id: "1", sku: SKU-1, location: wh-east, qty: 2}
//	    - {order_id: "1001", line_id: "2", sku: SKU-2, location: wh-east, qty: 1, backorder: true}
//
// `committed` seeds stock an earlier `allocate` committed to an order, as
// allocate would have: after the levels, one Apply per entry moves qty into
// committed with the ledger ref "<order_id>/<line_id>" (reason allocate, or
// backorder, which may take available below zero), so `stock` steps find
// the order's allocations in the ledger. Entries apply in file order, which
// is the allocation order a partial cancel reverses.
type inventory struct {
	locations []component.Location
	levels    []component.LevelUpdate
	skus      []component.SKU
	committed []committedSeed
}

// committedSeed is one entry of `inventory.committed`.
type committedSeed struct {
	OrderID   string          `json:"order_id"`
	LineID    string          `json:"line_id"`
	SKU       string          `json:"sku"`
	Location  string          `json:"location"`
	Qty       decimal.Decimal `json:"qty"`
	Backorder bool            `json:"backorder"`
}

var inventoryKeys = []string{"locations", "levels", "skus", "committed"}

// inventory decodes an `inventory:` section. Locations and SKU settings
// take the store's field names (component.Location, component.SKU); SKUs
// are tracked unless they say otherwise.
func (l *loader) inventory(v *yaml.Node) *inventory {
	inv := &inventory{}
	if !l.mapping(v, "`inventory`") {
		return inv
	}
	l.pairs(v, func(k, val *yaml.Node) {
		switch k.Value {
		case "locations":
			for _, n := range l.list(val, "`inventory.locations`") {
				var loc component.Location
				if l.decodeStrict(n, "a location", &loc) {
					if loc.ID == "" {
						l.errorf(n, CodeMissing, "a location needs an `id`")
						continue
					}
					inv.locations = append(inv.locations, loc)
				}
			}
		case "skus":
			for _, n := range l.list(val, "`inventory.skus`") {
				s := component.SKU{Tracked: true}
				if l.decodeStrict(n, "SKU settings", &s) {
					if s.SKU == "" {
						l.errorf(n, CodeMissing, "SKU settings need a `sku`")
						continue
					}
					inv.skus = append(inv.skus, s)
				}
			}
		case "committed":
			for _, n := range l.list(val, "`inventory.committed`") {
				var c committedSeed
				if l.decodeStrict(n, "a committed entry", &c) {
					if c.OrderID == "" || c.LineID == "" || c.SKU == "" || c.Location == "" || !c.Qty.IsPositive() {
						l.errorf(n, CodeMissing, "a committed entry needs an `order_id`, a `line_id`, a `sku`, a `location` and a positive `qty`")
						continue
					}
					inv.committed = append(inv.committed, c)
				}
			}
		case "levels":
			if !l.mapping(val, "`inventory.levels`") {
				return
			}
			l.pairs(val, func(sku, locs *yaml.Node) {
				if !l.mapping(locs, "the levels of "+sku.Value) {
					return
				}
				l.pairs(locs, func(loc, q *yaml.Node) {
					inv.levels = append(inv.levels, l.levels(sku.Value, loc.Value, q)...)
				})
			})
		default:
			l.unknownKey(k, "`inventory`", inventoryKeys)
		}
	})
	return inv
}

// levels reads one stock row: a number (on hand) or {on_hand, safety_stock}.
func (l *loader) levels(sku, loc string, q *yaml.Node) []component.LevelUpdate {
	row := func(b component.Bucket, n *yaml.Node) (component.LevelUpdate, bool) {
		d, err := decimal.NewFromString(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			l.errorf(n, CodeWrongType, "the stock of %s at %s must be a number, not %s", sku, loc, kindName(n))
			return component.LevelUpdate{}, false
		}
		return component.LevelUpdate{SKU: sku, Location: loc, Bucket: b, Quantity: d, Reason: "test"}, true
	}
	if q.Kind == yaml.ScalarNode {
		if u, ok := row(component.OnHand, q); ok {
			return []component.LevelUpdate{u}
		}
		return nil
	}
	var out []component.LevelUpdate
	if !l.mapping(q, "the stock of "+sku+" at "+loc) {
		return nil
	}
	l.pairs(q, func(k, v *yaml.Node) {
		switch k.Value {
		case "on_hand", "safety_stock":
			if u, ok := row(component.Bucket(k.Value), v); ok {
				out = append(out, u)
			}
		default:
			l.unknownKey(k, "a stock row", []string{"on_hand", "safety_stock"})
		}
	})
	return out
}

func (l *loader) list(v *yaml.Node, what string) []*yaml.Node {
	if v.Kind != yaml.SequenceNode {
		l.errorf(v, CodeWrongType, "%s must be a list, not %s", what, kindName(v))
		return nil
	}
	return v.Content
}

// decodeStrict decodes a mapping through JSON into out, refusing keys out
// does not have.
func (l *loader) decodeStrict(n *yaml.Node, what string, out any) bool {
	if !l.mapping(n, what) {
		return false
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		l.errorf(n, CodeBadValue, "%s: %v", what, err)
		return false
	}
	b, err := json.Marshal(m)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(out)
	}
	if err != nil {
		l.errorf(n, CodeBadValue, "%s: %v", what, err)
		return false
	}
	return true
}

// needsInventory reports whether a test needs a store: it seeds one, or
// the pipeline has a node that uses one.
func needsInventory(plan *pipelines.Plan, inv *inventory) bool {
	return inv != nil || plan.UsesState()
}

// openInventory opens a fresh SQLite store in a temporary directory,
// seeded with inv, for one test case. close removes it.
func openInventory(ctx context.Context, inv *inventory, clock time.Time) (state.Store, func(), error) {
	dir, err := os.MkdirTemp("", "pipectl-test-state-")
	if err != nil {
		return nil, nil, err
	}
	st, err := state.Open(ctx, "sqlite://"+dir, state.Options{Clock: component.FixedClock(clock)})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("opening a test inventory: %w", err)
	}
	closeFn := func() { st.Close(); os.RemoveAll(dir) }
	if inv != nil {
		by := component.Change{Actor: "pipectl test", Reason: "test inventory"}
		err = func() error {
			for _, loc := range inv.locations {
				if err := st.SetLocation(ctx, loc, by); err != nil {
					return fmt.Errorf("location %s: %w", loc.ID, err)
				}
			}
			for _, s := range inv.skus {
				if err := st.SetSKU(ctx, s, by); err != nil {
					return fmt.Errorf("sku %s: %w", s.SKU, err)
				}
			}
			for _, u := range inv.levels {
				if _, err := st.SetLevel(ctx, u); err != nil {
					return fmt.Errorf("stock of %s at %s: %w", u.SKU, u.Location, err)
				}
			}
			for i, c := range inv.committed {
				reason := "allocate"
				if c.Backorder {
					reason = "backorder"
				}
				ref := c.OrderID + "/" + c.LineID
				req := component.ApplyRequest{
					IdempotencyKey: fmt.Sprintf("pipectl-test-committed:%d:%s@%s", i, ref, c.Location),
					Ref:            c.OrderID,
					SKUs:           []string{c.SKU},
				}
				_, _, err := st.Apply(ctx, req, func(component.Snapshot) (component.Outcome, error) {
					return component.Outcome{Adjustments: []component.Adjustment{{
						SKU: c.SKU, Location: c.Location, Bucket: component.Committed, Delta: c.Qty,
						AllowNegative: c.Backorder, Backorder: c.Backorder, Reason: reason, Ref: ref,
					}}}, nil
				})
				if err != nil {
					return fmt.Errorf("committed %s of %s at %s to %s: %w", c.Qty, c.SKU, c.Location, ref, err)
				}
			}
			return nil
		}()
		if err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("seeding the test inventory: %w", err)
		}
	}
	return st, closeFn, nil
}
