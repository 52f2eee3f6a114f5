package component

import (
	"strconv"
	"time"

	"github.com/pipectl/pipectl/pipelines/diag"
)

// Value is a decoded setting: what the file says, typed by its Field, with
// where it says it. The loader builds Values; the compiler fills in Expr for
// expression fields; kinds read them.
type Value struct {
	Field *Field
	Range diag.Range
	// Set is false when the value came from the field's default.
	Set bool

	Str    string        // StringField, EnumField, CronField, TimezoneField, RefField, ExprField source
	Int    int64         // IntField
	Num    float64       // NumberField
	Bool   bool          // BoolField
	Dur    time.Duration // DurationField
	Secret bool          // the value is, or was interpolated from, a secret
	// Unresolved is set when the value names an environment variable that
	// is not set and has no default: what it will be is known only where
	// the pipeline runs, so checks of its text wait until then.
	Unresolved bool

	List []*Value          // ListField
	Keys []string          // ObjectField, MapField, MappingField: keys in file order
	Map  map[string]*Value // ObjectField, MapField, MappingField

	// Expr is the compiled expression of an ExprField, or of a MappingField
	// leaf, once the compiler has compiled it.
	Expr Expr
	// IsExpr marks a MappingField leaf (an expression) as opposed to a nested
	// mapping.
	IsExpr bool
	// Comment is the YAML comment after an expression scalar on its line.
	// An unquoted ` #` ends a plain scalar, so a comment there usually
	// means an expression was cut short, which the compiler points out.
	Comment string
	// Locate maps a span of an expression's text (rune offset and length)
	// to where it is in the file, through quotes, escapes and block scalars.
	// Set by the loader on expression values.
	Locate func(offset, length int) diag.Range
}

// Get returns the sub-value with the given key, or nil.
func (v *Value) Get(key string) *Value {
	if v == nil || v.Map == nil {
		return nil
	}
	return v.Map[key]
}

// Display is the value quoted as it may be printed: secrets are redacted.
func (v *Value) Display() string {
	if v.Secret {
		return Redacted
	}
	return strconv.Quote(v.Str)
}

// Walk calls fn for v and every value nested in it, depth first in file order.
func (v *Value) Walk(fn func(*Value)) {
	if v == nil {
		return
	}
	fn(v)
	for _, e := range v.List {
		e.Walk(fn)
	}
	for _, k := range v.Keys {
		v.Map[k].Walk(fn)
	}
}
