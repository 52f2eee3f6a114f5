package transforms

import "github.com/pipectl/pipectl/pipelines/component"

var filterSpec = &component.Spec{
	Kind:    "filter",
	Section: component.StepSection,
	Summary: "Keeps the records for which a condition holds; drops the rest.",
	Description: "The condition must be a boolean expression. Dropped records are counted in the run summary; " +
		"a record whose condition fails to evaluate goes to the `error` output.",
	Config: &component.Field{Kind: component.ExprField, Required: true, Result: component.BoolType,
		Doc: "Condition over the input record.", Examples: []any{"!test && len(line_items) > 0"}},
	Examples: []component.Example{{
		Title: "Skip test orders",
		YAML: `steps:
  real_orders:
    from: orders
    filter: "!test && len(line_items) > 0"`,
	}},
}
