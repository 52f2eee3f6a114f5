package allocation_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms"
	"github.com/pipectl/pipectl/transforms/allocation"
)

// TestRulesMirrorTheFulfillmentKind walks the `fulfillment` rule kind's
// spec: every setting has a Rules field with its name (json tag), every
// Rules field is a setting, and DefaultRules holds the spec's defaults.
func TestRulesMirrorTheFulfillmentKind(t *testing.T) {
	reg := component.NewRegistry()
	transforms.Register(reg)
	spec, ok := reg.Lookup(component.RuleSection, "fulfillment")
	if !ok {
		t.Fatal("no fulfillment rule kind registered")
	}
	raw, err := json.Marshal(allocation.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	var defaults map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &defaults); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, section := range spec.Config.Fields {
		got, ok := defaults[section.Name]
		if !ok {
			t.Errorf("setting section %q has no Rules field", section.Name)
			continue
		}
		for _, f := range section.Fields {
			name := section.Name + "." + f.Name
			seen[name] = true
			v, ok := got[f.Name]
			if !ok {
				t.Errorf("setting %s has no Rules field", name)
				continue
			}
			if err := sameDefault(f.Default, v); err != nil {
				t.Errorf("setting %s: %v", name, err)
			}
		}
	}
	for section, fields := range defaults {
		for f := range fields {
			if !seen[section+"."+f] {
				t.Errorf("Rules field %s.%s is not a setting of the fulfillment kind", section, f)
			}
		}
	}
	// The enums accept exactly the spec's values.
	for _, section := range spec.Config.Fields {
		for _, f := range section.Fields {
			for _, v := range f.Enum {
				r := allocation.DefaultRules()
				setEnum(t, &r, section.Name+"."+f.Name, v)
				if err := r.Validate(); err != nil {
					t.Errorf("%s.%s: %q: %v", section.Name, f.Name, v, err)
				}
			}
		}
	}
}

// sameDefault compares a spec default with the JSON of the Rules field.
func sameDefault(want any, got json.RawMessage) error {
	switch w := want.(type) {
	case nil:
		var v any
		_ = json.Unmarshal(got, &v)
		switch v := v.(type) {
		case nil:
			return nil
		case []any:
			if len(v) == 0 {
				return nil
			}
		case map[string]any:
			if len(v) == 0 {
				return nil
			}
		}
		return fmt.Errorf("no default in the spec, DefaultRules has %s", got)
	case float64, int:
		d, err := decimal.NewFromString(strings.Trim(string(got), `"`))
		if err != nil || !d.Equal(decimal.RequireFromString(fmt.Sprint(w))) {
			return fmt.Errorf("default %v, DefaultRules has %s", w, got)
		}
	case []string:
		var v []string
		if err := json.Unmarshal(got, &v); err != nil || !slices.Equal(v, w) {
			return fmt.Errorf("default %v, DefaultRules has %s", w, got)
		}
	case bool, string:
		var v any
		_ = json.Unmarshal(got, &v)
		if v != w {
			return fmt.Errorf("default %v, DefaultRules has %s", w, got)
		}
	default:
		return fmt.Errorf("default %v of type %T not compared", w, w)
	}
	return nil
}

func setEnum(t *testing.T, r *allocation.Rules, name, v string) {
	switch name {
	case "allocation.strategy":
		r.Allocation.Strategy = allocation.Strategy(v)
	case "split.mode":
		r.Split.Mode = allocation.SplitMode(v)
	case "backorder.policy":
		r.Backorder.Policy = allocation.BackorderPolicy(v)
	case "backorder.remainder_action":
		r.Backorder.RemainderAction = allocation.RemainderAction(v)
	case "backorder.backorder_location":
		r.Backorder.BackorderLocation = allocation.BackorderLocation(v)
	default:
		t.Errorf("enum setting %s is not known to this test", name)
	}
}

