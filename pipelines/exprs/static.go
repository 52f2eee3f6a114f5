package exprs

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// unknownName is the identifier that stands in for a part of an expression
// already reported: the checker's environment types it as any, so nothing
// built on it is reported again. `$` keeps it apart from field names, and a
// pipeline that writes it is told it is an unknown field.
const unknownName = "$unknown"

// staticProblems finds, on the syntax tree and against the record type, the
// names an expression uses that do not exist: fields the record's type does
// not have (top-level names and member chains through closed objects),
// functions, and `let` variables misspelt. It also checks the arguments
// functions declare checks for when they are written as literals (a time
// layout). Each unknown name's part of the tree is replaced by unknownName,
// so the checker then sees only the mistakes not yet reported.
//
// expr's checker stops at the first unknown name, and can lose one inside a
// call's arguments once operators are overloaded, which is why names are
// checked here, first.
func (l *Library) staticProblems(tree *parser.Tree, env *component.Type) []Problem {
	c := &staticChecker{resolver: resolver{env: env, target: -1}, lib: l}
	c.walk(&tree.Node, nil)
	return c.problems
}

type staticChecker struct {
	resolver
	lib      *Library
	vars     []string // let-bound names in scope, innermost last
	problems []Problem
}

// unknown reports p and replaces the node at np with unknownName.
func (c *staticChecker) unknown(np *ast.Node, p Problem) {
	c.problems = append(c.problems, p)
	ast.Patch(np, &ast.IdentifierNode{Value: unknownName})
}

func (c *staticChecker) walk(np *ast.Node, ptr *component.Type) {
	if np == nil || *np == nil {
		return
	}
	switch n := (*np).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" || slices.Contains(c.vars, n.Value) {
			return
		}
		if _, ok := c.env.Field(n.Value); !ok {
			c.unknown(np, c.unknownIdentifier(n))
		}
	case *ast.MemberNode:
		c.walk(&n.Node, ptr)
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			c.walk(&n.Property, ptr)
			return
		}
		base, path := c.typeOf(n.Node, ptr)
		if base == nil || base.Kind != component.Object || base.Open || n.Optional {
			return
		}
		if _, ok := base.Field(prop.Value); !ok {
			where := path
			if where == "" {
				where = "this object"
			}
			c.unknown(np, Problem{Code: CodeUnknownField, Summary: fmt.Sprintf("unknown field %q in %s", prop.Value, where),
				Hint: diag.DidYouMean(prop.Value, base.FieldNames()), Offset: prop.Location().From, Len: len([]rune(prop.Value))})
		}
	case *ast.CallNode:
		name, isName := n.Callee.(*ast.IdentifierNode)
		if !isName {
			c.walk(&n.Callee, ptr)
		}
		for i := range n.Arguments {
			c.walk(&n.Arguments[i], ptr)
		}
		if !isName {
			return
		}
		if f := c.lib.byName[name.Value]; f != nil {
			c.literalArguments(f, n)
			return
		}
		if !c.lib.isBuiltin(name.Value) {
			c.unknown(np, Problem{Code: CodeUnknownFunc, Summary: fmt.Sprintf("unknown function %q", name.Value),
				Hint: diag.DidYouMean(name.Value, c.lib.names), Offset: name.Location().From, Len: len([]rune(name.Value))})
		}
	case *ast.BuiltinNode:
		var elem *component.Type
		var elemPath string
		if len(n.Arguments) > 0 {
			c.walk(&n.Arguments[0], ptr)
			if t, path := c.typeOf(n.Arguments[0], ptr); t != nil && t.Kind == component.Array {
				elem, elemPath = t.Elem, path+"[]"
			}
		}
		for i := 1; i < len(n.Arguments); i++ {
			if _, ok := n.Arguments[i].(*ast.PredicateNode); ok {
				outer := c.ptrPath
				c.ptrPath = elemPath
				c.walk(&n.Arguments[i], elem)
				c.ptrPath = outer
				continue
			}
			c.walk(&n.Arguments[i], ptr)
		}
	case *ast.PredicateNode:
		c.walk(&n.Node, ptr)
	case *ast.ChainNode:
		c.walk(&n.Node, ptr)
	case *ast.BinaryNode:
		c.walk(&n.Left, ptr)
		c.walk(&n.Right, ptr)
	case *ast.UnaryNode:
		c.walk(&n.Node, ptr)
	case *ast.ConditionalNode:
		c.walk(&n.Cond, ptr)
		c.walk(&n.Exp1, ptr)
		c.walk(&n.Exp2, ptr)
	case *ast.ArrayNode:
		for i := range n.Nodes {
			c.walk(&n.Nodes[i], ptr)
		}
	case *ast.MapNode:
		for i := range n.Pairs {
			c.walk(&n.Pairs[i], ptr)
		}
	case *ast.PairNode:
		// Keys of object literals are names, not fields.
		if _, isName := n.Key.(*ast.IdentifierNode); !isName {
			c.walk(&n.Key, ptr)
		}
		c.walk(&n.Value, ptr)
	case *ast.SliceNode:
		c.walk(&n.Node, ptr)
		c.walk(&n.From, ptr)
		c.walk(&n.To, ptr)
	case *ast.VariableDeclaratorNode:
		c.walk(&n.Value, ptr)
		c.vars = append(c.vars, n.Name)
		c.walk(&n.Expr, ptr)
		c.vars = c.vars[:len(c.vars)-1]
	case *ast.SequenceNode:
		for i := range n.Nodes {
			c.walk(&n.Nodes[i], ptr)
		}
	}
}

