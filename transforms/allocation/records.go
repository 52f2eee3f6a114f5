package allocation

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Result is everything Allocate decided for one order: the output records
// of DOMAIN.md §2.6, each slice in a deterministic order, and the
// explanation `pipectl explain` shows.
type Result struct {
	OrderID       string
	Allocations   []Allocation
	Shipments     []Shipment
	Backorders    []Backorder
	Cancellations []Cancellation
	Holds         []Hold
	Adjustments   []Adjustment
	Notifications []Notification
	Errors        []LineError
	Explanation   Explanation
}

// Allocation is stock of one line taken at one location.
type Allocation struct {
	OrderID      string
	LineID       string
	ParentLineID string // the kit line a component belongs to
	SKU          string
	LocationID   string
	Qty          decimal.Decimal
	Strategy     Strategy
	// Rank is the location's 1-based place in the line's candidate ranking.
	Rank int
	// Tracked is false for untracked SKUs: routed, but no stock moves.
	Tracked        bool
	IdempotencyKey string
}

// ShipmentStatus says whether a shipment may be picked now.
type ShipmentStatus string

const (
	Ready ShipmentStatus = "ready"
	Held  ShipmentStatus = "held" // ship_complete: released when the order is complete
)

// Shipment is the pick ticket of one location.
type Shipment struct {
	ShipmentID     string // ShipmentID(order, location, seq)
	OrderID        string
	LocationID     string
	Seq            int // 1-based, in location rank order
	Status         ShipmentStatus
	Lines          []ShipmentLine
	IdempotencyKey string
}

// ShipmentLine is one allocation on a pick ticket.
type ShipmentLine struct {
	LineID       string
	ParentLineID string // kit components of one kit line share it
	SKU          string
	Qty          decimal.Decimal
}

// Backorder is a shortfall promised for later.
type Backorder struct {
	OrderID      string
	LineID       string
	ParentLineID string
	SKU          string
	Qty          decimal.Decimal
	LocationID   string // "" when the order has no candidate location
	Reason       string // insufficient_stock
	PromisedDate time.Time
	Notify       bool // allow_notify: the customer is told (a backorder_customer notification)
	Tracked      bool
	// IdempotencyKey is per (order, line).
	IdempotencyKey string
}

// Cancellation is a quantity of a line that will not be fulfilled.
type Cancellation struct {
	OrderID        string
	LineID         string
	ParentLineID   string
	SKU            string
	Qty            decimal.Decimal
	Reason         string // insufficient_stock, or the reason of a Cancel request
	IdempotencyKey string
}

// Hold reasons.
const (
	// HoldInsufficientStock holds a shortfall that may not be backordered
	// (remainder_action hold, or backorder under deny). Its lines are not
	// allocated.
	HoldInsufficientStock = "insufficient_stock"
	// HoldShipComplete holds a ship-complete order until it is complete.
	// Its lines are the quantities held back from shipping: allocated (and
	// Hold.Allocated set) with reserve_while_holding, not allocated without.
	HoldShipComplete = "ship_complete"
)

// Hold is an order (or part of it) on hold. An order has at most one hold
// per reason.
type Hold struct {
	OrderID string
	Reason  string
	// Allocated says the held quantities are also in Allocations (a
	// ship-complete hold with reserve_while_holding). Otherwise they are
	// allocated nowhere, and count once in the line's total.
	Allocated      bool
	Lines          []HoldLine
	IdempotencyKey string
}

// HoldLine is a quantity of a line on hold.
type HoldLine struct {
	LineID       string
	ParentLineID string
	SKU          string
	Qty          decimal.Decimal
}

// Bucket is a stored quantity of a stock row. Available is computed
// (Available), never adjusted: an allocation moves units into committed,
// which takes them out of available.
type Bucket string

const (
	OnHand    Bucket = "on_hand"
	Committed Bucket = "committed"
)

// Adjustment is one inventory ledger movement (inventory_adjustment).
type Adjustment struct {
	SKU        string
	LocationID string
	Bucket     Bucket
	Delta      decimal.Decimal
	// AllowNegative lets the movement take available below zero: a
	// backorder (Shopify CONTINUE, WooCommerce stock < 0).
	AllowNegative bool
	// Backorder marks a committed movement of backordered units: booked
	// (Delta > 0) by allocate, settled (Delta < 0) by a ship or cancel of
	// them. The store keeps their sum per row (Level.Backordered), which
	// backorder.max_depth counts.
	Backorder bool
	Reason    string // allocate, backorder, cancel
	Ref       string // order_id/line_id
	// IdempotencyKey is per (order, line, location, reason, bucket), and per
	// cancel event for cancellations.
	IdempotencyKey string
}

// Notification types.
const (
	NotifyBackorderCustomer = "backorder_customer"
	NotifyOutOfStock        = "out_of_stock"
	NotifyLowStock          = "low_stock"
	NotifyBackInStock       = "back_in_stock"
	NotifyInsufficientStock = "insufficient_stock"
	NotifyOrderOnHold       = "order_on_hold"
)

// Notification asks someone to be told something.
type Notification struct {
	Type       string
	OrderID    string
	LineID     string // backorder_customer, insufficient_stock
	SKU        string
	LocationID string // out_of_stock, low_stock, back_in_stock
	// Qty is the backordered or missing quantity, or for stock
	// notifications the row's available quantity after the change.
	Qty            decimal.Decimal
	Reason         string // order_on_hold: the hold's reason
	IdempotencyKey string
}

// Error codes.
const (
	ErrInsufficientStock = "insufficient_stock"
	ErrInvalidQty        = "invalid_qty"
	ErrUnknownSKU        = "unknown_sku"
)

// LineError is a line that could not be (fully) allocated, for the step's
// error output (Saleor InsufficientStockData).
type LineError struct {
	Code         string
	OrderID      string
	LineID       string
	ParentLineID string
	SKU          string
	Qty          decimal.Decimal // the quantity in error
	// Available is what the line could draw on when it was allocated
	// (insufficient_stock only).
	Available      decimal.Decimal
	Message        string
	IdempotencyKey string
}

// RecordKey derives an idempotency key from the order, the record kind and
// the parts that identify the record within the order (line, location,
// ...). Parts are length-prefixed before hashing, so no two part lists
// collide by concatenation; the key is 32 hex digits of SHA-256.
func RecordKey(orderID, kind string, parts ...string) string {
	n := 16 + len(orderID) + len(kind)
	for _, p := range parts {
		n += 8 + len(p)
	}
	buf := make([]byte, 0, n)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(orderID)))
	buf = append(buf, orderID...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(kind)))
	buf = append(buf, kind...)
	for _, p := range parts {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(p)))
		buf = append(buf, p...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16])
}

// RecordOrder is what an order's record keys and shipment ids derive
// from: the order id alone when the order has no scope (so the keys of
// orders decided before scopes existed never change), else scope and ref.
func RecordOrder(scope, ref string) string {
	if scope == "" {
		return ref
	}
	return scope + ":" + ref
}

// compareKeys orders stock keys by SKU, then location.
func compareKeys(x, y Key) int {
	if c := strings.Compare(x.SKU, y.SKU); c != 0 {
		return c
	}
	return strings.Compare(x.Location, y.Location)
}

// ShipmentID is hash(order_id, location_id, seq): "shp_" and 24 hex digits.
func ShipmentID(orderID, locationID string, seq int) string {
	return "shp_" + RecordKey(orderID, "shipment_id", locationID, strconv.Itoa(seq))[:24]
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(maps.Keys(m))
}
