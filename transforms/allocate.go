package transforms

import (
	"slices"

	"github.com/pipectl/pipectl/pipelines/component"
)

// allocateLine is what allocate needs of each order line.
var allocateLine = component.ObjectOf(
	component.Required("sku", component.StringType),
	component.Required("quantity", component.NumberType),
)

// The output records (DOMAIN.md §2.6). They must match, field for field,
// what allocate_records.go emits; a test checks every emitted record
// against these types.
var (
	allocatedLine = component.ObjectOf(
		component.Property{Name: "line_id", Type: component.StringType},
		component.Property{Name: "parent_line_id", Type: component.StringType},
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "qty", Type: component.DecimalType},
	)
	allocationRecord = component.ObjectOf(
		component.Property{Name: "order_id", Type: component.StringType},
		component.Property{Name: "line_id", Type: component.StringType},
		component.Property{Name: "parent_line_id", Type: component.StringType},
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "location_id", Type: component.StringType},
		component.Property{Name: "qty", Type: component.DecimalType},
		component.Property{Name: "strategy", Type: component.StringType},
		component.Property{Name: "rank", Type: component.IntType},
		component.Property{Name: "tracked", Type: component.BoolType},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
	shipmentRecord = component.ObjectOf(
		component.Property{Name: "shipment_id", Type: component.StringType},
		component.Property{Name: "order_id", Type: component.StringType},
		component.Property{Name: "location_id", Type: component.StringType},
		component.Property{Name: "seq", Type: component.IntType},
		component.Property{Name: "status", Type: component.StringType},
		component.Property{Name: "lines", Type: component.ArrayOf(allocatedLine)},
		component.Property{Name: "order", Type: component.AnyType},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
	backorderRecord = component.ObjectOf(
		component.Property{Name: "order_id", Type: component.StringType},
		component.Property{Name: "line_id", Type: component.StringType},
		component.Property{Name: "parent_line_id", Type: component.StringType},
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "qty", Type: component.DecimalType},
		component.Property{Name: "location_id", Type: component.StringType},
		component.Property{Name: "reason", Type: component.StringType},
		component.Property{Name: "promised_date", Type: component.StringType},
		component.Property{Name: "notify", Type: component.BoolType},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
	cancellationRecord = component.ObjectOf(
		component.Property{Name: "order_id", Type: component.StringType},
		component.Property{Name: "line_id", Type: component.StringType},
		component.Property{Name: "parent_line_id", Type: component.StringType},
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "qty", Type: component.DecimalType},
		component.Property{Name: "reason", Type: component.StringType},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
	holdRecord = component.ObjectOf(
		component.Property{Name: "order_id", Type: component.StringType},
		component.Property{Name: "reason", Type: component.StringType},
		component.Property{Name: "allocated", Type: component.BoolType},
		component.Property{Name: "lines", Type: component.ArrayOf(allocatedLine)},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
	adjustmentRecord = component.ObjectOf(
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "location_id", Type: component.StringType},
		component.Property{Name: "bucket", Type: component.StringType},
		component.Property{Name: "delta", Type: component.DecimalType},
		component.Property{Name: "allow_negative", Type: component.BoolType},
		component.Property{Name: "reason", Type: component.StringType},
		component.Property{Name: "ref", Type: component.StringType},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
	notificationRecord = component.ObjectOf(
		component.Property{Name: "type", Type: component.StringType},
		component.Property{Name: "order_id", Type: component.StringType},
		component.Property{Name: "line_id", Type: component.StringType},
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "location_id", Type: component.StringType},
		component.Property{Name: "qty", Type: component.DecimalType},
		component.Property{Name: "reason", Type: component.StringType},
		component.Property{Name: "idempotency_key", Type: component.StringType},
	)
)

// shipmentOf is the type of shipments of orders of type order: `order`
// carries the order as it arrived, so its fields keep their types (a
// decimal stays a decimal) in the steps after.
func shipmentOf(order *component.Type) *component.Type {
	t := *shipmentRecord
	t.Fields = slices.Clone(t.Fields)
	for i, p := range t.Fields {
		if p.Name == "order" && order != nil {
			t.Fields[i].Type = order
		}
	}
	return &t
}

