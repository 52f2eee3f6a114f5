package transforms

import "github.com/pipectl/pipectl/pipelines/component"

var mapSpec = &component.Spec{
	Kind:    "map",
	Section: component.StepSection,
	Summary: "Builds each output record from expressions over the input record.",
	Description: "Each key under `map:` is an output field; its value is an expression over the input " +
		"record's fields, or a nested mapping for an object. Output fields appear in the order written. " +
		"The output record's type is the mapping's, so steps downstream are checked against the fields declared here.",
	Config: &component.Field{Kind: component.MappingField, Required: true,
		Doc:      "Output field -> expression, or -> a nested mapping for an object.",
		Examples: []any{map[string]any{"order_id": "string(id)", "email": "lower(email)"}}},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		return map[string]*component.Type{component.DefaultOutput: MappingType(tc.Config)}
	},
	Examples: []component.Example{{
		Title: "Shopify order to a pick ticket",
		YAML: `steps:
  ticket:
    from: orders
    map:
      order_id: string(id)
      email: lower(email)
      ship_to:
        city: shipping_address.city
        country: shipping_address.country_code
      lines: 'map(line_items, ({"sku": #.sku, "qty": #.quantity}))'`,
	}},
}

// MappingType is the type of the records a mapping builds: a closed object
// with the mapping's fields, in order, typed by their expressions.
func MappingType(v *component.Value) *component.Type {
	obj := &component.Type{Kind: component.Object}
	if v == nil {
		return component.OpenObject()
	}
	for _, k := range v.Keys {
		child := v.Map[k]
		var t *component.Type
		switch {
		case child.IsExpr && child.Expr != nil:
			t = child.Expr.ResultType()
		case child.IsExpr:
			t = component.AnyType // did not compile; already reported
		default:
			t = MappingType(child)
		}
		obj.Fields = append(obj.Fields, component.Property{Name: k, Type: t})
	}
	return obj
}
