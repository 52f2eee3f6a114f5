package transforms

import (
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

var groupSpec = &component.Spec{
	Kind:    "group",
	Section: component.StepSection,
	Summary: "Collects records that share a key into one record: the inverse of split.",
	Description: "Records with the same key are gathered into `{key, records}`. A group is emitted when " +
		"the input ends, when it reaches `max_records`, or when `max_wait` has passed since its first record.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "key", Doc: "Grouping settings.",
		Fields: []*component.Field{
			{Name: "key", Kind: component.ExprField, Required: true, Doc: "Expression giving each record's group key.",
				Examples: []any{"parent.id"}},
			{Name: "max_records", Kind: component.IntField, Default: 0, Doc: "Emit a group once it holds this many records; 0 for no limit."},
			{Name: "max_wait", Kind: component.DurationField, Default: time.Duration(0), Doc: "Emit a group this long after its first record; 0 waits for the end of the input."},
		}},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		key := component.AnyType
		if k := tc.Config.Get("key"); k != nil && k.Expr != nil {
			key = k.Expr.ResultType()
		}
		return map[string]*component.Type{component.DefaultOutput: component.ObjectOf(
			component.Property{Name: "key", Type: key},
			component.Property{Name: "records", Type: component.ArrayOf(tc.Input)},
		)}
	},
	Examples: []component.Example{{
		Title: "Lines back into orders",
		YAML: `steps:
  per_order:
    from: lines
    group: {key: parent.id}`,
	}},
}
