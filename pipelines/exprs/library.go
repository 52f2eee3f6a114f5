package exprs

import (
	"slices"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
	"github.com/pipectl/pipectl/pipelines/component"
)

// Function is one function of the expression library, with the spec that
// the reference documentation is generated from and whose examples run as
// tests.
type Function struct {
	Name      string
	Category  string // strings, numbers, money, time, collections, ids, sku, values
	Summary   string
	Signature string // as shown in docs: "pad_left(s string, width int, fill string) string"
	// Types are the typed signatures expr's checker matches calls against,
	// each a pointer to a func value, e.g. new(func(string) string).
	Types    []any
	Fn       func(args ...any) (any, error)
	Examples []Example
	// Literals check arguments written as string literals when the
	// expression compiles, so a layout or time zone the function could never
	// use is reported by validate rather than on every record.
	Literals []LiteralCheck
}

// LiteralCheck checks argument Arg (0-based) of a call when it is a string
// literal; Hint, when set, is shown with the error.
type LiteralCheck struct {
	Arg   int
	Check func(s string) error
	Hint  string
}

// Example is a call and its result, JSON-encoded: decimals as strings of
// their exact digits with their scale ("20.00"), times in RFC 3339.
type Example struct {
	Expr string
	Want string
}

// Operator overloads an operator with functions, tried in order by the
// operand types (decimal arithmetic and comparison).
type Operator struct {
	Op    string
	Funcs []string
}

// Limits bound what one expression may cost, so a hostile or careless
// expression cannot hang or exhaust the engine.
type Limits struct {
	// MaxNodes caps the size of an expression's syntax tree.
	MaxNodes uint
	// MemoryBudget caps the allocations (in expr's units: elements of
	// arrays, maps and strings built) of one evaluation.
	MemoryBudget uint
}

// DefaultLimits are the limits pipectl compiles with.
var DefaultLimits = Limits{MaxNodes: 2000, MemoryBudget: 1_000_000}

// Library is the set of functions and operators expressions may use. It is
// immutable once built and safe for concurrent use.
type Library struct {
	funcs     []*Function
	operators []Operator
	limits    Limits
	options   []expr.Option
	names     []string // our functions and expr's builtins, for did-you-mean
	byName    map[string]*Function
}

// NewLibrary returns the standard function library, reading the time from
// clock.
func NewLibrary(clock component.Clock) *Library {
	return newLibrary(standardFunctions(clock), standardOperators(), DefaultLimits)
}

// WithLimits returns a copy of l that compiles with other limits.
func (l *Library) WithLimits(lim Limits) *Library {
	return newLibrary(l.funcs, l.operators, lim)
}

func newLibrary(funcs []*Function, ops []Operator, lim Limits) *Library {
	l := &Library{funcs: funcs, operators: ops, limits: lim, byName: map[string]*Function{}}
	for _, f := range funcs {
		l.byName[f.Name] = f
		l.options = append(l.options, expr.Function(f.Name, f.Fn, f.Types...))
		l.names = append(l.names, f.Name)
	}
	for _, op := range ops {
		l.options = append(l.options, expr.Operator(op.Op, op.Funcs...))
	}
	for _, b := range builtin.Builtins {
		if !slices.Contains(l.names, b.Name) {
			l.names = append(l.names, b.Name)
		}
	}
	slices.Sort(l.names)
	l.options = append(l.options, expr.MaxNodes(lim.MaxNodes))
	return l
}

// Functions lists the library's functions sorted by category, then name.
func (l *Library) Functions() []*Function {
	out := slices.Clone(l.funcs)
	slices.SortFunc(out, func(a, b *Function) int {
		if a.Category != b.Category {
			if a.Category < b.Category {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Limits returns the limits the library compiles with.
func (l *Library) Limits() Limits { return l.limits }
