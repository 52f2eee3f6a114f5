package pipelines

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// cronParser accepts five fields, an optional leading seconds field, and
// descriptors such as @daily.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a schedule the way pipectl runs it.
func ParseCron(spec string) (cron.Schedule, error) { return cronParser.Parse(spec) }

// decode reads node as a value of field f. at is where to report a missing
// required sub-setting (the key owning node). partial skips required checks
// and defaults, for overrides that set only some settings.
func (l *loader) decode(fl *srcFile, n *yaml.Node, f *component.Field, at diag.Range, partial bool) *component.Value {
	n = resolveAlias(n)
	partial = partial || f.Partial
	v := &component.Value{Field: f, Range: l.rangeOf(fl.path, n), Set: true}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && f.Kind != component.ObjectField && f.Kind != component.MappingField {
		if f.Required && !partial {
			d := l.diags.Errorf(at, CodeMissingField, "%s needs a value", settingName(f))
			d.Detail = f.Doc
		}
		return l.defaultValue(f, at)
	}
	switch f.Kind {
	case component.StringField, component.EnumField, component.CronField, component.TimezoneField, component.RefField:
		s, ok := l.scalarString(fl, n, v, f)
		if !ok {
			return v
		}
		v.Str = s
		l.checkScalar(v, f)
	case component.IntField:
		s, ok := l.scalarString(fl, n, v, f)
		if !ok {
			return v
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			l.diags.Errorf(v.Range, CodeWrongType, "%s must be an integer, got %s", settingName(f), shown(v, s))
		}
		v.Int, v.Str = i, s
	case component.NumberField:
		s, ok := l.scalarString(fl, n, v, f)
		if !ok {
			return v
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) { // ParseFloat takes "nan" and "inf"
			l.diags.Errorf(v.Range, CodeWrongType, "%s must be a number, got %s", settingName(f), shown(v, s))
		}
		v.Num, v.Str = x, s
	case component.BoolField:
		s, ok := l.scalarString(fl, n, v, f)
		if !ok {
			return v
		}
		b, err := strconv.ParseBool(s)
		if err != nil || (n.Tag != "!!bool" && !strings.Contains(n.Value, "${")) {
			l.diags.Errorf(v.Range, CodeWrongType, "%s must be true or false, got %s", settingName(f), nodeKind(n))
		}
		v.Bool, v.Str = b, s
	case component.DurationField:
		s, ok := l.scalarString(fl, n, v, f)
		if !ok {
			return v
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			dd := l.diags.Errorf(v.Range, CodeInvalidValue, "%s must be a duration such as 30s, 5m or 1h30m, got %s", settingName(f), shown(v, s))
			dd.Hint = "units are ns, us, ms, s, m and h"
		}
		v.Dur, v.Str = d, s
	case component.ExprField:
		if n.Kind != yaml.ScalarNode {
			d := l.diags.Errorf(v.Range, CodeWrongType, "%s must be an expression, got %s", settingName(f), nodeKind(n))
			d.Hint = "quote the expression if it starts with { or ["
			return v
		}
		l.exprValue(fl, n, v)
	case component.MappingField:
		if n.Kind != yaml.MappingNode {
			d := l.diags.Errorf(v.Range, CodeWrongType, "%s must be a mapping of output fields to expressions, got %s", settingName(f), nodeKind(n))
			d.Hint = "e.g. `order_id: string(id)` on its own line under the key"
			return v
		}
		l.mapping(fl, n, v)
	case component.ObjectField:
		l.object(fl, n, v, f, at, partial)
	case component.ListField:
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
		}
		for _, it := range items {
			v.List = append(v.List, l.decode(fl, it, f.Elem, l.rangeOf(fl.path, it), partial))
		}
	case component.MapField:
		if n.Kind != yaml.MappingNode {
			l.diags.Errorf(v.Range, CodeWrongType, "%s must be a mapping of names, got %s", settingName(f), nodeKind(n))
			return v
		}
		l.keys(fl, n)
		v.Map = map[string]*component.Value{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if _, dup := v.Map[k.Value]; dup {
				continue
			}
			v.Keys = append(v.Keys, k.Value)
			ev := l.decode(fl, n.Content[i+1], f.Elem, l.rangeOf(fl.path, k), partial)
			if ev == nil { // `name:` with nothing after it, and no default
				ev = &component.Value{Field: f.Elem, Set: true}
			}
			ev.Range = l.rangeOf(fl.path, k)
			v.Map[k.Value] = ev
		}
	}
	return v
}