func TestRulesValidate(t *testing.T) {
	neg := q("-1")
	tests := []struct {
		name string
		edit func(*allocation.Rules)
		want string // substring of the error; "" for valid
	}{
		{"defaults", nil, ""},
		{"strategy", func(r *allocation.Rules) { r.Allocation.Strategy = "nearest" }, "allocation.strategy"},
		{"mode", func(r *allocation.Rules) { r.Split.Mode = "" }, "split.mode"},
		{"policy", func(r *allocation.Rules) { r.Backorder.Policy = "yes" }, "backorder.policy"},
		{"remainder", func(r *allocation.Rules) { r.Backorder.RemainderAction = "ask" }, "backorder.remainder_action"},
		{"backorder location", func(r *allocation.Rules) { r.Backorder.BackorderLocation = "any" }, "backorder.backorder_location"},
		{"max shipments", func(r *allocation.Rules) { r.Split.MaxShipments = -1 }, "split.max_shipments"},
		{"combo cap", func(r *allocation.Rules) { r.Split.ComboSearchCap = 0 }, "split.combo_search_cap"},
		{"promise days", func(r *allocation.Rules) { r.Backorder.PromiseDaysDefault = -1 }, "promise_days_default"},
		{"safety stock", func(r *allocation.Rules) { r.Inventory.SafetyStock = q("-1") }, "inventory.safety_stock"},
		{"safety stock scale", func(r *allocation.Rules) { r.Inventory.SafetyStock = q("0.00001") }, "decimal places"},
		{"safety stock by sku", func(r *allocation.Rules) {
			r.Inventory.SafetyStockBySKU = map[string]decimal.Decimal{"S": q("-2")}
		}, `safety_stock_by_sku["S"]`},
		{"max depth", func(r *allocation.Rules) { r.Backorder.MaxDepth = &neg }, "backorder.max_depth"},
		{"thresholds", func(r *allocation.Rules) { r.Notifications.LowStockThreshold = q("-1") }, "low_stock_threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := rules(tt.edit).Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error naming %s", err, tt.want)
			}
			if tt.want != "" {
				if _, err := allocation.Allocate(order("o", "1:S:1"), tracked("S"), nil, locations("L"), rules(tt.edit), nil); err == nil {
					t.Error("Allocate accepted invalid rules")
				}
			}
		})
	}
}

