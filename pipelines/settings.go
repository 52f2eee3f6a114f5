package pipelines

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
)

// RuleSetting is one effective setting of a rule set: what ops teams
// change, as `pipectl rules show`, `pipectl docs` and the console list it.
type RuleSetting struct {
	Set    string `json:"rule_set"`
	Name   string `json:"name"` // RULESET.path
	Value  string `json:"value"`
	Source string `json:"source"`        // file:line, "default" or "unset"
	Doc    string `json:"doc,omitempty"` // the setting's description from its spec
}

// RuleSettings flattens the rule sets of a loaded pipeline into their
// settings, in rule set order and then in the order of the kind's spec.
func RuleSettings(f *File) []RuleSetting {
	var out []RuleSetting
	for _, e := range f.EntriesOf(component.RuleSection) {
		add := func(name string, v *component.Value) {
			s := RuleSetting{Set: e.Name, Name: name, Value: "-", Source: "unset"}
			if v != nil {
				s.Value = RenderValue(v)
				s.Source = "default"
				if v.Set {
					s.Source = fmt.Sprintf("%s:%d", v.Range.Start.File, v.Range.Start.Line)
				}
				if v.Field != nil {
					s.Doc = v.Field.Doc
				}
			}
			out = append(out, s)
		}
		for _, key := range []string{"description", "when"} {
			if v := e.Common[key]; v != nil && v.Set {
				add(e.Name+"."+key, v)
			}
		}
		if e.Spec != nil && e.Config != nil {
			flattenSettings(e.Name, e.Spec.Config, e.Config, false, add)
		}
		if ov := e.Common["overrides"]; ov != nil {
			for i, o := range ov.List {
				prefix := fmt.Sprintf("%s.overrides[%d]", e.Name, i)
				if w := o.Get("when"); w != nil {
					add(prefix+".when", w)
				}
				if s := o.Get("set"); s != nil && e.Spec != nil {
					flattenSettings(prefix+".set", e.Spec.Config, s, true, add)
				}
			}
		}
	}
	return out
}

// flattenSettings calls add for every leaf setting of an object field:
// scalars, lists and maps. partial visits only the settings v has.
func flattenSettings(prefix string, f *component.Field, v *component.Value, partial bool, add func(string, *component.Value)) {
	for _, sub := range f.Fields {
		sv := v.Get(sub.Name)
		if sv == nil && partial {
			continue
		}
		name := prefix + "." + sub.Name
		if sub.Kind == component.ObjectField {
			if sv == nil {
				sv = &component.Value{Field: sub}
			}
			flattenSettings(name, sub, sv, partial, add)
			continue
		}
		add(name, sv)
	}
}

// RenderValue is a setting's value as YAML text on one line.
func RenderValue(v *component.Value) string {
	if v.Secret {
		return component.Redacted
	}
	kind := component.StringField
	if v.Field != nil {
		kind = v.Field.Kind
	}
	switch kind {
	case component.IntField:
		return strconv.FormatInt(v.Int, 10)
	case component.NumberField:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case component.BoolField:
		return strconv.FormatBool(v.Bool)
	case component.DurationField:
		return v.Dur.String()
	case component.ListField:
		var items []string
		for _, e := range v.List {
			items = append(items, RenderValue(e))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case component.ObjectField, component.MapField, component.MappingField:
		var items []string
		for _, k := range v.Keys {
			items = append(items, k+": "+RenderValue(v.Map[k]))
		}
		return "{" + strings.Join(items, ", ") + "}"
	case component.ExprField:
		return yamlQuote(v.Str)
	}
	if v.Str == "" || strings.ContainsAny(v.Str, ":#,[]{}\"'\n&*!|>%@`") || strings.TrimSpace(v.Str) != v.Str {
		return yamlQuote(v.Str)
	}
	return v.Str
}

// yamlQuote quotes a string the way YAML reads it back: single quotes,
// or double quotes with escapes when it spans lines.
func yamlQuote(s string) string {
	if strings.ContainsAny(s, "\n\r\t") {
		return strconv.Quote(s)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
