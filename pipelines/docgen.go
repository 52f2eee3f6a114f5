package pipelines

import (
	"fmt"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

// Reference generates the reference documentation (docs/reference.md) from
// the component specs, the common settings, the function library and the
// diagnostic codes. The output is deterministic.
func Reference(reg *component.Registry, lib *exprs.Library) []byte {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# pipectl reference\n\n")
	w("Generated from the component specs by `go generate ./...`; do not edit. ")
	w("The [README](../README.md) tours the file format; this page lists every kind, setting, function and diagnostic.\n\n")
	w("## Contents\n\n")
	for _, sec := range component.Sections {
		w("- [%s](#%s)\n", title(sec.Plural()), sec.Plural())
	}
	w("- [Alerts](#alerts)\n- [Expression functions](#expression-functions)\n- [Diagnostic codes](#diagnostic-codes)\n\n")
	for _, sec := range component.Sections {
		w("## %s\n\n%s\n\n", title(sec.Plural()), sectionIntro[sec])
		w("Settings every %s may have beside its kind:\n\n", sec)
		fieldTable(&b, CommonFields(sec), "")
		for _, s := range reg.Specs(sec) {
			w("### %s `%s`\n\n%s\n\n", sec, s.Kind, s.Summary)
			if s.Description != "" {
				w("%s\n\n", s.Description)
			}
			if len(s.Config.Fields) > 0 {
				if s.Config.Shorthand != "" {
					w("Written `%s: VALUE`, the value sets `%s`.\n\n", s.Kind, s.Config.Shorthand)
				}
				fieldTable(&b, s.Config.Fields, "")
			} else if s.Config.Kind != component.ObjectField {
				w("The value is %s. %s\n\n", article(s.Config.Kind), s.Config.Doc)
			}
			if len(s.Triggers) > 0 {
				w("Started by: %s triggers.\n\n", strings.Join(s.Triggers, " or "))
			}
			if sec == component.StepSection || sec == component.SinkSection || sec == component.SourceSection {
				w("Outputs:\n\n")
				if sec != component.SinkSection {
					w("- `%s` (default): the records it emits.\n", "")
				}
				for _, o := range s.Outputs {
					w("- `%s`: %s\n", o.Name, o.Doc)
				}
				if s.OutputsFrom != "" {
					w("- one output per key of `%s`.\n", s.OutputsFrom)
				}
				w("- `error`: records that failed here, with the node, the error and the original record.\n\n")
			}
			for _, ex := range s.Examples {
				w("%s:\n\n```yaml\n%s\n```\n\n", ex.Title, ex.YAML)
			}
		}
	}
	w("## Alerts\n\n%s ", AlertsField.Doc)
	w("The optional top-level `alerts:` section; `pipectl serve` reads it, `pipectl run` ignores it. ")
	w("Each message names the pipeline, the node or sink, the count and the first error (secrets masked, never a payload); ")
	w("a post that fails is logged and never stops serving.\n\n")
	w("```yaml\nalerts:\n  webhook_url: ${SLACK_WEBHOOK_URL}\n  sink_failing_for: 10m\n  min_interval: 15m\n```\n\n")
	fieldTable(&b, AlertsField.Fields, "")
	w("## Expression functions\n\n")
	w("Expressions are [expr-lang](https://expr-lang.org) with its builtins, plus these functions. ")
	w("Money is exact decimal: `decimal(\"19.99\") * 3 == decimal(\"59.97\")`. Each example below runs as a test.\n\n")
	lim := lib.Limits()
	w("Limits: at most %d syntax nodes per expression and a memory budget of %d units per evaluation.\n\n", lim.MaxNodes, lim.MemoryBudget)
	cat := ""
	for _, f := range lib.Functions() {
		if f.Category != cat {
			cat = f.Category
			w("### %s\n\n", title(cat))
		}
		w("#### `%s`\n\n%s\n\n", f.Signature, f.Summary)
		if len(f.Examples) > 0 {
			w("| expression | result |\n|---|---|\n")
			for _, ex := range f.Examples {
				w("| `%s` | `%s` |\n", strings.ReplaceAll(ex.Expr, "|", `\|`), strings.ReplaceAll(ex.Want, "|", `\|`))
			}
			w("\n")
		}
	}
	w("## Diagnostic codes\n\n| code | meaning |\n|---|---|\n")
	for _, c := range Codes {
		w("| `%s` | %s |\n", c.Code, c.Meaning)
	}
	return []byte(b.String())
}

var sectionIntro = map[component.Section]string{
	component.TriggerSection: "Triggers say when sources start: a webhook request, a schedule, a message, or `pipectl run`.",
	component.SourceSection: "Sources say where records come from. A `schema:` types their records, so every expression downstream is checked; " +
		"a record whose fields the pipeline reads do not fit the schema leaves through the source's `error` output with the violations.",
	component.StepSection: "Steps reshape, route and allocate records. Each reads `from:` sources or steps, or their named outputs (`route.express`).",
	component.SinkSection: "Sinks say where records go. Every sink needs `from:`.",
	component.RuleSection: "Rule sets hold the business rules ops teams toggle, usually in a rules file named by `rules:`.",
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func fieldTable(b *strings.Builder, fields []*component.Field, prefix string) {
	if len(fields) == 0 {
		return
	}
	b.WriteString("| setting | type | default | description |\n|---|---|---|---|\n")
	var rows func(fs []*component.Field, prefix string)
	rows = func(fs []*component.Field, prefix string) {
		for _, f := range fs {
			typ := f.Kind.String()
			if f.Kind == component.EnumField {
				typ = strings.Join(f.Enum, " \\| ")
			}
			if f.Kind == component.ExprField && f.Result != nil {
				typ = "expression → " + f.Result.String()
			}
			def := ""
			if d, ok := f.DefaultValue(); ok {
				def = fmt.Sprintf("`%v`", d)
			}
			if f.Required {
				def = "**required**"
			}
			doc := f.Doc
			if f.Secret {
				doc += " Secret: never printed."
			}
			fmt.Fprintf(b, "| `%s%s` | %s | %s | %s |\n", prefix, f.Name, typ, def, strings.ReplaceAll(doc, "|", `\|`))
			if f.Kind == component.ObjectField {
				rows(f.Fields, prefix+f.Name+".")
			}
		}
	}
	rows(fields, prefix)
	b.WriteString("\n")
}
