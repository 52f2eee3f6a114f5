package connectors

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

var stdinSpec = &component.Spec{
	Kind:        "stdin",
	Section:     component.SourceSection,
	Summary:     "Reads records from standard input.",
	Description: "For shell pipelines and quick tries: `cat orders.ndjson | pipectl run p.yaml`.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Standard input settings.", Fields: []*component.Field{
		{Name: "format", Kind: component.EnumField, Enum: []string{"ndjson", "json", "csv"}, Default: "ndjson", Doc: "How records are written."},
	}},
	Triggers: []string{"manual"},
	NewSource: func(ctx component.BuildContext) (component.Source, error) {
		var in io.Reader = os.Stdin
		if ctx.Runtime != nil && ctx.Runtime.Stdin != nil {
			in = ctx.Runtime.Stdin
		}
		return &stdinSource{name: ctx.Name, in: in, cfg: ctx.Config}, nil
	},
}

type stdinSource struct {
	name string
	in   io.Reader
	cfg  *component.Value
}

func (s *stdinSource) Read(ctx context.Context, emit, emitErr func(*record.Record) error) error {
	var seq int64
	return readFormat(ctx, s.cfg.Get("format").Str, s.cfg, s.in, s.name, "stdin", &seq, emit, emitErr)
}

var stdoutSpec = &component.Spec{
	Kind:        "stdout",
	Section:     component.SinkSection,
	Summary:     "Writes records to standard output.",
	Description: "Records are written one JSON object a line unless `format` says otherwise.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Standard output settings.", Fields: []*component.Field{
		{Name: "format", Kind: component.EnumField, Enum: []string{"ndjson", "json", "csv"}, Default: "ndjson", Doc: "How records are written."},
	}},
	NewSink: func(ctx component.BuildContext) (component.Sink, error) {
		var out io.Writer = os.Stdout
		if ctx.Runtime != nil && ctx.Runtime.Stdout != nil {
			out = ctx.Runtime.Stdout
		}
		if f := ctx.Config.Get("format").Str; f != "ndjson" && f != "" {
			return nil, fmt.Errorf("stdout format %s cannot be written yet", f)
		}
		return &stdoutSink{w: bufio.NewWriter(out)}, nil
	},
}

type stdoutSink struct{ w *bufio.Writer }

func (s *stdoutSink) Write(rec *record.Record) error {
	s.w.Write(rec.Raw)
	return s.w.WriteByte('\n')
}

func (s *stdoutSink) Close() error { return s.w.Flush() }

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
