package exprs

import (
	"reflect"
	"slices"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker/nature"
	"github.com/expr-lang/expr/types"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

var (
	decimalRType  = reflect.TypeOf(decimal.Decimal{})
	timeRType     = reflect.TypeOf(time.Time{})
	durationRType = reflect.TypeOf(time.Duration(0))
)

// exprType converts a record type into the type expr's checker uses. Closed
// objects become strict maps, so a misspelt field is a compile error; open
// objects accept any field as Any.
func exprType(t *component.Type) types.Type {
	if t == nil {
		return types.Any
	}
	// A scalar that may be null is checked as its non-null type, so
	// `email - 1` is an error whether or not the schema allows null there.
	// Null stays a possible value at run time: equality compares it
	// generically (nilSafeEquality; a decimal's == and != are ours and
	// take null too), `??` replaces it, and an operation that cannot take
	// it fails the record with a message naming the field (runError).
	switch t.Kind {
	case component.String:
		return types.String
	case component.Int:
		return types.Int
	case component.Number:
		return types.Float64
	case component.Bool:
		return types.Bool
	case component.Decimal:
		return types.TypeOf(decimal.Decimal{})
	case component.Time:
		return types.TypeOf(time.Time{})
	case component.Duration:
		return types.TypeOf(time.Duration(0))
	case component.Array:
		return types.Array(exprType(t.Elem))
	case component.Object:
		m := types.Map{}
		for _, p := range t.Fields {
			m[p.Name] = exprType(p.Type)
		}
		if t.Open {
			m[types.Extra] = types.Any
		}
		return m
	}
	return types.Any
}

// typeOfNature converts the checker's idea of an expression's result back
// into a record type, so types flow to the next node.
func typeOfNature(n *nature.Nature) *component.Type {
	if n == nil || n.Type == nil {
		return component.AnyType
	}
	switch n.Type {
	case decimalRType:
		return component.DecimalType
	case timeRType:
		return component.TimeType
	case durationRType:
		return component.DurationType
	}
	switch n.Kind {
	case reflect.String:
		return component.StringType
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return component.IntType
	case reflect.Float32, reflect.Float64:
		return component.NumberType
	case reflect.Bool:
		return component.BoolType
	case reflect.Slice, reflect.Array:
		if n.TypeData != nil && n.Ref != nil {
			return component.ArrayOf(typeOfNature(n.Ref))
		}
		return component.ArrayOf(typeOfReflect(n.Type.Elem()))
	case reflect.Map:
		if n.TypeData != nil && len(n.Fields) > 0 {
			names := make([]string, 0, len(n.Fields))
			for k := range n.Fields {
				names = append(names, k)
			}
			slices.Sort(names)
			obj := &component.Type{Kind: component.Object, Open: !n.Strict}
			for _, k := range names {
				f := n.Fields[k]
				obj.Fields = append(obj.Fields, component.Property{Name: k, Type: typeOfNature(&f)})
			}
			return obj
		}
		return component.OpenObject()
	}
	return component.AnyType
}

func typeOfReflect(t reflect.Type) *component.Type {
	if t == nil {
		return component.AnyType
	}
	n := nature.FromType(t)
	return typeOfNature(&n)
}

// typeOfNode is an expression's result type. The checker types object
// literals as plain maps; here they keep their fields, in the order written,
// so `map(line_items, ({"sku": #.sku, "qty": #.quantity}))` is known to be
// an array of {sku: string, qty: int} and steps downstream are checked
// against it.
func (l *Library) typeOfNode(n ast.Node) *component.Type {
	switch x := n.(type) {
	case *ast.MapNode:
		obj := &component.Type{Kind: component.Object}
		for _, pn := range x.Pairs {
			pair, ok := pn.(*ast.PairNode)
			if !ok {
				return component.OpenObject()
			}
			var key string
			switch k := pair.Key.(type) {
			case *ast.StringNode:
				key = k.Value
			case *ast.IdentifierNode:
				key = k.Value
			default:
				return component.OpenObject() // computed keys
			}
			obj.Fields = append(obj.Fields, component.Property{Name: key, Type: l.typeOfNode(pair.Value)})
		}
		return obj
	case *ast.ArrayNode:
		if len(x.Nodes) == 0 {
			return component.ArrayOf(component.AnyType)
		}
		elems := make([]*component.Type, len(x.Nodes))
		for i, e := range x.Nodes {
			elems[i] = l.typeOfNode(e)
		}
		return component.ArrayOf(component.Common(elems...))
	case *ast.BuiltinNode:
		if len(x.Arguments) == 2 {
			if pred, ok := x.Arguments[1].(*ast.PredicateNode); ok {
				switch x.Name {
				case "map":
					return component.ArrayOf(l.typeOfNode(pred.Node))
				case "filter", "sortBy":
					return l.typeOfNode(x.Arguments[0])
				}
			}
		}
	case *ast.CallNode:
		if t := l.typeOfCall(x); t != nil {
			return t
		}
	case *ast.VariableDeclaratorNode:
		return l.typeOfNode(x.Expr) // let x = ...; body: the body's type
	case *ast.ConditionalNode:
		a, b := l.typeOfNode(x.Exp1), l.typeOfNode(x.Exp2)
		switch {
		case a.Kind == component.Null:
			return b
		case b.Kind == component.Null:
			return a
		}
		return component.Common(a, b)
	}
	return typeOfNature(n.Nature())
}

// typeOfCall picks the overload of one of our functions that a call's
// argument types select, and returns its result type. expr's checker can
// keep the first overload's result for a call whose argument is an
// overloaded operator (round(price * qty) would be typed number, though
// price * qty is a decimal), so the choice is made again here from the
// arguments' own types.
func (l *Library) typeOfCall(call *ast.CallNode) *component.Type {
	name, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return nil
	}
	f := l.byName[name.Value]
	if f == nil || len(f.Types) < 2 {
		return nil
	}
	args := make([]reflect.Type, len(call.Arguments))
	for i, a := range call.Arguments {
		if args[i] = a.Type(); args[i] == nil {
			return nil // an argument of unknown type: keep the checker's answer
		}
	}
	for _, sig := range f.Types {
		ft := reflect.TypeOf(sig).Elem()
		if ft.Kind() != reflect.Func || ft.NumOut() < 1 || !acceptsArgs(ft, args) {
			continue
		}
		return typeOfReflect(ft.Out(0))
	}
	return nil
}

// acceptsArgs reports whether a function type takes arguments of these types.
func acceptsArgs(ft reflect.Type, args []reflect.Type) bool {
	n := ft.NumIn()
	if ft.IsVariadic() {
		if len(args) < n-1 {
			return false
		}
	} else if len(args) != n {
		return false
	}
	for i, a := range args {
		in := ft.In(min(i, n-1))
		if ft.IsVariadic() && i >= n-1 {
			in = in.Elem()
		}
		if !argAccepts(in, a) {
			return false
		}
	}
	return true
}

// argAccepts reports whether an argument of static type a certainly fits a
// parameter of type in. An argument of unknown type (nil or an interface)
// fits only interface parameters, as the checker decides.
func argAccepts(in, a reflect.Type) bool {
	if a == nil {
		return in.Kind() == reflect.Interface
	}
	if in.Kind() == reflect.Interface {
		return a.Implements(in) || a.Kind() == reflect.Interface
	}
	return a.Kind() != reflect.Interface && a.AssignableTo(in)
}
