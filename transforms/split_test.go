package transforms_test

import (
	"slices"
	"testing"
)

const order = `{"id": 820982911946154508, "line_items": [{"sku": "A-1", "quantity": 2, "price": 12.50}, {"sku":"B-2","quantity":0,"price":"3.00"}]}`

func TestSplitKeepsElementsAndParentAsWritten(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: line_items, as: line}
`+sinks("lines", "lines.error"))
	res := run(t, plan, nil, 1, order)
	equal(t, "lines", got(t, res, "lines"), []string{
		`{"line":{"sku": "A-1", "quantity": 2, "price": 12.50},"index":0,"parent":` + order + `}`,
		`{"line":{"sku":"B-2","quantity":0,"price":"3.00"},"index":1,"parent":` + order + `}`,
	})
	wantCounts(t, res, "lines", counts{In: 1, Out: 1, Emitted: 2})
	equal(t, "errors", got(t, res, "lines.error"), []string{})
}

func TestSplitShorthandAndDefaultName(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: tags
`+sinks("lines"))
	res := run(t, plan, nil, 1, `{"tags":["a",1,null]}`)
	equal(t, "lines", got(t, res, "lines"), []string{
		`{"item":"a","index":0,"parent":{"tags":["a",1,null]}}`,
		`{"item":1,"index":1,"parent":{"tags":["a",1,null]}}`,
		`{"item":null,"index":2,"parent":{"tags":["a",1,null]}}`,
	})
}

func TestSplitNestedPath(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: 'order["the lines"]', as: l}
`+sinks("lines"))
	res := run(t, plan, nil, 1, `{"order":{"the lines":[{"b":1,"a":2}]}}`)
	equal(t, "lines", got(t, res, "lines"), []string{
		`{"l":{"b":1,"a":2},"index":0,"parent":{"order":{"the lines":[{"b":1,"a":2}]}}}`,
	})
}

// A computed array is written from the values the expression gives: keys
// sorted, numbers in their shortest form.
func TestSplitComputedItems(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: 'filter(line_items, #.quantity > 0)', as: line}
`+sinks("lines"))
	res := run(t, plan, nil, 1, order)
	equal(t, "lines", got(t, res, "lines"), []string{
		`{"line":{"price":12.5,"quantity":2,"sku":"A-1"},"index":0,"parent":` + order + `}`,
	})
}

func TestSplitEmptyArrayIsDropped(t *testing.T) {
	for _, items := range []string{"line_items", "'filter(line_items, #.quantity > 5)'", "'line_items ?? []'"} {
		t.Run(items, func(t *testing.T) {
			plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: `+items+`}
`+sinks("lines", "lines.error"))
			in := []string{`{"id":1,"line_items":[]}`}
			if items == "'line_items ?? []'" {
				in = append(in, `{"id":2}`)
			}
			res := run(t, plan, nil, 1, in...)
			equal(t, "lines", got(t, res, "lines"), []string{})
			equal(t, "errors", got(t, res, "lines.error"), []string{})
			wantCounts(t, res, "lines", counts{In: int64(len(in)), Dropped: int64(len(in))})
		})
	}
}

// Whatever is not an array, null included, is an error: the record goes to
// the error output with what it was, and nothing is emitted for it.
func TestSplitNotAnArray(t *testing.T) {
	tests := []struct {
		name, items, record string
		words               []string
	}{
		{"string", "line_items", `{"line_items":"A-1,B-2"}`, []string{`items "line_items" gave a string, not an array`}},
		{"number", "line_items", `{"line_items":3}`, []string{"gave a number"}},
		{"object", "line_items", `{"line_items":{"sku":"A"}}`, []string{"gave an object"}},
		{"null", "line_items", `{"line_items":null}`, []string{"gave null"}},
		{"missing field", "line_items", `{"id":1}`, []string{"gave null (the field is missing)"}},
		{"missing parent", "order.lines", `{"id":1}`, []string{"gave null"}},
		{"computed null", "'lines ?? other'", `{"id":1}`, []string{"gave null, not an array"}},
		{"computed string", "'lines ?? other'", `{"other":"x"}`, []string{"gave a string"}},
		{"runtime error", "'filter(line_items, #.quantity > 0)'", `{"line_items":"x"}`, []string{`items "filter(line_items, #.quantity > 0)"`}},
		{"record not an object", "line_items", `[1,2]`, []string{"gave null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: `+tt.items+`}
`+sinks("lines", "lines.error"))
			good := `{"line_items":[{"quantity":1}],"lines":[1],"order":{"lines":[1]}}`
			res := run(t, plan, nil, 1, tt.record, good)
			if n := len(got(t, res, "lines")); n != 1 {
				t.Errorf("%d records emitted, want 1 (from the good record only)", n)
			}
			errs := errorsAt(t, res, "lines.error")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1", len(errs))
			}
			wantError(t, errs[0], "lines", tt.record, tt.words...)
			wantCounts(t, res, "lines", counts{In: 2, Out: 1, Errored: 1, Emitted: 1})
		})
	}
}

