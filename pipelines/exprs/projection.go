package exprs

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Reads returns the parts of the record the expression reads, so the engine
// decodes only those (DESIGN.md §7). It is computed from the syntax tree, not
// the text: `map(line_items, #.sku)` reads line_items[].sku and nothing else
// of the line items.
func (p *Program) Reads() *record.Projection { return p.reads }

// projectionOf walks a checked expression. Where a value is used whole
// (passed to a function, compared, returned) its projection becomes All;
// member accesses, indexes and predicates over arrays refine it instead.
func projectionOf(root ast.Node, env *component.Type) *record.Projection {
	w := &projector{root: &record.Projection{}, vars: map[string]*record.Projection{}, top: root}
	w.value(root, nil)
	w.root.Normalize()
	annotateTypes(w.root, env)
	return w.root
}

type projector struct {
	root *record.Projection
	vars map[string]*record.Projection // let-bound names that stand for a path
	top  ast.Node                      // the whole expression
}

// path returns the projection node a path expression (field, member chain,
// index, `#`) stands for, or nil when node is not a path.
func (w *projector) path(node ast.Node, ptr *record.Projection) *record.Projection {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			return w.root
		}
		if v, ok := w.vars[n.Value]; ok {
			return v
		}
		return w.root.Field(n.Value)
	case *ast.PointerNode:
		if n.Name == "" {
			return ptr
		}
		return nil
	case *ast.ChainNode:
		return w.path(n.Node, ptr)
	case *ast.MemberNode:
		base := w.path(n.Node, ptr)
		if base == nil {
			w.value(n.Node, ptr)
			w.value(n.Property, ptr)
			return nil
		}
		if s, ok := n.Property.(*ast.StringNode); ok {
			return base.Field(s.Value)
		}
		// An index: any element may be read.
		w.value(n.Property, ptr)
		if isArray(n.Node) {
			return base.Element()
		}
		base.All = true
		return nil
	}
	return nil
}

// unknownType reports whether the checker knows nothing of a node's type:
// a field of an open record, or a scalar that may be null.
func unknownType(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.Interface
}

func isArray(n ast.Node) bool {
	t := n.Type()
	return t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array)
}

// use marks the whole value of a path as read.
func (w *projector) use(p *record.Projection) {
	if p != nil {
		p.All = true
	}
}

// predicateBuiltins take an array and a predicate run on each element.
// Those in returnsElements hand elements themselves on, so their whole value
// is read.
var predicateBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true, "count": true,
	"sum": true, "find": true, "findIndex": true, "findLast": true, "findLastIndex": true,
	"groupBy": true, "sortBy": true, "reduce": true,
}

var returnsElements = map[string]bool{"filter": true, "find": true, "findLast": true, "groupBy": true, "sortBy": true}

// value walks a node whose value is used.
func (w *projector) value(node ast.Node, ptr *record.Projection) {
	if node == nil {
		return
	}
	if p := w.path(node, ptr); p != nil {
		w.use(p)
		// A value of no known type that is computed with must decode as
		// it always has; one the expression only hands on (a plain field
		// reference) may be a decimal.
		if node != w.top && unknownType(node) {
			p.Plain = true
		}
		return
	}
	switch n := node.(type) {
	case *ast.IdentifierNode, *ast.PointerNode, *ast.MemberNode, *ast.ChainNode:
		// Paths handled above; a member of a non-path was walked by path.
	case *ast.BuiltinNode:
		w.builtin(n, ptr)
	case *ast.PredicateNode:
		w.value(n.Node, ptr)
	case *ast.CallNode:
		// decimal(price) of a price of no known type reads a JSON number
		// as the exact decimal it is written as, not through a float.
		if name, ok := n.Callee.(*ast.IdentifierNode); ok && name.Value == "decimal" && len(n.Arguments) == 1 && unknownType(n.Arguments[0]) {
			if p := w.path(n.Arguments[0], ptr); p != nil {
				w.use(p)
				p.DecimalArg = true
				return
			}
		}
		// The callee is a function's name, not a field.
		if _, isName := n.Callee.(*ast.IdentifierNode); !isName {
			w.value(n.Callee, ptr)
		}
		for _, a := range n.Arguments {
			w.value(a, ptr)
		}
	case *ast.BinaryNode:
		w.value(n.Left, ptr)
		w.value(n.Right, ptr)
	case *ast.UnaryNode:
		w.value(n.Node, ptr)
	case *ast.ConditionalNode:
		w.value(n.Cond, ptr)
		w.value(n.Exp1, ptr)
		w.value(n.Exp2, ptr)
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			w.value(e, ptr)
		}
	case *ast.MapNode:
		for _, pr := range n.Pairs {
			w.value(pr, ptr)
		}
	case *ast.PairNode:
		w.value(n.Key, ptr)
		w.value(n.Value, ptr)
	case *ast.SliceNode:
		w.value(n.Node, ptr)
		w.value(n.From, ptr)
		w.value(n.To, ptr)
	case *ast.VariableDeclaratorNode:
		if p := w.path(n.Value, ptr); p != nil {
			outer, had := w.vars[n.Name]
			w.vars[n.Name] = p
			w.value(n.Expr, ptr)
			if had {
				w.vars[n.Name] = outer
			} else {
				delete(w.vars, n.Name)
			}
			return
		}
		w.value(n.Value, ptr)
		shadow, had := w.vars[n.Name]
		delete(w.vars, n.Name)
		w.value(n.Expr, ptr)
		if had {
			w.vars[n.Name] = shadow
		}
	case *ast.SequenceNode:
		for _, e := range n.Nodes {
			w.value(e, ptr)
		}
	case *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.BytesNode, *ast.ConstantNode:
	default:
		// A node kind this walker does not know: read everything rather
		// than risk a field missing at run time.
		w.root.All = true
	}
}

