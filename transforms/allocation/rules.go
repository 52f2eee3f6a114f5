package allocation

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// Rules is the fulfillment rule set ops teams toggle. It mirrors the
// settings of the `fulfillment` rule kind (transforms/fulfillment_rules.go)
// one to one; the json tags are the setting names, and a test walks the
// kind's spec to keep the two in step.
type Rules struct {
	Inventory     InventoryRules    `json:"inventory"`
	Allocation    AllocationRules   `json:"allocation"`
	Split         SplitRules        `json:"split"`
	Backorder     BackorderRules    `json:"backorder"`
	Notifications NotificationRules `json:"notifications"`
}

// InventoryRules say how available stock is computed (DOMAIN.md §2.1).
type InventoryRules struct {
	// SafetyStock is kept back at every location unless an override below
	// matches.
	SafetyStock decimal.Decimal `json:"safety_stock"`
	// SafetyStockBySKU and SafetyStockByLocation override SafetyStock. SKU
	// keys match case-insensitively; location keys exactly. When both match
	// a row, the larger one is kept back.
	SafetyStockBySKU      map[string]decimal.Decimal `json:"safety_stock_by_sku"`
	SafetyStockByLocation map[string]decimal.Decimal `json:"safety_stock_by_location"`
	// RespectReservations subtracts unexpired reservations of other carts.
	RespectReservations bool `json:"respect_reservations"`
	// ReservationTTLMinutes is read by the inventory store when it decides
	// which reservations are unexpired; Level.Reserved already reflects it.
	ReservationTTLMinutes int `json:"reservation_ttl_minutes"`
	// NegativeOnHand is read by the shipment flow (§2.5); allocation never
	// changes on_hand.
	NegativeOnHand bool `json:"negative_on_hand"`
}

// AllocationRules say which locations stock is taken from.
type AllocationRules struct {
	Strategy Strategy `json:"strategy"`
	// LocationPriority lists location ids, first preferred. Locations not
	// listed follow, by Location.Priority, then id.
	LocationPriority []string `json:"location_priority"`
	// SameMarketOnly keeps only locations whose market is the destination's.
	SameMarketOnly bool `json:"same_market_only"`
	// ExcludeLocations are never allocated from (not even a pickup location).
	ExcludeLocations []string `json:"exclude_locations"`
	// TieBreakers order the locations the strategy ranks equal, in turn
	// (DOMAIN.md §2.2, §2.9 #6): priority (location_priority, then
	// Location.Priority), distance (to the destination; unknown
	// coordinates rank last) and location_id. The ranking always ends in
	// location_id, so it is total: it is appended when missing, and
	// nothing may follow it.
	TieBreakers []TieBreaker `json:"tie_breakers"`
	// PickupLocationFirst ranks a click-and-collect order's pickup location
	// first whatever the strategy (Saleor sort_stocks).
	PickupLocationFirst bool `json:"pickup_location_first"`
	// AllOrNothingPerOrder allocates nothing unless the whole order is
	// covered by allocations and allowed backorders (Saleor InsufficientStock).
	AllOrNothingPerOrder bool `json:"all_or_nothing_per_order"`
}

// SplitRules say whether and how an order is split into shipments.
type SplitRules struct {
	Mode SplitMode `json:"mode"`
	// AllowLineSplit lets one line ship from several locations. Off, a line
	// takes the first location that covers it whole, else the first that
	// has any stock (Shopify legacy "do not split line items").
	AllowLineSplit bool `json:"allow_line_split"`
	// MaxShipments caps the locations an order ships from; 0 is no cap.
	MaxShipments int `json:"max_shipments"`
	// ComboSearchCap caps the location combinations the fewest-shipments
	// search examines (Salesforce OM).
	ComboSearchCap int `json:"combo_search_cap"`
	// ReserveWhileHolding keeps a held ship-complete order's allocations
	// (Odoo); off, a held order allocates nothing (Saleor).
	ReserveWhileHolding bool `json:"reserve_while_holding"`
}

