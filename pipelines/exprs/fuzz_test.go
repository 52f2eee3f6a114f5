package exprs_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/shopspring/decimal"
)

// fuzzType is a small Shopify-like order line, fully typed so that what the
// checker infers can be compared with what a run produces.
var fuzzType = component.ObjectOf(
	component.Property{Name: "sku", Type: component.StringType},
	component.Property{Name: "title", Type: component.StringType},
	component.Property{Name: "qty", Type: component.IntType},
	component.Property{Name: "price", Type: component.DecimalType},
	component.Property{Name: "weight", Type: component.NumberType},
	component.Property{Name: "created_at", Type: component.TimeType},
	component.Property{Name: "tags", Type: component.ArrayOf(component.StringType)},
	component.Property{Name: "lines", Type: component.ArrayOf(component.ObjectOf(
		component.Property{Name: "sku", Type: component.StringType},
		component.Property{Name: "qty", Type: component.IntType},
		component.Property{Name: "price", Type: component.StringType},
	))},
)

func fuzzRecord() map[string]any {
	return map[string]any{
		"sku":        " tee-blue xl ",
		"title":      "Organic cotton T-shirt, blue, size XL – Größe",
		"qty":        3,
		"price":      decimal.RequireFromString("19.99"),
		"weight":     0.25,
		"created_at": time.Date(2024, 3, 30, 23, 15, 0, 0, time.FixedZone("", -5*3600)),
		"tags":       []any{"summer", "sale"},
		"lines": []any{
			map[string]any{"sku": "A-1", "qty": 2, "price": "5.00"},
			map[string]any{"sku": "4006381333931", "qty": 1, "price": "12.49"},
		},
	}
}

// FuzzCompile feeds arbitrary text to the compiler and runs whatever
// compiles: nothing may panic, and a run must produce the type the checker
// inferred, since the next node's type comes from it.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`normalize_sku(sku) + "-" + pad_left(qty, 4, "0")`,
		`round_money(price * qty, 2, "half_even")`,
		`format_money(sum_decimal(map(lines, decimal(.price) * .qty)), 2)`,
		`format_time(created_at, "date", "Europe/Berlin")`,
		`valid_gtin(lines[1].sku) ? gtin14(lines[1].sku) : nil`,
		`lookup({"standard": "DHL", "express": "UPS"}, lower(trim(title)), "DPD")`,
		`coalesce(title, sku, "unknown")`,
		`truncate(title, 35, "…")`,
		`uuid5("url", "https://shop.example.com/orders/" + string(qty))`,
		`hash(join(tags, ","), "sha1")`,
		`group(lines, "sku")`,
		`add_days(created_at, qty) > now() || price >= 50 and qty > 1`,
		`clamp(weight, 0, 31.5)`,
		`unique(pluck(lines, "sku"))`,
		`parse_time(split("2024-03-01|x", "|")[0], "date", "America/New_York")`,
		`round(weight * 3, 1) + float(parse_int("7"))`,
	} {
		f.Add(seed)
	}
	lib := exprs.NewLibrary(exprs.ExampleClock)
	f.Fuzz(func(t *testing.T, src string) {
		p, probs := lib.Compile(src, fuzzType, nil)
		if len(probs) > 0 {
			for _, pr := range probs {
				if pr.Code == "" || pr.Summary == "" {
					t.Errorf("problem without code or summary: %+v", pr)
				}
			}
			return
		}
		out, err := p.Run(&vm.VM{}, fuzzRecord())
		if err != nil || out == nil {
			return
		}
		if want := goType(p.ResultType()); want != nil && reflect.TypeOf(out) != want {
			t.Errorf("%s: checker says %s, run gave %T (%v)", src, p.ResultType(), out, out)
		}
	})
}

// goType is the Go type a value of t has at run time, or nil when t does
// not pin one down.
func goType(t *component.Type) reflect.Type {
	switch t.Kind {
	case component.String:
		return reflect.TypeOf("")
	case component.Int:
		return reflect.TypeOf(0)
	case component.Number:
		return reflect.TypeOf(0.0)
	case component.Bool:
		return reflect.TypeOf(false)
	case component.Decimal:
		return reflect.TypeOf(decimal.Decimal{})
	case component.Time:
		return reflect.TypeOf(time.Time{})
	}
	return nil
}
