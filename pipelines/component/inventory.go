package component

import (
	"context"
	"errors"
	"time"

	"github.com/shopspring/decimal"
)

// Inventory is the stock state kinds read and change at run time: levels per
// (sku, location), reservations, locations, SKU settings, the ledger of every
// movement, the rule audit log and the allocation explanations. The engine
// hands one to every kind through Runtime.Inventory; its SQLite and
// PostgreSQL implementations live in engine/state, so transforms and
// connectors depend on this interface only.
//
// Quantities are decimals with at most 4 decimal places (DOMAIN.md §2.1); a
// quantity with more is refused, never rounded. SKUs and locations are
// compared exactly: normalizing them (normalize_sku) is the caller's job.
//
// Kinds must not close the store: the engine that opened it does.
type Inventory interface {
	// Apply changes stock for one event (an order, a cancellation, a
	// shipment) in ONE transaction. It locks the stock rows of req.SKUs at
	// every location, in (sku, location) order, calls decide with a
	// consistent snapshot of them, and applies the outcome's adjustments,
	// stores its records and its explanation, all or nothing.
	//
	// If req.IdempotencyKey was applied before, Apply changes nothing,
	// does not call decide, and returns the stored outcome (the same
	// records, byte for byte) with replayed set, unless the request's
	// fingerprint differs from the stored one: then it is not a replay
	// but another event under a key already used, and Apply fails with
	// ErrConflict. A key never applied whose req.LegacyKey was replays that
	// key's outcome the same way. If decide returns an error, nothing
	// changes and Apply returns it.
	//
	// decide may be called more than once (the store retries a transaction
	// that lost a race), so it must depend on the snapshot only.
	//
	// An adjustment that lowers a row's available quantity below zero, its
	// on-hand below zero or its committed below zero fails the whole Apply
	// with ErrInsufficientStock, unless the adjustment allows negatives (a
	// backorder). Adjustments may name only SKUs of the request.
	Apply(ctx context.Context, req ApplyRequest, decide func(Snapshot) (Outcome, error)) (out Outcome, replayed bool, err error)

	// SetLevel sets a bucket (on_hand or safety_stock) of one stock row to
	// an absolute quantity; AdjustLevel adds a delta to it. Both are
	// idempotent by the update's Key: a key applied before changes nothing
	// and returns false. AdjustLevel needs a key; SetLevel without one
	// applies every time. Fractional quantities are refused for SKUs whose
	// settings do not allow them.
	SetLevel(ctx context.Context, u LevelUpdate) (changed bool, err error)
	AdjustLevel(ctx context.Context, u LevelUpdate) (changed bool, err error)
	// Levels returns the stock rows of the given SKUs (every row when skus
	// is empty), sorted by (sku, location), with unexpired reservations.
	Levels(ctx context.Context, skus []string) ([]Level, error)

	// Reserve holds stock until r.ExpiresAt, refusing with
	// ErrInsufficientStock what is not available. It is idempotent by r.ID:
	// a reservation that exists is left as it is and false returned.
	Reserve(ctx context.Context, r Reservation) (created bool, err error)
	// Release removes a reservation before it expires.
	Release(ctx context.Context, id string) (released bool, err error)
	// Reservations lists the reservations held under ref, expired or not.
	Reservations(ctx context.Context, ref string) ([]Reservation, error)

	// Locations lists the locations by priority, then id.
	Locations(ctx context.Context) ([]Location, error)
	// SetLocation creates or changes a location and records the change in
	// the audit log (rule "location/<id>") in the same transaction.
	SetLocation(ctx context.Context, loc Location, by Change) error
	// SKUs returns the settings of the given SKUs that have any; a SKU
	// without settings behaves as DefaultSKU.
	SKUs(ctx context.Context, skus []string) (map[string]SKU, error)
	// SetSKU creates or changes a SKU's settings and records the change in
	// the audit log (rule "sku/<sku>") in the same transaction.
	SetSKU(ctx context.Context, s SKU, by Change) error

	// RecordRuleChange appends to the audit log. At defaults to the
	// store's clock.
	RecordRuleChange(ctx context.Context, c RuleChange) error
	// RuleHistory lists a rule's changes, oldest first ("" lists every
	// rule's).
	RuleHistory(ctx context.Context, rule string) ([]RuleChange, error)
	// Explanations lists the explanation records stored by Apply for an
	// order (ApplyRequest.Ref), oldest first.
	Explanations(ctx context.Context, ref string) ([]Explanation, error)
	// Movements lists the ledger of a SKU's stock changes, oldest first.
	Movements(ctx context.Context, sku string) ([]Movement, error)
	// OrderMovements lists the ledger entries of an order, oldest first:
	// those whose ref is order or starts with order + "/" (allocate's
	// "<order>/<line>"), whatever their SKU.
	OrderMovements(ctx context.Context, order string) ([]Movement, error)
}

