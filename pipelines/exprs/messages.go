package exprs

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/parser/lexer"
	"github.com/pipectl/pipectl/pipelines/component"
)

// This file turns what expr's parser and checker say into the terms of the
// expression as written: which bracket is unclosed, which argument of a
// call has the wrong type.

// syntaxProblem describes a parse error. The parser reports where it gave
// up, which for an unbalanced bracket or quote is the end of the
// expression; the bracket or quote at fault is named and pointed at
// instead.
func (l *Library) syntaxProblem(src string, env *component.Type, err error) Problem {
	p := l.problem(src, env, err, true)
	if p.Code != CodeSyntax {
		return p
	}
	if q, ok := unclosedQuote(src); ok {
		return q
	}
	if b, ok := bracketProblem(src); ok {
		return b
	}
	return p
}

var closers = map[string]string{"(": ")", "[": "]", "{": "}"}

// bracketProblem finds the first bracket that closes another kind than the
// last one opened, or else the innermost bracket never closed.
func bracketProblem(src string) (Problem, bool) {
	toks, err := lexer.Lex(file.NewSource(src))
	if err != nil {
		return Problem{}, false
	}
	var open []int // indexes into toks
	for i, t := range toks {
		if t.Kind != lexer.Bracket {
			continue
		}
		if _, opens := closers[t.Value]; opens {
			open = append(open, i)
			continue
		}
		if len(open) == 0 {
			return Problem{Code: CodeSyntax, Summary: fmt.Sprintf("`%s` closes nothing: no bracket is open here", t.Value),
				Offset: t.From, Len: 1}, true
		}
		o := toks[open[len(open)-1]]
		open = open[:len(open)-1]
		if closers[o.Value] != t.Value {
			return Problem{Code: CodeSyntax,
				Summary: fmt.Sprintf("`%s` where `%s` was expected, to close %s", t.Value, closers[o.Value], bracketName(toks, o)),
				Offset:  t.From, Len: 1}, true
		}
	}
	if len(open) == 0 {
		return Problem{}, false
	}
	o := toks[open[len(open)-1]]
	return Problem{Code: CodeSyntax, Summary: fmt.Sprintf("unclosed %s: no `%s` closes it", bracketName(toks, o), closers[o.Value]),
		Hint: fmt.Sprintf("add `%s` where it ends", closers[o.Value]), Offset: o.From, Len: 1}, true
}

// bracketName names an opening bracket as an author thinks of it: the
// parenthesis of decimal(, the bracket of [.
func bracketName(toks []lexer.Token, open lexer.Token) string {
	what := map[string]string{"(": "parenthesis", "[": "bracket", "{": "brace"}[open.Value]
	for i, t := range toks {
		if t.From == open.From && t.Kind == open.Kind && i > 0 && open.Value == "(" && toks[i-1].Kind == lexer.Identifier {
			return fmt.Sprintf("parenthesis of %s(", toks[i-1].Value)
		}
	}
	return fmt.Sprintf("%s `%s`", what, open.Value)
}

// unclosedQuote finds a string literal that runs to the end of the
// expression, and points at its opening quote.
func unclosedQuote(src string) (Problem, bool) {
	r := []rune(src)
	for i := 0; i < len(r); i++ {
		q := r[i]
		if q != '"' && q != '\'' && q != '`' {
			continue
		}
		start := i
		closed := false
		for i++; i < len(r); i++ {
			if r[i] == '\\' && q != '`' {
				i++
				continue
			}
			if r[i] == q {
				closed = true
				break
			}
		}
		if !closed {
			return Problem{Code: CodeSyntax, Summary: fmt.Sprintf("unclosed string: no %c closes the %c here", q, q),
				Offset: start, Len: 1}, true
		}
	}
	return Problem{}, false
}