// unknownIdentifier describes a top-level name that is not a field. Where
// `let` variables are in scope and the name is closer to one of them than
// to any field, it is a misspelt variable, not a field of the record.
func (c *staticChecker) unknownIdentifier(n *ast.IdentifierNode) Problem {
	p := Problem{Code: CodeUnknownField, Offset: n.Location().From, Len: len([]rune(n.Value))}
	if v := diag.Suggest(n.Value, c.vars); v != "" {
		if f := diag.Suggest(n.Value, append(c.env.FieldNames(), v)); f == v {
			p.Code = CodeUnknownVar
			p.Summary = fmt.Sprintf("unknown variable %q", n.Value)
			p.Hint = fmt.Sprintf("did you mean %q, set with let?", v)
			return p
		}
	}
	p.Summary = fmt.Sprintf("unknown field %q in %s", n.Value, describe(c.env))
	p.Hint = diag.DidYouMean(n.Value, c.env.FieldNames())
	return p
}

// literalArguments runs a function's checks of the arguments written as
// literals.
func (c *staticChecker) literalArguments(f *Function, call *ast.CallNode) {
	for _, check := range f.Literals {
		if check.Arg >= len(call.Arguments) {
			continue
		}
		s, ok := call.Arguments[check.Arg].(*ast.StringNode)
		if !ok {
			continue
		}
		if err := check.Check(s.Value); err != nil {
			loc := s.Location()
			c.problems = append(c.problems, Problem{Code: CodeBadArgument, Summary: err.Error(), Hint: check.Hint,
				Offset: loc.From, Len: max(1, loc.To-loc.From)})
		}
	}
}

// isBuiltin reports whether name is one of expr's own functions that the
// library keeps (len, map, filter...).
func (l *Library) isBuiltin(name string) bool {
	for _, b := range builtin.Builtins {
		if b.Name == name {
			return true
		}
	}
	return false
}

// replaceAt replaces the outermost node of the tree starting at rune offset
// from with unknownName, and reports whether it found one: the part of the
// expression the checker just reported.
func replaceAt(root *ast.Node, from int) bool {
	var found *ast.Node
	var walk func(np *ast.Node)
	walk = func(np *ast.Node) {
		if found != nil || np == nil || *np == nil {
			return
		}
		if loc := (*np).Location(); loc.From == from && loc.To > 0 {
			found = np
			return
		}
		for _, child := range children(*np) {
			walk(child)
		}
	}
	walk(root)
	if found == nil {
		return false
	}
	if id, ok := (*found).(*ast.IdentifierNode); ok && id.Value == unknownName {
		return false // already replaced: the checker would loop
	}
	ast.Patch(found, &ast.IdentifierNode{Value: unknownName})
	return true
}

// children returns pointers to a node's children, so they can be replaced.
func children(n ast.Node) []*ast.Node {
	switch n := n.(type) {
	case *ast.UnaryNode:
		return []*ast.Node{&n.Node}
	case *ast.BinaryNode:
		return []*ast.Node{&n.Left, &n.Right}
	case *ast.ChainNode:
		return []*ast.Node{&n.Node}
	case *ast.MemberNode:
		return []*ast.Node{&n.Node, &n.Property}
	case *ast.SliceNode:
		return []*ast.Node{&n.Node, &n.From, &n.To}
	case *ast.CallNode:
		out := []*ast.Node{&n.Callee}
		for i := range n.Arguments {
			out = append(out, &n.Arguments[i])
		}
		return out
	case *ast.BuiltinNode:
		var out []*ast.Node
		for i := range n.Arguments {
			out = append(out, &n.Arguments[i])
		}
		return append(out, &n.Map)
	case *ast.PredicateNode:
		return []*ast.Node{&n.Node}
	case *ast.SequenceNode:
		var out []*ast.Node
		for i := range n.Nodes {
			out = append(out, &n.Nodes[i])
		}
		return out
	case *ast.VariableDeclaratorNode:
		return []*ast.Node{&n.Value, &n.Expr}
	case *ast.ConditionalNode:
		return []*ast.Node{&n.Cond, &n.Exp1, &n.Exp2}
	case *ast.ArrayNode:
		var out []*ast.Node
		for i := range n.Nodes {
			out = append(out, &n.Nodes[i])
		}
		return out
	case *ast.MapNode:
		var out []*ast.Node
		for i := range n.Pairs {
			out = append(out, &n.Pairs[i])
		}
		return out
	case *ast.PairNode:
		return []*ast.Node{&n.Key, &n.Value}
	}
	return nil
}
