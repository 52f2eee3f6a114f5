package exprs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Diagnostic codes reported for expressions.
const (
	CodeSyntax       = "expr-syntax"
	CodeUnknownField = "expr-unknown-field"
	CodeUnknownFunc  = "expr-unknown-function"
	CodeUnknownVar   = "expr-unknown-variable"
	CodeBadArgument  = "expr-bad-argument"
	CodeTypeMismatch = "expr-type-mismatch"
	CodeResultType   = "expr-result-type"
	CodeTooComplex   = "expr-too-complex"
	CodeInvalid      = "expr-invalid"
	CodeEmpty        = "expr-empty"
)

// Problem is a compile error inside an expression. Offset and Len count
// characters (runes) of the expression's text, so the caller can map them
// back into the YAML scalar the expression came from.
type Problem struct {
	Code    string
	Summary string
	Hint    string
	Offset  int
	Len     int
}

// Program is a compiled, type-checked expression. It is immutable and safe to
// share; evaluate it with a VM per worker.
type Program struct {
	source string
	prog   *vm.Program
	result *component.Type
	budget uint
	reads  *record.Projection
	path   []string
}

// Source returns the expression's text.
func (p *Program) Source() string { return p.source }

// ResultType returns the type the expression evaluates to.
func (p *Program) ResultType() *component.Type { return p.result }

// Run evaluates the program against env with a VM owned by the caller (one
// per worker, reused across records), within the library's memory budget.
// An error names the expression and, where a field's value is at fault,
// the field and its value (runError).
func (p *Program) Run(machine *vm.VM, env any) (any, error) {
	machine.MemoryBudget = p.budget
	v, err := machine.Run(p.prog, env)
	if err != nil {
		return nil, p.runError(err, env)
	}
	return v, nil
}

// Compile type-checks src against records of type env and compiles it. want,
// when not nil, is the type the expression must produce (bool for a filter).
// env describes the top-level names an expression may use: the record's
// fields.
//
// Every mistake is reported, not only the first: unknown fields, functions
// and variables are found on the syntax tree, and each part that is wrong
// is then treated as of unknown type, so the checker goes on to report the
// type errors of the rest without repeating what was already said
// (`upper(shiping_address.cty) + lowr(shipping_address.zipp)` is three
// problems, one per mistake).
func (l *Library) Compile(src string, env *component.Type, want *component.Type) (*Program, []Problem) {
	if strings.TrimSpace(src) == "" {
		return nil, []Problem{{Code: CodeEmpty, Summary: "expression is empty", Len: 1}}
	}
	if env == nil || env.Kind == component.Any {
		env = component.OpenObject()
	}
	config := l.config(env)
	tree, err := parser.ParseWithConfig(src, config)
	if err != nil {
		return nil, []Problem{l.syntaxProblem(src, env, err)}
	}
	probs := l.staticProblems(tree, env)
	probs = append(probs, l.typeProblems(src, env, tree, config)...)
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return a.Offset - b.Offset })
		return nil, probs
	}
	if config.Optimize {
		if err := optimizer.Optimize(&tree.Node, config); err != nil {
			return nil, []Problem{l.problem(src, env, err, false)}
		}
	}
	prog, err := compiler.Compile(tree, config)
	if err != nil {
		return nil, []Problem{l.problem(src, env, err, false)}
	}
	nilSafeEquality(prog)
	p := &Program{source: src, prog: prog, result: l.typeOfNode(prog.Node()), budget: l.limits.MemoryBudget,
		reads: projectionOf(prog.Node(), env), path: pathOf(prog.Node())}
	// A plain field reference has exactly its field's type, nullable
	// scalars included, which the checker sees as their non-null type.
	if t := typeOfPath(env, p.path); t != nil {
		p.result = t
	}
	if want != nil {
		if ok, _ := p.result.AssignableTo(want); !ok {
			return nil, []Problem{{
				Code:    CodeResultType,
				Summary: fmt.Sprintf("expression must produce %s, not %s", want, p.result),
				Len:     len([]rune(src)),
			}}
		}
	}
	return p, nil
}

