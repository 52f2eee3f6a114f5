package exprs

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// maxPlaces bounds the places of round and round_money. Rounding scales by
// 10^places, so an absurd count read from a record must be refused rather
// than computed.
const maxPlaces = 20

func numberFunctions() []*Function {
	return []*Function{
		{
			Name:     "round",
			Category: "numbers",
			Summary: "Rounds x to places decimal places (0 when omitted), halves away from zero. A number is " +
				"rounded as written (2.675 rounds to 2.68, not to 2.67 as binary floating point would); a decimal " +
				"stays exact. Use round_money to choose another rounding mode.",
			Signature: "round(x number|decimal[, places int]) number|decimal",
			Types: []any{
				new(func(float64) float64), new(func(float64, int) float64),
				new(func(decimal.Decimal) decimal.Decimal), new(func(decimal.Decimal, int) decimal.Decimal),
			},
			Fn: round,
			Examples: []Example{
				{`round(2.675, 2)`, `2.68`},
				{`round(-2.5)`, `-3`},
				{`round(decimal("19.995"), 2)`, `"20.00"`},
			},
		},
		{
			Name:      "floor",
			Category:  "numbers",
			Summary:   "Returns the greatest whole number not greater than x; a decimal stays a decimal.",
			Signature: "floor(x number|decimal) number|decimal",
			Types:     []any{new(func(float64) float64), new(func(decimal.Decimal) decimal.Decimal)},
			Fn: func(args ...any) (any, error) {
				return wholeNumber("floor", args, math.Floor, decimal.Decimal.Floor)
			},
			Examples: []Example{
				{`floor(2.7)`, `2`},
				{`floor(-2.5)`, `-3`},
				{`floor(decimal("19.99"))`, `"19"`},
			},
		},
		{
			Name:      "ceil",
			Category:  "numbers",
			Summary:   "Returns the least whole number not less than x, e.g. parcels needed; a decimal stays a decimal.",
			Signature: "ceil(x number|decimal) number|decimal",
			Types:     []any{new(func(float64) float64), new(func(decimal.Decimal) decimal.Decimal)},
			Fn: func(args ...any) (any, error) {
				return wholeNumber("ceil", args, math.Ceil, decimal.Decimal.Ceil)
			},
			Examples: []Example{
				{`ceil(2.1)`, `3`},
				{`ceil(-2.5)`, `-2`},
				{`ceil(decimal("0.01"))`, `"1"`},
			},
		},
		{
			Name:     "clamp",
			Category: "numbers",
			Summary: "Limits x to the range lo to hi, e.g. a quantity to what the WMS accepts. Ints stay ints, " +
				"decimals stay decimals; floats and decimals do not mix.",
			Signature: "clamp(x, lo, hi int|number|decimal) int|number|decimal",
			Types: []any{
				new(func(int, int, int) int),
				new(func(decimal.Decimal, decimal.Decimal, decimal.Decimal) decimal.Decimal),
				new(func(decimal.Decimal, int, int) decimal.Decimal),
				new(func(float64, float64, float64) float64),
			},
			Fn: clamp,
			Examples: []Example{
				{`clamp(250, 1, 99)`, `99`},
				{`clamp(-3, 0, 10)`, `0`},
				{`clamp(0.5, 0, 1)`, `0.5`},
				{`clamp(decimal("-4.20"), 0, 100)`, `"0"`},
			},
		},
		{
			Name:      "parse_int",
			Category:  "numbers",
			Summary:   "Reads an integer written as text, such as a quantity sent as a string; surrounding space is ignored.",
			Signature: "parse_int(s string) int",
			Types:     []any{new(func(string) int)},
			Fn:        parseInt,
			Examples: []Example{
				{`parse_int(" 42 ")`, `42`},
				{`parse_int("-7")`, `-7`},
			},
		},
		{
			Name:     "parse_float",
			Category: "numbers",
			Summary: "Reads a number written as text; surrounding space is ignored, NaN and infinities are refused. " +
				"For money use decimal, which is exact.",
			Signature: "parse_float(s string) number",
			Types:     []any{new(func(string) float64)},
			Fn:        parseFloat,
			Examples: []Example{
				{`parse_float("0.75")`, `0.75`},
				{`parse_float("1e3")`, `1000`},
			},
		},
	}
}

