package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

var mapSpec = &component.Spec{
	Kind:    "map",
	Section: component.StepSection,
	Summary: "Builds each output record from expressions over the input record.",
	Description: "Each key under `map:` is an output field; its value is an expression over the input " +
		"record's fields, or a nested mapping for an object. Output fields appear in the order written. " +
		"The output record's type is the mapping's, so steps downstream are checked against the fields declared here.\n\n" +
		"Keys starting with `$` are directives, not fields. `$keep: all` copies every top-level field of the " +
		"input through, and `$keep: \"id, email\"` the named ones: as the exact JSON text they arrived as, in " +
		"the input's order, before the mapped fields and leaving out any field the mapping sets. A named field " +
		"the record lacks is left out. `$keep` belongs at the top of the mapping only.\n\n" +
		"A field whose expression fails, or gives a value JSON cannot hold (NaN), sends the record to the " +
		"`error` output; no partial record is emitted.",
	Config: &component.Field{Kind: component.MappingField, Required: true,
		Doc: "Output field -> expression, or -> a nested mapping for an object; `$keep` copies input fields through.",
		Examples: []any{
			map[string]any{"order_id": "string(id)", "email": "lower(email)"},
			map[string]any{"$keep": "all", "email": "lower(email)"},
		}},
	Validate: validateMapping,
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		return map[string]*component.Type{component.DefaultOutput: MappingType(tc.Config, tc.Input)}
	},
	NewStep: newMap,
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
	}, {
		Title: "Keep the order, normalize two fields",
		YAML: `steps:
  normalized:
    from: orders
    map:
      $keep: all
      email: lower(email)
      total_price: decimal(total_price)`,
	}},
}

// keepDirective is the mapping key that copies input fields through.
const keepDirective = "$keep"

// isDirective reports whether a mapping key is a directive rather than an
// output field.
func isDirective(k string) bool { return strings.HasPrefix(k, "$") }

// keep is a parsed `$keep`: every field, or the named ones.
type keep struct {
	all   bool
	names []string // in the order written
	set   map[string]bool
}

// parseKeep reads a `$keep` value: `all`, a comma-separated list of field
// names, or a YAML list of them (once the loader accepts lists there).
func parseKeep(v *component.Value) (*keep, error) {
	var names []string
	if len(v.List) > 0 {
		for _, e := range v.List {
			names = append(names, strings.TrimSpace(e.Str))
		}
	} else {
		if strings.TrimSpace(v.Str) == "all" {
			return &keep{all: true}, nil
		}
		for _, n := range strings.Split(v.Str, ",") {
			names = append(names, strings.TrimSpace(n))
		}
	}
	k := &keep{set: map[string]bool{}}
	for _, n := range names {
		if n == "" {
			return nil, fmt.Errorf("%s must be `all` or field names separated by commas, got %q", keepDirective, v.Str)
		}
		if !k.set[n] {
			k.set[n] = true
			k.names = append(k.names, n)
		}
	}
	return k, nil
}

// validateMapping reports directives the mapping cannot honour: unknown
// ones, `$keep` below the top, and malformed `$keep` values.
func validateMapping(cfg *component.Value, report component.Reporter) {
	var walk func(v *component.Value, top bool)
	walk = func(v *component.Value, top bool) {
		for _, k := range v.Keys {
			child := v.Map[k]
			switch {
			case k == keepDirective && !top:
				report.Errorf(child, "invalid-value", "%s belongs at the top of a mapping: a nested object has no input fields to keep", keepDirective)
			case k == keepDirective:
				if _, err := parseKeep(child); err != nil {
					report.Errorf(child, "invalid-value", "%v", err)
				}
			case isDirective(k):
				report.Errorf(child, "unknown-field", "unknown mapping directive %q: keys starting with $ are directives, and the only one is %s", k, keepDirective)
			case !child.IsExpr:
				walk(child, false)
			}
		}
	}
	if cfg != nil {
		walk(cfg, true)
	}
}