// config is the checker's configuration for records of type env: the
// environment, our functions and operators, the limits.
func (l *Library) config(env *component.Type) *conf.Config {
	c := conf.CreateNew()
	envType, ok := exprType(env).(types.Map)
	if !ok { // records that are not objects: no field is known
		envType = types.Map{types.Extra: types.Any}
	}
	// The stand-in for parts already reported: of unknown type, so nothing
	// built on them is reported again.
	envType[unknownName] = types.Any
	expr.Env(envType)(c)
	for _, op := range l.options {
		op(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	c.Check()
	return c
}

// maxTypeProblems bounds the checker's passes over one expression.
const maxTypeProblems = 20

// typeProblems runs expr's checker until it accepts the tree, reporting each
// error it finds and replacing the part at fault with a value of unknown
// type before the next pass.
func (l *Library) typeProblems(src string, env *component.Type, tree *parser.Tree, config *conf.Config) []Problem {
	var probs []Problem
	for range maxTypeProblems {
		_, err := new(checker.Checker).PatchAndCheck(tree, config)
		if err == nil {
			return append(probs, aggregateProblems(tree.Node)...)
		}
		p := l.problem(src, env, err, false)
		fe, isFileErr := err.(*file.Error)
		if !isFileErr {
			return append(probs, p)
		}
		probs = append(probs, l.callProblem(tree, fe, p))
		if !replaceAt(&tree.Node, p.Offset) {
			return probs
		}
	}
	return probs
}

// nilSafeEquality makes == and != between values the checker typed as
// strings or ints compare like any others. Nullable fields are checked as
// their non-null type, so `code == "EXPRESS"` compiles to a string
// comparison, which would fail on a null code; compared generically it is
// false, as it should be.
func nilSafeEquality(prog *vm.Program) {
	for i, op := range prog.Bytecode {
		if op == vm.OpEqualString || op == vm.OpEqualInt {
			prog.Bytecode[i] = vm.OpEqual
		}
	}
}

// problem turns an expr error into a Problem with a stable code and, for
// unknown names, a did-you-mean hint.
func (l *Library) problem(src string, env *component.Type, err error, parse bool) Problem {
	fe, ok := err.(*file.Error)
	if !ok {
		return Problem{Code: CodeInvalid, Summary: err.Error(), Len: len([]rune(src))}
	}
	p := Problem{Summary: typeNames.Replace(fe.Message), Offset: fe.From, Len: max(1, fe.To-fe.From)}
	if fe.From == 0 && fe.To == 0 {
		p.Offset = runeOffset(src, fe.Line, fe.Column)
	}
	msg := fe.Message
	switch {
	case strings.Contains(msg, "exceeds maximum allowed nodes"):
		p.Code = CodeTooComplex
		p.Summary = fmt.Sprintf("expression is too complex (more than %d nodes)", l.limits.MaxNodes)
		p.Offset, p.Len = 0, len([]rune(src))
	case parse:
		p.Code = CodeSyntax
		if strings.Contains(msg, `unexpected token Operator(":")`) && strings.Contains(src, "{") {
			p.Hint = `an object literal right after a comma in map() or filter() reads as a closure: wrap it in parentheses, map(items, ({"sku": #.sku}))`
		}
	case strings.HasPrefix(msg, "unknown name "):
		name := strings.TrimPrefix(msg, "unknown name ")
		if isCallee(src, fe.From) {
			p.Code = CodeUnknownFunc
			p.Summary = fmt.Sprintf("unknown function %q", name)
			p.Hint = diag.DidYouMean(name, l.names)
		} else {
			p.Code = CodeUnknownField
			p.Summary = fmt.Sprintf("unknown field %q in %s", name, describe(env))
			p.Hint = diag.DidYouMean(name, env.FieldNames())
		}
		p.Len = len([]rune(name))
	case strings.HasPrefix(msg, "unknown field "):
		name := strings.TrimPrefix(msg, "unknown field ")
		base, path := memberBase(src, env, fe.From)
		p.Code = CodeUnknownField
		if path != "" {
			p.Summary = fmt.Sprintf("unknown field %q in %s", name, path)
		} else {
			p.Summary = fmt.Sprintf("unknown field %q", name)
		}
		p.Hint = diag.DidYouMean(name, base.FieldNames())
		p.Len = len([]rune(name))
	case strings.Contains(msg, "decimal.Decimal") && strings.Contains(msg, "float"):
		p.Code = CodeTypeMismatch
		p.Hint = `money is exact decimal and never mixes with floats: write decimal("1.5"), or to_float(d) to leave decimals on purpose`
	case strings.HasPrefix(msg, "invalid operation: == (mismatched types"), strings.HasPrefix(msg, "invalid operation: != (mismatched types"):
		p.Code = CodeTypeMismatch
		p.Hint = "values of different types are never equal: convert one side, string(x), parse_int(x) or decimal(x)"
	case strings.Contains(msg, "mismatched types string and"), strings.Contains(msg, "and string)"):
		p.Code = CodeTypeMismatch
		p.Hint = "a string cannot be used as a number: convert it, decimal(x) for money, parse_int(x) or parse_float(x) otherwise"
	case strings.Contains(msg, "mismatched types"), strings.Contains(msg, "cannot use"),
		strings.Contains(msg, "invalid operation"), strings.Contains(msg, "not enough arguments"),
		strings.Contains(msg, "too many arguments"), strings.Contains(msg, "cannot fetch"),
		strings.Contains(msg, "expected"), strings.Contains(msg, "cannot call"):
		p.Code = CodeTypeMismatch
	default:
		p.Code = CodeInvalid
	}
	return p
}

// typeNames turns Go type names in expr's messages into the names pipeline
// authors know.
var typeNames = strings.NewReplacer(
	"decimal.Decimal", "decimal", "float64", "number", "interface {}", "any",
	"map[string]interface {}", "object", "[]interface {}", "array", "time.Time", "time", "time.Duration", "duration",
)

// describe names a record type in messages: its Doc ("the Shopify order")
// or "the record".
func describe(t *component.Type) string {
	if t != nil && t.Doc != "" {
		return t.Doc
	}
	return "the record"
}

// runeOffset converts expr's line (1-based) and column (0-based) to a rune
// offset into src.
func runeOffset(src string, line, col int) int {
	off := 0
	for i, l := range strings.Split(src, "\n") {
		if i+1 == line {
			return off + col
		}
		off += len([]rune(l)) + 1
	}
	return off
}

// isCallee reports whether the identifier at rune offset from is followed by
// a call's opening parenthesis.
func isCallee(src string, from int) bool {
	r := []rune(src)
	i := from
	for i < len(r) && (r[i] == '_' || r[i] == '$' || r[i] >= '0' && r[i] <= '9' || r[i] >= 'a' && r[i] <= 'z' || r[i] >= 'A' && r[i] <= 'Z') {
		i++
	}
	for i < len(r) && (r[i] == ' ' || r[i] == '\t' || r[i] == '\n') {
		i++
	}
	return i < len(r) && r[i] == '('
}

// memberBase finds the member access whose property starts at rune offset
// from and returns the statically known type of the object it reads from,
// and that object's path for messages. The type is nil when it cannot be
// told without running the expression.
func memberBase(src string, env *component.Type, from int) (*component.Type, string) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, ""
	}
	r := &resolver{env: env, target: from}
	r.walk(tree.Node, nil)
	return r.found, r.foundPath
}

