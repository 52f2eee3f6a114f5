package exprs_test

import (
	"strings"
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
)

// A source's records are checked against its schema's type as far as the
// pipeline reads them: what is read and wrong is a violation, named by its
// JSON Pointer; what is not read, not listed or absent (and not required)
// is not.
func TestConformance(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	order := shopifyOrder(t)
	reads := &record.Projection{}
	for _, src := range []string{`!test && len(line_items) > 0`, `map(line_items, #.quantity)`, `lower(email ?? "")`, `customer.first_name`} {
		p, probs := lib.Compile(src, order, nil)
		if len(probs) > 0 {
			t.Fatalf("%s: %+v", src, probs)
		}
		reads.Merge(p.Reads())
	}
	c := exprs.NewConformance(order, reads, "schema shopify/order")
	if c == nil {
		t.Fatal("no conformance check for fields the pipeline reads")
	}
	for _, tt := range []struct {
		raw  string
		want []string // violations, in order; none when empty
	}{
		{`{"test":false,"email":null,"line_items":[{"quantity":2,"sku":7}],"customer":null,"tags":null,"extra":{"x":1}}`, nil},
		{`{"line_items":[]}`, nil},
		{`{"test":null,"line_items":[{"quantity":"2"},{"quantity":1.5},{"quantity":3}]}`, []string{
			`/line_items/0/quantity: expected integer, but got string "2"`,
			`/line_items/1/quantity: expected integer, but got number 1.5`,
			`/test: expected boolean, but got null`,
		}},
		{`{"test":"no","email":5,"customer":{"first_name":["A"]}}`, []string{
			`/customer/first_name: expected string, but got array`,
			`/email: expected string, but got number 5`,
			`/test: expected boolean, but got string "no"`,
		}},
		{`{"line_items":{"quantity":1}}`, []string{`/line_items: expected array, but got object`}},
		{`[{"test":true}]`, []string{`expected object, but got array`}},
	} {
		rec := record.New([]byte(tt.raw), nil)
		err := c.Check(rec.Raw, rec.Fields(reads))
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v, want it to fit", tt.raw, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s fits, want %q", tt.raw, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "does not fit schema shopify/order: ") {
			t.Errorf("%s: %q does not name the schema", tt.raw, msg)
		}
		last := 0
		for _, w := range tt.want {
			i := strings.Index(msg, w)
			if i < last {
				t.Errorf("%s: %q does not say %q (after the violations before it)", tt.raw, msg, w)
			}
			last = max(i, last)
		}
	}
	// Required fields are required when read.
	typ := component.ObjectOf(component.Required("id", component.IntType), component.Property{Name: "note", Type: component.StringType})
	p, _ := lib.Compile(`string(id) + (note ?? "")`, typ, nil)
	rc := exprs.NewConformance(typ, p.Reads(), "schema ticket.json")
	rec := record.New([]byte(`{"note":"x"}`), nil)
	if err := rc.Check(rec.Raw, rec.Fields(p.Reads())); err == nil || !strings.Contains(err.Error(), `/: missing required field "id"`) {
		t.Errorf("a record without its required id: %v", err)
	}
	// Nothing read, nothing to check.
	if exprs.NewConformance(order, &record.Projection{}, "x") != nil {
		t.Error("a check for a pipeline that reads nothing of the records")
	}
}

func BenchmarkConformance(b *testing.B) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	raw, _ := schemas.Lookup("shopify/order")
	order, _ := exprs.TypeFromJSONSchema(raw, "")
	reads := &record.Projection{}
	for _, src := range []string{`!test && len(line_items) > 0`, `map(line_items, ({"sku": #.sku, "qty": #.quantity, "p": #.price}))`,
		`lower(email ?? "")`, `customer.first_name + " " + customer.last_name`, `shipping_address.city + shipping_address.zip`, `total_price`} {
		p, probs := lib.Compile(src, order, nil)
		if len(probs) > 0 {
			b.Fatalf("%s: %+v", src, probs)
		}
		reads.Merge(p.Reads())
	}
	c := exprs.NewConformance(order, reads, "schema shopify/order")
	rec := record.New([]byte(`{"id":1,"test":false,"email":"A@B.C","total_price":"10.00","customer":{"first_name":"A","last_name":"B"},`+
		`"shipping_address":{"city":"X","zip":"1"},"line_items":[{"sku":"A","quantity":1,"price":"1.00"},{"sku":"B","quantity":2,"price":"2.00"}]}`), nil)
	fields := rec.Fields(reads)
	b.ReportAllocs()
	for range b.N {
		if err := c.Check(rec.Raw, fields); err != nil {
			b.Fatal(err)
		}
	}
}
