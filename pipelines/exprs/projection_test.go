package exprs_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

func TestReads(t *testing.T) {
	lib := exprs.NewLibrary(component.FixedClock(time.Unix(0, 0)))
	order := component.ObjectOf(
		component.Property{Name: "id", Type: component.IntType},
		component.Property{Name: "weight", Type: component.NumberType},
		component.Property{Name: "tags", Type: component.StringType},
		component.Property{Name: "customer", Type: component.ObjectOf(
			component.Property{Name: "first_name", Type: component.StringType},
			component.Property{Name: "last_name", Type: component.StringType})},
		component.Property{Name: "line_items", Type: component.ArrayOf(component.ObjectOf(
			component.Property{Name: "sku", Type: component.StringType},
			component.Property{Name: "quantity", Type: component.IntType},
			component.Property{Name: "price", Type: component.StringType}))},
	)
	tests := []struct{ src, want string }{
		{`customer.first_name + " " + customer.last_name`, "customer.first_name, customer.last_name"},
		{`map(line_items, #.sku)`, "line_items[].sku"},
		{`map(line_items, .quantity)`, "line_items[].quantity"},
		{`len(line_items) > 0`, "line_items"},
		{`line_items[0].sku`, "line_items[].sku"},
		{`filter(line_items, #.quantity > 1)`, "line_items[]"},
		{`let c = customer; c.first_name`, "customer.first_name"},
		{`customer`, "customer"},
		{`$env.id`, "id"},
		{`$env`, "*"},
		{`weight * 2`, "weight"},
		{`sum_decimal(map(line_items, #.quantity * decimal(#.price)))`, "line_items[].price, line_items[].quantity"},
	}
	for _, tt := range tests {
		p, probs := lib.Compile(tt.src, order, nil)
		if len(probs) > 0 {
			t.Fatalf("%s: %v", tt.src, probs)
		}
		if got := p.Reads().String(); got != tt.want {
			t.Errorf("Reads(%s) = %q, want %q", tt.src, got, tt.want)
		}
	}
	p, _ := lib.Compile("weight", order, nil)
	if !p.Reads().Fields["weight"].Float {
		t.Error("a field the schema types as number must decode as float64")
	}
}

// Fields typed decimal decode as decimals, also inside values read whole,
// so a decimal computed by one step is a decimal in the next.
func TestReadsDecimals(t *testing.T) {
	lib := exprs.NewLibrary(component.FixedClock(time.Unix(0, 0)))
	ticket := component.ObjectOf(
		component.Property{Name: "total", Type: component.DecimalType},
		component.Property{Name: "note", Type: component.StringType},
		component.Property{Name: "lines", Type: component.ArrayOf(component.ObjectOf(
			component.Property{Name: "sku", Type: component.StringType},
			component.Property{Name: "price", Type: component.DecimalType}))},
	)
	p, probs := lib.Compile(`format_money(total, 2)`, ticket, nil)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if !p.Reads().Fields["total"].Decimal {
		t.Error("total must decode as a decimal")
	}
	for _, src := range []string{`lines`, `filter(lines, #.sku != "")`, `$env`} {
		p, probs := lib.Compile(src, ticket, nil)
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		lines := p.Reads().Fields["lines"]
		if lines == nil || lines.Elem == nil || !lines.Elem.All || lines.Elem.Fields["price"] == nil || !lines.Elem.Fields["price"].Decimal {
			t.Errorf("%s: lines[].price must decode as a decimal, with the lines read whole: %+v", src, lines)
		}
	}
}

func TestPath(t *testing.T) {
	lib := exprs.NewLibrary(component.FixedClock(time.Unix(0, 0)))
	for src, want := range map[string][]string{
		"email":                 {"email"},
		"shipping_address.city": {"shipping_address", "city"},
		"a?.b":                  nil,
		"lower(email)":          nil,
		"items[0]":              nil,
	} {
		p, probs := lib.Compile(src, nil, nil)
		if len(probs) > 0 {
			t.Fatalf("%s: %v", src, probs)
		}
		if got := p.Path(); !slices.Equal(got, want) {
			t.Errorf("Path(%s) = %v, want %v", src, got, want)
		}
	}
	env := map[string]any{"a": map[string]any{"b": "x"}, "n": nil, "s": "str"}
	for _, tt := range []struct {
		path []string
		want any
		ok   bool
	}{
		{[]string{"a", "b"}, "x", true},
		{[]string{"a", "missing"}, nil, true},
		{[]string{"n", "b"}, nil, true},
		{[]string{"s", "b"}, nil, false},
	} {
		if v, ok := exprs.LookupPath(env, tt.path); v != tt.want || ok != tt.ok {
			t.Errorf("LookupPath(%v) = %v, %v", tt.path, v, ok)
		}
	}
}
