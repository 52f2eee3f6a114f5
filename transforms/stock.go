package transforms

import "github.com/pipectl/pipectl/pipelines/component"

// stockLine is what `stock` needs of each event line.
var stockLine = component.ObjectOf(
	component.Required("sku", component.StringType),
	component.Required("quantity", component.NumberType),
)

// replenishmentRecord is a request to bring a stock row back to its
// target level; stock_run.go emits it field for field.
var replenishmentRecord = component.ObjectOf(
	component.Property{Name: "sku", Type: component.StringType},
	component.Property{Name: "location_id", Type: component.StringType},
	component.Property{Name: "qty", Type: component.DecimalType},
	component.Property{Name: "available", Type: component.DecimalType},
	component.Property{Name: "reorder_point", Type: component.DecimalType},
	component.Property{Name: "target_level", Type: component.DecimalType},
	component.Property{Name: "order_id", Type: component.StringType},
	component.Property{Name: "idempotency_key", Type: component.StringType},
)

var reorderFields = []*component.Field{
	{Name: "reorder_point", Kind: component.NumberField, Default: 0.0,
		Doc: "A request is opened when available stock at a location falls below this."},
	{Name: "target_level", Kind: component.NumberField, Default: 0.0,
		Doc: "The request asks for this level minus available stock; 0 turns replenishment off."},
}

// replenishmentField is the `replenishment` setting of allocate and stock:
// the reorder levels that open a replenishment request.
func replenishmentField() *component.Field {
	return &component.Field{Name: "replenishment", Kind: component.ObjectField, Doc: "When a replenishment request is opened.",
		Fields: append(append([]*component.Field{}, reorderFields...),
			&component.Field{Name: "by_sku", Kind: component.MapField,
				Elem: &component.Field{Kind: component.ObjectField, Doc: "the SKU's reorder level", Fields: reorderFields},
				Doc:  "Reorder levels per SKU (matched case-insensitively), overriding the defaults."}),
	}
}

var stockSpec = &component.Spec{
	Kind:    "stock",
	Section: component.StepSection,
	Summary: "Cancels, ships or restocks what an order allocated: releases or consumes committed stock.",
	Description: "Applies a cancellation, a shipment confirmation or a return to the inventory the `allocate` step " +
		"committed. `action: cancel` releases the order's allocations (the most recent " +
		"first, so a partial cancel frees the lowest-ranked location first), then its backorders; units already " +
		"shipped are cancelled without a stock change. `action: ship` consumes on hand and committed at the " +
		"line's location, refusing more than the order holds there or an on-hand below zero (unless " +
		"`negative_on_hand`). `action: return` puts a `RETURN` line back on hand at its location and changes " +
		"nothing for `NO_RESTOCK`. What the order holds is read from the inventory ledger. Each event is applied " +
		"once, keyed by action, pipeline and source, order key and event id: a replayed webhook changes no stock and emits the same " +
		"records, and an event sent again under its id with other lines is refused to the error output, not taken for a " +
		"replay. An order whose ledger holds the allocations of two orders with its id (two shops, no `key`) is refused " +
		"too, rather than release the other's stock. A refused event changes nothing and leaves through the error output. The input record leaves " +
		"on the default output once applied. Stock notifications (back in stock, low stock, out of stock) use " +
		"the rule set's thresholds; a replenishment request is opened when a touched row's available stock is " +
		"below its reorder point, at most one open per SKU and location until stock is back at the reorder point.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Stock event settings.",
		Fields: []*component.Field{
			{Name: "action", Kind: component.EnumField, Enum: []string{"cancel", "ship", "return"}, Required: true,
				Doc: "`cancel` releases allocations and backorders, `ship` consumes committed stock, `return` restocks."},
			{Name: "rules", Kind: component.RefField, RefTo: component.RuleSection, RefKind: "fulfillment", Required: true,
				Doc: "The fulfillment rule set: negative_on_hand, safety stock and the notification thresholds.", Examples: []any{"fulfillment"}},
			{Name: "inventory", Kind: component.StringField, Default: "main",
				Doc: "The inventory the stock is changed in."},
			{Name: "order_id", Kind: component.ExprField, Default: "string(order_id)", Result: component.StringType,
				Doc: "Expression giving the order's id, as `allocate` read it."},
			{Name: "key", Kind: component.ExprField, Result: component.StringType,
				Doc: "Expression giving the order's key, as the `allocate` step's `key` gave it, where order ids of several shops " +
					"collide: it names the order's ledger. Default: the order id.",
				Examples: []any{`shop_domain + "/" + string(order_id)`}},
			{Name: "event_id", Kind: component.ExprField, Default: "string(id)", Result: component.StringType,
				Doc: "Expression giving the event's id (webhook id, shipment id, refund id): with the action, the pipeline and source, " +
					"and the order's key it makes the idempotency key.",
				Examples: []any{"shipment_id"}},
			{Name: "lines", Kind: component.ExprField, Default: "lines", Result: component.ArrayOf(stockLine),
				Doc: "Expression giving the event lines: `sku` and `quantity`, and optionally `line_id` (the order line, " +
					"as `allocate` numbered it), `location` (where shipped from or restocked to) and `restock_type` " +
					"(`RETURN` or `NO_RESTOCK`, returns only). A line without `line_id` takes the order's lines of its SKU.",
				Examples: []any{`map(items, ({"sku": #.sku, "quantity": #.qty, "restock_type": "RETURN"}))`}},
			{Name: "location", Kind: component.ExprField, Default: "nil",
				Doc:      "Expression giving the location of lines that name none (the shipment's warehouse).",
				Examples: []any{"warehouse"}},
			replenishmentField(),
		}},
	Outputs: []component.Output{
		{Name: "adjustments", Doc: "Inventory ledger movements, each with an idempotency key."},
		{Name: "cancellations", Doc: "One record per cancelled event line (action cancel)."},
		{Name: "notifications", Doc: "back_in_stock, low_stock and out_of_stock notifications."},
		{Name: "replenishment", Doc: "Requests to bring a stock row back to its target level."},
	},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		return map[string]*component.Type{
			component.DefaultOutput: tc.Input,
			"adjustments":           adjustmentRecord,
			"cancellations":         cancellationRecord,
			"notifications":         notificationRecord,
			"replenishment":         replenishmentRecord,
		}
	},
	Stateful:  true,
	UsesState: component.Always,
	NewStep:   newStock,
	Examples: []component.Example{{
		Title: "Consume stock for WMS shipment confirmations",
		YAML: `steps:
  ship:
    from: confirmations
    stock:
      action: ship
      rules: fulfillment
      event_id: shipment_id
      location: warehouse
      replenishment: {reorder_point: 5, target_level: 20}
sinks:
  purchasing:
    from: ship.replenishment
    http: {url: "${ERP_URL}/replenishment", idempotency_key: idempotency_key}`,
	}},
}