// GroupApplier is an Inventory that applies several events in one
// transaction (group commit). Committing is most of what an Apply costs on
// a local store; a group of orders committed together costs one commit.
type GroupApplier interface {
	// ApplyGroup is Apply for each of reqs, in order, in one transaction:
	// each event sees the stock as the events before it left it. An event
	// that fails (its decide errs, it would oversell) is undone alone and
	// its error reported in its result; the others commit together.
	// decide is called with the index of the request. The error is for
	// the group: when the transaction cannot commit, no event is applied.
	ApplyGroup(ctx context.Context, reqs []ApplyRequest, decide func(i int, snap Snapshot) (Outcome, error)) ([]Applied, error)
}

// Applied is the result of one event of a group, as Apply returns it.
type Applied struct {
	Outcome  Outcome
	Replayed bool
	Err      error
}

// Errors the store returns, wrapped with what failed.
var (
	// ErrInsufficientStock: a change would take a row below zero.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrInvalidQuantity: more than 4 decimal places, a fraction for a SKU
	// counted in whole units, or out of range.
	ErrInvalidQuantity = errors.New("invalid quantity")
	// ErrConflict: an event or feed update came with an idempotency key
	// already applied to different content (ApplyRequest.Fingerprint, a
	// feed update's SKU, location, bucket or quantity): neither a replay
	// nor safe to apply. Nothing changes.
	ErrConflict = errors.New("idempotency key already used for different content")
)

// StockKey names a stock row.
type StockKey struct {
	SKU      string
	Location string
}

// Bucket is a stored quantity of a stock row. Available is not a bucket:
// it is computed (Level.Available).
type Bucket string

const (
	OnHand      Bucket = "on_hand"      // physical units
	Committed   Bucket = "committed"    // allocated to orders, not yet shipped
	SafetyStock Bucket = "safety_stock" // never allocated
)

// Level is one stock row as read: the stored buckets and the sum of the
// unexpired reservations on it.
type Level struct {
	SKU, Location string
	OnHand        decimal.Decimal
	Committed     decimal.Decimal
	Reserved      decimal.Decimal // unexpired reservations (in Apply: other than the request's)
	SafetyStock   decimal.Decimal
	// Backordered is the part of Committed booked as backorders and not
	// yet shipped or cancelled (Adjustment.Backorder movements); it does
	// not change Available.
	Backordered decimal.Decimal
	// Exists is false for a row that has never been written; its buckets
	// are zero.
	Exists bool
}

// Key is the row's key.
func (l Level) Key() StockKey { return StockKey{l.SKU, l.Location} }

// Available is on_hand − committed − reserved − safety stock (DOMAIN.md
// §2.1); it may be negative.
func (l Level) Available() decimal.Decimal {
	return l.OnHand.Sub(l.Committed).Sub(l.Reserved).Sub(l.SafetyStock)
}

// Allocatable is max(Available, 0): what may still be allocated.
func (l Level) Allocatable() decimal.Decimal {
	if a := l.Available(); a.IsPositive() {
		return a
	}
	return decimal.Zero
}

// ApplyRequest says which event Apply is for and what it locks.
type ApplyRequest struct {
	// IdempotencyKey identifies the event: (source, event id) for an order
	// webhook. Required.
	IdempotencyKey string
	// Fingerprint sums up what decided the event (an order's lines, not
	// the incidental bytes of its payload). It is stored with the event;
	// a later request under the same key with another fingerprint fails
	// with ErrConflict. Empty neither stores nor checks one.
	Fingerprint string
	// LegacyKey is the key an older pipectl applied the same event under,
	// before keys were scoped: when IdempotencyKey was never applied and
	// LegacyKey was, the event replays LegacyKey's outcome (its
	// Outcome.Fingerprint empty when none was stored), so an upgrade never
	// applies an event twice. Empty looks up no other key.
	LegacyKey string
	// Ref is the order the event is about. Its own reservations are not
	// counted against it, and its explanation is stored under it.
	Ref string
	// SKUs whose stock rows, at every location, are locked and read.
	SKUs []string
	// IgnoreReservations says the rules do not respect reservations
	// (inventory.respect_reservations: false): the guards do not count
	// them, so an order may take held stock. The snapshot still reports
	// them.
	IgnoreReservations bool
	// Ledger, when set, names an order whose ledger entries the snapshot
	// carries (Snapshot.Ledger, as OrderMovements lists them), read after
	// the rows are locked: an event about an order (a cancellation, a
	// shipment) decides from what the order holds, and two events of one
	// order touching the same SKUs see each other's movements.
	Ledger string
}

