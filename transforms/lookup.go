package transforms

import "github.com/pipectl/pipectl/pipelines/component"

var lookupSpec = &component.Spec{
	Kind:    "lookup",
	Section: component.StepSection,
	Summary: "Joins each record with a row of a table loaded at start (SKU maps, locations, carrier codes).",
	Description: "The table is a CSV file with a header row or a JSON array of objects. The row whose " +
		"`column` equals the record's `key` is added to the record under `as`. What a miss does is declared: " +
		"`error` sends the record to the error output, `default` uses `default`, `drop` drops it.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Lookup settings.",
		Fields: []*component.Field{
			{Name: "table", Kind: component.StringField, Required: true, Doc: "Path of the CSV or JSON table, relative to the pipeline file.",
				Examples: []any{"tables/sku-map.csv"}},
			{Name: "column", Kind: component.StringField, Required: true, Doc: "The table's key column.", Examples: []any{"store_sku"}},
			{Name: "key", Kind: component.ExprField, Required: true, Doc: "Expression giving the value looked up.", Examples: []any{"item.sku"}},
			{Name: "as", Kind: component.StringField, Required: true, Doc: "Field the matched row is added under.", Examples: []any{"wms"}},
			{Name: "on_miss", Kind: component.EnumField, Enum: []string{"error", "default", "drop"}, Default: "error",
				Doc: "What a record with no matching row does."},
			{Name: "default", Kind: component.MapField, Elem: &component.Field{Kind: component.StringField, Doc: "column value"},
				Doc: "Row used on a miss when `on_miss: default`."},
		}},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		as := tc.Config.Get("as")
		if as == nil || as.Str == "" || tc.Input.Kind != component.Object {
			return nil
		}
		out := *tc.Input
		out.Fields = append(append([]component.Property{}, tc.Input.Fields...), component.Property{Name: as.Str, Type: component.OpenObject()})
		return map[string]*component.Type{component.DefaultOutput: &out}
	},
	Examples: []component.Example{{
		Title: "Store SKUs to WMS item codes",
		YAML: `steps:
  with_item:
    from: lines
    lookup: {table: tables/sku-map.csv, column: store_sku, key: line.sku, as: wms}`,
	}},
}
