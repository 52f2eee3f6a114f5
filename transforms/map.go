package transforms

import (
	"fmt"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var mapSpec = &component.Spec{
	Kind:    "map",
	Section: component.StepSection,
	Summary: "Builds each output record from expressions over the input record.",
	Description: "Each key under `map:` is an output field; its value is an expression over the input " +
		"record's fields, or a nested mapping for an object. Output fields appear in the order written. " +
		"The output record's type is the mapping's, so steps downstream are checked against the fields declared here.",
	Config: &component.Field{Kind: component.MappingField, Required: true,
		Doc:      "Output field -> expression, or -> a nested mapping for an object.",
		Examples: []any{map[string]any{"order_id": "string(id)", "email": "lower(email)"}}},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		return map[string]*component.Type{component.DefaultOutput: MappingType(tc.Config)}
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
	}},
}

// MappingType is the type of the records a mapping builds: a closed object
// with the mapping's fields, in order, typed by their expressions.
func MappingType(v *component.Value) *component.Type {
	obj := &component.Type{Kind: component.Object}
	if v == nil {
		return component.OpenObject()
	}
	for _, k := range v.Keys {
		child := v.Map[k]
		var t *component.Type
		switch {
		case child.IsExpr && child.Expr != nil:
			t = child.Expr.ResultType()
		case child.IsExpr:
			t = component.AnyType // did not compile; already reported
		default:
			t = MappingType(child)
		}
		obj.Fields = append(obj.Fields, component.Property{Name: k, Type: t})
	}
	return obj
}

// mapField is one output field: its JSON key, written once at build time,
// and its expression or nested fields.
type mapField struct {
	name   string
	key    []byte // `"name":`
	prog   *exprs.Program
	nested []mapField
}

type mapStep struct {
	name   string
	fields []mapField
	decode *record.Projection
	size   int // running estimate of output size, to allocate once
}

func newMap(ctx component.BuildContext) (component.Step, error) {
	fields, err := mapFields(ctx.Config)
	if err != nil {
		return nil, err
	}
	return &mapStep{name: ctx.Name, fields: fields, decode: ctx.Decode}, nil
}

func mapFields(v *component.Value) ([]mapField, error) {
	var out []mapField
	for _, k := range v.Keys {
		child := v.Map[k]
		f := mapField{name: k, key: append(record.AppendString(nil, k), ':')}
		if child.IsExpr {
			p, err := program(child, "field "+k)
			if err != nil {
				return nil, err
			}
			f.prog = p
		} else {
			nested, err := mapFields(child)
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
	size int
}

func (w *mapWorker) Process(rec *record.Record, emit component.Emit) {
	env := rec.Fields(w.step.decode)
	b := make([]byte, 0, max(w.size, 64))
	b, err := w.appendObject(b, w.step.fields, env, "")
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
		return
	}
	// Remember the size of outputs, so the next buffer needs no growing.
	w.size = max(w.size, len(b)+len(b)/8)
	emit(component.DefaultOutput, rec.Derive(b))
}

func (w *mapWorker) appendObject(b []byte, fields []mapField, env map[string]any, path string) ([]byte, error) {
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		if f.nested != nil {
			var err error
			if b, err = w.appendObject(b, f.nested, env, path+f.name+"."); err != nil {
				return b, err
			}
			continue
		}
		v, err := f.prog.Run(&w.vm, env)
		if err != nil {
			return b, fmt.Errorf("field %s%s: %w", path, f.name, err)
		}
		if b, err = record.AppendJSON(b, v); err != nil {
			return b, fmt.Errorf("field %s%s: %w", path, f.name, err)
		}
	}
	return append(b, '}'), nil
}
