package allocation

import "encoding/json"

import "github.com/shopspring/decimal"

// Explanation is why Allocate decided what it did: the stock it saw, how it
// ranked the locations and which rule decided each line. The inventory
// store keeps it beside the order for `pipectl explain`.
type Explanation struct {
	Strategy Strategy `json:"strategy"`
	// Candidates are the eligible locations in the order-level ranking:
	// the order shipments are numbered in and max_shipments keeps.
	Candidates []string `json:"candidates,omitempty"`
	// Excluded are the locations that were not candidates, and why.
	Excluded []ExcludedLocation `json:"excluded,omitempty"`
	// Snapshot holds the stock rows of the order's tracked SKUs at every
	// location, sorted by (sku, location); rows that do not exist are shown
	// with Exists false.
	Snapshot []SnapshotRow `json:"snapshot,omitempty"`
	// Rankings holds the candidate ranking of each SKU (a kit's own SKU for
	// a kit line), sorted by SKU.
	Rankings []Ranking `json:"rankings,omitempty"`
	// Cover is the fewest-shipments search, when one ran.
	Cover *CoverSearch `json:"cover,omitempty"`
	// Lines holds one decision per order line and per kit component, in
	// order-line order.
	Lines []LineDecision `json:"lines,omitempty"`
	// RulesVersion is the version of the rules that decided (a hash of the
	// rules file), set by the allocate step; "" when unknown.
	RulesVersion string `json:"rules_version,omitempty"`
	// Order is the allocate step's input record as it was decided, kept
	// with the stock seen so a rules backtest can decide it again; set by
	// the step.
	Order json.RawMessage `json:"order,omitempty"`
}

// ExcludedLocation is a location that could not be allocated from.
type ExcludedLocation struct {
	LocationID string `json:"location_id"`
	Reason     string `json:"reason"` // exclude_locations, other_market
}

// SnapshotRow is one stock row as Allocate read it.
type SnapshotRow struct {
	SKU        string          `json:"sku"`
	LocationID string          `json:"location_id"`
	Exists     bool            `json:"exists,omitempty"`
	OnHand     decimal.Decimal `json:"on_hand"`
	Committed  decimal.Decimal `json:"committed"`
	Reserved   decimal.Decimal `json:"reserved"`
	// ReservedIgnored says Reserved was not subtracted
	// (inventory.respect_reservations is off).
	ReservedIgnored bool `json:"reserved_ignored,omitempty"`
	// SafetyStock is the safety stock kept back at the row, and
	// SafetyStockFrom where it comes from (SafetyStockOf): the rule set's
	// default, by_sku, by_location, the larger of both, or the stock row's
	// own. So the row adds up: available = on_hand − committed − reserved
	// (unless ignored) − safety_stock.
	SafetyStock     decimal.Decimal `json:"safety_stock"`
	SafetyStockFrom string          `json:"safety_stock_from,omitempty"`
	// Backordered is the part of Committed booked as backorders.
	Backordered decimal.Decimal `json:"backordered"`
	Available   decimal.Decimal `json:"available"`
	Allocatable decimal.Decimal `json:"allocatable"`
}

// Ranking is the ordered candidates of one SKU.
type Ranking struct {
	SKU        string            `json:"sku"`
	Candidates []RankedCandidate `json:"candidates,omitempty"`
}

// RankedCandidate is one location in a ranking.
type RankedCandidate struct {
	LocationID string `json:"location_id"`
	Rank       int    `json:"rank"` // 1-based
	// Allocatable is what the snapshot offered of the SKU there (kit units
	// for a kit).
	Allocatable decimal.Decimal `json:"allocatable"`
	// DistanceKm is the haversine distance to the destination; nil when
	// the destination's or the location's coordinates are unknown.
	DistanceKm *float64 `json:"distance_km,omitempty"`
	// Pickup is set for the click-and-collect location forced first.
	Pickup bool `json:"pickup,omitempty"`
}

// CoverSearch records the k-cover search of fewest_shipments (and of
// ship_complete with max_shipments).
type CoverSearch struct {
	MaxK       int      `json:"max_k"`                 // the largest k tried (max_shipments, or every candidate)
	Examined   int      `json:"examined"`              // combinations examined
	CapReached bool     `json:"cap_reached,omitempty"` // combo_search_cap stopped the search
	Found      bool     `json:"found,omitempty"`       // a combination covers the whole order
	Locations  []string `json:"locations,omitempty"`   // the chosen combination, in rank order
}

// LineDecision is what happened to one line.
type LineDecision struct {
	LineID       string          `json:"line_id"`
	ParentLineID string          `json:"parent_line_id"`
	SKU          string          `json:"sku"`
	Qty          decimal.Decimal `json:"qty"`
	Allocated    decimal.Decimal `json:"allocated"`
	Backordered  decimal.Decimal `json:"backordered"`
	Cancelled    decimal.Decimal `json:"cancelled"`
	Held         decimal.Decimal `json:"held"` // on hold and not allocated
	// Rules lists the rules that decided the line, in the order they
	// applied, e.g. "strategy:priority", "backorder:allow",
	// "backorder:max_depth", "remainder:hold".
	Rules []string `json:"rules,omitempty"`
	// From lists where the allocated quantity was taken, in allocation
	// order. Allocate leaves it empty; the allocate step fills it from the
	// allocations, so an explanation alone says where each line ships from.
	From []LineSource `json:"from,omitempty"`
}

// LineSource is a quantity of a line allocated at one location.
type LineSource struct {
	LocationID string          `json:"location_id"`
	Qty        decimal.Decimal `json:"qty"`
}
