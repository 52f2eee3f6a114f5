package connectors

import (
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

var httpSinkSpec = &component.Spec{
	Kind:    "http",
	Section: component.SinkSection,
	Summary: "Sends each record to an HTTP API: the way a consultant reaches a WMS, OMS or ERP.",
	Description: "Success is any 2xx. 5xx, 408 and 429 are retried with exponential backoff and jitter, honouring " +
		"Retry-After; other 4xx go straight to the sink's `error` output with the response status and body. " +
		"Credentials come from the environment and are never printed.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "HTTP sink settings.",
		Fields: []*component.Field{
			{Name: "url", Kind: component.StringField, Required: true, Doc: "Endpoint URL; ${VAR} allowed.", Examples: []any{"${WMS_URL}/pick-tickets"}},
			{Name: "method", Kind: component.EnumField, Enum: []string{"POST", "PUT", "PATCH", "DELETE"}, Default: "POST", Doc: "HTTP method."},
			{Name: "headers", Kind: component.MapField, Elem: &component.Field{Kind: component.StringField, Doc: "header value"}, Doc: "Extra request headers."},
			{Name: "auth", Kind: component.ObjectField, Doc: "Authentication.", Fields: []*component.Field{
				{Name: "type", Kind: component.EnumField, Enum: []string{"none", "bearer", "basic", "api_key"}, Default: "none", Doc: "Scheme."},
				{Name: "token", Kind: component.StringField, Secret: true, Doc: "Bearer token or API key.", Examples: []any{"${WMS_TOKEN}"}},
				{Name: "username", Kind: component.StringField, Doc: "Basic auth user."},
				{Name: "password", Kind: component.StringField, Secret: true, Doc: "Basic auth password.", Examples: []any{"${WMS_PASSWORD}"}},
				{Name: "header", Kind: component.StringField, Default: "X-API-Key", Doc: "Header carrying an api_key."},
			}},
			{Name: "body", Kind: component.MappingField, Doc: "Request body as a mapping of fields to expressions; the record itself when absent."},
			{Name: "idempotency_key", Kind: component.ExprField, Result: component.StringType,
				Doc: "Expression sent as the Idempotency-Key header, so a retried request has one effect.", Examples: []any{"shipment_id"}},
			{Name: "concurrency", Kind: component.IntField, Default: 4, Doc: "Requests in flight at once."},
			{Name: "timeout", Kind: component.DurationField, Default: 30 * time.Second, Doc: "Timeout of one attempt."},
			{Name: "max_attempts", Kind: component.IntField, Default: 5, Doc: "Attempts before a record goes to the error output."},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		auth := cfg.Get("auth")
		if auth == nil || !auth.Set {
			return
		}
		switch typ := auth.Get("type"); {
		case typ == nil:
		case (typ.Str == "bearer" || typ.Str == "api_key") && auth.Get("token") == nil:
			report.Errorf(typ, "missing-field", "auth type %s needs `token`", typ.Str)
		case typ.Str == "basic" && (auth.Get("username") == nil || auth.Get("password") == nil):
			report.Errorf(typ, "missing-field", "auth type basic needs `username` and `password`")
		}
	},
	Examples: []component.Example{{
		Title: "Pick tickets to a WMS",
		YAML: `sinks:
  wms:
    from: allocate.shipments
    http:
      url: "${WMS_URL}/pick-tickets"
      auth: {type: bearer, token: "${WMS_TOKEN}"}
      idempotency_key: shipment_id`,
	}},
}
