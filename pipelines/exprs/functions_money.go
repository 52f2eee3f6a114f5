package exprs

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

// Decimals are bounded so that an expression cannot make them grow without
// limit: each multiplication adds the digits of its operands, and printing
// a decimal with a huge exponent writes every zero. No amount of money
// comes near these bounds; records decode decimals within the same ones.
const (
	maxDecimalDigits   = record.MaxDecimalDigits
	maxDecimalExponent = record.MaxDecimalExponent
)

var errDecimalRange = errors.New("out of range")

type dec = decimal.Decimal

func moneyFunctions() []*Function {
	fs := []*Function{
		{
			Name:     "decimal",
			Category: "money",
			Summary: "Makes an exact decimal, for money: from text such as Shopify's \"19.99\", from an int, or, " +
				"when you ask for it, from a number (its shortest written form, so 0.1 becomes exactly 0.1; a field of " +
				"no known type holding a JSON number converts as written, every digit of it). " +
				"Decimals add, subtract, multiply, divide (to 16 places) and compare with decimals and ints using " +
				"the usual operators; mixing them with numbers is a compile error, and so is an operand of " +
				"unknown type (a field of an open record): convert it with decimal() or int(). Negate with 0 - d. " +
				"A decimal keeps its scale: read as 478.20 it is written 478.20; a result has the larger scale of " +
				"its operands (19.99 + 0.01 is 20.00), and more places only where its value needs them (10 / 4 is " +
				"2.5). 1.50 == 1.5 holds, and group and dedupe keys take them as the same.",
			Signature: "decimal(x string|int|number|decimal) decimal",
			Types: []any{
				new(func(string) dec), new(func(int) dec), new(func(dec) dec), new(func(float64) dec),
			},
			Fn: toDecimal,
			Examples: []Example{
				{`decimal("19.99") * 3`, `"59.97"`},
				{`decimal("19.99") * 3 == decimal("59.97")`, `true`},
				{`decimal(0.1) + decimal(0.2)`, `"0.3"`},
				{`decimal(" 1.50 ") > 1`, `true`},
			},
		},
		{
			Name:     "round_money",
			Category: "money",
			Summary: "Rounds d to places decimal places with an explicit mode: half_up (halves away from zero, " +
				"commercial rounding), half_even (banker's), up (away from zero), down (towards zero), ceiling " +
				"or floor. d may be a decimal, an int or decimal text. The result has exactly places decimal places.",
			Signature: "round_money(d decimal|string|int, places int, mode string) decimal",
			Types: []any{
				new(func(dec, int, string) dec), new(func(string, int, string) dec), new(func(int, int, string) dec),
			},
			Fn: roundMoney,
			Examples: []Example{
				{`round_money(decimal("2.345"), 2, "half_up")`, `"2.35"`},
				{`round_money(decimal("2.345"), 2, "half_even")`, `"2.34"`},
				{`round_money("-2.345", 2, "half_up")`, `"-2.35"`},
				{`round_money(decimal("19.99") / 3, 2, "down")`, `"6.66"`},
				{`round_money(2, 2, "up")`, `"2.00"`},
			},
		},
		{
			Name:     "sum_decimal",
			Category: "money",
			Summary: "Adds up an array of decimals, decimal texts and ints exactly, e.g. line prices; nil elements " +
				"are skipped, like SQL's SUM. A number (float) in the array is an error: convert it with decimal().",
			Signature: "sum_decimal(a array) decimal",
			Types:     []any{new(func([]any) dec)},
			Fn:        sumDecimal,
			Examples: []Example{
				{`sum_decimal(["19.99", "5.01", 3])`, `"28.00"`},
				{`sum_decimal(map([1, 2, 3], decimal("0.10") * #))`, `"0.60"`},
				{`sum_decimal([])`, `"0"`},
			},
		},
		{
			Name:     "to_float",
			Category: "money",
			Summary: "Converts a decimal to a number, for the rare target that wants a JSON number and accepts " +
				"that it may not be exact.",
			Signature: "to_float(d decimal) number",
			Types:     []any{new(func(dec) float64)},
			Fn:        toFloatFn,
			Examples: []Example{
				{`to_float(decimal("19.99"))`, `19.99`},
				{`to_float(decimal("1") / 3)`, `0.3333333333333333`},
			},
		},
		{
			Name:     "format_money",
			Category: "money",
			Summary: "Writes d with exactly places decimal places, rounding halves away from zero, e.g. \"59.90\" " +
				"for a payload that wants fixed digits. No thousands separators or currency symbol.",
			Signature: "format_money(d decimal|string|int, places int) string",
			Types: []any{
				new(func(dec, int) string), new(func(string, int) string), new(func(int, int) string),
			},
			Fn: formatMoney,
			Examples: []Example{
				{`format_money(decimal("59.9"), 2)`, `"59.90"`},
				{`format_money(decimal("2.345"), 2)`, `"2.35"`},
				{`format_money(10, 2)`, `"10.00"`},
			},
		},
	}
	return append(fs, decimalOperatorFunctions()...)
}

