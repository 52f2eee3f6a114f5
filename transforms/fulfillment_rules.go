package transforms

import "github.com/pipectl/pipectl/pipelines/component"

// fulfillmentRuleSpec is the rule set ops teams toggle: the parameters of
// allocation, split shipments and backorders, named after the systems they
// come from (Saleor, Magento MSI, Shopify, WooCommerce, Odoo).
var fulfillmentRuleSpec = &component.Spec{
	Kind:    "fulfillment",
	Section: component.RuleSection,
	Summary: "How orders are allocated, split into shipments and backordered.",
	Description: "Ops teams own these settings, usually in a rules file beside the pipeline. Every setting has a " +
		"default, so a rule set states only what differs. `when` limits a rule set to matching orders and " +
		"`overrides` change settings for some of them (`{when: '\"wholesale\" in tags', set: {split: {mode: ship_complete}}}`).",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Fulfillment settings.", Fields: []*component.Field{
		{Name: "inventory", Kind: component.ObjectField, Doc: "How available stock is computed.", Fields: []*component.Field{
			{Name: "safety_stock", Kind: component.NumberField, Default: 0.0, Doc: "Units kept back at every location (Shopify safety stock, Magento min_qty)."},
			{Name: "safety_stock_by_sku", Kind: component.MapField, Elem: &component.Field{Kind: component.NumberField, Doc: "units"}, Doc: "Safety stock per SKU, overriding `safety_stock`."},
			{Name: "safety_stock_by_location", Kind: component.MapField, Elem: &component.Field{Kind: component.NumberField, Doc: "units"}, Doc: "Safety stock per location."},
			{Name: "respect_reservations", Kind: component.BoolField, Default: true, Doc: "Subtract unexpired reservations (carts, manual holds) from available stock."},
			{Name: "reservation_ttl_minutes", Kind: component.IntField, Default: 60, Doc: "How long a reservation holds stock."},
			{Name: "negative_on_hand", Kind: component.BoolField, Default: false, Doc: "Allow on-hand to go below zero."},
		}},
		{Name: "allocation", Kind: component.ObjectField, Doc: "Which locations stock is taken from.", Fields: []*component.Field{
			{Name: "strategy", Kind: component.EnumField, Enum: []string{"priority", "high_stock", "closest", "fewest_shipments"}, Default: "priority",
				Doc: "How candidate locations are ordered: fixed priority, most stock first, nearest first, or fewest shipments."},
			{Name: "location_priority", Kind: component.ListField, Elem: &component.Field{Kind: component.StringField, Doc: "a location id"},
				Doc: "Location ids, first preferred.", Examples: []any{[]any{"wh-east", "wh-west"}}},
			{Name: "tie_breakers", Kind: component.ListField, Elem: &component.Field{Kind: component.EnumField, Enum: []string{"priority", "distance", "location_id"}, Doc: "a tie-breaker"},
				Default: []string{"priority", "distance", "location_id"},
				Doc: "How locations the strategy ranks equal are ordered, in turn: `priority` (location_priority, then the location's priority), " +
					"`distance` (nearest the destination first; unknown coordinates last) and `location_id`. The ranking always ends in " +
					"`location_id`, which is added when missing and must come last."},
			{Name: "same_market_only", Kind: component.BoolField, Default: false, Doc: "Only locations in the destination's market."},
			{Name: "exclude_locations", Kind: component.ListField, Elem: &component.Field{Kind: component.StringField, Doc: "a location id"}, Doc: "Locations never allocated from."},
			{Name: "pickup_location_first", Kind: component.BoolField, Default: true, Doc: "A click-and-collect order takes stock from its pickup location first."},
			{Name: "all_or_nothing_per_order", Kind: component.BoolField, Default: false, Doc: "Allocate nothing unless the whole order can be allocated: any shortfall, even one the backorder policy could " +
				"backorder, or a line in error discards the order's allocations, and the backorder policy then applies to every line in full."},
		}},
		{Name: "split", Kind: component.ObjectField, Doc: "Whether and how an order is split into shipments.", Fields: []*component.Field{
			{Name: "mode", Kind: component.EnumField, Enum: []string{"ship_partial", "ship_complete"}, Default: "ship_partial",
				Doc: "`ship_partial` ships what is available now; `ship_complete` waits for the whole order."},
			{Name: "allow_line_split", Kind: component.BoolField, Default: true, Doc: "One line may ship from several locations."},
			{Name: "max_shipments", Kind: component.IntField, Default: 0, Doc: "Most shipments per order; 0 for no limit."},
			{Name: "combo_search_cap", Kind: component.IntField, Default: 10000, Doc: "Most location combinations fewest_shipments examines."},
			{Name: "reserve_while_holding", Kind: component.BoolField, Default: true, Doc: "A held ship-complete order keeps what it allocated."},
		}},
		{Name: "backorder", Kind: component.ObjectField, Doc: "What happens to quantities that cannot be allocated.", Fields: []*component.Field{
			{Name: "policy", Kind: component.EnumField, Enum: []string{"deny", "allow", "allow_notify"}, Default: "deny",
				Doc: "`deny` refuses the shortfall, `allow` backorders it, `allow_notify` backorders and notifies the customer."},
			{Name: "max_depth", Kind: component.NumberField, Doc: "Most units of a SKU outstanding on backorder, across locations: booked and not yet shipped, cancelled or " +
				"covered by stock received at their location (a row a feed took below zero is no backorder); unset for no limit."},
			{Name: "remainder_action", Kind: component.EnumField, Enum: []string{"backorder", "cancel", "hold"}, Default: "backorder",
				Doc: "What the unallocated remainder of an order becomes."},
			{Name: "backorder_location", Kind: component.EnumField, Enum: []string{"priority_stocked", "first_priority"}, Default: "priority_stocked",
				Doc: "Where a backorder is booked."},
			{Name: "promise_days_default", Kind: component.IntField, Default: 30, Doc: "Days until a backordered line is promised when no restock date is known."},
		}},
		{Name: "notifications", Kind: component.ObjectField, Doc: "Stock notifications.", Fields: []*component.Field{
			{Name: "low_stock_threshold", Kind: component.NumberField, Default: 2.0, Doc: "Notify when available stock falls to this level."},
			{Name: "out_of_stock_threshold", Kind: component.NumberField, Default: 0.0, Doc: "Notify out of stock at this level."},
		}},
	}},
	Examples: []component.Example{{
		Title: "A rules file",
		YAML: `rules:
  fulfillment:
    fulfillment:
      allocation: {strategy: priority, location_priority: [wh-east, wh-west]}
      split: {mode: ship_partial, max_shipments: 2}
      backorder: {policy: allow_notify, remainder_action: backorder}
    overrides:
      - when: '"wholesale" in split(tags, ", ")'
        set: {split: {mode: ship_complete}}`,
	}},
}
