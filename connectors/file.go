package connectors

import "github.com/pipectl/pipectl/pipelines/component"

var formats = []string{"ndjson", "json", "csv", "xml"}

var fileSourceSpec = &component.Spec{
	Kind:    "file",
	Section: component.SourceSection,
	Summary: "Reads records from files: NDJSON, JSON arrays, CSV or XML, gzipped or not.",
	Description: "The batch exchange with ERPs and 3PLs. `path` may be a glob; files are read in name order. " +
		"Files ending in .gz are decompressed. CSV rows become objects keyed by the header row, with `columns` " +
		"giving types; XML records are the elements at `record_path`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "path", Doc: "File source settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "File path or glob, relative to the working directory; ${VAR} allowed.",
				Examples: []any{"${ORDERS_IN}", "exports/orders-*.ndjson.gz"}},
			{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written in the file."},
			{Name: "columns", Kind: component.MapField, Elem: &component.Field{Kind: component.EnumField, Enum: []string{"string", "int", "number", "decimal", "bool"}, Doc: "column type"},
				Doc: "CSV column types by header name; unlisted columns are strings.", Examples: []any{map[string]any{"qty": "int", "price": "decimal"}}},
			{Name: "delimiter", Kind: component.StringField, Default: ",", Doc: "CSV field delimiter."},
			{Name: "record_path", Kind: component.StringField, Doc: "XML: slash-separated path of the record elements.", Examples: []any{"Orders/Order"}},
		}},
	Triggers: []string{"cron", "manual"},
	Examples: []component.Example{{
		Title: "A nightly stock snapshot",
		YAML: `sources:
  stock:
    trigger: nightly
    file: {path: /data/wms/stock-*.csv, format: csv, columns: {on_hand: int}}`,
	}},
}

var fileSinkSpec = &component.Spec{
	Kind:        "file",
	Section:     component.SinkSection,
	Summary:     "Writes records to a file as NDJSON, a JSON array, CSV or XML.",
	Description: "Output is deterministic: the same input gives byte-identical files. CSV columns follow `columns` or the first record's keys.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "path", Doc: "File sink settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "File path; ${VAR} allowed.", Examples: []any{"${ORDERS_OUT}"}},
			{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written."},
			{Name: "columns", Kind: component.ListField, Elem: &component.Field{Kind: component.StringField, Doc: "a field name"}, Doc: "CSV columns, in order."},
			{Name: "record_element", Kind: component.StringField, Default: "record", Doc: "XML: element name of each record."},
			{Name: "gzip", Kind: component.BoolField, Default: false, Doc: "Compress the output."},
		}},
	Examples: []component.Example{{
		Title: "Pick tickets to NDJSON",
		YAML: `sinks:
  out:
    from: tickets
    file: {path: "${ORDERS_OUT}", format: ndjson}`,
	}},
}