// Snapshot is what decide sees: the locked rows, read in the transaction.
type Snapshot struct {
	// Now is the store's clock when the rows were read; reservations that
	// expired before it are not counted.
	Now time.Time
	// Levels holds every stock row of the request's SKUs, sorted by
	// (sku, location).
	Levels []Level
	// Ledger holds the ledger entries of ApplyRequest.Ledger's order,
	// oldest first; nil when the request names none.
	Ledger []Movement
}

// Level returns the row of (sku, location), or a zero Level (Exists false)
// when there is none.
func (s Snapshot) Level(sku, location string) Level {
	for _, l := range s.Levels {
		if l.SKU == sku && l.Location == location {
			return l
		}
	}
	return Level{SKU: sku, Location: location, OnHand: decimal.Zero, Committed: decimal.Zero, Reserved: decimal.Zero, SafetyStock: decimal.Zero}
}

// Outcome is what decide returns and Apply stores: the stock changes, the
// records to emit and the explanation of the decision.
type Outcome struct {
	Adjustments []Adjustment
	// Records are the output records, by output name; a replay returns
	// them byte for byte.
	Records []OutputRecord
	// Explanation is the decision with its inputs (JSON), stored under the
	// request's Ref in the same transaction. Empty stores none.
	Explanation []byte
	// ReleaseReservations removes the reservations held under the
	// request's Ref: the order that was holding stock has now allocated it.
	ReleaseReservations bool
	// Fingerprint is, as Apply returns an outcome, the fingerprint stored
	// with the event: the request's, or on a replay the one stored the
	// first time, "" when none was (an event an older pipectl applied).
	// decide need not set it.
	Fingerprint string
}

// OutputRecord is one record of an outcome.
type OutputRecord struct {
	Output string
	Data   []byte
}

// Adjustment is one change of a stock row's bucket.
type Adjustment struct {
	SKU      string          `json:"sku"`
	Location string          `json:"location"`
	Bucket   Bucket          `json:"bucket"` // OnHand or Committed
	Delta    decimal.Decimal `json:"delta"`
	// AllowNegative lets this change take the row's available quantity
	// (or on-hand) below zero: a backorder, negative_on_hand.
	AllowNegative bool `json:"allow_negative,omitempty"`
	// Backorder marks a committed change of backordered units: booked
	// (Delta > 0) or settled by a ship or cancel (Delta < 0); the store
	// keeps their sum per row (Level.Backordered), never below zero.
	Backorder bool   `json:"backorder,omitempty"`
	Reason    string `json:"reason,omitempty"` // allocate, deallocate, ship, cancel, return, backorder
	Ref       string `json:"ref,omitempty"`    // order, line or shipment id
}

// OrderOutcome is how an allocated order came out, one word per order
// for the KPIs merchants track, the first that applies: "held" (waiting
// for stock to ship complete), "backordered" (some quantity backordered),
// "split" (shipped from more than one location), "allocated" (one
// shipment), "cancelled" (quantities cancelled, nothing shipped), "none".
func OrderOutcome(out Outcome) string {
	var shipments, backorders, holds, cancellations int
	for _, r := range out.Records {
		switch r.Output {
		case "shipments":
			shipments++
		case "backorders":
			backorders++
		case "holds":
			holds++
		case "cancellations":
			cancellations++
		}
	}
	switch {
	case holds > 0:
		return "held"
	case backorders > 0:
		return "backordered"
	case shipments > 1:
		return "split"
	case shipments == 1:
		return "allocated"
	case cancellations > 0:
		return "cancelled"
	}
	return "none"
}