func TestAllocateRejectsMalformedInput(t *testing.T) {
	tests := []struct {
		name string
		o    allocation.Order
		skus map[string]allocation.SKU
		locs []allocation.Location
	}{
		{"empty order id", order("", "1:S:1"), tracked("S"), locations("L")},
		{"no order date", allocation.Order{ID: "o", Lines: []allocation.Line{{ID: "1", SKU: "S", Qty: q("1")}}}, tracked("S"), locations("L")},
		{"empty line id", order("o", ":S:1"), tracked("S"), locations("L")},
		{"duplicate line id", order("o", "1:S:1", "1:S:2"), tracked("S"), locations("L")},
		{"duplicate location", order("o", "1:S:1"), tracked("S"), locations("L", "L")},
		{"empty location id", order("o", "1:S:1"), tracked("S"), locations("")},
		{"catalog SKUs equal but for case", order("o", "1:S:1"), tracked("S", "s"), locations("L")},
		{"kit component quantity", order("o", "1:K:1"), map[string]allocation.SKU{
			"K": {Components: []allocation.Component{{SKU: "S", Quantity: q("0")}}}, "S": {Tracked: true},
		}, locations("L")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := allocation.Allocate(tt.o, tt.skus, nil, tt.locs, rules(nil), nil); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestRecordKeyIsPinned pins the key derivation: keys the sinks stored
// must not change when the code does. The values were recomputed outside
// Go (Python hashlib: SHA-256 over 8-byte big-endian length-prefixed
// parts).
func TestRecordKeyIsPinned(t *testing.T) {
	tests := []struct{ got, want string }{
		{allocation.RecordKey("1001", "allocation", "L1", "wh-east"), "e5c6431e404b6cf60292d79c1e37508c"},
		{allocation.ShipmentID("1001", "wh-east", 1), "shp_6f3951fb2e1f5e60d27cd166"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	// Parts are length-prefixed: moving a separator changes the key.
	if allocation.RecordKey("o", "k", "a", "bc") == allocation.RecordKey("o", "k", "ab", "c") {
		t.Error(`("a","bc") and ("ab","c") collide`)
	}
}

// TestDeterministicWhateverTheInputOrder: the locations slice order and
// map iteration order do not change the result.
func TestDeterministicWhateverTheInputOrder(t *testing.T) {
	locs := []allocation.Location{
		{ID: "c", Priority: 1}, {ID: "a", Priority: 1}, {ID: "b", Priority: 1}, {ID: "d", Priority: 0},
	}
	stock := allocation.Stock{}
	for _, l := range locs {
		stock[allocation.Key{SKU: "S", Location: l.ID}] = onHand("2")
		stock[allocation.Key{SKU: "T", Location: l.ID}] = onHand("1")
	}
	for _, s := range []allocation.Strategy{allocation.Priority, allocation.HighStock, allocation.Closest, allocation.FewestShipments} {
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = s })
		o := order("o", "1:S:5", "2:T:3")
		want := mustAllocate(t, o, tracked("S", "T"), stock, locs, r, nil)
		if got := shipmentLocations(want); !slices.Equal(got[:2], []string{"d", "a"}) {
			t.Errorf("%s: shipments %v, want d then a first (ties broken by priority, then id)", s, got)
		}
		for i := range 20 {
			shuffled := slices.Clone(locs)
			for j := range shuffled {
				k := (j*7 + i) % len(shuffled)
				shuffled[j], shuffled[k] = shuffled[k], shuffled[j]
			}
			got := mustAllocate(t, o, tracked("S", "T"), stock, shuffled, r, nil)
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Fatalf("%s: shuffled locations change the result (-want +got):\n%s", s, diff)
			}
		}
	}
}

func TestStrategies(t *testing.T) {
	t.Run("high_stock ranks once from the snapshot", func(t *testing.T) {
		// After line A takes 3 at L1 (5 → 2), L2 (4) holds more, but the
		// ranking is not recomputed: B still starts at L1 (Saleor).
		stock := allocation.Stock{{SKU: "X", Location: "L1"}: onHand("5"), {SKU: "X", Location: "L2"}: onHand("4")}
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.HighStock })
		res := mustAllocate(t, order("o", "A:X:3", "B:X:3"), tracked("X"), stock, locations("L2", "L1"), r, nil)
		e := exp{"o", allocation.HighStock}
		want := []allocation.Allocation{e.alloc("A", "X", "L1", "3", 1), e.alloc("B", "X", "L1", "2", 1), e.alloc("B", "X", "L2", "1", 2)}
		if diff := cmp.Diff(want, res.Allocations, opts); diff != "" {
			t.Errorf("allocations (-want +got):\n%s", diff)
		}
	})
	t.Run("high_stock ranks per SKU", func(t *testing.T) {
		stock := allocation.Stock{
			{SKU: "X", Location: "L1"}: onHand("9"), {SKU: "X", Location: "L2"}: onHand("1"),
			{SKU: "Y", Location: "L1"}: onHand("1"), {SKU: "Y", Location: "L2"}: onHand("9"),
		}
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.HighStock })
		res := mustAllocate(t, order("o", "1:X:1", "2:Y:1"), tracked("X", "Y"), stock, locations("L1", "L2"), r, nil)
		if res.Allocations[0].LocationID != "L1" || res.Allocations[1].LocationID != "L2" {
			t.Errorf("allocations %+v, want X from L1 and Y from L2", res.Allocations)
		}
	})
	t.Run("closest", func(t *testing.T) {
		locs := []allocation.Location{
			{ID: "nyc", Priority: 1, Coords: &allocation.LatLng{Lat: 40.71, Lng: -74.01}},
			{ID: "la", Priority: 2, Coords: &allocation.LatLng{Lat: 34.05, Lng: -118.24}},
		}
		stock := allocation.Stock{{SKU: "S", Location: "nyc"}: onHand("5"), {SKU: "S", Location: "la"}: onHand("5")}
		o := order("o", "1:S:2")
		o.Destination = &allocation.Address{Coords: &allocation.LatLng{Lat: 37.77, Lng: -122.42}} // San Francisco
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = allocation.Closest })
		res := mustAllocate(t, o, tracked("S"), stock, locs, r, nil)
		if got := shipmentLocations(res); !slices.Equal(got, []string{"la"}) {
			t.Errorf("shipments from %v, want [la]", got)
		}
	})
	t.Run("location_priority before Location.Priority, then id", func(t *testing.T) {
		locs := []allocation.Location{{ID: "a", Priority: 1}, {ID: "b", Priority: 2}, {ID: "c", Priority: 2}, {ID: "z", Priority: 0}}
		r := rules(func(r *allocation.Rules) { r.Allocation.LocationPriority = []string{"c", "missing"} })
		res := mustAllocate(t, order("o", "1:S:1"), tracked("S"), nil, locs, r, nil)
		if got := res.Explanation.Candidates; !slices.Equal(got, []string{"c", "z", "a", "b"}) {
			t.Errorf("candidates %v, want [c z a b]", got)
		}
	})
	t.Run("exclude_locations and same_market_only", func(t *testing.T) {
		locs := []allocation.Location{
			{ID: "us-1", Market: "US"}, {ID: "us-2", Market: "us"}, {ID: "ca-1", Market: "CA"}, {ID: "nowhere"},
			{ID: "ca-store", Market: "CA", Pickup: true},
		}
		r := rules(func(r *allocation.Rules) {
			r.Allocation.SameMarketOnly = true
			r.Allocation.ExcludeLocations = []string{"us-2"}
		})
		o := order("o", "1:S:1")
		o.Destination = &allocation.Address{Market: "us"}
		res := mustAllocate(t, o, tracked("S"), nil, locs, r, nil)
		want := []allocation.ExcludedLocation{
			{LocationID: "ca-1", Reason: "other_market"}, {LocationID: "ca-store", Reason: "other_market"},
			{LocationID: "nowhere", Reason: "other_market"}, {LocationID: "us-2", Reason: "exclude_locations"},
		}
		if diff := cmp.Diff(want, res.Explanation.Excluded); diff != "" {
			t.Errorf("excluded (-want +got):\n%s", diff)
		}
		// The pickup location is exempt from the market, not from exclusion.
		o.PickupLocation = "ca-store"
		res = mustAllocate(t, o, tracked("S"), nil, locs, r, nil)
		if got := res.Explanation.Candidates; !slices.Equal(got, []string{"ca-store", "us-1"}) {
			t.Errorf("candidates %v, want [ca-store us-1]", got)
		}
		r.Allocation.ExcludeLocations = []string{"ca-store"}
		res = mustAllocate(t, o, tracked("S"), nil, locs, r, nil)
		if got := res.Explanation.Candidates; !slices.Equal(got, []string{"us-1", "us-2"}) {
			t.Errorf("candidates %v, want [us-1 us-2]", got)
		}
		// No market: the destination's country stands in for it.
		o.Destination, o.PickupLocation = &allocation.Address{Country: "CA"}, ""
		res = mustAllocate(t, o, tracked("S"), nil, locs, rules(func(r *allocation.Rules) { r.Allocation.SameMarketOnly = true }), nil)
		if got := res.Explanation.Candidates; !slices.Equal(got, []string{"ca-1", "ca-store"}) {
			t.Errorf("candidates %v, want [ca-1 ca-store]", got)
		}
		// Neither: no market filter.
		o.Destination = nil
		res = mustAllocate(t, o, tracked("S"), nil, locs, rules(func(r *allocation.Rules) { r.Allocation.SameMarketOnly = true }), nil)
		if len(res.Explanation.Candidates) != 5 {
			t.Errorf("candidates %v, want all 5", res.Explanation.Candidates)
		}
	})
	t.Run("all_or_nothing_per_order", func(t *testing.T) {
		stock := allocation.Stock{{SKU: "A", Location: "L"}: onHand("5"), {SKU: "B", Location: "L"}: onHand("1")}
		o := order("o", "1:A:2", "2:B:3")
		r := rules(func(r *allocation.Rules) { r.Allocation.AllOrNothingPerOrder = true })
		res := mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), r, nil)
		e := exp{"o", allocation.Priority}
		checkRecords(t, res, records{
			Holds:  []allocation.Hold{e.hold(allocation.HoldInsufficientStock, false, hl("1", "A", "2"), hl("2", "B", "3"))},
			Errors: []allocation.LineError{e.insufficient("2", "B", "2", "1")},
			Notifications: []allocation.Notification{
				e.lineNote(allocation.NotifyInsufficientStock, "2", "B", "2"),
				e.holdNote(allocation.HoldInsufficientStock),
			},
		})
		// A backorderable shortfall triggers it too (§2.9 #7): nothing is
		// allocated, and every line's full quantity is backordered.
		r.Backorder.Policy = allocation.Allow
		res = mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), r, nil)
		checkRecords(t, res, records{
			Backorders:    []allocation.Backorder{e.backorder("1", "A", "L", "2", false), e.backorder("2", "B", "L", "3", false)},
			Adjustments:   []allocation.Adjustment{e.adj("1", "A", "L", "2", "backorder"), e.adj("2", "B", "L", "3", "backorder")},
			Notifications: []allocation.Notification{e.stockNote(allocation.NotifyOutOfStock, "B", "L", "-2")},
		})
		// ... and the deny path takes what max_depth does not cover. Line 2
		// alone would have been allocated 2 and backordered 1; the rule
		// spent the depth on line 1, so its cancellation is the rule's.
		two := q("2")
		r.Backorder.MaxDepth = &two
		r.Backorder.RemainderAction = allocation.RemainderCancel
		res = mustAllocate(t, order("o", "1:A:2", "2:A:3"), tracked("A"), allocation.Stock{{SKU: "A", Location: "L"}: onHand("4")}, locations("L"), r, nil)
		checkRecords(t, res, records{
			Backorders:    []allocation.Backorder{e.backorder("1", "A", "L", "2", false)},
			Cancellations: []allocation.Cancellation{e.cancel("2", "A", "3", "all_or_nothing_per_order")},
			Adjustments:   []allocation.Adjustment{e.adj("1", "A", "L", "2", "backorder")},
			Notifications: []allocation.Notification{e.stockNote(allocation.NotifyLowStock, "A", "L", "2")},
		})
		r.Backorder.MaxDepth = nil
		// A line in error triggers it as well.
		o.Lines = append(o.Lines, allocation.Line{ID: "3", SKU: "A", Qty: q("-1")})
		res = mustAllocate(t, o, tracked("A", "B"), stock, locations("L"), r, nil)
		if len(res.Allocations) != 0 || len(res.Backorders) != 2 {
			t.Errorf("got %+v, want nothing allocated, both lines backordered", recordsOf(res))
		}
	})
	t.Run("virtual lines are not allocated", func(t *testing.T) {
		o := order("o", "1:CARD:1")
		o.Lines[0].Virtual = true
		res := mustAllocate(t, o, tracked("CARD"), nil, locations("L"), rules(nil), nil)
		if len(recordsOf(res).Allocations)+len(res.Errors)+len(res.Holds) != 0 || res.Explanation.Lines[0].Rules[0] != "virtual" {
			t.Errorf("got %+v, want nothing for a virtual line", recordsOf(res))
		}
	})
}