func (w *projector) builtin(n *ast.BuiltinNode, ptr *record.Projection) {
	if n.Name == "len" && len(n.Arguments) == 1 {
		arg := n.Arguments[0]
		if p := w.path(arg, ptr); p != nil {
			if t := arg.Type(); t == nil || (t.Kind() != reflect.Slice && t.Kind() != reflect.Array && t.Kind() != reflect.String) {
				w.use(p) // len of a map counts its keys: decode them all
			}
			return
		}
		w.value(arg, ptr)
		return
	}
	if predicateBuiltins[n.Name] && len(n.Arguments) >= 2 {
		arr := w.path(n.Arguments[0], ptr)
		if arr == nil {
			w.value(n.Arguments[0], ptr)
		}
		var elem *record.Projection
		if arr != nil {
			elem = arr.Element()
			if returnsElements[n.Name] {
				elem.All = true
			}
		}
		for _, a := range n.Arguments[1:] {
			w.value(a, elem)
		}
		return
	}
	for _, a := range n.Arguments {
		w.value(a, ptr)
	}
	if n.Map != nil {
		w.value(n.Map, ptr)
	}
}

// annotateTypes marks the parts of the record the record type says are
// numbers, so they decode as float64 even when written without a fraction,
// and those it says are decimals, so they decode as exact decimals: the
// values expressions see are of the types they were checked against. The
// parts of a value read whole are marked too, so a decimal inside an
// object handed on whole (`lines: lines`, `filter(lines, ...)`) stays a
// decimal.
func annotateTypes(p *record.Projection, t *component.Type) {
	if p == nil || t == nil {
		return
	}
	switch t.Kind {
	case component.Number:
		p.Float = true
	case component.Decimal:
		p.Decimal = true
	case component.Array:
		if p.Elem == nil && p.All && holdsNumbers(t.Elem) {
			p.Elem = &record.Projection{All: true}
		}
		annotateTypes(p.Elem, t.Elem)
	case component.Object:
		for _, f := range t.Fields {
			fp := p.Fields[f.Name]
			if fp == nil && p.All && holdsNumbers(f.Type) {
				fp = p.Field(f.Name)
				fp.All = true
			}
			annotateTypes(fp, f.Type)
		}
	}
}

// holdsNumbers reports whether a value of type t is, or holds, a value
// typed number or decimal: the parts annotateTypes marks.
func holdsNumbers(t *component.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind {
	case component.Number, component.Decimal:
		return true
	case component.Array:
		return holdsNumbers(t.Elem)
	case component.Object:
		for _, f := range t.Fields {
			if holdsNumbers(f.Type) {
				return true
			}
		}
	}
	return false
}

// Path returns the field path the expression is, when it is nothing but a
// field reference (`email`, `shipping_address.city`), and nil otherwise.
// Steps read such fields straight from the decoded record without running
// the VM: most of a typical mapping is plain field references.
func (p *Program) Path() []string { return p.path }

// pathOf returns the field names of a pure member chain.
func pathOf(n ast.Node) []string {
	switch x := n.(type) {
	case *ast.IdentifierNode:
		if x.Value == "$env" {
			return nil
		}
		return []string{x.Value}
	case *ast.MemberNode:
		prop, ok := x.Property.(*ast.StringNode)
		if !ok || x.Optional {
			return nil
		}
		base := pathOf(x.Node)
		if base == nil {
			return nil
		}
		return append(base, prop.Value)
	}
	return nil
}

// LookupPath reads a field path from decoded fields, as the expression
// would: a missing field, or a path through something that is not an
// object, gives nil. ok is false only when the path runs through a value
// that is neither an object nor nil, where the expression would fail.
func LookupPath(env map[string]any, path []string) (v any, ok bool) {
	var cur any = env
	for _, name := range path {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[name]
		case nil:
			return nil, true
		default:
			return nil, false
		}
	}
	return cur, true
}