// object decodes fixed sub-settings, reporting unknown and missing ones.
func (l *loader) object(fl *srcFile, n *yaml.Node, v *component.Value, f *component.Field, at diag.Range, partial bool) {
	v.Map = map[string]*component.Value{}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		// `stdout:` with nothing after it: all defaults.
	case n.Kind == yaml.ScalarNode && f.Shorthand != "":
		sub := f.Sub(f.Shorthand)
		v.Keys = append(v.Keys, sub.Name)
		v.Map[sub.Name] = l.decode(fl, n, sub, v.Range, partial)
	case n.Kind != yaml.MappingNode:
		d := l.diags.Errorf(v.Range, CodeWrongType, "%s must be a mapping of settings, got %s", settingName(f), nodeKind(n))
		if len(f.Fields) > 0 {
			d.Detail = "settings: " + strings.Join(fieldNames(f.Fields), ", ")
		}
		return
	default:
		l.keys(fl, n)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			kr := l.rangeOf(fl.path, k)
			sub := f.Sub(k.Value)
			if sub == nil {
				d := l.diags.Errorf(kr, CodeUnknownField, "unknown setting %q in %s", k.Value, settingName(f))
				d.Hint = diag.DidYouMean(k.Value, fieldNames(f.Fields))
				if d.Hint == "" && len(f.Fields) > 0 {
					d.Detail = "settings: " + strings.Join(fieldNames(f.Fields), ", ")
				}
				continue
			}
			if _, dup := v.Map[k.Value]; dup {
				continue
			}
			v.Keys = append(v.Keys, k.Value)
			v.Map[k.Value] = l.decode(fl, n.Content[i+1], sub, kr, partial)
		}
	}
	if partial {
		return
	}
	for _, sub := range f.Fields {
		if _, ok := v.Map[sub.Name]; ok {
			continue
		}
		if sub.Required {
			d := l.diags.Errorf(at, CodeMissingField, "missing required setting %q", sub.Name)
			d.Detail = sub.Doc
			continue
		}
		if dv := l.defaultValue(sub, at); dv != nil {
			v.Keys = append(v.Keys, sub.Name)
			v.Map[sub.Name] = dv
		}
	}
}

// defaultValue builds the value of an absent setting from its default.
func (l *loader) defaultValue(f *component.Field, at diag.Range) *component.Value {
	if f.Default == nil {
		if f.Kind == component.ObjectField {
			v := &component.Value{Field: f, Range: at, Map: map[string]*component.Value{}}
			for _, sub := range f.Fields {
				if dv := l.defaultValue(sub, at); dv != nil {
					v.Keys = append(v.Keys, sub.Name)
					v.Map[sub.Name] = dv
				}
			}
			return v
		}
		return nil
	}
	v := &component.Value{Field: f, Range: at}
	switch d := f.Default.(type) {
	case string:
		v.Str = d
		// A default expression is compiled like a written one; its
		// problems are reported at the key that omitted it.
		v.IsExpr = f.Kind == component.ExprField
	case int:
		v.Int, v.Str = int64(d), strconv.Itoa(d)
	case float64:
		v.Num, v.Str = d, strconv.FormatFloat(d, 'g', -1, 64)
	case bool:
		v.Bool, v.Str = d, strconv.FormatBool(d)
	case time.Duration:
		v.Dur, v.Str = d, d.String()
	case []string:
		for _, s := range d {
			v.List = append(v.List, &component.Value{Field: f.Elem, Range: at, Str: s})
		}
	}
	return v
}

