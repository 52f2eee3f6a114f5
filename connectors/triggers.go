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
		"`secret` may list several secrets while one is being rotated: a request signed with any of them is accepted. " +
		"WooCommerce keeps its secret HTML-escaped (`a&amp;b`) and signs with it unescaped (`a&b`); pipectl unescapes " +
		"`secret` the same way, so either form works. A request without a signature is " +
		"refused, except the unsigned `webhook_id=N` request WooCommerce sends when a webhook is saved, which is answered " +
		"and otherwise ignored. A repeated delivery of an event is queued once: Shopify's are told apart by " +
		"X-Shopify-Event-Id, WooCommerce's by topic, resource id and `date_modified_gmt`, others by the body's SHA-256.\n\n" +
		"Webhooks are received by `pipectl serve`, which answers 200 only once a delivery is durably queued. " +
		"`pipectl dry-run --input` and `pipectl test` run the pipeline on sample payloads; `pipectl run` refuses a " +
		"pipeline whose source waits for a webhook.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Webhook settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "URL path served.", Examples: []any{"/hooks/shopify/orders-create"}},
			{Name: "method", Kind: component.EnumField, Enum: []string{"POST", "PUT"}, Default: "POST", Doc: "HTTP method accepted."},
			{Name: "verify", Kind: component.EnumField, Enum: []string{"shopify", "woocommerce", "none"}, Default: "none", Doc: "Signature scheme checked."},
			{Name: "secret", Kind: component.ListField, Secret: true,
				Doc: "Shared signing secret, or a list of them while one is rotated (any one may sign); always from the environment.",
				Elem: &component.Field{Name: "secret", Kind: component.StringField, Secret: true, Doc: "a signing secret",
					Examples: []any{"${SHOPIFY_WEBHOOK_SECRET}"}},
				Examples: []any{"${SHOPIFY_WEBHOOK_SECRET}", []any{"${SHOPIFY_WEBHOOK_SECRET}", "${SHOPIFY_WEBHOOK_SECRET_OLD}"}}},
			{Name: "max_body", Kind: component.IntField, Default: defaultMaxBody,
				Doc: "Largest request body accepted, in bytes; a larger one is refused with 413 Content Too Large."},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		if v := cfg.Get("verify"); v != nil && v.Str != "none" {
			if s := cfg.Get("secret"); s == nil || len(s.List) == 0 {
				report.Errorf(v, "missing-field", "verify: %s needs `secret`", v.Str)
			}
		}
		if p := cfg.Get("path"); p != nil && p.Str != "" && p.Str[0] != '/' {
			report.Errorf(p, "invalid-value", "webhook path %s must start with /", quoted(p))
		}
		// A max_body that is not an integer is the loader's to report.
		if m := cfg.Get("max_body"); m != nil && m.Int <= 0 && isInteger(m.Str) {
			report.Errorf(m, "invalid-value", "max_body must be a positive number of bytes, got %s", m.Str)
		}
	},
	NewTrigger: newWebhookTrigger,
}

