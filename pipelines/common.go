package pipelines

import "github.com/pipectl/pipectl/pipelines/component"

// CommonFields are the settings every entry of a section may have beside its
// kind key. They are part of the language, not of any kind, so they live
// here; the JSON Schema and the reference docs are generated from them too.
func CommonFields(sec component.Section) []*component.Field {
	description := &component.Field{Name: "description", Kind: component.StringField,
		Doc: "What this entry is for, in a sentence. Shown by `pipectl graph` and in dry runs."}
	from := &component.Field{Name: "from", Kind: component.ListField, Required: true,
		Elem:     &component.Field{Kind: component.StringField, Doc: "a node name, or `name.output`"},
		Doc:      "The inputs: a source or step name, or `name.output` for a named output such as `route.express` or `allocate.backorders`. A list fans in several inputs.",
		Examples: []any{"orders", "allocate.shipments", []any{"web_orders", "pos_orders"}}}
	schema := &component.Field{Name: "schema", Kind: component.StringField,
		Doc: "JSON Schema of the records: an embedded name (`shopify/order`, `woocommerce/order`) or a path to a .json file relative to the pipeline file. " +
			"Expressions reading these records are type-checked against it (a field it allows to be null as its type). " +
			"On a source, a record whose fields the pipeline reads do not fit it goes to the source's `error` output, with each violation.",
		Examples: []any{"shopify/order", "schemas/pick-ticket.schema.json"}}
	switch sec {
	case component.SourceSection:
		return []*component.Field{description, schema,
			{Name: "trigger", Kind: component.RefField, RefTo: component.TriggerSection,
				Doc: "The trigger that starts this source: a webhook or message trigger delivers its payload through an `event` source; a cron or manual trigger runs a file source. Without one the source runs on `pipectl run`."}}
	case component.StepSection:
		return []*component.Field{description, from}
	case component.SinkSection:
		sinkSchema := *schema
		sinkSchema.Doc = "JSON Schema the records this sink receives must satisfy; the compiler checks the upstream records' type against it."
		return []*component.Field{description, from, &sinkSchema}
	case component.RuleSection:
		return []*component.Field{description,
			{Name: "when", Kind: component.ExprField, Result: component.BoolType,
				Doc: "Condition on the record: the rule set applies only where it holds. Checked against the records of every step that uses the rule set."},
			{Name: "overrides", Kind: component.ListField,
				Elem: &component.Field{Kind: component.ObjectField, Doc: "an override"},
				Doc:  "Conditional changes: a list of `{when: condition, set: {settings}}`, applied in order where `when` holds; `set` takes the rule kind's settings."}}
	}
	return []*component.Field{description}
}

func fieldNamed(fs []*component.Field, name string) *component.Field {
	for _, f := range fs {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func fieldNames(fs []*component.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}