// decimalOperatorFunctions implement the operators of standardOperators.
// They are functions because that is how expr overloads an operator; the
// docs show them so a reader knows which operand types work.
func decimalOperatorFunctions() []*Function {
	arith := []any{new(func(dec, dec) dec), new(func(dec, int) dec), new(func(int, dec) dec)}
	compare := []any{new(func(dec, dec) bool), new(func(dec, int) bool), new(func(int, dec) bool)}
	op := func(name, symbol, result string, types []any, fn func(a, b dec) (any, error), examples ...Example) *Function {
		return &Function{
			Name:     name,
			Category: "money",
			Summary: fmt.Sprintf("Implements a %s b where a or b is a decimal and the other a decimal or an int; "+
				"write the operator rather than calling it.", symbol),
			Signature: fmt.Sprintf("%s(a decimal|int, b decimal|int) %s", name, result),
			Types:     types,
			Fn: func(args ...any) (any, error) {
				if err := arity(name, args, 2, 2); err != nil {
					return nil, err
				}
				// A missing value equals nothing but another missing value,
				// as == does for every other type; arithmetic and ordering
				// on it are errors below.
				if (symbol == "==" || symbol == "!=") && (args[0] == nil || args[1] == nil) {
					return (args[0] == nil && args[1] == nil) == (symbol == "=="), nil
				}
				a, err := operand(symbol, args[0])
				if err != nil {
					return nil, err
				}
				b, err := operand(symbol, args[1])
				if err != nil {
					return nil, err
				}
				return fn(a, b)
			},
			Examples: examples,
		}
	}
	checked := func(symbol string, d dec) (any, error) {
		if err := checkRange(d); err != nil {
			return nil, fmt.Errorf("decimal %s: result %w", symbol, err)
		}
		return d, nil
	}
	return []*Function{
		op("decimal_add", "+", "decimal", arith, func(a, b dec) (any, error) { return checked("+", a.Add(b)) },
			Example{`decimal("19.99") + decimal("0.01")`, `"20.00"`},
			Example{`1 + decimal("0.50")`, `"1.50"`}),
		op("decimal_sub", "-", "decimal", arith, func(a, b dec) (any, error) { return checked("-", a.Sub(b)) },
			Example{`decimal("10") - decimal("0.01")`, `"9.99"`},
			Example{`0 - decimal("4.20")`, `"-4.20"`}),
		op("decimal_mul", "*", "decimal", arith, func(a, b dec) (any, error) { return checked("*", keepScale(a.Mul(b), a, b, maxDecimalExponent)) },
			Example{`decimal("19.99") * 3`, `"59.97"`},
			Example{`decimal("0.19") * decimal("100.00")`, `"19.00"`},
			Example{`decimal("10.00") * decimal("0.5")`, `"5.00"`}),
		op("decimal_div", "/", "decimal", arith, func(a, b dec) (any, error) {
			if b.IsZero() {
				return nil, fmt.Errorf("decimal /: division of %s by zero", a)
			}
			return checked("/", keepScale(a.Div(b), a, b, decimal.DivisionPrecision))
		},
			Example{`decimal("59.97") / 3`, `"19.99"`},
			Example{`decimal("10") / 3`, `"3.3333333333333333"`},
			Example{`decimal("10.00") / 4`, `"2.50"`}),
		op("decimal_eq", "==", "bool", compare, func(a, b dec) (any, error) { return a.Equal(b), nil },
			Example{`decimal("1.50") == decimal("1.5")`, `true`},
			Example{`decimal("2.00") == 2`, `true`}),
		op("decimal_ne", "!=", "bool", compare, func(a, b dec) (any, error) { return !a.Equal(b), nil },
			Example{`decimal("1.50") != decimal("1.5")`, `false`},
			Example{`decimal("0.01") != 0`, `true`}),
		op("decimal_lt", "<", "bool", compare, func(a, b dec) (any, error) { return a.LessThan(b), nil },
			Example{`decimal("9.99") < 10`, `true`},
			Example{`decimal("-1") < decimal("-2")`, `false`}),
		op("decimal_le", "<=", "bool", compare, func(a, b dec) (any, error) { return a.LessThanOrEqual(b), nil },
			Example{`decimal("10.00") <= 10`, `true`},
			Example{`5 <= decimal("4.99")`, `false`}),
		op("decimal_gt", ">", "bool", compare, func(a, b dec) (any, error) { return a.GreaterThan(b), nil },
			Example{`decimal("49.99") > 50`, `false`},
			Example{`decimal("0.001") > 0`, `true`}),
		op("decimal_ge", ">=", "bool", compare, func(a, b dec) (any, error) { return a.GreaterThanOrEqual(b), nil },
			Example{`decimal("50.00") >= 50`, `true`},
			Example{`100 >= decimal("100.01")`, `false`}),
	}
}