// scalarString reads a scalar setting and expands ${VAR} in it.
func (l *loader) scalarString(fl *srcFile, n *yaml.Node, v *component.Value, f *component.Field) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d := l.diags.Errorf(v.Range, CodeWrongType, "%s must be %s, got %s", settingName(f), article(f.Kind), nodeKind(n))
		if f.Kind == component.EnumField {
			d.Detail = "one of: " + strings.Join(f.Enum, ", ")
		}
		return "", false
	}
	in := interpolate(n.Value, l.opts.LookupEnv)
	if in.bad != "" {
		d := l.diags.Errorf(v.Range, CodeBadInterpolate, "malformed environment reference %q", in.bad)
		d.Hint = "write ${NAME} or ${NAME:-default}; $${ writes a literal ${"
		return n.Value, false
	}
	for _, name := range in.unset {
		d := l.diags.Warnf(v.Range, CodeEnvUnset, "environment variable %s is not set and has no default", name)
		d.Hint = fmt.Sprintf("set it before running, or give a default: ${%s:-value}", name)
		if isSecretName(name) {
			d.Hint = "set it in the environment before running; a secret has no default in the file"
		}
	}
	v.Secret = f.Secret || in.secret
	l.secrets = append(l.secrets, in.secrets...)
	if f.Secret {
		l.secrets = append(l.secrets, in.value)
	}
	v.Unresolved = len(in.unset) > 0
	if f.Secret && !readsEnv(n.Value) && strings.TrimSpace(n.Value) != "" {
		// The value is never shown: it is a secret, now in the file.
		d := l.diags.Errorf(v.Range, CodeSecretLiteral, "%s is a secret, written in the file: secrets come from the environment", settingName(f))
		d.Hint = fmt.Sprintf("write `%s: \"${%s}\"` and set %s where pipectl runs; remove the secret from the file's history", f.Name, secretVar(f), secretVar(f))
		l.literalSecrets = append(l.literalSecrets, v.Range)
	}
	return in.value, len(in.unset) == 0
}

// secretVar names the environment variable a secret setting's example
// reads, for hints.
func secretVar(f *component.Field) string {
	for _, ex := range f.Examples {
		if s, ok := ex.(string); ok && strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") {
			return strings.TrimSuffix(strings.TrimPrefix(s, "${"), "}")
		}
	}
	return "A_SECRET"
}

// checkScalar validates enum, cron and time zone settings.
func (l *loader) checkScalar(v *component.Value, f *component.Field) {
	switch f.Kind {
	case component.EnumField:
		for _, e := range f.Enum {
			if e == v.Str {
				return
			}
		}
		d := l.diags.Errorf(v.Range, CodeInvalidValue, "%s must be one of %s, got %s", settingName(f), strings.Join(f.Enum, ", "), shown(v, v.Str))
		if !v.Secret {
			d.Hint = diag.DidYouMean(v.Str, f.Enum)
		}
	case component.CronField:
		if _, err := ParseCron(v.Str); err != nil {
			d := l.diags.Errorf(v.Range, CodeInvalidCron, "invalid cron schedule %s: %v", shown(v, v.Str), redact(v, err))
			d.Hint = "five fields (minute hour day-of-month month day-of-week), an optional leading seconds field, or @hourly, @daily, @every 5m"
		}
	case component.TimezoneField:
		if _, err := time.LoadLocation(v.Str); err != nil || v.Str == "" {
			d := l.diags.Errorf(v.Range, CodeInvalidTimezone, "unknown time zone %s", shown(v, v.Str))
			d.Hint = "use an IANA name such as Europe/Berlin, America/New_York or UTC"
		}
	}
}