type resolver struct {
	env       *component.Type
	target    int
	found     *component.Type
	foundPath string
	ptrPath   string // path of the array the current closure iterates
}

// walk visits node; ptr is the element type `#` and `.field` refer to inside
// the closure being walked.
func (r *resolver) walk(node ast.Node, ptr *component.Type) {
	if node == nil || r.found != nil {
		return
	}
	switch n := node.(type) {
	case *ast.MemberNode:
		if n.Property.Location().From == r.target {
			t, path := r.typeOf(n.Node, ptr)
			if t != nil {
				r.found, r.foundPath = t, path
			}
			return
		}
		r.walk(n.Node, ptr)
		r.walk(n.Property, ptr)
	case *ast.BuiltinNode:
		var elem *component.Type
		var elemPath string
		if len(n.Arguments) > 0 {
			if t, path := r.typeOf(n.Arguments[0], ptr); t != nil && t.Kind == component.Array {
				elem, elemPath = t.Elem, path+"[]"
			}
		}
		for i, a := range n.Arguments {
			if _, ok := a.(*ast.PredicateNode); ok && i > 0 {
				outer := r.ptrPath
				r.ptrPath = elemPath
				r.walk(a, elem)
				r.ptrPath = outer
				continue
			}
			r.walk(a, ptr)
		}
	case *ast.PredicateNode:
		r.walk(n.Node, ptr)
	case *ast.CallNode:
		r.walk(n.Callee, ptr)
		for _, a := range n.Arguments {
			r.walk(a, ptr)
		}
	case *ast.BinaryNode:
		r.walk(n.Left, ptr)
		r.walk(n.Right, ptr)
	case *ast.UnaryNode:
		r.walk(n.Node, ptr)
	case *ast.ConditionalNode:
		r.walk(n.Cond, ptr)
		r.walk(n.Exp1, ptr)
		r.walk(n.Exp2, ptr)
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			r.walk(e, ptr)
		}
	case *ast.MapNode:
		for _, p := range n.Pairs {
			r.walk(p, ptr)
		}
	case *ast.PairNode:
		r.walk(n.Key, ptr)
		r.walk(n.Value, ptr)
	case *ast.SliceNode:
		r.walk(n.Node, ptr)
		r.walk(n.From, ptr)
		r.walk(n.To, ptr)
	case *ast.ChainNode:
		r.walk(n.Node, ptr)
	case *ast.VariableDeclaratorNode:
		r.walk(n.Value, ptr)
		r.walk(n.Expr, ptr)
	case *ast.SequenceNode:
		for _, e := range n.Nodes {
			r.walk(e, ptr)
		}
	}
}

