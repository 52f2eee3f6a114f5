// Package allocation decides where an order's lines are taken from: the
// allocation, split-shipment and backorder rules of DOMAIN.md §2, as a
// pure function of a stock snapshot and a rule set.
//
// It owns the arithmetic (Available, §2.1), the ranking of locations and the
// greedy fill against a running ledger (§2.3), the backorder decision table
// (§2.4), the output records (§2.6) with their idempotency keys, and the
// explanation `pipectl explain` shows. It reads no database and keeps no
// state: the inventory store locks the rows, hands Allocate a snapshot and
// applies the adjustments it returns; the `allocate` step wires the two.
// It imports only the standard library and shopspring/decimal, and must not
// import anything of this module (component, engine, other transforms), so
// the store and the step can both depend on it.
//
// # API
//
//   - Allocate(order, skus, stock, locations, rules, alreadyBackordered)
//     returns a Result: Allocations, Shipments, Backorders, Cancellations,
//     Holds, Adjustments, Notifications, Errors and the Explanation.
//   - Available(level, rules, sku, location) is §2.1 in one function;
//     SafetyStockOf says what it keeps back and where that comes from.
//   - OutstandingBackorders(stock, rules) is what backorder.max_depth
//     counts (§2.9 #5), per SKU, from the rows' backordered units.
//   - AllocateAll allocates competing orders in (date, id) order, each
//     against the stock the earlier ones left (edge case 15).
//   - Cancel releases a prior allocation (§2.5, edge cases 13 and 14).
//   - Stock.Apply folds adjustments into a snapshot, as the store would.
//   - Rules mirrors the `fulfillment` rule kind setting for setting (the
//     json tags are the setting names); DefaultRules is its defaults.
//
// # Decisions where DOMAIN.md is silent or ambiguous
//
// Names. Order lines carry Virtual (zero value: shippable) rather than a
// Shippable flag, so a zero Line is an ordinary line. Coordinates are a
// *LatLng, because (0, 0) is a real place and "unknown" must be the zero
// value (edge case 20). SKU.QtyDecimal, Component.Quantity and
// Location.Coords follow the inventory store's names.
//
// Quantities. Available is floored to 4 places, never rounded up. A line
// quantity with more than 4 decimals is an invalid_qty error, as is a
// fraction for a whole-unit SKU, and a quantity ≤ 0 (refunds go through
// returns). Whole-unit SKUs take floor(allocatable) at a location, so a
// feed's 16.5 offers 16. The rules' safety stock and the row's stored
// safety stock both mean "keep back", so the larger applies, not the sum;
// safety_stock_by_sku and safety_stock_by_location both override the
// default and, when both match a row, the larger wins (§2.9 #4). The
// explanation's stock seen shows the safety stock kept back and its
// source, so each row adds up to its available.
//
// SKUs. They compare case-insensitively, ignoring surrounding space.
// Records name SKUs as the catalog (the skus map key) spells them, or as
// the line does for a SKU known only from stock;
// adjustments and stock notifications as the stock row spells them, so the
// store, which compares exactly, finds the row. A SKU missing from skus but
// present in stock is tracked in whole units (the store's DefaultSKU); a SKU
// in neither, or empty, is unknown_sku, unless an empty SKU's VariantID
// matches exactly one catalog SKU's.
//
// Lines. A line with child lines in the order (Magento configurable or
// bundle parent, WooCommerce composite or bundle) is not allocated; its
// children are. A kit explodes into component lines with id
// "<kit line id>/<component sku>" and the kit line as parent_line_id;
// components listed twice are summed; the kit's own Tracked flag is
// ignored. Every unit of a kit is taken at one location (kit availability
// = min over components of floor(allocatable ÷ required), per location);
// the units of a kit line may spread over locations only when
// allow_line_split is on. A component that is itself a kit is an error.
//
// Ranking. The priority key is allocation.location_priority, then
// Location.Priority. Each strategy ranks by its own key (priority for
// priority and fewest_shipments, allocatable stock for high_stock,
// distance for closest), then by allocation.tie_breakers in turn, default
// priority, distance, location_id (§2.9 #6); location_id is appended when
// missing and must be last, so the order is total. Distances are haversine
// to the destination, computed whenever both ends have coordinates;
// unknown ones rank after the known ones. high_stock ranks each SKU (a kit
// by its kit units) by the snapshot's allocatable quantity, computed once
// (Saleor); Saleor's key leaves out reservations, ours is what may actually
// be taken. fewest_shipments searches location sets by growing k,
// combinations in the order-level ranking (§2.9 #8), and takes the first
// whose fill covers every line; with no cover (or the cap reached) it
// fills greedily in that ranking, and the explanation says so. The pickup location is
// forced first only when it is a candidate with Pickup set; exclude_locations
// still applies to it, same_market_only does not. same_market_only compares
// the destination's market (else its country) with the location's; with
// neither it filters nothing, and a location with no market is outside
// every market. Stock rows at locations not passed in are ignored.
//
// Splitting. Without allow_line_split, a line takes the first location that
// covers it whole, else the first that has any of it, and its shortfall is
// booked at that same location, so the line stays whole (Shopify legacy).
// max_shipments keeps the best-ranked locations the fill used and fills
// again from those only; the rest is shortfall. Untracked lines join the
// best-ranked location the order already ships from, so they never add a
// shipment.
//
// Backorders. Under allow/allow_notify the shortfall is backordered up to
// max_depth − already backordered − backordered earlier in this order; only
// what exceeds the cap takes remainder_action, which under deny takes all
// of it (backorder under deny is hold). "Already backordered" is the
// caller's: the allocate step passes OutstandingBackorders of the locked
// rows, the units booked as backorders (Level.Backordered) that the row's
// stock does not cover, so a row a feed took below zero counts nothing and
// stock received at a row covers its backorders. The deny path emits an
// insufficient_stock error plus a cancellation (cancel) or an
// insufficient_stock hold (hold, backorder). A backorder is booked where
// backorder_location says; a kit's at a location with rows for all its
// tracked components. Under max_shipments, once the order ships from that
// many locations, it is booked among them (the top-priority one stocking
// the SKU, else the top-priority one: §2.9 #2), trimmed or not. Backorders
// move units into committed with AllowNegative and Backorder set, which is
// what takes available below zero and counts them as backordered;
// Available is never adjusted directly. Cancels and ships of backordered
// units set Backorder on their negative movement.
//
// Whole order. all_or_nothing_per_order triggers on any shortfall,
// backorderable or not, or a line in error (§2.9 #7): then nothing is
// allocated, and the backorder decision is made again for every valid
// line's full quantity (so under allow the whole order may be backordered,
// and what max_depth leaves takes the deny path). A line's deny is an
// insufficient_stock error only for what its own shortfall would have
// denied; the rest is cancelled or held with reason
// all_or_nothing_per_order. ship_complete holds the shipments (status held, and a
// ship_complete hold) while anything is backordered or held; a cancelled
// shortfall leaves nothing to wait for, so it does not hold the order.
// Without reserve_while_holding the held order allocates nothing and its
// hold lists what it would have taken.
//
// Records. Idempotency keys are RecordKey(order, kind, line/location,
// ...): 32 hex digits of SHA-256 over length-prefixed parts, where order is
// RecordOrder(Order.Scope, Order.Ref): the order id for an order without a
// scope (so keys stored before scopes never change), else its scope and
// ref, so two sources' orders 1001 never share a key downstream. Shipment
// ids are ShipmentID(order, location, seq), shipments numbered in the
// order-level ranking. Adjustment refs are Order.Ref (default the id) +
// "/" + line, the ledger the stock events read. Stock notifications fire when this order takes a
// row's available from above a threshold to at or below it (once per row;
// out_of_stock wins), and out_of_stock for every candidate row whose feed
// on_hand is negative (edge case 8). Orders must carry a date.
package allocation