// MappingType is the type of the records a mapping builds from records of
// type input: the fields `$keep` copies, typed as in the input, then the
// mapping's fields in order, typed by their expressions. The object is
// closed unless `$keep: all` copies fields of an input that may hold fields
// its type does not list.
func MappingType(v *component.Value, input *component.Type) *component.Type {
	if v == nil {
		return component.OpenObject()
	}
	obj := &component.Type{Kind: component.Object}
	if kv := v.Get(keepDirective); kv != nil {
		if k, err := parseKeep(kv); err == nil {
			obj.Fields, obj.Open = keptFields(k, v, input)
		}
	}
	for _, k := range v.Keys {
		if isDirective(k) {
			continue
		}
		child := v.Map[k]
		var t *component.Type
		switch {
		case child.IsExpr && child.Expr != nil:
			t = child.Expr.ResultType()
		case child.IsExpr:
			t = component.AnyType // did not compile; already reported
		default:
			t = MappingType(child, nil)
		}
		obj.Fields = append(obj.Fields, component.Property{Name: k, Type: t})
	}
	return obj
}

// keptFields types the fields `$keep` copies from records of type input,
// leaving out those the mapping sets, and says whether more may come.
func keptFields(k *keep, mapping *component.Value, input *component.Type) ([]component.Property, bool) {
	if input == nil {
		input = component.AnyType
	}
	var out []component.Property
	switch input.Kind {
	case component.Any:
		if k.all {
			return nil, true
		}
		for _, n := range k.names {
			if mapping.Get(n) == nil {
				out = append(out, component.Property{Name: n, Type: component.AnyType})
			}
		}
		return out, false
	case component.Object:
	default:
		return nil, false // not an object: nothing to keep
	}
	declared := map[string]bool{}
	for _, p := range input.Fields {
		declared[p.Name] = true
		if mapping.Get(p.Name) == nil && (k.all || k.set[p.Name]) {
			out = append(out, p)
		}
	}
	if k.all {
		return out, input.Open
	}
	if input.Open {
		for _, n := range k.names {
			if !declared[n] && mapping.Get(n) == nil {
				out = append(out, component.Property{Name: n, Type: component.AnyType})
			}
		}
	}
	return out, false
}

// keptFieldsExist reports the fields `$keep` names that records of type
// input cannot have (a closed object without them): a misspelt name would
// otherwise keep nothing, silently.
func keptFieldsExist(k *keep, kv *component.Value, input *component.Type) error {
	if k.all || input == nil || input.Kind != component.Object || input.Open {
		return nil
	}
	var errs []error
	for i, n := range k.names {
		if _, ok := input.Field(n); ok {
			continue
		}
		at := kv
		if len(kv.List) == len(k.names) {
			at = kv.List[i]
		}
		msg := fmt.Sprintf("%s names %q, which %s does not have", keepDirective, n, describeType(input))
		errs = append(errs, &component.SettingError{Value: at, Code: exprs.CodeUnknownField, Err: errors.New(msg),
			Hint: diag.DidYouMean(n, input.FieldNames())})
	}
	return errors.Join(errs...)
}

// describeType names a record type in messages: "the Shopify order", or
// "the records".
func describeType(t *component.Type) string {
	if t.Doc != "" {
		return t.Doc
	}
	return "the records"
}

// mapField is one output field: its JSON key, written once at build time,
// and its expression or nested fields.
type mapField struct {
	name   string
	full   string // dotted path from the top, for error messages
	key    []byte // `"name":`
	prog   *exprs.Program
	path   []string // the field path prog is, when it is a plain reference
	gpath  string   // path as a gjson path, to copy the field's JSON text
	nested []mapField
}

type mapStep struct {
	name   string
	fields []mapField
	keep   *keep           // nil without `$keep`
	set    map[string]bool // the top-level fields the mapping sets
	decode *record.Projection
}

func newMap(ctx component.BuildContext) (component.Step, error) {
	fields, err := mapFields(ctx.Config, "")
	if err != nil {
		return nil, err
	}
	s := &mapStep{name: ctx.Name, fields: fields, decode: ctx.Decode}
	if kv := ctx.Config.Get(keepDirective); kv != nil {
		if s.keep, err = parseKeep(kv); err != nil {
			return nil, err
		}
		if err := keptFieldsExist(s.keep, kv, ctx.Input); err != nil {
			return nil, err
		}
		s.set = map[string]bool{}
		for _, f := range fields {
			s.set[f.name] = true
		}
	}
	return s, nil
}