// keepScale gives a product or a quotient the larger of its operands'
// scales, and more places only where its value needs them: 19.99 * 3 is
// 59.97, 10.00 * 0.5 is 5.00 (not 5.000), 59.97 / 3 is 19.99 (not the 16
// places division is carried to), 10 / 4 is 2.5. Sums and differences
// have that scale already. The scale is how a decimal is written, so money
// keeps its cents through arithmetic. A result is never padded beyond
// limit places, the places it was computed to (16 for a quotient): zeros
// there would claim digits nobody computed.
func keepScale(d, a, b dec, limit int) dec {
	scale := int32(min(limit, max(0, -int(a.Exponent()), -int(b.Exponent()))))
	n := d.Normalize()
	if -n.Exponent() < scale {
		return n.Round(scale)
	}
	return n
}

// operand converts one side of a decimal operator. The checker admits only
// decimals and ints; a value of unknown type from an open record may still
// arrive as something else and must fail with a message saying what to do.
func operand(symbol string, v any) (dec, error) {
	switch x := v.(type) {
	case dec:
		return x, nil
	case float64, float32:
		return dec{}, fmt.Errorf("decimal %s: operand %v is a number, not exact; convert it with decimal()", symbol, x)
	case nil:
		return dec{}, fmt.Errorf("decimal %s: operand is nil (a missing value); supply one with ?? or default()", symbol)
	}
	if n, ok := toInt(v); ok {
		return decimal.NewFromInt(int64(n)), nil
	}
	return dec{}, fmt.Errorf("decimal %s: operand is %s; convert it with decimal() or int()", symbol, kindOf(v))
}

// checkRange refuses a decimal too big or too precise to be money, before
// it can grow further or be printed.
func checkRange(d dec) error {
	if e := d.Exponent(); e > maxDecimalExponent || e < -maxDecimalExponent {
		return errDecimalRange
	}
	if d.NumDigits() > maxDecimalDigits {
		return errDecimalRange
	}
	return nil
}

// parseDecimal reads decimal text. It trims surrounding space (values
// pasted into admin UIs often carry it) but nothing else: "1,234.50" or
// "19.99 EUR" are errors, not guesses.
func parseDecimal(s string) (dec, error) {
	t := strings.TrimSpace(s)
	if len(t) > 2*maxDecimalDigits {
		return dec{}, fmt.Errorf("text of %d characters is too long for a decimal number", len(s))
	}
	d, err := decimal.NewFromString(t)
	if err != nil || strings.ContainsAny(t, "_") {
		return dec{}, fmt.Errorf("%q is not a decimal number", s)
	}
	if err := checkRange(d); err != nil {
		return dec{}, fmt.Errorf("%q is %w", s, err)
	}
	return d, nil
}

