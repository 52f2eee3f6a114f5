package exprs_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	_ "time/tzdata" // the examples name IANA zones; cmd embeds the database, tests must too

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

// run compiles src against an open record and evaluates it against env.
func run(t *testing.T, lib *exprs.Library, src string, env map[string]any) (any, error) {
	t.Helper()
	p, probs := lib.Compile(src, nil, nil)
	if len(probs) > 0 {
		t.Fatalf("compile %s: %+v", src, probs)
	}
	if env == nil {
		env = map[string]any{}
	}
	return p.Run(&vm.VM{}, env)
}

func TestLibraryExamples(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	fns := lib.Functions()
	if len(fns) == 0 {
		t.Fatal("library has no functions")
	}
	seen := map[string]bool{}
	for _, f := range fns {
		t.Run(f.Name, func(t *testing.T) {
			if seen[f.Name] {
				t.Errorf("function %s is defined twice", f.Name)
			}
			seen[f.Name] = true
			if f.Category == "" || f.Summary == "" || f.Signature == "" || len(f.Types) == 0 {
				t.Errorf("function %s has an incomplete spec: %+v", f.Name, f)
			}
			if !strings.HasPrefix(f.Signature, f.Name+"(") {
				t.Errorf("signature %q does not start with %s(", f.Signature, f.Name)
			}
			if len(f.Examples) < 2 {
				t.Errorf("function %s has %d examples, want at least 2", f.Name, len(f.Examples))
			}
			for _, ex := range f.Examples {
				p, probs := lib.Compile(ex.Expr, nil, nil)
				if len(probs) > 0 {
					t.Errorf("%s: does not compile: %+v", ex.Expr, probs)
					continue
				}
				out, err := p.Run(&vm.VM{}, map[string]any{})
				if err != nil {
					t.Errorf("%s: %v", ex.Expr, err)
					continue
				}
				got, err := json.Marshal(exampleValue(out))
				if err != nil {
					t.Errorf("%s: result %#v does not encode: %v", ex.Expr, out, err)
					continue
				}
				var want bytes.Buffer
				if err := json.Compact(&want, []byte(ex.Want)); err != nil {
					t.Errorf("%s: Want %s is not JSON: %v", ex.Expr, ex.Want, err)
					continue
				}
				if string(got) != want.String() {
					t.Errorf("%s = %s, want %s", ex.Expr, got, want.String())
				}
			}
		})
	}
	// The brief's functions must all be there, whichever file defines them.
	for _, name := range []string{
		"lower", "upper", "trim", "split", "join", "replace", "pad_left", "pad_right", "truncate",
		"round", "floor", "ceil", "parse_int", "parse_float", "clamp",
		"decimal", "round_money", "sum_decimal", "to_float", "format_money",
		"now", "parse_time", "format_time", "add_days", "to_timezone",
		"group", "unique", "pluck", "coalesce", "default", "lookup",
		"hash", "uuid5", "normalize_sku", "valid_gtin", "valid_upc", "valid_ean", "gtin14",
	} {
		if !seen[name] {
			t.Errorf("library lacks %s", name)
		}
	}
}

// exampleValue is a result as Example.Want writes it: decimals as text of
// their digits with their scale, as records write them.
func exampleValue(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		return record.DecimalText(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = exampleValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = exampleValue(e)
		}
		return out
	}
	return v
}

