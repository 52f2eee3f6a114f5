package transforms

import "github.com/pipectl/pipectl/pipelines/component"

var validateSpec = &component.Spec{
	Kind:    "validate",
	Section: component.StepSection,
	Summary: "Checks records against a JSON Schema; failures go to the error output.",
	Description: "Valid records pass through unchanged. An invalid record leaves through `error` with the schema " +
		"path and message of every violation and its original payload.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "schema", Doc: "Validation settings.",
		Fields: []*component.Field{
			{Name: "schema", Kind: component.StringField, Required: true,
				Doc: "An embedded schema name (`shopify/order`) or a path to a .json file relative to the pipeline file.", Examples: []any{"shopify/order"}},
		}},
	Examples: []component.Example{{
		Title: "Reject malformed orders",
		YAML: `steps:
  checked:
    from: orders
    validate: shopify/order`,
	}},
}