// exactDecimal converts the values that convert to a decimal without loss:
// decimals, ints and decimal text. Floats are refused.
func exactDecimal(v any) (dec, error) {
	switch x := v.(type) {
	case dec:
		return x, nil
	case string:
		return parseDecimal(x)
	case float64, float32:
		return dec{}, fmt.Errorf("%v is a number, not exact; convert it with decimal() if that is intended", x)
	}
	if n, ok := toInt(v); ok {
		return decimal.NewFromInt(int64(n)), nil
	}
	return dec{}, fmt.Errorf("%s is not a decimal", kindOf(v))
}

func toDecimal(args ...any) (any, error) {
	if err := arity("decimal", args, 1, 1); err != nil {
		return nil, err
	}
	switch x := args[0].(type) {
	case float64:
		return floatDecimal(x)
	case float32:
		return floatDecimal(float64(x))
	case nil:
		return nil, fmt.Errorf("decimal: value is null; supply a default with ?? or default()")
	}
	d, err := exactDecimal(args[0])
	if err != nil {
		return nil, fmt.Errorf("decimal: %w", err)
	}
	return d, nil
}

func floatDecimal(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("decimal: %v is not a finite number", f)
	}
	d := decimal.NewFromFloat(f)
	if err := checkRange(d); err != nil {
		return nil, fmt.Errorf("decimal: %v is %w", f, err)
	}
	return d, nil
}

// roundingModes maps round_money's mode names to shopspring's methods.
var roundingModes = map[string]func(dec, int32) dec{
	"half_up":   dec.Round,
	"half_even": dec.RoundBank,
	"up":        dec.RoundUp,
	"down":      dec.RoundDown,
	"ceiling":   dec.RoundCeil,
	"floor":     dec.RoundFloor,
}

func roundMoney(args ...any) (any, error) {
	if err := arity("round_money", args, 3, 3); err != nil {
		return nil, err
	}
	d, err := exactDecimal(args[0])
	if err != nil {
		return nil, fmt.Errorf("round_money: %w", err)
	}
	places, err := argInt("round_money", args, 1, "places")
	if err != nil {
		return nil, err
	}
	if places < -maxPlaces || places > maxPlaces {
		return nil, fmt.Errorf("round_money: places %d is outside %d to %d", places, -maxPlaces, maxPlaces)
	}
	mode, err := argString("round_money", args, 2, "mode")
	if err != nil {
		return nil, err
	}
	f, ok := roundingModes[mode]
	if !ok {
		return nil, fmt.Errorf("round_money: unknown mode %q (want half_up, half_even, up, down, ceiling or floor)", mode)
	}
	r := f(d, int32(places))
	if places >= 0 {
		r = r.Round(int32(places)) // every mode gives exactly places places: 2 rounded up to 2 places is 2.00
	}
	return r, nil
}

func sumDecimal(args ...any) (any, error) {
	if err := arity("sum_decimal", args, 1, 1); err != nil {
		return nil, err
	}
	a, ok := args[0].([]any)
	if !ok {
		return nil, fmt.Errorf("sum_decimal: a must be an array, not %s", kindOf(args[0]))
	}
	sum := decimal.Zero
	for i, e := range a {
		if e == nil {
			continue
		}
		d, err := exactDecimal(e)
		if err != nil {
			return nil, fmt.Errorf("sum_decimal: element %d: %w", i, err)
		}
		sum = sum.Add(d)
		if err := checkRange(sum); err != nil {
			return nil, fmt.Errorf("sum_decimal: sum %w", err)
		}
	}
	return sum, nil
}

func toFloatFn(args ...any) (any, error) {
	if err := arity("to_float", args, 1, 1); err != nil {
		return nil, err
	}
	d, ok := args[0].(dec)
	if !ok {
		return nil, fmt.Errorf("to_float: d must be a decimal, not %s", kindOf(args[0]))
	}
	return d.InexactFloat64(), nil
}

func formatMoney(args ...any) (any, error) {
	if err := arity("format_money", args, 2, 2); err != nil {
		return nil, err
	}
	d, err := exactDecimal(args[0])
	if err != nil {
		return nil, fmt.Errorf("format_money: %w", err)
	}
	places, err := argInt("format_money", args, 1, "places")
	if err != nil {
		return nil, err
	}
	if places < 0 || places > maxPlaces {
		return nil, fmt.Errorf("format_money: places %d is outside 0 to %d", places, maxPlaces)
	}
	return d.StringFixed(int32(places)), nil
}
