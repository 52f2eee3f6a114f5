package transforms

import "github.com/pipectl/pipectl/pipelines/component"

var splitSpec = &component.Spec{
	Kind:    "split",
	Section: component.StepSection,
	Summary: "Emits one record per element of an array, such as one per line item.",
	Description: "Each output record holds the element under `as` (default `item`), its position as `index`, " +
		"and the whole input record as `parent`, so expressions downstream can read both " +
		"`item.sku` and `parent.id`. An empty array emits nothing and is counted as dropped.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "items", Doc: "Split settings.",
		Fields: []*component.Field{
			{Name: "items", Kind: component.ExprField, Required: true, Result: component.ArrayOf(component.AnyType),
				Doc: "Expression yielding the array to split.", Examples: []any{"line_items"}},
			{Name: "as", Kind: component.StringField, Default: "item",
				Doc: "Field name the element is put under in the output record."},
		}},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		elem := component.AnyType
		if it := tc.Config.Get("items"); it != nil && it.Expr != nil {
			if t := it.Expr.ResultType(); t.Kind == component.Array && t.Elem != nil {
				elem = t.Elem
			}
		}
		as := "item"
		if v := tc.Config.Get("as"); v != nil && v.Str != "" {
			as = v.Str
		}
		return map[string]*component.Type{component.DefaultOutput: component.ObjectOf(
			component.Property{Name: as, Type: elem},
			component.Property{Name: "index", Type: component.IntType},
			component.Property{Name: "parent", Type: tc.Input},
		)}
	},
	Examples: []component.Example{{
		Title: "One record per line item",
		YAML: `steps:
  lines:
    from: orders
    split: {items: line_items, as: line}
  line_rows:
    from: lines
    map:
      order_id: string(parent.id)
      sku: line.sku
      qty: line.quantity`,
	}},
}
