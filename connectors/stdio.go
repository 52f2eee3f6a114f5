package connectors

import "github.com/pipectl/pipectl/pipelines/component"

var stdinSpec = &component.Spec{
	Kind:        "stdin",
	Section:     component.SourceSection,
	Summary:     "Reads records from standard input.",
	Description: "For shell pipelines and quick tries: `cat orders.ndjson | pipectl run p.yaml`.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Standard input settings.", Fields: []*component.Field{
		{Name: "format", Kind: component.EnumField, Enum: []string{"ndjson", "json", "csv"}, Default: "ndjson", Doc: "How records are written."},
	}},
	Triggers: []string{"manual"},
}

var stdoutSpec = &component.Spec{
	Kind:        "stdout",
	Section:     component.SinkSection,
	Summary:     "Writes records to standard output.",
	Description: "Records are written one JSON object a line unless `format` says otherwise.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Standard output settings.", Fields: []*component.Field{
		{Name: "format", Kind: component.EnumField, Enum: []string{"ndjson", "json", "csv"}, Default: "ndjson", Doc: "How records are written."},
	}},
}

var eventSpec = &component.Spec{
	Kind:    "event",
	Section: component.SourceSection,
	Summary: "The payload of the webhook request or message that fired the source's trigger.",
	Description: "Each delivery is one record. The payload is acknowledged only once it is durably queued; " +
		"a payload that is not valid JSON goes to the source's `error` output with its raw body.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Event settings.", Fields: []*component.Field{
		{Name: "unwrap", Kind: component.StringField, Doc: "Dot path of the record inside an envelope, e.g. `data` for WordPress.com-proxied WooCommerce payloads.",
			Examples: []any{"data", "order"}},
	}},
	Triggers:        []string{"webhook", "message"},
	TriggerRequired: true,
	Examples: []component.Example{{
		Title: "Shopify order webhooks",
		YAML: `triggers:
  order_created:
    webhook: {path: /hooks/shopify/orders-create, verify: shopify, secret: "${SHOPIFY_WEBHOOK_SECRET}"}
sources:
  orders:
    trigger: order_created
    event: {}
    schema: shopify/order`,
	}},
}
