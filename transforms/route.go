package transforms

import "github.com/pipectl/pipectl/pipelines/component"

var routeSpec = &component.Spec{
	Kind:    "route",
	Section: component.StepSection,
	Summary: "Sends each record to named outputs by condition.",
	Description: "Each entry under `routes:` is a named output and its condition; downstream nodes read " +
		"`step.name`. With `mode: first` a record takes the first route whose condition holds; with " +
		"`mode: all` it takes every one. Records no route takes leave through `unmatched`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Routing settings.",
		Fields: []*component.Field{
			{Name: "routes", Kind: component.MapField, Required: true,
				Doc:      "Output name -> condition over the record.",
				Elem:     &component.Field{Kind: component.ExprField, Result: component.BoolType, Doc: "condition"},
				Examples: []any{map[string]any{"express": `shipping_lines[0].code == "EXPRESS"`}}},
			{Name: "mode", Kind: component.EnumField, Enum: []string{"first", "all"}, Default: "first",
				Doc: "`first`: the first matching route only; `all`: every matching route."},
		}},
	Outputs:     []component.Output{{Name: "unmatched", Doc: "Records that matched no route."}},
	OutputsFrom: "routes",
	Examples: []component.Example{{
		Title: "Express orders to their own sink",
		YAML: `steps:
  by_speed:
    from: orders
    route:
      routes:
        express: 'len(shipping_lines) > 0 && shipping_lines[0].code == "EXPRESS"'
        international: shipping_address.country_code != "US"
sinks:
  express_wms:
    from: by_speed.express
    stdout: {}`,
	}},
}