// Discrepancy is an inventory feed's count of a stock row that differs
// from the on-hand quantity held for it: stock lost, found or miscounted
// since the last count, which merchants track.
type Discrepancy struct {
	SKU, Location string
	Held, Counted decimal.Decimal
}

// LevelUpdate is one change from an inventory feed.
type LevelUpdate struct {
	// Key makes the update idempotent: an update whose key was applied
	// before changes nothing. Required to adjust; a set without one is
	// applied every time.
	// An update whose key was applied with another SKU, location, bucket,
	// mode or quantity fails with ErrConflict.
	Key string
	// LegacyKey is the key an older pipectl applied the same update under
	// (before keys were scoped): when Key was never applied and LegacyKey
	// was, the update changes nothing. Empty looks up no other key.
	LegacyKey string
	SKU       string
	Location  string
	Bucket    Bucket // OnHand (the default when empty) or SafetyStock
	Quantity  decimal.Decimal
	Reason    string
	Ref       string
	// By, when set, records a change of the bucket in the audit log (rule
	// "level/SKU@LOCATION", old and new as "bucket=quantity") in the same
	// transaction: a change an operator made by hand.
	By *Change
	// Applied, when set, is told the bucket's quantity before and after
	// once the update has committed, and whether the stock row existed:
	// a feed's count that differs from what was held is a discrepancy.
	Applied func(before, after decimal.Decimal, existed bool)
}

// Reservation is a temporary hold (a checkout, a cart, a manual hold).
type Reservation struct {
	ID        string
	SKU       string
	Location  string
	Quantity  decimal.Decimal
	ExpiresAt time.Time
	// Ref is the order or cart holding it; Apply for that Ref does not count
	// it against the order.
	Ref string
}

// Location is a place stock is kept and shipped from.
type Location struct {
	ID       string  `json:"id"`
	Name     string  `json:"name,omitempty"`
	Priority int     `json:"priority"` // lower goes first
	Market   string  `json:"market,omitempty"`
	Coords   *LatLng `json:"coords,omitempty"` // nil when unknown
	Pickup   bool    `json:"pickup,omitempty"` // offers click-and-collect
	// Disabled locations keep their stock but are not allocated from.
	Disabled bool `json:"disabled,omitempty"`
}

// LatLng is a location's coordinates in degrees.
type LatLng struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// SKU is a SKU's inventory settings.
type SKU struct {
	SKU string `json:"sku"`
	// Tracked SKUs have stock; untracked ones are always available and
	// produce no adjustments (DOMAIN.md §2.1).
	Tracked bool `json:"tracked"`
	// QtyDecimal allows fractional quantities.
	QtyDecimal bool `json:"qty_decimal"`
	// Components makes the SKU a kit: one unit is these components.
	Components []Component `json:"components,omitempty"`
}

// DefaultSKU is the settings of a SKU nobody configured: tracked, whole
// units, not a kit.
func DefaultSKU(sku string) SKU { return SKU{SKU: sku, Tracked: true} }

// Component is one component of a kit.
type Component struct {
	SKU      string          `json:"sku"`
	Quantity decimal.Decimal `json:"qty"`
}

// Change says who changes a setting, and why, for the audit log.
type Change struct {
	Actor  string
	Reason string
}

// RuleChange is one entry of the audit log.
type RuleChange struct {
	Seq    int64 // assigned by the store
	Rule   string
	Actor  string
	At     time.Time
	Old    string // "" when created
	New    string // "" when removed
	Reason string
}

// Explanation is the stored record of an allocation decision.
type Explanation struct {
	Ref            string
	IdempotencyKey string
	At             time.Time
	Data           []byte
}

// Movement is one ledger entry: a bucket of a stock row changed by Delta.
type Movement struct {
	Seq      int64
	SKU      string
	Location string
	Bucket   Bucket
	Delta    decimal.Decimal
	Reason   string
	Ref      string
	Key      string // the idempotency key of the Apply or feed update
	At       time.Time
}

// ErrNotInScope is a record a rule set's `when` leaves out: a pilot scope
// (some SKUs, one channel) that this order is not in.
var ErrNotInScope = errors.New("its when is false")

// Redecider is a step that decides a recorded input again under its own
// settings, against the stock recorded with the decision (an Explanation's
// Data), changing nothing: the console's rules backtest builds the
// candidate pipeline's allocate step and asks it.
type Redecider interface {
	Redecide(ctx context.Context, explanation []byte) (Outcome, error)
}