// A record failing downstream of a split is reported with the line it
// failed on and the order it came from.
func TestSplitErrorsDownstreamCarryTheOriginal(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: line_items, as: line}
  rows:
    from: lines
    map:
      order_id: string(parent.id)
      qty: int(line.quantity)
`+sinks("rows", "rows.error"))
	in := `{"id":7,"line_items":[{"quantity":"2"},{"quantity":"two"}]}`
	res := run(t, plan, nil, 1, in)
	equal(t, "rows", got(t, res, "rows"), []string{`{"order_id":"7","qty":2}`})
	errs := errorsAt(t, res, "rows.error")
	if len(errs) != 1 {
		t.Fatalf("%d error records, want 1", len(errs))
	}
	wantError(t, errs[0], "rows", `{"line":{"quantity":"two"},"index":1,"parent":`+in+`}`, "field qty")
	if string(errs[0].Original) != in {
		t.Errorf("original = %s, want the source payload %s", errs[0].Original, in)
	}
	wantCounts(t, res, "lines", counts{In: 1, Out: 1, Emitted: 2})
	wantCounts(t, res, "rows", counts{In: 2, Out: 1, Errored: 1, Emitted: 1})
}

// Downstream expressions are checked against the split's output type: the
// element's type from the schema, the parent's, and index.
func TestSplitTypesItsOutput(t *testing.T) {
	head := source("shopify/order") + `steps:
  lines:
    from: in
    split: {items: line_items, as: line}
  rows:
    from: lines
    map:
`
	compile(t, head+"      sku: line.sku\n      order: parent.id\n      at: index + 1\n"+sinks("rows"))
	got := codes(t, head+"      sku: line.skew\n"+sinks("rows"))
	if !slices.Contains(got, "expr-unknown-field") {
		t.Errorf("line.skew: codes %v, want expr-unknown-field", got)
	}
	got = codes(t, source("")+`steps:
  lines:
    from: in
    split: {items: line_items, as: parent}
`+sinks("lines"))
	equal(t, "as: parent", got, []string{"invalid-value"})
	got = codes(t, source("shopify/order")+`steps:
  lines:
    from: in
    split: {items: email}
`+sinks("lines"))
	equal(t, "items: email", got, []string{"expr-result-type"})
}

// Several workers give the same records in the same order.
func TestSplitWorkersKeepOrder(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: line_items}
`+sinks("lines"))
	var in []string
	for i := range 50 {
		in = append(in, `{"n":`+itoa(i)+`,"line_items":[`+itoa(i)+`,"x"]}`)
	}
	one := got(t, run(t, plan, nil, 1, in...), "lines")
	four := got(t, run(t, plan, nil, 4, in...), "lines")
	equal(t, "4 workers vs 1", four, one)
	if len(one) != 100 {
		t.Errorf("%d records, want 100", len(one))
	}
}
