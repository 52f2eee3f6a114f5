package exprs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// The VM reports a failed operation in Go's terms, with where in the
// expression it failed: "interface conversion: interface {} is nil, not
// bool", "invalid operation: <nil> + string", "cannot fetch city from
// <nil>". Those reach error records, which the pipeline's author reads, so
// runError says the same in the author's terms: the field, its value, and
// what the operation expected (`test is null, not a bool`). The values are
// read again from the record the expression ran on; only the failing run
// pays for this.

var (
	conversionRE = regexp.MustCompile(`^interface conversion: interface \{\} is (.+), not (.+)$`)
	operationRE  = regexp.MustCompile(`^invalid operation: (.+) (\S+) (.+)$`)
	fetchRE      = regexp.MustCompile(`^cannot fetch (.+) from (.+)$`)
	indexRE      = regexp.MustCompile(`^index out of range: (-?\d+) \(array of length (\d+)\)$`)
)

// runError explains an error of a run of p against env, naming the
// expression it happened in.
func (p *Program) runError(err error, env any) error {
	fe, ok := err.(*file.Error)
	if !ok {
		return err
	}
	msg := fe.Message
	fields, _ := env.(map[string]any)
	if node := nodeAt(p.prog.Node(), fe.From); node != nil && fields != nil {
		if m := explain(node, msg, fields); m != "" {
			msg = m
		}
	}
	return fmt.Errorf("%s (in %s)", goNames.Replace(msg), strings.TrimSpace(p.source))
}

// goNames turns Go's type names in messages no case below rewrites into
// the names pipeline authors know.
var goNames = strings.NewReplacer(
	"<nil>", "null", "map[string]interface {}", "object", "[]interface {}", "array", "interface {}", "any",
	"float64", "number", "decimal.Decimal", "decimal", "time.Time", "time", "time.Duration", "duration",
)

// explain rewrites msg, the VM's error at node, or returns "".
func explain(node ast.Node, msg string, env map[string]any) string {
	if m := conversionRE.FindStringSubmatch(msg); m != nil {
		// A boolean operator or a condition on a value that is not a bool.
		want := goNames.Replace(m[2])
		for _, op := range operands(node) {
			if v, path, ok := valueOf(op, env); ok && kindOf(v) != want {
				return fmt.Sprintf("%s is %s, not %s", path, describeValue(v), article(want))
			}
		}
		return fmt.Sprintf("a value is %s, not %s", goNames.Replace(m[1]), article(want))
	}
	if m := operationRE.FindStringSubmatch(msg); m != nil {
		if b, ok := node.(*ast.BinaryNode); ok {
			for _, side := range []ast.Node{b.Left, b.Right} {
				v, path, ok := valueOf(side, env)
				if !ok {
					continue
				}
				want := typeOfNature(side.Nature())
				switch {
				case want.Known() && kindOf(v) != want.Kind.String():
					return fmt.Sprintf("%s is %s, not %s: %s cannot use it", path, describeValue(v), article(want.Kind.String()), m[2])
				case v == nil:
					return fmt.Sprintf("%s is null: %s cannot use it", path, m[2])
				}
			}
		}
		return ""
	}
	if m := fetchRE.FindStringSubmatch(msg); m != nil {
		if mem, ok := node.(*ast.MemberNode); ok {
			if v, path, ok := valueOf(mem.Node, env); ok {
				return fmt.Sprintf("%s is %s, so it has no field %s", path, describeValue(v), m[1])
			}
		}
		return ""
	}
	if m := indexRE.FindStringSubmatch(msg); m != nil {
		if mem, ok := node.(*ast.MemberNode); ok {
			if _, path, ok := valueOf(mem.Node, env); ok {
				if m[2] == "0" {
					return fmt.Sprintf("%s is empty, so it has no element %s", path, m[1])
				}
				return fmt.Sprintf("%s has %s elements, so it has no element %s", path, m[2], m[1])
			}
		}
		return ""
	}
	switch n := node.(type) {
	case *ast.CallNode:
		// A function's own error: name the field that was null.
		for _, a := range n.Arguments {
			if v, path, ok := valueOf(a, env); ok && v == nil {
				return fmt.Sprintf("%s is null: %s", path, msg)
			}
		}
	case *ast.BuiltinNode:
		// len, map, filter... on a null: expr says it in reflect's terms.
		for _, a := range n.Arguments {
			if v, path, ok := valueOf(a, env); ok && v == nil {
				return fmt.Sprintf("%s is null: %s cannot use it", path, n.Name)
			}
		}
	case *ast.UnaryNode:
		if v, path, ok := valueOf(n.Node, env); ok && v == nil {
			return fmt.Sprintf("%s is null: %s cannot use it", path, n.Operator)
		}
	}
	if strings.HasPrefix(msg, "reflect") {
		return "a value is not of the type the expression needs here"
	}
	return ""
}

// operands are the values an operation at node tested for being a bool.
func operands(node ast.Node) []ast.Node {
	switch n := node.(type) {
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond}
	}
	return nil
}

// valueOf reads the value of a field path from the record, as the
// expression did, and the path as written; ok is false when node is not a
// plain field path.
func valueOf(node ast.Node, env map[string]any) (any, string, bool) {
	var names []string
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.IdentifierNode:
			names = append(names, x.Value)
			return x.Value != "$env"
		case *ast.ChainNode:
			return walk(x.Node)
		case *ast.MemberNode:
			if !walk(x.Node) {
				return false
			}
			switch prop := x.Property.(type) {
			case *ast.StringNode:
				names = append(names, prop.Value)
				return true
			case *ast.IntegerNode:
				names = append(names, "["+strconv.Itoa(prop.Value)+"]")
				return true
			}
		}
		return false
	}
	if !walk(node) {
		return nil, "", false
	}
	var cur any = env
	for _, name := range names {
		if i, err := strconv.Atoi(strings.Trim(name, "[]")); err == nil && strings.HasPrefix(name, "[") {
			arr, _ := cur.([]any)
			if i < 0 || i >= len(arr) {
				return nil, "", false
			}
			cur = arr[i]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, "", false
		}
		cur = m[name]
	}
	return cur, strings.ReplaceAll(strings.Join(names, "."), ".[", "["), true
}

// describeValue is a value as a message shows it: null, the string "x",
// the number 1.5, an object.
func describeValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		r := []rune(x)
		if len(r) > 40 {
			x = string(r[:40]) + "…"
		}
		return "the string " + strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if s, ok := text(v); ok {
		return fmt.Sprintf("the %s %s", kindOf(v), s)
	}
	return article(kindOf(v))
}

// article puts "a" or "an" before a type name.
func article(kind string) string {
	switch {
	case kind == "":
		return "a value"
	case strings.ContainsRune("aeiou", rune(kind[0])):
		return "an " + kind
	}
	return "a " + kind
}
