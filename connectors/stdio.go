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
	Kind:    "stdin",
	Section: component.SourceSection,
	Summary: "Reads records from standard input.",
	Description: "For shell pipelines and quick tries: `cat orders.ndjson | pipectl run p.yaml`, " +
		"`curl -s $SHOP/admin/api/2024-01/orders.json | pipectl run p.yaml` with `unwrap: orders`. Formats, " +
		"`unwrap`, the error output and the faults that stop a run are as for the file source; input that is " +
		"cut short or malformed is located as stdin:line:column.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Standard input settings.", Fields: []*component.Field{
		{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written."},
		columnsTypedField,
		delimiterField,
		recordPathField,
		repeatedField,
		unwrapField,
	}},
	Validate:   validateReadSettings,
	Triggers:   []string{"manual"},
	ReadSample: readSample,
	NewSource: func(ctx component.BuildContext) (component.Source, error) {
		opts, err := parseReadOptions(ctx.Config)
		if err != nil {
			return nil, err
		}
		var in io.Reader = os.Stdin
		if ctx.Runtime != nil && ctx.Runtime.Stdin != nil {
			in = ctx.Runtime.Stdin
		}
		return &stdinSource{name: ctx.Name, in: in, opts: opts}, nil
	},
	OutputType: csvSourceType,
}

type stdinSource struct {
	name string
	in   io.Reader
	opts *readOptions
}

func (s *stdinSource) Read(ctx context.Context, emit, emitErr func(*record.Record) error) error {
	var seq int64
	return readFormat(ctx, s.opts, s.in, s.name, "stdin", &seq, emit, emitErr)
}

var stdoutFormats = []string{"ndjson", "json", "csv"}

var stdoutSpec = &component.Spec{
	Kind:        "stdout",
	Section:     component.SinkSection,
	Summary:     "Writes records to standard output.",
	Description: "Records are written one JSON object a line unless `format` says otherwise; json and csv are written as the file sink writes them.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Standard output settings.", Fields: []*component.Field{
		{Name: "format", Kind: component.EnumField, Enum: stdoutFormats, Default: "ndjson", Doc: "How records are written."},
		columnsListField,
		delimiterField,
	}},
	Validate: validateWriteSettings,
	NewSink: func(ctx component.BuildContext) (component.Sink, error) {
		opts, err := parseWriteOptions(ctx.Config)
		if err != nil {
			return nil, err
		}
		if !contains(stdoutFormats, opts.format) {
			return nil, fmt.Errorf("stdout cannot write format %s", opts.format)
		}
		var out io.Writer = os.Stdout
		if ctx.Runtime != nil && ctx.Runtime.Stdout != nil {
			out = ctx.Runtime.Stdout
		}
		return &stdoutSink{w: bufio.NewWriter(out), enc: opts.encoder()}, nil
	},
}

// stdoutSink writes nothing until the first record or Close, when it starts
// the document (a JSON array's bracket, a CSV header).
type stdoutSink struct {
	w       *bufio.Writer
	enc     encoder
	started bool
	closed  bool
}

func (s *stdoutSink) start() error {
	if s.started {
		return nil
	}
	s.started = true
	return s.enc.begin(s.w)
}

func (s *stdoutSink) Write(_ context.Context, rec *record.Record) error {
	if err := s.start(); err != nil {
		return err
	}
	return s.enc.write(s.w, rec)
}

// Flush hands what is buffered to the output stream.
func (s *stdoutSink) Flush(context.Context) error {
	if !s.started || s.closed {
		return nil
	}
	return s.w.Flush()
}

// Close ends the document. A stream cannot be taken back, so without
// commit the records written so far are flushed and the document is left
// unended (no closing bracket of a JSON array): a reader sees the output
// is incomplete rather than a valid, shorter one.
func (s *stdoutSink) Close(_ context.Context, commit bool) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if !commit {
		if !s.started {
			return nil
		}
		return s.w.Flush()
	}
	if err := s.start(); err != nil {
		return err
	}
	err := s.enc.end(s.w)
	if e := s.w.Flush(); err == nil {
		err = e
	}
	return err
}

var eventSpec = &component.Spec{
	Kind:    "event",
	Section: component.SourceSection,
	Summary: "The payload of the webhook request or message that fired the source's trigger.",
	Description: "Each delivery is one record; a payload that is not valid JSON goes to the source's `error` output " +
		"with its raw body. `pipectl test` and `pipectl dry-run --input` take samples of payloads (one JSON object, " +
		"an array or NDJSON), unwrapped by `unwrap` unless the sample gives its own.\n\n" +
		"Deliveries come from `pipectl serve` (webhooks and messages); `pipectl run` " +
		"refuses an event source.",
	Config: &component.Field{Kind: component.ObjectField, Doc: "Event settings.", Fields: []*component.Field{
		{Name: "unwrap", Kind: component.StringField, Doc: "Dot path of the record inside an envelope, e.g. `data` for WordPress.com-proxied WooCommerce payloads.",
			Examples: []any{"data", "order"}},
	}},
	Triggers:        []string{"webhook", "message"},
	TriggerRequired: true,
	ReadSample:      readSample,
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