// typeOf resolves the static type of identifier and member chains.
func (r *resolver) typeOf(node ast.Node, ptr *component.Type) (*component.Type, string) {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		t, ok := r.env.Field(n.Value)
		if !ok {
			return nil, ""
		}
		return t, n.Value
	case *ast.PointerNode:
		if n.Name == "" && ptr != nil {
			return ptr, r.ptrPath
		}
	case *ast.ChainNode:
		return r.typeOf(n.Node, ptr)
	case *ast.MemberNode:
		base, path := r.typeOf(n.Node, ptr)
		if base == nil {
			return nil, ""
		}
		switch prop := n.Property.(type) {
		case *ast.StringNode:
			t, ok := base.Field(prop.Value)
			if !ok {
				return nil, ""
			}
			return t, path + "." + prop.Value
		case *ast.IntegerNode:
			if base.Kind == component.Array {
				return base.Elem, fmt.Sprintf("%s[%d]", path, prop.Value)
			}
		}
	}
	return nil, ""
}

// typeOfPath is the record type of a field path, or nil when unknown.
func typeOfPath(env *component.Type, path []string) *component.Type {
	if path == nil {
		return nil
	}
	t := env
	for _, name := range path {
		ft, ok := t.Field(name)
		if !ok || ft == nil {
			return nil
		}
		t = ft
	}
	return t
}