// BackorderRules say what happens to quantities that cannot be allocated
// (DOMAIN.md §2.4).
type BackorderRules struct {
	Policy BackorderPolicy `json:"policy"`
	// MaxDepth caps the units of a SKU outstanding on backorder (Magento's
	// negative Out-of-Stock Threshold); nil is no cap.
	MaxDepth *decimal.Decimal `json:"max_depth"`
	// RemainderAction is what a shortfall that is not backordered becomes.
	RemainderAction RemainderAction `json:"remainder_action"`
	// BackorderLocation is where a backorder is booked.
	BackorderLocation BackorderLocation `json:"backorder_location"`
	// PromiseDaysDefault dates a backorder: order date + this many days
	// (OFBiz daysToShip fallback).
	PromiseDaysDefault int `json:"promise_days_default"`
}

// NotificationRules say when stock notifications fire.
type NotificationRules struct {
	// LowStockThreshold: low_stock when an allocation takes a row's
	// available quantity from above it to at or below it.
	LowStockThreshold decimal.Decimal `json:"low_stock_threshold"`
	// OutOfStockThreshold: out_of_stock, likewise (it wins over low_stock).
	OutOfStockThreshold decimal.Decimal `json:"out_of_stock_threshold"`
}

// Strategy orders the candidate locations.
type Strategy string

const (
	Priority        Strategy = "priority"         // fixed rank (Saleor sorting order, Magento priority)
	HighStock       Strategy = "high_stock"       // most allocatable first, per SKU, from the snapshot
	Closest         Strategy = "closest"          // haversine distance to the destination
	FewestShipments Strategy = "fewest_shipments" // smallest location set covering the order
)

// TieBreaker is a key that orders locations a strategy ranks equal.
type TieBreaker string

const (
	TiePriority   TieBreaker = "priority"    // location_priority, then Location.Priority
	TieDistance   TieBreaker = "distance"    // nearest the destination first, unknown last
	TieLocationID TieBreaker = "location_id" // the id: unique, so it ends every ranking
)

// DefaultTieBreakers is DOMAIN.md §2.2's default.
func DefaultTieBreakers() []TieBreaker {
	return []TieBreaker{TiePriority, TieDistance, TieLocationID}
}

// tieBreakers is the tie-breakers in force: the setting, ending in
// location_id.
func (r AllocationRules) tieBreakers() []TieBreaker {
	out := slices.Clone(r.TieBreakers)
	if !slices.Contains(out, TieLocationID) {
		out = append(out, TieLocationID)
	}
	return out
}

// SplitMode is the Odoo move_type pair.
type SplitMode string

const (
	ShipPartial  SplitMode = "ship_partial"  // Odoo direct: ship what is available now
	ShipComplete SplitMode = "ship_complete" // Odoo one: hold shipments until the order is complete
)

// BackorderPolicy is Magento 0/1/2, WooCommerce no/yes/notify.
type BackorderPolicy string

const (
	Deny        BackorderPolicy = "deny"
	Allow       BackorderPolicy = "allow"
	AllowNotify BackorderPolicy = "allow_notify"
)

// RemainderAction is Odoo create_backorder always/never/ask.
type RemainderAction string

const (
	RemainderBackorder RemainderAction = "backorder"
	RemainderCancel    RemainderAction = "cancel"
	RemainderHold      RemainderAction = "hold"
)

// BackorderLocation says where a backorder is booked.
type BackorderLocation string

const (
	// PriorityStocked is the top-priority candidate with a stock row for
	// the SKU, else the top-priority candidate (Shopify legacy rule).
	PriorityStocked BackorderLocation = "priority_stocked"
	// FirstPriority is the top-priority candidate.
	FirstPriority BackorderLocation = "first_priority"
)

// DefaultRules returns the defaults of the fulfillment rule kind.
func DefaultRules() Rules {
	return Rules{
		Inventory: InventoryRules{
			SafetyStock:           decimal.Zero,
			RespectReservations:   true,
			ReservationTTLMinutes: 60,
		},
		Allocation: AllocationRules{
			Strategy:            Priority,
			TieBreakers:         DefaultTieBreakers(),
			PickupLocationFirst: true,
		},
		Split: SplitRules{
			Mode:                ShipPartial,
			AllowLineSplit:      true,
			ComboSearchCap:      10000,
			ReserveWhileHolding: true,
		},
		Backorder: BackorderRules{
			Policy:             Deny,
			RemainderAction:    RemainderBackorder,
			BackorderLocation:  PriorityStocked,
			PromiseDaysDefault: 30,
		},
		Notifications: NotificationRules{
			LowStockThreshold:   decimal.NewFromInt(2),
			OutOfStockThreshold: decimal.Zero,
		},
	}
}

