package exprs

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// unknownFields finds field names that the record type does not have:
// top-level names and member chains whose objects are closed (typed from a
// schema or a mapping). It reports the first one, with a did-you-mean hint
// from the fields that object does have.
func unknownFields(root ast.Node, env *component.Type) []Problem {
	c := &fieldChecker{resolver: resolver{env: env, target: -1}, vars: map[string]bool{}}
	c.walk(root, nil)
	if c.problem == nil {
		return nil
	}
	return []Problem{*c.problem}
}

type fieldChecker struct {
	resolver
	vars    map[string]bool // let-bound names in scope
	problem *Problem
}

func (c *fieldChecker) report(name string, loc int, in *component.Type, where string) {
	if c.problem != nil {
		return
	}
	summary := fmt.Sprintf("unknown field %q in %s", name, where)
	c.problem = &Problem{Code: CodeUnknownField, Summary: summary, Hint: diag.DidYouMean(name, in.FieldNames()),
		Offset: loc, Len: len([]rune(name))}
}

func (c *fieldChecker) walk(node ast.Node, ptr *component.Type) {
	if node == nil || c.problem != nil {
		return
	}
	switch n := node.(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" || c.vars[n.Value] {
			return
		}
		if _, ok := c.env.Field(n.Value); !ok {
			c.report(n.Value, n.Location().From, c.env, describe(c.env))
		}
	case *ast.MemberNode:
		c.walk(n.Node, ptr)
		if c.problem != nil {
			return
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			c.walk(n.Property, ptr)
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
			c.report(prop.Value, prop.Location().From, base, where)
		}
	case *ast.CallNode:
		// The callee is a function name, not a field.
		if _, isName := n.Callee.(*ast.IdentifierNode); !isName {
			c.walk(n.Callee, ptr)
		}
		for _, a := range n.Arguments {
			c.walk(a, ptr)
		}
	case *ast.BuiltinNode:
		var elem *component.Type
		var elemPath string
		if len(n.Arguments) > 0 {
			c.walk(n.Arguments[0], ptr)
			if t, path := c.typeOf(n.Arguments[0], ptr); t != nil && t.Kind == component.Array {
				elem, elemPath = t.Elem, path+"[]"
			}
		}
		for i, a := range n.Arguments {
			if i == 0 {
				continue
			}
			if _, ok := a.(*ast.PredicateNode); ok {
				outer := c.ptrPath
				c.ptrPath = elemPath
				c.walk(a, elem)
				c.ptrPath = outer
				continue
			}
			c.walk(a, ptr)
		}
	case *ast.PredicateNode:
		c.walk(n.Node, ptr)
	case *ast.ChainNode:
		c.walk(n.Node, ptr)
	case *ast.BinaryNode:
		c.walk(n.Left, ptr)
		c.walk(n.Right, ptr)
	case *ast.UnaryNode:
		c.walk(n.Node, ptr)
	case *ast.ConditionalNode:
		c.walk(n.Cond, ptr)
		c.walk(n.Exp1, ptr)
		c.walk(n.Exp2, ptr)
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			c.walk(e, ptr)
		}
	case *ast.MapNode:
		for _, p := range n.Pairs {
			c.walk(p, ptr)
		}
	case *ast.PairNode:
		// Keys of object literals are names, not fields.
		if _, isName := n.Key.(*ast.IdentifierNode); !isName {
			c.walk(n.Key, ptr)
		}
		c.walk(n.Value, ptr)
	case *ast.SliceNode:
		c.walk(n.Node, ptr)
		c.walk(n.From, ptr)
		c.walk(n.To, ptr)
	case *ast.VariableDeclaratorNode:
		c.walk(n.Value, ptr)
		had := c.vars[n.Name]
		c.vars[n.Name] = true
		c.walk(n.Expr, ptr)
		c.vars[n.Name] = had
	case *ast.SequenceNode:
		for _, e := range n.Nodes {
			c.walk(e, ptr)
		}
	}
}