// TestExplanation checks what `pipectl explain` is given.
func TestExplanation(t *testing.T) {
	stock := allocation.Stock{{SKU: "S", Location: "L1"}: {OnHand: q("3"), Committed: q("1"), Reserved: q("1")}}
	r := rules(func(r *allocation.Rules) { r.Backorder.Policy = allocation.Allow })
	res := mustAllocate(t, order("o", "1:S:4"), tracked("S"), stock, locations("L1", "L2"), r, nil)
	want := allocation.Explanation{
		Strategy:   allocation.Priority,
		Candidates: []string{"L1", "L2"},
		Snapshot: []allocation.SnapshotRow{
			{SKU: "S", LocationID: "L1", Exists: true, OnHand: q("3"), Committed: q("1"), Reserved: q("1"), Available: q("1"), Allocatable: q("1")},
			{SKU: "S", LocationID: "L2", Available: q("0"), Allocatable: q("0")},
		},
		Rankings: []allocation.Ranking{{SKU: "S", Candidates: []allocation.RankedCandidate{
			{LocationID: "L1", Rank: 1, Allocatable: q("1")}, {LocationID: "L2", Rank: 2, Allocatable: q("0")},
		}}},
		Lines: []allocation.LineDecision{{
			LineID: "1", SKU: "S", Qty: q("4"), Allocated: q("1"), Backordered: q("3"),
			Rules: []string{"strategy:priority", "backorder:allow"},
		}},
	}
	if diff := cmp.Diff(want, res.Explanation, opts); diff != "" {
		t.Errorf("explanation (-want +got):\n%s", diff)
	}
	raw, err := json.Marshal(res.Explanation)
	if err != nil {
		t.Fatalf("explanation does not encode: %v", err)
	}
	for _, field := range []string{`"location_id":"L1"`, `"allocatable":"1"`, `"rules":["strategy:priority","backorder:allow"]`} {
		if !strings.Contains(string(raw), field) {
			t.Errorf("explanation JSON lacks %s: %s", field, raw)
		}
	}
}