var cronTriggerSpec = &component.Spec{
	Kind:    "cron",
	Section: component.TriggerSection,
	Summary: "Starts sources on a schedule, in a time zone.",
	Description: "Five cron fields, or six with leading seconds, or descriptors such as `@daily` and `@every 15m`.\n\n" +
		"A schedule that names hours keeps to the wall clock across daylight-saving changes and runs once on the days " +
		"they happen: a time the clocks skip in spring runs when they jump (02:30 runs at 03:00), a time they repeat in " +
		"autumn runs the first time only. Schedules that run in every hour (`*/15 * * * *`, `@hourly`) keep their " +
		"rhythm through the change, the repeated hour included, and `@every` counts real time, not the clock.\n\n" +
		"Schedules are kept by `pipectl serve`: each tick is claimed once in the state store (so several serve " +
		"processes sharing PostgreSQL run it once), runs the sources the trigger starts, and is recorded in the run " +
		"history (`pipectl runs`). `pipectl run` runs the pipeline's sources once, when it is typed.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "schedule", Doc: "Schedule settings.",
		Fields: []*component.Field{
			{Name: "schedule", Kind: component.CronField, Required: true, Doc: "Cron expression.", Examples: []any{"0 30 2 * * *", "*/15 * * * *", "@daily"}},
			{Name: "timezone", Kind: component.TimezoneField, Default: "UTC", Doc: "IANA time zone the schedule is read in.", Examples: []any{"Europe/Berlin"}},
			{Name: "catch_up", Kind: component.EnumField, Enum: []string{"none", "latest", "all"}, Default: "latest",
				Doc: "Ticks missed while nothing served the pipeline: `none` skips them, `latest` runs once for the last " +
					"of them, `all` runs once for each, oldest first."},
			{Name: "overlap", Kind: component.EnumField, Enum: []string{"skip", "queue"}, Default: "skip",
				Doc: "A tick that comes while the previous run is still going: `skip` drops it, `queue` runs it when " +
					"the previous run ends."},
		}},
	Validate:   validateCron,
	NewTrigger: newCronTrigger,
}

var messageTriggerSpec = &component.Spec{
	Kind:    "message",
	Section: component.TriggerSection,
	Summary: "Starts event sources when a message arrives on a NATS JetStream subject: an OMS publishing order events, a WMS publishing shipment confirmations.",
	Description: "Each message is one delivery, queued by `pipectl serve` exactly as a webhook is (in its state store, " +
		"or on JetStream with `--nats`) and run by its workers with the same retries and dead letters.\n\n" +
		"Serve reads the subject with a durable pull consumer (`durable`, by default `pipectl_<pipeline>_<trigger>`), " +
		"shared by every serve process, so each message is taken once across all of them. A message is " +
		"acknowledged only after it was queued durably, and the acknowledgement is confirmed by the server; one " +
		"not acknowledged within 30 s (serve was killed) is handed over again, and its event id, the message's " +
		"`Nats-Msg-Id` or else its stream and sequence, keeps it from being queued twice. The stream must exist " +
		"(the publisher's, or one made with `nats stream add`); serve logs and retries until it does. Under " +
		"`--roles`, message triggers are read by the processes with the intake role.\n\n" +
		"`pipectl dry-run --input` and `pipectl test` run the pipeline on sample messages without a server.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "subject", Doc: "Message settings.",
		Fields: []*component.Field{
			{Name: "subject", Kind: component.StringField, Required: true, Doc: "Subject, wildcards allowed.", Examples: []any{"orders.created"}},
			{Name: "stream", Kind: component.StringField, Doc: "JetStream stream; found from the subject when absent."},
			{Name: "durable", Kind: component.StringField, Doc: "Durable consumer name, so restarts resume; `pipectl_<pipeline>_<trigger>` when absent."},
			{Name: "deliver", Kind: component.EnumField, Enum: []string{"all", "new"}, Default: "all",
				Doc: "Where a new durable consumer starts: `all` from the first message the stream holds, `new` from the next one published. An existing consumer resumes where it was."},
			{Name: "url", Kind: component.StringField, Default: "nats://127.0.0.1:4222", Doc: "NATS server URL (comma-separated for a cluster); ${VAR} allowed."},
		}},
	Validate:   validateMessage,
	NewTrigger: newMessageTrigger,
}

var manualTriggerSpec = &component.Spec{
	Kind:        "manual",
	Section:     component.TriggerSection,
	Summary:     "Starts sources only when someone runs `pipectl run`.",
	Description: "The default for file and stdin sources; declare it to make that explicit.",
	Config:      &component.Field{Kind: component.ObjectField, Doc: "No settings.", Fields: []*component.Field{}},
}

func isInteger(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// quoted shows a setting's value in a message, unless it is secret.
func quoted(v *component.Value) string {
	if v.Secret {
		return component.Redacted
	}
	return strconv.Quote(v.Str)
}
