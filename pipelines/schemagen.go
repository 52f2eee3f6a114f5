package pipelines

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
)

// envPattern matches a setting written as an environment reference, which is
// a string in YAML whatever the setting's type.
const envPattern = `^.*\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}.*$`

// PipelineSchema generates the JSON Schema of pipeline files from the
// component specs: what editors use for completion and validation through
// `# yaml-language-server: $schema=...`, and what `pipectl validate` checks
// files against. The output is deterministic.
func PipelineSchema(reg *component.Registry) []byte {
	defs := map[string]any{
		"env":  map[string]any{"type": "string", "pattern": envPattern, "description": "An environment reference: ${NAME} or ${NAME:-default}."},
		"expr": map[string]any{"type": []string{"string", "number", "boolean"}, "description": "An expression (expr-lang) over the record's fields."},
		"mapping": map[string]any{"type": "object", "description": "Output field -> expression, or -> a nested mapping.",
			"properties": map[string]any{"$keep": map[string]any{
				"description": "Carry input fields through as raw bytes: `all`, or a list of field names.",
				"anyOf":       []any{map[string]any{"type": "string"}, map[string]any{"type": "array", "items": map[string]any{"type": "string"}}},
			}},
			"additionalProperties": map[string]any{"anyOf": []any{ref("expr"), ref("mapping")}}},
	}
	for _, sec := range component.Sections {
		defs[sec.String()] = entrySchema(reg, sec)
	}
	defs["rule_sets"] = map[string]any{
		"type": "object", "description": "Rule set name -> settings.",
		"propertyNames":        map[string]any{"pattern": nameRE.String()},
		"additionalProperties": ref("rule"),
	}
	props := map[string]any{
		"pipeline":    map[string]any{"type": "string", "description": "The pipeline's name: lower-case letters, digits, '-' and '_'.", "pattern": `^[a-z][a-z0-9_-]*$`},
		"description": map[string]any{"type": "string", "description": "What the pipeline does, in a sentence or two."},
		"rules": map[string]any{
			"description": "Business rules ops teams toggle: a rules file path (relative to this file) or inline rule sets.",
			"anyOf":       []any{map[string]any{"type": "string"}, ref("rule_sets")},
		},
	}
	props["alerts"] = fieldSchema(AlertsField)
	for _, sec := range []component.Section{component.TriggerSection, component.SourceSection, component.StepSection, component.SinkSection} {
		props[sec.Plural()] = map[string]any{
			"type":                 []string{"object", "null"},
			"description":          sectionDoc[sec],
			"propertyNames":        map[string]any{"pattern": nameRE.String()},
			"additionalProperties": ref(sec.String()),
		}
	}
	root := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "pipectl pipeline",
		"description":          "A pipectl pipeline file. Generated from the component specs by `go generate ./...`; do not edit.",
		"type":                 "object",
		"required":             []string{"pipeline", "sinks"},
		"additionalProperties": false,
		"properties":           props,
		"$defs":                defs,
	}
	return marshal(root)
}

// RulesSchema generates the JSON Schema of rules files.
func RulesSchema(reg *component.Registry) []byte {
	full := map[string]any{}
	_ = json.Unmarshal(PipelineSchema(reg), &full)
	root := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "pipectl rules",
		"description":          "A pipectl rules file: business rules ops teams toggle. Generated from the component specs; do not edit.",
		"type":                 "object",
		"required":             []string{"rules"},
		"additionalProperties": false,
		"properties":           map[string]any{"rules": ref("rule_sets")},
		"$defs":                full["$defs"],
	}
	return marshal(root)
}

var sectionDoc = map[component.Section]string{
	component.TriggerSection: "When sources start: webhooks, cron schedules, messages, manual runs.",
	component.SourceSection:  "Where records come from.",
	component.StepSection:    "How records are reshaped, routed and allocated; each reads `from` sources or steps.",
	component.SinkSection:    "Where records go.",
}

func marshal(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only maps, slices and strings: cannot fail
	}
	return append(b, '\n')
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

// entrySchema is one named entry of a section: its common settings and
// exactly one of the section's kinds.
func entrySchema(reg *component.Registry, sec component.Section) map[string]any {
	props := map[string]any{}
	for _, f := range CommonFields(sec) {
		if f.Name == "overrides" {
			props[f.Name] = map[string]any{"type": "array", "description": f.Doc, "items": map[string]any{
				"type": "object", "additionalProperties": false, "required": []string{"when", "set"},
				"properties": map[string]any{"when": ref("expr"), "set": map[string]any{"type": "object", "description": "Settings of the rule set's kind to change."}},
			}}
			continue
		}
		props[f.Name] = fieldSchema(f)
	}
	var oneOf []any
	for _, s := range reg.Specs(sec) {
		ks := fieldSchema(s.Config)
		ks["description"] = s.Summary
		ks["markdownDescription"] = s.Summary + "\n\n" + s.Description
		props[s.Kind] = ks
		oneOf = append(oneOf, map[string]any{"required": []string{s.Kind}, "title": s.Kind})
	}
	out := map[string]any{
		"type":                 "object",
		"description":          fmt.Sprintf("A %s: its settings and exactly one kind (%s).", sec, strings.Join(reg.Kinds(sec), ", ")),
		"additionalProperties": false,
		"properties":           props,
	}
	if len(oneOf) > 0 {
		out["oneOf"] = oneOf
	}
	return out
}

// fieldSchema is the schema of one setting.
func fieldSchema(f *component.Field) map[string]any {
	s := map[string]any{}
	withEnv := func(t map[string]any) map[string]any {
		return map[string]any{"anyOf": []any{t, ref("env")}}
	}
	switch f.Kind {
	case component.StringField, component.CronField, component.TimezoneField, component.RefField:
		s["type"] = "string"
	case component.IntField:
		s = withEnv(map[string]any{"type": "integer"})
	case component.NumberField:
		s = withEnv(map[string]any{"type": "number"})
	case component.BoolField:
		s = withEnv(map[string]any{"type": "boolean"})
	case component.DurationField:
		s = withEnv(map[string]any{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$`})
	case component.EnumField:
		s = withEnv(map[string]any{"enum": f.Enum})
	case component.ExprField:
		s = ref("expr")
	case component.MappingField:
		s = ref("mapping")
	case component.ObjectField:
		props := map[string]any{}
		var req []string
		for _, sub := range f.Fields {
			props[sub.Name] = fieldSchema(sub)
			if sub.Required {
				req = append(req, sub.Name)
			}
		}
		obj := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
		if len(req) > 0 {
			obj["required"] = req
		} else {
			obj["type"] = []string{"object", "null"}
		}
		if f.Shorthand != "" {
			short := fieldSchema(f.Sub(f.Shorthand))
			s = map[string]any{"anyOf": []any{obj, short}}
		} else {
			s = obj
		}
	case component.ListField:
		elem := fieldSchema(f.Elem)
		s = map[string]any{"anyOf": []any{map[string]any{"type": "array", "items": elem}, elem}}
	case component.MapField:
		s = map[string]any{"type": "object", "additionalProperties": fieldSchema(f.Elem)}
	}
	if f.Doc != "" {
		s["description"] = f.Doc
	}
	if d, ok := f.DefaultValue(); ok {
		s["default"] = d
	}
	if len(f.Examples) > 0 {
		s["examples"] = f.Examples
	}
	return s
}
