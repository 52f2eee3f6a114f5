package connectors

import (
	"strconv"

	"github.com/pipectl/pipectl/pipelines/component"
)

var webhookTriggerSpec = &component.Spec{
	Kind:    "webhook",
	Section: component.TriggerSection,
	Summary: "Starts event sources when an HTTP request arrives at a path, after verifying its signature.",
	Description: "`verify: shopify` checks X-Shopify-Hmac-Sha256, `verify: woocommerce` checks X-WC-Webhook-Signature " +
		"(both base64 HMAC-SHA256 of the raw body with `secret`). Two triggers may not share a path.\n\n" +
		"**Not served yet:** webhooks are received by `pipectl serve`, which is not built yet. Today the trigger is " +
		"validated, and its pipeline runs on sample payloads with `pipectl dry-run --input` and `pipectl test`; " +
		"`pipectl run` refuses a pipeline whose source waits for it.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Webhook settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "URL path served.", Examples: []any{"/hooks/shopify/orders-create"}},
			{Name: "method", Kind: component.EnumField, Enum: []string{"POST", "PUT"}, Default: "POST", Doc: "HTTP method accepted."},
			{Name: "verify", Kind: component.EnumField, Enum: []string{"shopify", "woocommerce", "none"}, Default: "none", Doc: "Signature scheme checked."},
			{Name: "secret", Kind: component.StringField, Secret: true, Doc: "Shared signing secret; always from the environment.", Examples: []any{"${SHOPIFY_WEBHOOK_SECRET}"}},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		if v := cfg.Get("verify"); v != nil && v.Str != "none" && cfg.Get("secret") == nil {
			report.Errorf(v, "missing-field", "verify: %s needs `secret`", v.Str)
		}
		if p := cfg.Get("path"); p != nil && p.Str != "" && p.Str[0] != '/' {
			report.Errorf(p, "invalid-value", "webhook path %s must start with /", quoted(p))
		}
	},
}

var cronTriggerSpec = &component.Spec{
	Kind:    "cron",
	Section: component.TriggerSection,
	Summary: "Starts sources on a schedule, in a time zone.",
	Description: "Five cron fields, or six with leading seconds, or descriptors such as `@daily` and `@every 15m`.\n\n" +
		"**Not kept yet:** schedules are kept by `pipectl serve`, which is not built yet. Today the schedule is " +
		"validated, and `pipectl run` runs the pipeline's file sources once, when it is typed.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "schedule", Doc: "Schedule settings.",
		Fields: []*component.Field{
			{Name: "schedule", Kind: component.CronField, Required: true, Doc: "Cron expression.", Examples: []any{"0 30 2 * * *", "*/15 * * * *", "@daily"}},
			{Name: "timezone", Kind: component.TimezoneField, Default: "UTC", Doc: "IANA time zone the schedule is read in.", Examples: []any{"Europe/Berlin"}},
		}},
}

var messageTriggerSpec = &component.Spec{
	Kind:    "message",
	Section: component.TriggerSection,
	Summary: "Starts event sources when a message arrives on a NATS JetStream subject.",
	Description: "Each message is one delivery.\n\n" +
		"**Not served yet:** messages are consumed by `pipectl serve`, which is not built yet. Today the trigger is " +
		"validated, and its pipeline runs on sample payloads with `pipectl dry-run --input` and `pipectl test`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "subject", Doc: "Message settings.",
		Fields: []*component.Field{
			{Name: "subject", Kind: component.StringField, Required: true, Doc: "Subject, wildcards allowed.", Examples: []any{"orders.created"}},
			{Name: "stream", Kind: component.StringField, Doc: "JetStream stream; found from the subject when absent."},
			{Name: "durable", Kind: component.StringField, Doc: "Durable consumer name, so restarts resume."},
			{Name: "url", Kind: component.StringField, Default: "nats://127.0.0.1:4222", Doc: "NATS server URL."},
		}},
}

var manualTriggerSpec = &component.Spec{
	Kind:        "manual",
	Section:     component.TriggerSection,
	Summary:     "Starts sources only when someone runs `pipectl run`.",
	Description: "The default for file and stdin sources; declare it to make that explicit.",
	Config:      &component.Field{Kind: component.ObjectField, Doc: "No settings.", Fields: []*component.Field{}},
}

// quoted shows a setting's value in a message, unless it is secret.
func quoted(v *component.Value) string {
	if v.Secret {
		return component.Redacted
	}
	return strconv.Quote(v.Str)
}
