package transforms

import (
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

var dedupeSpec = &component.Spec{
	Kind:    "dedupe",
	Section: component.StepSection,
	Summary: "Drops records whose key was already seen, such as a webhook delivered twice.",
	Description: "Keeps the first record for each key. Memory is bounded by `max_keys` (the oldest keys are " +
		"forgotten first) and `ttl`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "key", Doc: "Dedupe settings.",
		Fields: []*component.Field{
			{Name: "key", Kind: component.ExprField, Required: true, Doc: "Expression giving the identity of a record.",
				Examples: []any{"string(id)", `string(id) + ":" + updated_at`}},
			{Name: "max_keys", Kind: component.IntField, Default: 1_000_000, Doc: "How many keys to remember."},
			{Name: "ttl", Kind: component.DurationField, Default: 24 * time.Hour, Doc: "How long a key is remembered."},
		}},
	Examples: []component.Example{{
		Title: "Ignore repeated webhook deliveries",
		YAML: `steps:
  once:
    from: orders
    dedupe: {key: string(id)}`,
	}},
}