func round(args ...any) (any, error) {
	if err := arity("round", args, 1, 2); err != nil {
		return nil, err
	}
	places := 0
	if len(args) == 2 {
		var err error
		if places, err = argInt("round", args, 1, "places"); err != nil {
			return nil, err
		}
		if places < -maxPlaces || places > maxPlaces {
			return nil, fmt.Errorf("round: places %d is outside %d to %d", places, -maxPlaces, maxPlaces)
		}
	}
	switch x := args[0].(type) {
	case decimal.Decimal:
		return x.Round(int32(places)), nil
	}
	x, ok := toFloat(args[0])
	if !ok {
		return nil, fmt.Errorf("round: x must be a number or a decimal, not %s", kindOf(args[0]))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x, nil
	}
	// Rounding the shortest decimal form of x, not its binary value, is what
	// makes 2.675 round up as the person who wrote it expects.
	f, _ := decimal.NewFromFloat(x).Round(int32(places)).Float64()
	return f, nil
}

func wholeNumber(name string, args []any, f func(float64) float64, d func(decimal.Decimal) decimal.Decimal) (any, error) {
	if err := arity(name, args, 1, 1); err != nil {
		return nil, err
	}
	if x, ok := args[0].(decimal.Decimal); ok {
		return d(x), nil
	}
	x, ok := toFloat(args[0])
	if !ok {
		return nil, fmt.Errorf("%s: x must be a number or a decimal, not %s", name, kindOf(args[0]))
	}
	return f(x), nil
}

func clamp(args ...any) (any, error) {
	if err := arity("clamp", args, 3, 3); err != nil {
		return nil, err
	}
	var hasDecimal, hasFloat bool
	for i, a := range args {
		switch a.(type) {
		case decimal.Decimal:
			hasDecimal = true
		case float64, float32:
			hasFloat = true
		default:
			if _, ok := toInt(a); !ok {
				return nil, fmt.Errorf("clamp: argument %d must be a number, not %s", i+1, kindOf(a))
			}
		}
	}
	switch {
	case hasDecimal && hasFloat:
		return nil, fmt.Errorf("clamp: cannot mix decimals and floats; convert with decimal()")
	case hasDecimal:
		var ds [3]decimal.Decimal
		for i, a := range args {
			ds[i], _ = exactDecimal(a)
		}
		if ds[1].GreaterThan(ds[2]) {
			return nil, fmt.Errorf("clamp: lo %s is greater than hi %s", ds[1], ds[2])
		}
		return decimal.Min(decimal.Max(ds[0], ds[1]), ds[2]), nil
	case hasFloat:
		var fs [3]float64
		for i, a := range args {
			fs[i], _ = toFloat(a)
		}
		if fs[1] > fs[2] {
			return nil, fmt.Errorf("clamp: lo %v is greater than hi %v", fs[1], fs[2])
		}
		return math.Min(math.Max(fs[0], fs[1]), fs[2]), nil
	}
	var ns [3]int
	for i, a := range args {
		ns[i], _ = toInt(a)
	}
	if ns[1] > ns[2] {
		return nil, fmt.Errorf("clamp: lo %d is greater than hi %d", ns[1], ns[2])
	}
	return min(max(ns[0], ns[1]), ns[2]), nil
}

func parseInt(args ...any) (any, error) {
	if err := arity("parse_int", args, 1, 1); err != nil {
		return nil, err
	}
	if n, ok := toInt(args[0]); ok {
		return n, nil
	}
	s, err := argString("parse_int", args, 0, "s")
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("parse_int: %q is not an integer", s)
	}
	return n, nil
}

func parseFloat(args ...any) (any, error) {
	if err := arity("parse_float", args, 1, 1); err != nil {
		return nil, err
	}
	if f, ok := toFloat(args[0]); ok {
		return f, nil
	}
	s, err := argString("parse_float", args, 0, "s")
	if err != nil {
		return nil, err
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("parse_float: %q is not a finite number", s)
	}
	return f, nil
}
