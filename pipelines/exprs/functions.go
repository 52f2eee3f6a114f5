package exprs

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// standardFunctions returns the function library, one file per category.
// Every Fn is wrapped so that a panic inside it becomes an error naming the
// function: a bug of ours must fail one record, never the engine.
//
// Overloads in Types are ordered with care. expr's checker tries them in
// order and takes the first that fits; an argument of unknown type (a field
// of an open record) fits any overload, so the first one decides the result
// type the checker infers. And an overload taking float64 rewrites integer
// literals into floats while it is tried, even if it then fails, so
// overloads taking float64 come after those taking int or decimal.
func standardFunctions(clock component.Clock) []*Function {
	if clock == nil {
		clock = component.SystemClock{}
	}
	var fs []*Function
	fs = append(fs, stringFunctions()...)
	fs = append(fs, numberFunctions()...)
	fs = append(fs, moneyFunctions()...)
	fs = append(fs, timeFunctions(clock)...)
	fs = append(fs, collectionFunctions()...)
	fs = append(fs, valueFunctions()...)
	fs = append(fs, idFunctions()...)
	fs = append(fs, skuFunctions()...)
	for _, f := range fs {
		f.Fn = guard(f.Name, f.Fn)
	}
	return fs
}

// standardOperators makes the arithmetic and comparison operators work on
// exact decimals. Only decimal with decimal and decimal with int have
// overloads: a decimal mixed with a float64 finds none, so the checker
// rejects it when the expression compiles instead of losing cents at run
// time.
func standardOperators() []Operator {
	return []Operator{
		{Op: "+", Funcs: []string{"decimal_add"}},
		{Op: "-", Funcs: []string{"decimal_sub"}},
		{Op: "*", Funcs: []string{"decimal_mul"}},
		{Op: "/", Funcs: []string{"decimal_div"}},
		{Op: "==", Funcs: []string{"decimal_eq"}},
		{Op: "!=", Funcs: []string{"decimal_ne"}},
		{Op: "<", Funcs: []string{"decimal_lt"}},
		{Op: "<=", Funcs: []string{"decimal_le"}},
		{Op: ">", Funcs: []string{"decimal_gt"}},
		{Op: ">=", Funcs: []string{"decimal_ge"}},
	}
}

// guard turns a panic inside fn into an error, so that the fuzzer's worst
// finding is a failed record rather than a crashed worker.
func guard(name string, fn func(args ...any) (any, error)) func(args ...any) (any, error) {
	return func(args ...any) (out any, err error) {
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, fmt.Errorf("%s: internal error: %v", name, r)
			}
		}()
		return fn(args...)
	}
}

// arity checks the number of arguments at run time. The checker already
// enforces it at compile time; this keeps a direct call from indexing past
// the end.
func arity(name string, args []any, lo, hi int) error {
	if len(args) < lo || len(args) > hi {
		if lo == hi {
			return fmt.Errorf("%s: takes %d arguments, got %d", name, lo, len(args))
		}
		return fmt.Errorf("%s: takes %d to %d arguments, got %d", name, lo, hi, len(args))
	}
	return nil
}

// KindOf names a value's type the way pipectl's docs do (string, int,
// number, decimal, bool, time, duration, array, object, null), for
// messages: a user never reads a Go type.
func KindOf(v any) string { return kindOf(v) }

// kindOf is KindOf.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "int"
	case float32, float64:
		return "number"
	case decimal.Decimal:
		return "decimal"
	case time.Time:
		return "time"
	case time.Duration:
		return "duration"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return reflect.TypeOf(v).String()
}

// argString returns argument i as a string; what names it in the error.
func argString(name string, args []any, i int, what string) (string, error) {
	if s, ok := args[i].(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("%s: %s must be a string, not %s", name, what, kindOf(args[i]))
}

// argInt returns argument i as an int; what names it in the error.
func argInt(name string, args []any, i int, what string) (int, error) {
	if n, ok := toInt(args[i]); ok {
		return n, nil
	}
	return 0, fmt.Errorf("%s: %s must be an int, not %s", name, what, kindOf(args[i]))
}

// argStringOrInt returns argument i as a string, writing an int in decimal
// digits: SKUs, GTINs and ids often arrive as JSON numbers.
func argStringOrInt(name string, args []any, i int, what string) (string, error) {
	if s, ok := args[i].(string); ok {
		return s, nil
	}
	if n, ok := toInt(args[i]); ok {
		return strconv.Itoa(n), nil
	}
	return "", fmt.Errorf("%s: %s must be a string or an int, not %s", name, what, kindOf(args[i]))
}

// toInt converts any Go integer to int. Records hold int, but values built
// by Go code may use other widths.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	case uint:
		if n <= math.MaxInt {
			return int(n), true
		}
	case uint64:
		if n <= math.MaxInt {
			return int(n), true
		}
	}
	return 0, false
}

// toFloat converts a float or an integer to float64, for the functions
// whose float64 overload the checker also lets integers into.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	}
	if n, ok := toInt(v); ok {
		return float64(n), true
	}
	return 0, false
}

// text writes a scalar the way join and group print it: strings as they
// are, numbers in their shortest exact form.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32), true
	case decimal.Decimal:
		return x.String(), true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	}
	if n, ok := toInt(v); ok {
		return strconv.Itoa(n), true
	}
	return "", false
}
