package transforms

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

var splitSpec = &component.Spec{
	Kind:    "split",
	Section: component.StepSection,
	Summary: "Emits one record per element of an array, such as one per line item.",
	Description: "Each output record holds the element under `as` (default `item`), its position as `index` " +
		"(from 0), and the whole input record as `parent`, so expressions downstream can read both " +
		"`item.sku` and `parent.id`. Fields are written in that order.\n\n" +
		"`parent` is the input record's JSON text exactly as it arrived. So are the elements when `items` is a " +
		"plain field path (`line_items`, `order.lines`): key order, decimal digits and 64-bit ids survive. " +
		"A computed `items` (`filter(line_items, #.quantity > 0)`) writes the values it computes, objects with " +
		"their keys sorted.\n\n" +
		"An empty array emits nothing and the record is counted as dropped. An `items` that is not an array " +
		"at run time, null included (a missing field), sends the record to the `error` output and emits " +
		"nothing for it; write `line_items ?? []` to treat a missing array as empty.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "items", Doc: "Split settings.",
		Fields: []*component.Field{
			{Name: "items", Kind: component.ExprField, Required: true, Result: component.ArrayOf(component.AnyType),
				Doc: "Expression yielding the array to split.", Examples: []any{"line_items"}},
			{Name: "as", Kind: component.StringField, Default: "item",
				Doc: "Field name the element is put under in the output record."},
		}},
	Validate: func(cfg *component.Value, report component.Reporter) {
		if as := cfg.Get("as"); as != nil && as.Set && (as.Str == "index" || as.Str == "parent" || as.Str == "") {
			report.Errorf(as, "invalid-value", "split `as` must not be empty, `index` or `parent`: those fields are written already")
		}
	},
	OutputType: func(tc component.TypeContext) map[string]*component.Type {
		elem := component.AnyType
		if it := tc.Config.Get("items"); it != nil && it.Expr != nil {
			if t := it.Expr.ResultType(); t.Kind == component.Array && t.Elem != nil {
				elem = t.Elem
			}
		}
		as := "item"
		if v := tc.Config.Get("as"); v != nil && v.Str != "" {
			as = v.Str
		}
		return map[string]*component.Type{component.DefaultOutput: component.ObjectOf(
			component.Property{Name: as, Type: elem},
			component.Property{Name: "index", Type: component.IntType},
			component.Property{Name: "parent", Type: tc.Input},
		)}
	},
	NewStep: newSplit,
	Examples: []component.Example{{
		Title: "One record per line item",
		YAML: `steps:
  lines:
    from: orders
    split: {items: line_items, as: line}
  line_rows:
    from: lines
    map:
      order_id: string(parent.id)
      sku: line.sku
      qty: line.quantity`,
	}},
}

type splitStep struct {
	name   string
	items  *exprs.Program
	asKey  []byte // `{"<as>":`
	path   string // gjson path when items is a plain field path, else ""
	decode *record.Projection
}

func newSplit(ctx component.BuildContext) (component.Step, error) {
	p, err := program(ctx.Config.Get("items"), "items")
	if err != nil {
		return nil, err
	}
	as := "item"
	if v := ctx.Config.Get("as"); v != nil && v.Str != "" {
		as = v.Str
	}
	s := &splitStep{name: ctx.Name, items: p, decode: ctx.Decode}
	s.asKey = append(record.AppendString([]byte{'{'}, as), ':')
	s.path = fieldPath(p.Source())
	return s, nil
}

// fieldPath returns the gjson path of an expression that only names a
// field (`line_items`, `order.lines`, `order["line items"]`), or "" when the
// expression computes something. Such arrays are split as raw JSON text,
// without decoding them.
func fieldPath(src string) string {
	tree, err := parser.Parse(src)
	if err != nil {
		return ""
	}
	var parts []string
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IdentifierNode:
			if strings.HasPrefix(n.Value, "$") {
				return false
			}
			parts = append(parts, gjson.Escape(n.Value))
			return true
		case *ast.MemberNode:
			s, ok := n.Property.(*ast.StringNode)
			if !ok || n.Optional || !walk(n.Node) {
				return false
			}
			parts = append(parts, gjson.Escape(s.Value))
			return true
		}
		return false
	}
	if !walk(tree.Node) {
		return ""
	}
	return strings.Join(parts, ".")
}

func (s *splitStep) NewWorker() component.StepWorker { return &splitWorker{step: s} }

type splitWorker struct {
	step *splitStep
	vm   vm.VM
	// elems is reused between records: the JSON text of one record's
	// elements, aliasing the record's bytes or the buffer they were
	// encoded into.
	elems []string
}

// Process builds every output record before emitting any, so a record
// whose elements cannot all be written goes to the error output only,
// never half split.
func (w *splitWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	elems, err := w.elements(rec)
	if err != nil {
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
		return
	}
	for i, e := range elems {
		b := make([]byte, 0, len(w.step.asKey)+len(e)+len(rec.Raw)+32)
		b = append(b, w.step.asKey...)
		b = append(b, e...)
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"parent":`...)
		b = append(b, rec.Raw...)
		b = append(b, '}')
		emit(component.DefaultOutput, rec.Derive(b))
	}
}

// elements returns the JSON text of each element of the record's array.
func (w *splitWorker) elements(rec *record.Record) ([]string, error) {
	w.elems = w.elems[:0]
	if w.step.path != "" {
		v := gjson.Get(rawString(rec.Raw), w.step.path)
		if !v.IsArray() {
			return nil, fmt.Errorf("items %q gave %s, not an array", w.step.items.Source(), jsonKind(v))
		}
		v.ForEach(func(_, e gjson.Result) bool {
			w.elems = append(w.elems, e.Raw)
			return true
		})
		return w.elems, nil
	}
	v, err := w.step.items.Run(&w.vm, rec.Fields(w.step.decode))
	if err != nil {
		return nil, fmt.Errorf("items %q: %w", w.step.items.Source(), err)
	}
	list, ok := asList(v)
	if !ok {
		return nil, fmt.Errorf("items %q gave %s, not an array", w.step.items.Source(), goKind(v))
	}
	// A fresh buffer each record: the strings below alias it.
	var buf []byte
	ends := make([]int, 0, len(list))
	for i, e := range list {
		if buf, err = record.AppendJSON(buf, e); err != nil {
			return nil, fmt.Errorf("items %q: element %d: %w", w.step.items.Source(), i, err)
		}
		ends = append(ends, len(buf))
	}
	text := rawString(buf)
	start := 0
	for _, end := range ends {
		w.elems = append(w.elems, text[start:end])
		start = end
	}
	return w.elems, nil
}

// rawString views a record's JSON as a string without copying, so gjson
// results alias it. Safe because a record's bytes are never modified once
// the record exists.
func rawString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// asList returns the elements of an array value of any element type.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// jsonKind names the type of a JSON value for messages.
func jsonKind(v gjson.Result) string {
	switch v.Type {
	case gjson.Null:
		if !v.Exists() {
			return "null (the field is missing)"
		}
		return "null"
	case gjson.False, gjson.True:
		return "a boolean"
	case gjson.Number:
		return "a number"
	case gjson.String:
		return "a string"
	}
	if v.IsObject() {
		return "an object"
	}
	return "an array"
}

// goKind names the type of an expression's value for messages, in JSON's
// words.
func goKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, int32, uint64, float64, float32:
		return "a number"
	case map[string]any:
		return "an object"
	}
	if _, ok := asList(v); ok {
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}
