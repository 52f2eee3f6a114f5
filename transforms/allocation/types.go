package allocation

import (
	"time"

	"github.com/shopspring/decimal"
)

// Order is what Allocate decides about: the lines of one placed order.
type Order struct {
	ID string
	// Ref names the order in the inventory ledger: its adjustments' refs
	// are Ref + "/" + line id, which the stock events of the order read
	// back. Empty is ID. A pipeline taking orders of several shops, whose
	// ids collide, gives each shop's orders a Ref of their own.
	Ref string
	// Scope is the event's origin (pipeline and source): with Ref it is
	// what the records' idempotency keys and shipment ids derive from
	// (RecordOrder), so two sources' orders 1001 never share a key
	// downstream. Empty derives them from Ref alone, as before scopes.
	Scope string
	// Date is when the order was placed (created_at). It orders orders that
	// compete for the same stock (AllocateAll) and dates promised backorders.
	Date  time.Time
	Lines []Line
	// Destination is where the order ships to; nil when unknown. It feeds
	// the closest strategy and same_market_only.
	Destination *Address
	// PickupLocation is the location a click-and-collect order is collected
	// from; empty for shipped orders.
	PickupLocation string
}

// Line is one order line as the storefront sent it.
type Line struct {
	ID  string
	SKU string
	// VariantID identifies the line's product when its SKU is empty
	// (Shopify sends empty SKUs); it is matched against SKU.VariantID.
	VariantID string
	Qty       decimal.Decimal
	// ParentLineID links a child line to its parent: a Magento configurable
	// or bundle child (parent_item_id), a WooCommerce composite or bundled
	// item (composite_parent, bundled_by). A parent that has children in the
	// order is not allocated itself; its children are.
	ParentLineID string
	// Virtual lines (gift cards, services, downloads; Magento is_virtual,
	// WooCommerce virtual) ship nothing and are not allocated. The zero
	// value, false, is a shippable line.
	Virtual bool
}

// Address is the part of a destination allocation reads.
type Address struct {
	Country string
	// Market is the selling market (Shopify markets); same_market_only
	// compares it with Location.Market, case-insensitively. When it is
	// empty, Country stands in for it (a market per country).
	Market string
	// Coords is nil when unknown.
	Coords *LatLng
}

// LatLng is a point in degrees. A pointer to it is used wherever the point
// may be unknown, because (0, 0) is a real place.
type LatLng struct {
	Lat float64
	Lng float64
}

// SKU is the inventory settings of one SKU, as the catalog holds them.
type SKU struct {
	// Tracked SKUs have stock levels. Untracked ones (Saleor
	// track_inventory=false, Magento manage_stock=0, WooCommerce
	// manage_stock=false, Shopify untracked items) are always available,
	// produce no adjustments, and are still routed to a location.
	Tracked bool
	// QtyDecimal allows fractional quantities (scale 4); other SKUs are
	// counted in whole units.
	QtyDecimal bool
	// Components makes the SKU a kit (Medusa inventory kits): one unit is
	// Quantity of each component. Components are inventory items: a
	// component that is itself a kit is a catalog error.
	Components []Component
	// VariantID lets a line with an empty SKU find this SKU by its variant
	// or product id (edge case 10).
	VariantID string
}

// Component is one part of a kit.
type Component struct {
	SKU      string
	Quantity decimal.Decimal // required per kit unit; > 0
}

// Key names a stock row.
type Key struct {
	SKU      string
	Location string
}

// Level is one stock row as the inventory store read it.
type Level struct {
	OnHand    decimal.Decimal // physical units; negative only if the feed says so
	Committed decimal.Decimal // allocated or backordered to placed orders, not shipped
	// Reserved is the sum of unexpired reservations held by other carts or
	// orders (never the order being allocated).
	Reserved decimal.Decimal
	// SafetyStock is the row's stored unavailable quantity (Shopify
	// safety_stock, damaged, quality_control): counted in on_hand, never
	// allocated.
	SafetyStock decimal.Decimal
	// Backordered is the part of Committed booked as backorders and not
	// yet shipped or cancelled (backorder.max_depth counts it, see
	// OutstandingBackorders).
	Backordered decimal.Decimal
}

// Stock is the snapshot of stock rows Allocate reads.
type Stock map[Key]Level

// Location is a place stock is kept and shipped from.
type Location struct {
	ID       string
	Priority int // lower goes first (Saleor sort_order, Magento source priority)
	Market   string
	Coords   *LatLng // nil when unknown: ranked after known ones by closest
	Pickup   bool    // offers click-and-collect
}