// callProblem rewrites the checker's complaint about a call to one of our
// functions into the argument at fault. The checker tries every overload
// and reports on the last, so `pad_left(id, "8", "0")` would be "too many
// arguments" (the last overload takes two) when the fault is the width
// written as a string.
func (l *Library) callProblem(tree *parser.Tree, fe *file.Error, p Problem) Problem {
	call := callAt(tree.Node, p.Offset)
	if call == nil {
		return p
	}
	callee, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return p
	}
	f := l.byName[callee.Value]
	if f == nil || len(f.Types) == 0 || !strings.Contains(fe.Message, "call "+f.Name) && !strings.Contains(fe.Message, "arguments") {
		return p
	}
	args := make([]reflect.Type, len(call.Arguments))
	for i, a := range call.Arguments {
		args[i] = a.Type()
	}
	arities := map[int]bool{}
	variadic := false
	// The argument at fault is the first one an overload cannot take, in
	// the overload that fits longest; what it must be is what the
	// overloads failing there take.
	firstBad := map[int]int{}
	bestAt := -1
	for i, sig := range f.Types {
		ft := reflect.TypeOf(sig).Elem()
		if ft.Kind() != reflect.Func {
			continue
		}
		arities[ft.NumIn()] = true
		variadic = variadic || ft.IsVariadic()
		if ft.IsVariadic() || ft.NumIn() != len(args) {
			continue
		}
		for j := range args {
			unknown := args[j] == nil || args[j].Kind() == reflect.Interface
			if !unknown && !argAccepts(ft.In(j), args[j]) {
				firstBad[i] = j
				bestAt = max(bestAt, j)
				break
			}
		}
	}
	if bestAt < 0 {
		if !arities[len(args)] && len(arities) > 0 && !variadic {
			p.Summary = fmt.Sprintf("%s takes %s, got %d", f.Name, arityText(arities), len(args))
			p.Hint = "its signature: " + f.Signature
		}
		return p
	}
	var wants []string
	for i, sig := range f.Types {
		if j, ok := firstBad[i]; ok && j == bestAt {
			w := typeOfReflect(reflect.TypeOf(sig).Elem().In(j)).Kind.String()
			if !slices.Contains(wants, w) {
				wants = append(wants, w)
			}
		}
	}
	name := fmt.Sprintf("argument %d", bestAt+1)
	if params := signatureParams(f.Signature); bestAt < len(params) {
		name = params[bestAt]
	}
	arg := call.Arguments[bestAt]
	loc := arg.Location()
	p.Summary = fmt.Sprintf("%s: %s must be %s, not %s", f.Name, name, orList(wants), typeOfNature(arg.Nature()).Kind)
	p.Hint = "its signature: " + f.Signature
	if s, ok := arg.(*ast.StringNode); ok && slices.Contains(wants, "int") {
		p.Hint = fmt.Sprintf("write the number without quotes: %s", s.Value)
	}
	p.Offset, p.Len = loc.From, max(1, loc.To-loc.From)
	return p
}

// nodeAt returns the outermost node starting at rune offset from. Nodes
// the checker made (an operator turned into a call) have no place in the
// text and are passed over.
func nodeAt(root ast.Node, from int) ast.Node {
	if root == nil {
		return nil
	}
	if loc := root.Location(); loc.From == from && loc.To > 0 {
		return root
	}
	for _, c := range children(root) {
		if n := nodeAt(*c, from); n != nil {
			return n
		}
	}
	return nil
}

// callAt returns the outermost call starting at rune offset from, or
// having an argument that does: the checker reports a call's argument
// errors at the argument when the function has one signature.
func callAt(root ast.Node, from int) *ast.CallNode {
	if root == nil {
		return nil
	}
	if c, ok := root.(*ast.CallNode); ok {
		if c.Location().From == from {
			return c
		}
		for _, a := range c.Arguments {
			if a.Location().From == from {
				return c
			}
		}
	}
	for _, ch := range children(root) {
		if c := callAt(*ch, from); c != nil {
			return c
		}
	}
	return nil
}

// signatureParams reads the parameter names of a documented signature,
// "pad_left(s string|int, width int[, fill string]) string".
func signatureParams(sig string) []string {
	open, end := strings.Index(sig, "("), strings.LastIndex(sig, ")")
	if open < 0 || end < open {
		return nil
	}
	inner := strings.NewReplacer("[", "", "]", "").Replace(sig[open+1 : end])
	var out []string
	for _, part := range strings.Split(inner, ",") {
		if name, _, _ := strings.Cut(strings.TrimSpace(part), " "); name != "" {
			out = append(out, name)
		}
	}
	return out
}

// orList joins alternatives: "decimal, string or int".
func orList(ss []string) string {
	if len(ss) < 2 {
		return strings.Join(ss, "")
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " or " + ss[len(ss)-1]
}

func arityText(arities map[int]bool) string {
	lo, hi := -1, -1
	for n := range arities {
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	switch {
	case lo == hi && lo == 1:
		return "1 argument"
	case lo == hi:
		return fmt.Sprintf("%d arguments", lo)
	}
	return fmt.Sprintf("%d to %d arguments", lo, hi)
}

// aggregateProblems reports sum, mean and median over values that are not
// numbers, which expr's checker lets through: they would fail on every
// record (or, for booleans, count nothing a reader would expect).
func aggregateProblems(root ast.Node) []Problem {
	var probs []Problem
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		if n == nil {
			return
		}
		if b, ok := n.(*ast.BuiltinNode); ok && (b.Name == "sum" || b.Name == "mean" || b.Name == "median") && len(b.Arguments) > 0 {
			var elem *component.Type
			if len(b.Arguments) == 2 {
				if pred, ok := b.Arguments[1].(*ast.PredicateNode); ok {
					elem = typeOfNature(pred.Node.Nature())
				}
			} else if t := typeOfNature(b.Arguments[0].Nature()); t.Kind == component.Array {
				elem = t.Elem
			}
			if elem != nil {
				switch elem.Kind {
				case component.Int, component.Number, component.Any, component.Null:
				default:
					p := Problem{Code: CodeTypeMismatch, Summary: fmt.Sprintf("%s adds numbers, and the values are %s", b.Name, article(elem.Kind.String())),
						Offset: b.Location().From, Len: len(b.Name)}
					switch elem.Kind {
					case component.Decimal:
						p.Hint = "add decimals with sum_decimal(map(...)), which keeps every cent"
					case component.Bool:
						p.Hint = "count what holds with count(array, predicate)"
					}
					probs = append(probs, p)
				}
			}
		}
		for _, c := range children(n) {
			walk(*c)
		}
	}
	walk(root)
	return probs
}