// TestNowReadsTheClock guards against now() falling back to expr's builtin,
// which reads the wall clock.
func TestNowReadsTheClock(t *testing.T) {
	lib := exprs.NewLibrary(component.FixedClock(exprs.ExampleClock.Now().AddDate(-10, 0, 0)))
	out, err := run(t, lib, `format_time(now(), "date")`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out != "2014-03-01" {
		t.Errorf("now() = %v, want the clock's 2014-03-01", out)
	}
}

// orderType is a typed record, as a schema would give: the compiler knows
// each field's type, so misuse is found before anything runs.
var orderType = component.ObjectOf(
	component.Property{Name: "sku", Type: component.StringType},
	component.Property{Name: "qty", Type: component.IntType},
	component.Property{Name: "price", Type: component.DecimalType},
	component.Property{Name: "weight", Type: component.NumberType},
	component.Property{Name: "created_at", Type: component.TimeType},
	component.Property{Name: "tags", Type: component.ArrayOf(component.StringType)},
	component.Property{Name: "extra", Type: component.AnyType},
)

func TestCompileErrors(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		src  string
		code string
		msg  string // part of the problem's summary
	}{
		{`decimal("1.5") * 1.5`, exprs.CodeTypeMismatch, "decimal and number"},
		{`price * weight`, exprs.CodeTypeMismatch, "decimal and number"},
		{`1.5 + price`, exprs.CodeTypeMismatch, "number and decimal"},
		{`price == 19.99`, exprs.CodeTypeMismatch, "mismatched types"},
		{`price < weight`, exprs.CodeTypeMismatch, "mismatched types"},
		{`price * extra`, exprs.CodeTypeMismatch, "decimal and unknown"},
		{`price * "2"`, exprs.CodeTypeMismatch, "mismatched types"},
		{`lower(1)`, exprs.CodeTypeMismatch, "lower: s must be string, not int"},
		{`upper(qty)`, exprs.CodeTypeMismatch, "upper: s must be string, not int"},
		{`pad_left(sku, "8", "0")`, exprs.CodeTypeMismatch, "pad_left: width must be int, not string"},
		{`pad_left(weight, 8, "0")`, exprs.CodeTypeMismatch, "pad_left: s must be string or int, not number"},
		{`truncate(sku)`, exprs.CodeTypeMismatch, "truncate takes 2 to 3 arguments, got 1"},
		{`round(price, 2, 3)`, exprs.CodeTypeMismatch, "round takes 1 to 2 arguments, got 3"},
		{`round("1.5")`, exprs.CodeTypeMismatch, "round: x must be number or decimal, not string"},
		{`clamp(price, 0.5, 1)`, exprs.CodeTypeMismatch, "clamp: lo must be decimal or int, not number"},
		{`round_money(weight, 2, "half_up")`, exprs.CodeTypeMismatch, "round_money: d must be decimal, string or int, not number"},
		{`format_money(1.5, 2)`, exprs.CodeTypeMismatch, "format_money: d must be decimal, string or int, not number"},
		{`to_float(weight)`, exprs.CodeTypeMismatch, "to_float: d must be decimal, not number"},
		{`sum_decimal(price)`, exprs.CodeTypeMismatch, "sum_decimal: a must be array, not decimal"},
		{`add_days(created_at, 1.5)`, exprs.CodeTypeMismatch, "add_days: n must be int, not number"},
		{`format_time(qty, "date")`, exprs.CodeTypeMismatch, "format_time: t must be time or string, not int"},
		{`parse_time("2024-01-01")`, exprs.CodeTypeMismatch, "parse_time takes 2 to 3 arguments, got 1"},
		{`now(1)`, exprs.CodeTypeMismatch, "now takes 0 arguments, got 1"},
		{`lookup(tags, "a")`, exprs.CodeTypeMismatch, "lookup: table must be object, not array"},
		{`group(sku, "a")`, exprs.CodeTypeMismatch, "group: a must be array, not string"},
		{`hash(sku, 256)`, exprs.CodeTypeMismatch, "hash: algo must be string, not int"},
		{`valid_gtin(weight)`, exprs.CodeTypeMismatch, "valid_gtin: s must be string or int, not number"},
		{`coalesce()`, exprs.CodeTypeMismatch, "not enough arguments"},
		{`lower(sku) + qty`, exprs.CodeTypeMismatch, "mismatched types"},
		{`pad_lef(sku, 8)`, exprs.CodeUnknownFunc, `unknown function "pad_lef"`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, probs := lib.Compile(tt.src, orderType, nil)
			if len(probs) == 0 {
				t.Fatalf("compiled, want %s", tt.code)
			}
			if probs[0].Code != tt.code || !strings.Contains(probs[0].Summary, tt.msg) {
				t.Errorf("got %s %q, want %s containing %q", probs[0].Code, probs[0].Summary, tt.code, tt.msg)
			}
		})
	}
}

