// Package transforms holds the step kinds that reshape records: map, filter,
// route, split, group, dedupe, lookup, validate, allocate and stock, and the
// fulfillment rule sets allocate reads.
//
// Each kind lives in its own file with its Spec: settings, named outputs,
// docs, how its output records are typed (which is what lets the compiler
// check expressions downstream of it), and its run-time part: NewStep builds
// a Step once per run, and each engine worker asks it for a StepWorker with
// an expression VM of its own.
//
// Choices every kind here follows:
//
//   - A record that fails (an expression error, a value of the wrong type at
//     run time, a key that is null, a miss declared an error) leaves through
//     the error output, built with component.ErrorRecord; nothing is
//     emitted for it on other outputs, and nothing is dropped silently.
//   - Output keeps input bytes: pass-through kinds emit the record itself;
//     split, lookup and map's $keep copy the JSON text of the parts they
//     carry (gjson results over the record's bytes) instead of re-encoding
//     decoded values, so key order, decimal digits and 64-bit ids survive.
//     So does map for a plain field reference to an object, an array or a
//     number of no known type (which would decode as a float): it copies
//     the field's text. Computed values are appended with
//     record.AppendJSON, decimals with their digits and scale.
//   - Decimals stay decimals: what the record type says is a decimal
//     decodes as one (record.Projection), in every kind, so a step's
//     expressions run on the types they were checked against; shipments
//     carry their order with its type.
//   - Keys that identify (group, dedupe) are the key's canonical JSON text
//     (record.AppendKey), so 1 and "1" differ, objects compare whatever
//     their key order, and decimals compare by value (1.50 is 1.5); a
//     group's key is written as its first record gave it. Lookup keys
//     compare as text, because CSV tables hold only text, and a number
//     that no row writes as such matches the row writing it with other
//     trailing zeros.
//   - Time comes from the injected Runtime.Clock (ttl, max_wait), never the
//     wall clock directly, so tests and dry runs are deterministic. State
//     (group, dedupe) lives in the StepWorker; those kinds are Stateful, so
//     the engine runs them on one goroutine, in record order.
//   - Files (lookup tables, schema files) are read when the step is built,
//     relative to Runtime.Dir; what can be checked without I/O is checked in
//     the spec's Validate, when the file is loaded. A constructor reports a
//     setting at fault as a component.SettingError (a table file missing is
//     component.CodeMissingFile), which validate shows at the setting, since
//     it builds every step (engine.Check).
//   - allocate (allocate_run.go) wires transforms/allocation to the
//     inventory store: per order it settles the rules (DefaultRules, then
//     the rule set's settings, then the `set` of each override whose
//     `when` holds, in order, each merged setting by setting as JSON), reads
//     the lines ({sku, quantity, id|line_id?, parent_line_id?, variant_id?,
//     virtual?}; a line without an id is numbered from 1), and calls
//     Inventory.Apply keyed "allocate:<pipeline>/<source>:<key>", where the
//     key is the step's `key` (default: the order id), with a fingerprint
//     of the order as read (allocate_keys.go). A replayed order emits the
//     stored records byte for byte and moves no stock; an order sent again
//     with other lines (an edited order, another shop's order of that id)
//     is an error record of its own, never the first order's records. An
//     order an older pipectl allocated under "allocate:<order id>" replays
//     from that key, checked against the lines its explanation stored. The
//     key is the order's ledger ref and explanation ref, and with the scope
//     what its record keys derive from (Order.Ref, Order.Scope). An
//     order the rule set's own `when` excludes is an error record ("does
//     not apply"), not a hold: nothing else could allocate it. Lines in
//     error (unknown SKU, invalid quantity) make one error record of the
//     order, naming them all, stored with the outcome so replays repeat it;
//     the rest of the order is still allocated. A stock shortfall is no
//     error: it is decided (cancellation or hold, an insufficient_stock
//     notification), so an order that shipped part counts as passed on
//     and the run's errored count is what reaches the error output.
//     Locations are read once per run; disabled ones are left out; a
//     store with no location configured at all offers every location
//     holding stock (priority 0), so a store fed only by the inventory
//     sink can allocate. SKU settings are read per
//     order outside the transaction. backorder.max_depth counts what is
//     outstanding on backorder (allocation.OutstandingBackorders of the
//     rows the transaction locked: backordered units booked and not
//     shipped, cancelled or covered by received stock). In dry runs
//     allocate reads the store and commits nothing (dryRunInventory),
//     keeping the run's own movements in memory. Shipments carry the input record as `order`, so a pick
//     ticket has the address. With `replenishment` levels set, a stock row
//     the order takes from at or above its reorder point to below it
//     raises a request (unless one is open: replenish.go), decided from
//     the stock the transaction read, so a group commit or a replay
//     raises each request once. A group of orders (ProcessBatch) is
//     applied with Inventory's ApplyGroup when the store has it.
//   - stock (stock_run.go) is what happens to an allocated order next:
//     `action: cancel | ship | return` (one kind, the action a setting, so
//     a consultant reads `stock: {action: ship}`). It derives what the
//     order holds from the order's ledger (allocate's movements, ref
//     "<key>/<line>"), which the store reads under the rows' locks
//     (ApplyRequest.Ledger), decides with allocation.ApplyStockEvent
//     (DOMAIN.md §2.5) and applies it through Inventory.Apply keyed
//     "<action>:<pipeline>/<source>:<key>:<event id>" with a fingerprint
//     of the event's lines, so a replayed webhook moves no stock and
//     re-emits its records, and one sent again with other lines is an
//     error record (an event applied under the older "<action>:<order
//     id>:<event id>" replays). `key` names the order's ledger as the
//     allocate step's `key` did; an order whose ledger holds the
//     allocations of two allocate events (two shops, order ids colliding,
//     no key) is refused rather than release the other's stock. A cancel
//     or ship of backordered units settles them (Adjustment.Backorder), so
//     they stop counting against max_depth. A refused event
//     (more than the order holds, on hand below zero without
//     negative_on_hand, a return of more than shipped) changes nothing and
//     is an error record. The rule set gives negative_on_hand, safety stock
//     and the notification thresholds (its `when` is not applied: it
//     selects orders for allocation). Replenishment levels are step
//     settings (`replenishment: {reorder_point, target_level, by_sku}`);
//     a request opens when a touched row's available stock is below the
//     reorder point and none is open for the (sku, location), and closes
//     when available is back at the reorder point. Open requests live in
//     the store's audit log (rule "replenishment/<lower-case sku>@<location>",
//     latest change "open" or "closed"), written after the Apply commits.
//     Limits: event SKUs match the ledger's case-insensitively, but a
//     kit ships, cancels and returns by its component SKUs; the open
//     request is recorded after the Apply commits, so a crash between the
//     two, or two processes low on the same row at once, can open a
//     second request.
//
// transforms imports diag, component, exprs, record and schemas (the
// embedded payload schemas validate names). It must not import engine,
// connectors, cmd or the compiler package pipelines: what a step needs at
// run time (the inventory store, a clock) reaches it through component.
package transforms

import "github.com/pipectl/pipectl/pipelines/component"

// Register adds every transform kind to r.
func Register(r *component.Registry) {
	for _, s := range []*component.Spec{
		mapSpec, filterSpec, routeSpec, splitSpec, groupSpec, dedupeSpec, lookupSpec, validateSpec, allocateSpec, stockSpec,
		fulfillmentRuleSpec,
	} {
		r.Add(s)
	}
}
