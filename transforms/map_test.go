package transforms_test

import (
	"slices"
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/transforms"
)

func mapPipeline(schema, mapping string) string {
	return source(schema) + `steps:
  m:
    from: in
    map:
` + mapping + sinks("m", "m.error")
}

func TestMapBuildsFieldsInOrder(t *testing.T) {
	plan := compile(t, mapPipeline("", `      order_id: string(id)
      email: lower(email)
      ship_to:
        city: address.city
        zip: address.zip
      missing: nope
`))
	res := run(t, plan, nil, 2, `{"id":820982911946154508,"email":"A@B.COM","address":{"city":"Köln","zip":"50667"}}`)
	equal(t, "m", got(t, res, "m"), []string{
		`{"order_id":"820982911946154508","email":"a@b.com","ship_to":{"city":"Köln","zip":"50667"},"missing":null}`,
	})
}

// A field that fails sends the whole record to the error output: no record
// with a field missing is emitted.
func TestMapFieldFailures(t *testing.T) {
	tests := []struct {
		name, mapping, record string
		words                 []string
	}{
		{"bad number", "      qty: int(qty)\n", `{"qty":"two"}`, []string{"field qty"}},
		{"wrong type", "      total: price * 2\n", `{"price":"12.50"}`, []string{"field total"}},
		{"nil", "      city: lower(address.city)\n", `{"id":1}`, []string{"field city"}},
		{"not JSON", "      ratio: n / 0.0 - n / 0.0\n", `{"n":1}`, []string{"field ratio", "cannot write NaN"}},
		{"nested", "      a:\n        b: int(x)\n", `{"x":"y"}`, []string{"field a.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := compile(t, mapPipeline("", tt.mapping))
			res := run(t, plan, nil, 1, tt.record)
			equal(t, "m", got(t, res, "m"), []string{})
			errs := errorsAt(t, res, "m.error")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1", len(errs))
			}
			wantError(t, errs[0], "m", tt.record, tt.words...)
			wantCounts(t, res, "m", counts{In: 1, Errored: 1})
		})
	}
}

// `$keep: all` copies the input's fields as they were written, in input
// order, minus those the mapping sets; the mapped fields follow.
func TestMapKeepAll(t *testing.T) {
	plan := compile(t, mapPipeline("", `      $keep: all
      email: lower(email)
      total: decimal(total) * decimal("2")
`))
	res := run(t, plan, nil, 1,
		`{ "id": 820982911946154508, "email": "A@B.COM", "note": "a\u00e9 \"q\"", "total": "12.50", "tags": [1, 2.50] }`,
		`{"total":"1","email":"X@Y"}`,
	)
	equal(t, "m", got(t, res, "m"), []string{
		`{"id":820982911946154508,"note":"a\u00e9 \"q\"","tags":[1, 2.50],"email":"a@b.com","total":25.00}`,
		`{"email":"x@y","total":2}`,
	})
	wantCounts(t, res, "m", counts{In: 2, Out: 2, Emitted: 2})
}

// `$keep` with names copies those that are there, in input order.
func TestMapKeepNamed(t *testing.T) {
	plan := compile(t, mapPipeline("", `      $keep: "note, id, absent"
      n: 1
`))
	res := run(t, plan, nil, 1, `{"id":1,"email":"e","note":{"a":[1]}}`, `{"email":"e"}`, `"text"`)
	equal(t, "m", got(t, res, "m"), []string{
		`{"id":1,"note":{"a":[1]},"n":1}`,
		`{"n":1}`,
		`{"n":1}`,
	})
	// Only the mapping's own fields, when it sets a kept one.
	plan = compile(t, mapPipeline("", "      $keep: id\n      id: id * 10\n"))
	res = run(t, plan, nil, 1, `{"id":1,"x":2}`)
	equal(t, "m", got(t, res, "m"), []string{`{"id":10}`})
	// `$keep` alone copies the record.
	plan = compile(t, mapPipeline("", "      $keep: all\n"))
	res = run(t, plan, nil, 1, `{"id":1,"x":{"y":2}}`, `{}`)
	equal(t, "m", got(t, res, "m"), []string{`{"id":1,"x":{"y":2}}`, `{}`})
}

// The output type of a keeping map has the kept input fields, so the steps
// after it are checked against them.
func TestMapKeepTypes(t *testing.T) {
	plan := compile(t, mapPipeline("shopify/order", "      $keep: all\n      email: lower(email ?? \"\")\n"))
	m, _ := plan.Node("m")
	out := m.Outputs[component.DefaultOutput]
	names := out.FieldNames()
	if !slices.Contains(names, "line_items") || !slices.Contains(names, "total_price") || names[len(names)-1] != "email" {
		t.Errorf("output fields %v, want the order's fields then email", names)
	}
	if slices.Index(names, "email") != len(names)-1 {
		t.Errorf("email appears twice or not last in %v", names)
	}
	// Named: closed, only what is kept.
	plan = compile(t, mapPipeline("shopify/order", "      $keep: \"id, name\"\n      n: 1\n"))
	m, _ = plan.Node("m")
	equal(t, "kept fields", m.Outputs[component.DefaultOutput].String(), "object{id: int, name: string, n: int}")
	// A record of unknown shape: `all` gives an open object, names give Any.
	cfg := m.Config
	equal(t, "open input", transforms.MappingType(cfg, component.OpenObject()).String(), "object{id: any, name: any, n: int}")
	equal(t, "any input", transforms.MappingType(cfg, component.AnyType).String(), "object{id: any, name: any, n: int}")
	plan = compile(t, mapPipeline("", "      $keep: all\n      n: 1\n"))
	m, _ = plan.Node("m")
	if out := m.Outputs[component.DefaultOutput]; !out.Open || out.String() != "object{n: int, ...}" {
		t.Errorf("keep all of an open record: %s, want an open object", out)
	}
	// Downstream steps read kept fields, and typos in them are caught.
	compile(t, source("shopify/order")+`steps:
  m:
    from: in
    map:
      $keep: all
      n: 1
  f:
    from: m
    filter: n == 1 && len(line_items) > 0
`+sinks("f"))
	src := source("shopify/order") + `steps:
  m:
    from: in
    map:
      $keep: "id, email"
      n: 1
  f:
    from: m
    filter: len(line_items) > 0
` + sinks("f")
	if got := codes(t, src); !slices.Contains(got, "expr-unknown-field") {
		t.Errorf("line_items after $keep of id and email: codes %v, want expr-unknown-field", got)
	}
}

func TestMapDirectivesAreChecked(t *testing.T) {
	tests := []struct{ mapping, code string }{
		{"      a:\n        $keep: all\n        b: 1\n", "invalid-value"},
		{"      $keep: \"id,,x\"\n", "invalid-value"},
		{"      $drop: id\n      a: 1\n", "unknown-field"},
	}
	for _, tt := range tests {
		if got := codes(t, mapPipeline("", tt.mapping)); !slices.Contains(got, tt.code) {
			t.Errorf("%q: codes %v, want %s", tt.mapping, got, tt.code)
		}
	}
}