// exprValue records an expression scalar with a locator that maps spans of
// its text back into the file.
func (l *loader) exprValue(fl *srcFile, n *yaml.Node, v *component.Value) {
	v.Str = n.Value
	v.IsExpr = true
	v.Comment = n.LineComment
	start := diag.Pos{File: fl.path, Line: n.Line, Col: n.Column}
	pos, ok := scalarPositions(fl.lines, n)
	v.Locate = func(offset, length int) diag.Range {
		// An empty expression has no characters to point at: point at
		// the whole scalar (its quotes, or its block header).
		if !ok || offset < 0 || offset >= len(pos) || len(pos) == 1 {
			return v.Range
		}
		s := pos[offset]
		end := min(offset+max(length, 1), len(pos)-1)
		e := pos[end]
		// A span running onto the next line is underlined to the end of
		// its first line.
		if e.line != s.line || e.col <= s.col {
			last := offset
			for j := offset; j < end && pos[j].line == s.line; j++ {
				last = j
			}
			e = linecol{s.line, pos[last].col + 1}
		}
		return diag.Range{
			Start: diag.Pos{File: fl.path, Line: s.line, Col: s.col},
			End:   diag.Pos{File: fl.path, Line: e.line, Col: e.col},
		}
	}
	_ = start
}

// mapping decodes output fields: each key maps to an expression or to a
// nested mapping (an object in the output).
func (l *loader) mapping(fl *srcFile, n *yaml.Node, v *component.Value) {
	l.keys(fl, n)
	v.Map = map[string]*component.Value{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, cv := n.Content[i], resolveAlias(n.Content[i+1])
		if _, dup := v.Map[k.Value]; dup {
			continue
		}
		child := &component.Value{Field: v.Field, Range: l.rangeOf(fl.path, cv), Set: true}
		if strings.HasPrefix(k.Value, "$") {
			// A directive ($keep), not an output field: its value is a
			// string or a list of field names, never an expression.
			if !l.directive(fl, k, cv, child) {
				continue
			}
			v.Keys = append(v.Keys, k.Value)
			v.Map[k.Value] = child
			continue
		}
		switch cv.Kind {
		case yaml.ScalarNode:
			if cv.Tag == "!!null" {
				d := l.diags.Errorf(l.rangeOf(fl.path, k), CodeMissingField, "output field %q has no expression", k.Value)
				d.Hint = "write `null` in quotes for a literal null: \"nil\""
				continue
			}
			l.exprValue(fl, cv, child)
		case yaml.MappingNode:
			l.mapping(fl, cv, child)
		default:
			d := l.diags.Errorf(child.Range, CodeWrongType, "output field %q must be an expression or a mapping, got %s", k.Value, nodeKind(cv))
			d.Hint = "write a list as an expression: '[a, b]'"
			continue
		}
		v.Keys = append(v.Keys, k.Value)
		v.Map[k.Value] = child
	}
}

// directive decodes the value of a mapping directive.
func (l *loader) directive(fl *srcFile, k, n *yaml.Node, v *component.Value) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		v.Str = n.Value
		return true
	case yaml.SequenceNode:
		for _, it := range n.Content {
			it = resolveAlias(it)
			if it.Kind != yaml.ScalarNode {
				l.diags.Errorf(l.rangeOf(fl.path, it), CodeWrongType, "directive %q lists field names, got %s", k.Value, nodeKind(it))
				return false
			}
			v.List = append(v.List, &component.Value{Field: v.Field, Range: l.rangeOf(fl.path, it), Str: it.Value, Set: true})
		}
		return true
	}
	l.diags.Errorf(v.Range, CodeWrongType, "directive %q must be a string or a list of field names, got %s", k.Value, nodeKind(n))
	return false
}

// shown quotes a setting's value for a message, or redacts it when it is,
// or came from, a secret.
func shown(v *component.Value, s string) string {
	if v.Secret {
		return component.Redacted
	}
	return strconv.Quote(s)
}

// redact drops an error's text when the value it talks about is secret.
func redact(v *component.Value, err error) string {
	if v.Secret {
		return "cannot parse"
	}
	return err.Error()
}

func settingName(f *component.Field) string {
	switch {
	case f.Name == "":
		return "the value"
	case strings.Contains(f.Name, " "):
		return "the " + f.Name // a kind's settings: the stdout sink "out"
	}
	return fmt.Sprintf("`%s`", f.Name)
}

func article(k component.FieldKind) string {
	switch k {
	case component.IntField:
		return "an integer"
	case component.EnumField:
		return "one of the allowed values"
	case component.RefField:
		return "a name"
	}
	return "a " + k.String()
}