var allocateSpec = &component.Spec{
	Kind:    "allocate",
	Section: component.StepSection,
	Summary: "Allocates an order's lines to stock locations: shipments, backorders, cancellations and holds.",
	Description: "Reads inventory, applies the named fulfillment rule set (strategy, split shipments, " +
		"backorder policy, safety stock) and emits one record per outcome on its named outputs. " +
		"The order's id and lines are read through expressions, so any storefront's payload can be allocated; " +
		"each line must have a `sku` and a `quantity`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Allocation settings.",
		Fields: []*component.Field{
			{Name: "rules", Kind: component.RefField, RefTo: component.RuleSection, RefKind: "fulfillment", Required: true,
				Doc: "The fulfillment rule set that decides strategy, splitting and backorders.", Examples: []any{"fulfillment"}},
			{Name: "inventory", Kind: component.StringField, Default: "main",
				Doc: "The inventory the stock levels are read from and committed to."},
			{Name: "order_id", Kind: component.ExprField, Default: "string(id)", Result: component.StringType,
				Doc: "Expression giving the order's id."},
			{Name: "key", Kind: component.ExprField, Result: component.StringType,
				Doc: "Expression telling apart orders whose ids collide within the pipeline and source, such as one pipeline taking several " +
					"shops. With the pipeline and source name it keys the order in the store: a replay is known by it, and an order that " +
					"differs from the one first applied under it (other lines, an edited order) is refused to the error output instead of " +
					"taken for a replay. It is also the order's reference in the inventory ledger and for `pipectl explain`, so the `stock` " +
					"steps of the order give the same `key`. Default: the order id.",
				Examples: []any{`shop_domain + "/" + string(id)`}},
			{Name: "lines", Kind: component.ExprField, Default: "line_items", Result: component.ArrayOf(allocateLine),
				Doc:      "Expression giving the order lines; each needs `sku` and `quantity`.",
				Examples: []any{"line_items", `map(lines, {"sku": #.sku, "quantity": #.qty})`}},
			{Name: "destination", Kind: component.ExprField, Default: "nil",
				Doc: "Expression giving the shipping address (country, market, latitude, longitude) for the closest strategy and market rules."},
			{Name: "date", Kind: component.ExprField, Default: "nil",
				Doc:      "Expression giving when the order was placed (RFC 3339 text); it dates promised backorders. Null uses the run's clock.",
				Examples: []any{"created_at"}},
			replenishmentField(),
		}},
	Outputs: []component.Output{
		{Name: "allocations", Doc: "One record per line and location stock was allocated from."},
		{Name: "shipments", Doc: "One record per location shipping part of the order: the pick ticket."},
		{Name: "backorders", Doc: "Quantities that could not be allocated and are backordered."},
		{Name: "cancellations", Doc: "Quantities cancelled (backorders denied with remainder_action: cancel)."},
		{Name: "holds", Doc: "Orders held (ship complete waiting for stock, remainder_action: hold)."},
		{Name: "adjustments", Doc: "Inventory ledger movements, each with an idempotency key."},
		{Name: "notifications", Doc: "Backorder, low-stock and out-of-stock notifications."},
		{Name: "replenishment", Doc: "Requests to bring a stock row the order took below its reorder point back to its target level; one per row until it is restocked."},
	},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		return map[string]*component.Type{
			component.DefaultOutput: tc.Input,
			"allocations":           allocationRecord,
			"shipments":             shipmentOf(tc.Input),
			"backorders":            backorderRecord,
			"cancellations":         cancellationRecord,
			"holds":                 holdRecord,
			"adjustments":           adjustmentRecord,
			"notifications":         notificationRecord,
			"replenishment":         replenishmentRecord,
		}
	},
	Stateful:  true,
	UsesState: component.Always,
	NewStep:   newAllocate,
	Examples: []component.Example{{
		Title: "Allocate Shopify orders",
		YAML: `steps:
  allocate:
    from: orders
    allocate: {rules: fulfillment}
sinks:
  wms:
    from: allocate.shipments
    http: {url: "${WMS_URL}/pick-tickets", idempotency_key: shipment_id}`,
	}},
}