func mapFields(v *component.Value, prefix string) ([]mapField, error) {
	var out []mapField
	for _, k := range v.Keys {
		if isDirective(k) {
			if k != keepDirective || prefix != "" {
				return nil, fmt.Errorf("mapping directive %s is not allowed here", k)
			}
			continue
		}
		child := v.Map[k]
		f := mapField{name: k, full: prefix + k, key: append(record.AppendString(nil, k), ':')}
		if child.IsExpr {
			p, err := program(child, "field "+k)
			if err != nil {
				return nil, err
			}
			f.prog, f.path = p, p.Path()
			f.gpath = gjsonPath(f.path)
		} else {
			nested, err := mapFields(child, prefix+k+".")
			if err != nil {
				return nil, err
			}
			f.nested = nested
		}
		out = append(out, f)
	}
	return out, nil
}

func (s *mapStep) NewWorker() component.StepWorker { return &mapWorker{step: s} }

type mapWorker struct {
	step *mapStep
	vm   vm.VM
	// Outputs are built in buf, reused from record to record, and copied
	// out of slab exactly as long as they are.
	buf  []byte
	slab record.Slab
}

func (w *mapWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	env := rec.Fields(w.step.decode)
	b := append(w.buf[:0], '{')
	n := 0
	if w.step.keep != nil {
		b, n = w.step.appendKept(b, rec.Raw)
	}
	b, err := w.appendFields(b, n, w.step.fields, env, rec.Raw)
	w.buf = b
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
		return
	}
	emit(component.DefaultOutput, rec.Derive(w.slab.Copy(b)))
}

// appendKept copies the input's top-level fields `$keep` names, as raw
// text, in input order, except those the mapping sets. It returns how many
// it wrote.
func (s *mapStep) appendKept(b, raw []byte) ([]byte, int) {
	obj := gjson.Parse(rawString(raw))
	if !obj.IsObject() {
		return b, 0
	}
	n := 0
	obj.ForEach(func(k, v gjson.Result) bool {
		if s.set[k.Str] || !(s.keep.all || s.keep.set[k.Str]) {
			return true
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, k.Raw...)
		b = append(b, ':')
		b = append(b, v.Raw...)
		n++
		return true
	})
	return b, n
}

// carriedAsText reports whether a value a plain field reference reads is
// copied as the JSON text it arrived as rather than written again: a
// number of no known type, decoded as a float, would lose digits
// (12345678901234567.89) and trailing zeros (478.20), and an object or
// array would lose its key order and the digits of the numbers inside.
// Output keeps input bytes.
func carriedAsText(v any) bool {
	switch v.(type) {
	case float64, map[string]any, []any:
		return true
	}
	return false
}

// gjsonPath is a field path as a gjson path, names escaped.
func gjsonPath(path []string) string {
	parts := make([]string, len(path))
	for i, name := range path {
		parts[i] = gjson.Escape(name)
	}
	return strings.Join(parts, ".")
}

// appendFields appends the fields of an object whose '{' and first n
// fields are written already, and closes it. raw is the input record.
func (w *mapWorker) appendFields(b []byte, n int, fields []mapField, env map[string]any, raw []byte) ([]byte, error) {
	for _, f := range fields {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, f.key...)
		if f.nested != nil {
			var err error
			b = append(b, '{')
			if b, err = w.appendFields(b, 0, f.nested, env, raw); err != nil {
				return b, err
			}
			continue
		}
		// A plain field reference is read directly; the VM runs only for
		// real expressions, and for a path it cannot follow, to report
		// the error it would.
		var v any
		var err error
		ok := false
		if f.path != nil {
			v, ok = exprs.LookupPath(env, f.path)
			if ok && carriedAsText(v) {
				if text := gjson.GetBytes(raw, f.gpath); text.Exists() {
					b = append(b, text.Raw...)
					continue
				}
			}
		}
		if !ok {
			if v, err = f.prog.Run(&w.vm, env); err != nil {
				return b, fmt.Errorf("field %s: %w", f.full, err)
			}
		}
		if b, err = record.AppendJSON(b, v); err != nil {
			return b, fmt.Errorf("field %s: %w", f.full, err)
		}
	}
	return append(b, '}'), nil
}