// Validate reports every setting that is out of range, joined.
func (r Rules) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch r.Allocation.Strategy {
	case Priority, HighStock, Closest, FewestShipments:
	default:
		bad("allocation.strategy %q: want priority, high_stock, closest or fewest_shipments", r.Allocation.Strategy)
	}
	seen := map[TieBreaker]bool{}
	for i, tb := range r.Allocation.TieBreakers {
		switch {
		case tb != TiePriority && tb != TieDistance && tb != TieLocationID:
			bad("allocation.tie_breakers[%d] %q: want priority, distance or location_id", i, tb)
		case seen[tb]:
			bad("allocation.tie_breakers[%d] %q is listed twice", i, tb)
		case tb == TieLocationID && i != len(r.Allocation.TieBreakers)-1:
			bad("allocation.tie_breakers: location_id must come last (ids are unique, so nothing after it could break a tie)")
		}
		seen[tb] = true
	}
	switch r.Split.Mode {
	case ShipPartial, ShipComplete:
	default:
		bad("split.mode %q: want ship_partial or ship_complete", r.Split.Mode)
	}
	switch r.Backorder.Policy {
	case Deny, Allow, AllowNotify:
	default:
		bad("backorder.policy %q: want deny, allow or allow_notify", r.Backorder.Policy)
	}
	switch r.Backorder.RemainderAction {
	case RemainderBackorder, RemainderCancel, RemainderHold:
	default:
		bad("backorder.remainder_action %q: want backorder, cancel or hold", r.Backorder.RemainderAction)
	}
	switch r.Backorder.BackorderLocation {
	case PriorityStocked, FirstPriority:
	default:
		bad("backorder.backorder_location %q: want priority_stocked or first_priority", r.Backorder.BackorderLocation)
	}
	if r.Split.MaxShipments < 0 {
		bad("split.max_shipments %d: must not be negative", r.Split.MaxShipments)
	}
	if r.Split.ComboSearchCap < 1 {
		bad("split.combo_search_cap %d: must be at least 1", r.Split.ComboSearchCap)
	}
	if r.Backorder.PromiseDaysDefault < 0 {
		bad("backorder.promise_days_default %d: must not be negative", r.Backorder.PromiseDaysDefault)
	}
	if r.Inventory.ReservationTTLMinutes < 0 {
		bad("inventory.reservation_ttl_minutes %d: must not be negative", r.Inventory.ReservationTTLMinutes)
	}
	quantity := func(name string, d decimal.Decimal) {
		if d.IsNegative() {
			bad("%s %s: must not be negative", name, d)
		} else if !d.Equal(d.Truncate(Scale)) {
			bad("%s %s: more than %d decimal places", name, d, Scale)
		}
	}
	quantity("inventory.safety_stock", r.Inventory.SafetyStock)
	for _, k := range sortedKeys(r.Inventory.SafetyStockBySKU) {
		quantity(fmt.Sprintf("inventory.safety_stock_by_sku[%q]", k), r.Inventory.SafetyStockBySKU[k])
	}
	for _, k := range sortedKeys(r.Inventory.SafetyStockByLocation) {
		quantity(fmt.Sprintf("inventory.safety_stock_by_location[%q]", k), r.Inventory.SafetyStockByLocation[k])
	}
	if r.Backorder.MaxDepth != nil {
		quantity("backorder.max_depth", *r.Backorder.MaxDepth)
	}
	if r.Notifications.LowStockThreshold.LessThan(r.Notifications.OutOfStockThreshold) {
		bad("notifications.low_stock_threshold %s is below out_of_stock_threshold %s",
			r.Notifications.LowStockThreshold, r.Notifications.OutOfStockThreshold)
	}
	if len(errs) > 0 {
		return fmt.Errorf("fulfillment rules: %w", errors.Join(errs...))
	}
	return nil
}
