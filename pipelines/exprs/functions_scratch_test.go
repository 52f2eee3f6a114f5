package exprs_test

import (
	"fmt"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/shopspring/decimal"
)

func TestScratch(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	env := component.ObjectOf(
		component.Property{Name: "qty", Type: component.IntType},
		component.Property{Name: "price", Type: component.DecimalType},
		component.Property{Name: "weight", Type: component.NumberType},
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "anything", Type: component.AnyType},
		component.Property{Name: "lines", Type: component.ArrayOf(component.ObjectOf(component.Property{Name: "qty", Type: component.IntType}))},
	)
	vals := map[string]any{"qty": 3, "price": decimal.RequireFromString("19.99"), "weight": 1.5, "sku": "ab 1", "anything": 2, "lines": []any{map[string]any{"qty": 2}}}
	for _, src := range []string{
		`decimal("1.5") * 1.5`, `lower(1)`, `price * qty`, `price * weight`, `price * anything`, `decimal(anything) * anything`,
		`price > 10`, `price == 19.99`, `qty * price`, `-price`, `price * -1`, `round(qty)`, `round(weight, 1)`, `clamp(qty, 0, 2)`, `clamp(weight, 0, 1)`,
		`clamp(1, 2, price)`, `sum_decimal(map(lines, price * .qty))`, `decimal(weight)`, `pad_left(qty, 5, "0")`, `default(sku, "x")`,
		`lookup({"a": 1}, sku)`, `split(sku, " ")[0]`, `now() + duration("1h")`, `price / 0`, `decimal("abc")`, `price + price`, `price * price * price`,
		`round_money(price, 2, "bogus")`, `to_timezone(now(), "Mars/Olympus")`, `format_time(now(), "YYYY-MM-DD")`, `sum_decimal([1.5])`,
		`price in [decimal("19.99")]`, `price == nil`, `[price][0] * 2`, `coalesce(sku, 1)`, `hash(qty)`, `anything * 1.5`, `upper(anything)`,
	} {
		p, probs := lib.Compile(src, env, nil)
		if len(probs) > 0 {
			fmt.Printf("%-40s COMPILE %s: %s\n", src, probs[0].Code, probs[0].Summary)
			continue
		}
		out, err := p.Run(&vm.VM{}, vals)
		fmt.Printf("%-40s %v => %#v err=%v\n", src, p.ResultType(), out, err)
	}
}