// TestTypesFlow checks the result types the checker infers, which the next
// node's type comes from.
func TestTypesFlow(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		src  string
		want *component.Type
	}{
		{`price * qty`, component.DecimalType},
		{`qty * price + 1`, component.DecimalType},
		{`price >= 10`, component.BoolType},
		{`round(weight, 1)`, component.NumberType},
		{`round(price, 1)`, component.DecimalType},
		{`clamp(qty, 1, 9)`, component.IntType},
		{`clamp(price, 0, 9)`, component.DecimalType},
		{`pad_left(qty, 8, "0")`, component.StringType},
		{`parse_time(sku, "date")`, component.TimeType},
		{`add_days(created_at, 1)`, component.TimeType},
		{`round_money(price * qty, 2, "half_even")`, component.DecimalType},
		{`valid_gtin(sku) && valid_gtin(qty)`, component.BoolType},
	}
	for _, tt := range tests {
		p, probs := lib.Compile(tt.src, orderType, nil)
		if len(probs) > 0 {
			t.Errorf("%s: %+v", tt.src, probs)
			continue
		}
		if got := p.ResultType(); got.String() != tt.want.String() {
			t.Errorf("%s: type %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		src string
		env map[string]any
		msg string // part of the error
	}{
		{`decimal("abc")`, nil, `decimal: "abc" is not a decimal number`},
		{`decimal("1,234.50")`, nil, `decimal: "1,234.50" is not a decimal number`},
		{`decimal("19.99 EUR")`, nil, `is not a decimal number`},
		{`decimal("")`, nil, `decimal: "" is not a decimal number`},
		{`decimal("1_000")`, nil, `is not a decimal number`},
		{`decimal("1e500")`, nil, `decimal: "1e500" is out of range`},
		{`decimal(x)`, map[string]any{"x": nil}, `decimal: value is null`},
		{`decimal(x)`, map[string]any{"x": true}, `decimal: bool is not a decimal`},
		{`decimal(x)`, map[string]any{"x": []any{}}, `decimal: array is not a decimal`},
		{`decimal("1") / 0`, nil, `division of 1 by zero`},
		{`round_money("1.005", 2, "bankers")`, nil, `unknown mode "bankers"`},
		{`round_money("1.005", 99, "half_up")`, nil, `places 99 is outside -20 to 20`},
		{`round_money("x", 2, "half_up")`, nil, `round_money: "x" is not a decimal number`},
		{`format_money("1.5", -1)`, nil, `places -1 is outside 0 to 20`},
		{`sum_decimal(["1", "x"])`, nil, `sum_decimal: element 1: "x" is not a decimal number`},
		{`sum_decimal([1, 2.5])`, nil, `element 1: 2.5 is a number, not exact`},
		{`sum_decimal([{}])`, nil, `element 0: object is not a decimal`},
		{`parse_int("12.5")`, nil, `parse_int: "12.5" is not an integer`},
		{`parse_float("NaN")`, nil, `parse_float: "NaN" is not a finite number`},
		{`parse_float("")`, nil, `parse_float: "" is not a finite number`},
		{`clamp(5, 9, 1)`, nil, `clamp: lo 9 is greater than hi 1`},
		{`pad_left("1", 1000000000, "0")`, nil, `pad_left: width 1000000000 is outside 0 to 10000`},
		{`pad_right("1", 5, "")`, nil, `pad_right: fill is empty`},
		{`truncate("abcdef", 2, "...")`, nil, `truncate: suffix "..." is longer than n (2)`},
		{`truncate("abc", -1)`, nil, `truncate: n is negative`},
		{`join([{}], ",")`, nil, `join: element 0 is object`},
		{`lower(x)`, map[string]any{"x": 1}, `lower: s must be a string, not int`},
		{`lookup({"a": 1}, "b")`, nil, `lookup: key "b" is not in the table (keys: a)`},
		{`lookup(x, "b")`, map[string]any{"x": "a"}, `lookup: table must be an object, not string`},
		{`group([1], "k")`, nil, `group: element 0 is int, not an object`},
		{`group([{"k": [1]}], "k")`, nil, `key "k" is array`},
		{`hash("a", "crc32")`, nil, `hash: unknown algorithm "crc32"`},
		{`uuid5("isbn", "x")`, nil, `uuid5: namespace "isbn" is neither`},
		{`gtin14("4006381333932")`, nil, `gtin14: 4006381333932 has a wrong check digit`},
		{`gtin14("12345")`, nil, `gtin14: 12345 is not a GTIN`},
		{`gtin14(x)`, map[string]any{"x": 1.5}, `gtin14: s must be a string or an int, not number`},
		{`valid_gtin(x)`, map[string]any{"x": nil}, `valid_gtin: s must be a string or an int, not null`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			out, err := run(t, lib, tt.src, tt.env)
			if err == nil {
				t.Fatalf("= %#v, want an error containing %q", out, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}
