package transforms_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

// decimalOrder is an order whose money is text with trailing zeros and
// more digits than a float holds.
const decimalOrder = `{"price":"0.10","big":"12345678901234567.89","line_items":[{"sku":"A","price":"19.990"},{"sku":"B","price":"0.01"}]}`

// decimalsStep makes the decimals the step under test receives.
const decimalsStep = `  a:
    from: in
    map:
      price: decimal(price)
      big: decimal(big)
      lines: 'map(line_items, ({"sku": #.sku, "price": decimal(#.price)}))'
`

// useDecimals is a mapping that fails on any decimal arriving as a float:
// format_money refuses floats, and decimal arithmetic has no float operand.
const useDecimals = `    map:
      f: format_money(price, 2)
      p: price + decimal("0.5")
      big: big + 1
      total: 'sum_decimal(map(lines, #.price))'
      first: lines[0].price * 3
      price: price
      lines: lines
`

// The decimals useDecimals makes of decimalOrder, digits and scale.
const usedDecimals = `{"f":"0.10","p":0.60,"big":12345678901234568.89,"total":20.000,"first":59.970,"price":0.10,` +
	`"lines":[{"price":19.990,"sku":"A"},{"price":0.01,"sku":"B"}]}`

// A decimal computed in one step is a decimal in the next, whatever the
// step kind between them: the type the compiler checked the next step's
// expressions against is the type they run on, and its digits and scale
// reach the output.
func TestDecimalsStayDecimalsThroughEveryStepKind(t *testing.T) {
	tests := []struct {
		kind string
		step string // step b, reading a
		use  string // step c, reading b (defaults to useDecimals from b)
		want []string
	}{
		{kind: "map", step: "    map: {$keep: all, price: price, lines: lines}\n"},
		{kind: "filter", step: "    filter: price > 0 && lines[0].price > decimal(\"19.99\") - 1\n"},
		{kind: "route", step: "    route: {routes: {cheap: price < 1}}\n", use: "    from: b.cheap\n" + useDecimals},
		{kind: "dedupe", step: "    dedupe: price\n"},
		{kind: "validate", step: "    validate: object.schema.json\n"},
		{kind: "lookup", step: "    lookup: {table: bands.csv, column: price, key: price, as: band}\n"},
		{kind: "split", step: "    split: {items: lines, as: line}\n",
			use: `    map:
      f: format_money(parent.price, 2)
      p: line.price + decimal("0.5")
      line: line
`,
			want: []string{`{"f":"0.10","p":20.490,"line":{"price":19.990,"sku":"A"}}`, `{"f":"0.10","p":0.51,"line":{"price":0.01,"sku":"B"}}`}},
		{kind: "group", step: "    group: price\n",
			use: `    map:
      k: key + 1
      p: records[0].price + decimal("0.5")
      total: 'sum_decimal(map(records[0].lines, #.price))'
`,
			want: []string{`{"k":1.10,"p":0.60,"total":20.000}`}},
	}
	rt := tableDir(t, map[string]string{"bands.csv": "price,band\n0.100,low\n1,high\n", "object.schema.json": `{"type":"object"}`})
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			use := tt.use
			if use == "" {
				use = useDecimals
			}
			if !strings.Contains(use, "from:") {
				use = "    from: b\n" + use
			}
			src := source("") + "steps:\n" + decimalsStep + "  b:\n    from: a\n" + tt.step + "  c:\n" + use +
				sinks("c", "a.error", "b.error", "c.error")
			if tt.kind == "route" {
				src += "  rest:\n    from: b.unmatched\n    stdout: {}\n"
			}
			want := tt.want
			if want == nil {
				want = []string{usedDecimals}
			}
			res := run(t, compile(t, src), rt, 1, decimalOrder)
			equal(t, "c", got(t, res, "c"), want)
			for _, o := range []string{"a.error", "b.error", "c.error"} {
				equal(t, o, got(t, res, o), []string{})
			}
		})
	}
}

// Shipments carry the order they allocate with its type, so its decimals
// are decimals in the steps after allocate; allocated quantities are
// decimals too.
func TestDecimalsStayDecimalsThroughAllocate(t *testing.T) {
	st := stockStore(t, map[string]int64{"A@wh-a": 10, "B@wh-a": 10})
	dir := t.TempDir()
	src := source("") + `rules:
  f:
    fulfillment: {}
steps:
  a:
    from: in
    map:
      id: id
      price: decimal(price)
      lines: 'map(line_items, ({"sku": #.sku, "quantity": #.quantity}))'
  alloc:
    from: a
    allocate: {rules: f, order_id: string(id), lines: lines}
  c:
    from: alloc.shipments
    map:
      f: format_money(order.price, 2)
      p: order.price + decimal("0.5")
      qty: lines[0].qty + decimal("0.5")
sinks:
  out:
    from: c
    file: {path: ` + filepath.Join(dir, "out.ndjson") + `}
  errors:
    from: [a.error, alloc.error, c.error]
    file: {path: ` + filepath.Join(dir, "errors.ndjson") + `}
`
	plan := compile(t, src)
	rt := &component.Runtime{Clock: component.FixedClock(t0), Inventory: st,
		Stdin: strings.NewReader(`{"id":7,"price":"0.10","line_items":[{"sku":"A","quantity":2}]}` + "\n")}
	if _, err := engine.Run(context.Background(), plan, engine.Options{Runtime: rt, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out.ndjson"))
	errs, _ := os.ReadFile(filepath.Join(dir, "errors.ndjson"))
	equal(t, "shipments mapped", string(out), `{"f":"0.10","p":0.60,"qty":2.5}`+"\n")
	equal(t, "errors", string(errs), "")
}

// A number of no known type that a mapping only passes on keeps the text
// it arrived as: every digit, and its trailing zeros; so do the numbers
// inside an object or array passed on whole.
func TestMapPassesNumbersOnAsWritten(t *testing.T) {
	plan := compile(t, mapPipeline("", `      big: big
      price: order.price
      dims: dims
      list: list
      int: n
      id: attrs["@id"]
`))
	res := run(t, plan, nil, 1,
		`{"big":12345678901234567.89,"order":{"price":478.20},"dims":{"w":1.10, "h":2},"list":[0.10,1e2],"n":820982911946154508,"attrs":{"@id":5.0}}`)
	equal(t, "m", got(t, res, "m"), []string{
		`{"big":12345678901234567.89,"price":478.20,"dims":{"w":1.10, "h":2},"list":[0.10,1e2],"int":820982911946154508,"id":5.0}`,
	})
}

// Group and dedupe keys compare decimals by value: 1.50 and 1.5 are one
// key. A group's key is written as its first record gave it.
func TestDecimalKeysCompareByValue(t *testing.T) {
	src := source("") + `steps:
  a:
    from: in
    map: {id: id, price: decimal(price)}
  once:
    from: a
    dedupe: price
  all:
    from: a
    group: price
` + sinks("once", "all")
	res := run(t, compile(t, src), nil, 1, `{"id":1,"price":"1.50"}`, `{"id":2,"price":"1.5"}`, `{"id":3,"price":"2"}`, `{"id":4,"price":"2.00"}`)
	equal(t, "once", got(t, res, "once"), []string{`{"id":1,"price":1.50}`, `{"id":3,"price":2}`})
	equal(t, "all", got(t, res, "all"), []string{
		`{"key":1.50,"records":[{"id":1,"price":1.50},{"id":2,"price":1.5}]}`,
		`{"key":2,"records":[{"id":3,"price":2},{"id":4,"price":2.00}]}`,
	})
}

// A number looked up in a table matches the row writing the same number,
// whatever its trailing zeros; a row of its own text comes first, and a
// number two rows write is an error for the record, not a guess.
func TestLookupMatchesNumbersByValue(t *testing.T) {
	rt := tableDir(t, map[string]string{
		"bands.csv":  "price,band\n478.2,csv-a\n5,csv-b\n5.0,csv-c\n5.00,csv-d\n007,csv-e\n",
		"bands.json": `[{"price":478.20,"band":"json-a"},{"price":"10.5","band":"json-b"}]`,
	})
	for _, tt := range []struct {
		table string
		in    string
		want  string // the band, or the error's words
	}{
		{"bands.csv", `"478.20"`, "csv-a"},
		{"bands.csv", `"478.2"`, "csv-a"},
		{"bands.csv", `"5.0"`, "csv-c"},
		{"bands.csv", `"5.000"`, `rows of bands.csv with price "5", "5.0", "5.00" all write`},
		{"bands.csv", `"7"`, `no row of bands.csv has price "7"`},
		{"bands.json", `"478.2"`, "json-a"},
		{"bands.json", `"10.50"`, "json-b"},
	} {
		src := source("") + `steps:
  a:
    from: in
    map: {price: decimal(price)}
  b:
    from: a
    lookup: {table: ` + tt.table + `, column: price, key: price, as: row}
  c:
    from: b
    map: {band: row.band}
` + sinks("c", "b.error")
		res := run(t, compile(t, src), rt, 1, `{"price":`+tt.in+`}`)
		out, errs := got(t, res, "c"), errorsAt(t, res, "b.error")
		switch {
		case len(out) == 1:
			equal(t, tt.table+" "+tt.in, out[0], `{"band":"`+tt.want+`"}`)
		case len(errs) == 1 && strings.Contains(errs[0].Error, tt.want):
		default:
			t.Errorf("%s %s: got %v, errors %v; want %s", tt.table, tt.in, out, errs, tt.want)
		}
	}
}

// runFiles runs a pipeline for real, reading and writing files in dir,
// and returns what each file named in outputs holds afterwards.
func runFiles(t *testing.T, src, dir string, outputs ...string) map[string]string {
	t.Helper()
	plan := compile(t, src)
	rt := &component.Runtime{Clock: component.FixedClock(t0), Dir: dir}
	if _, err := engine.Run(context.Background(), plan, engine.Options{Runtime: rt, Workers: 2}); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := map[string]string{}
	for _, name := range outputs {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	return out
}

// A CSV column typed decimal is a decimal in expressions, checked as one
// when the pipeline is validated, and written back with its digits.
func TestCSVDecimalColumns(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "costs.csv"), []byte("sku,cost,qty\nA,0.10,3\nB,478.20,1\nC,,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	head := `pipeline: t
sources:
  costs:
    file: {path: ` + filepath.Join(dir, "costs.csv") + `, format: csv, columns: {cost: decimal, qty: int}}
steps:
  priced:
    from: costs
    map:
`
	tail := `sinks:
  out:
    from: priced
    file: {path: ` + filepath.Join(dir, "out.ndjson") + `}
  csv:
    from: priced
    file: {path: ` + filepath.Join(dir, "out.csv") + `, format: csv}
  failed:
    from: [costs.error, priced.error]
    file: {path: ` + filepath.Join(dir, "failed.ndjson") + `}
`
	src := head + `      sku: sku
      cost: cost
      three: cost * 3
      line: cost * int(qty)
      known: cost != nil
` + tail
	out := runFiles(t, src, dir, "out.ndjson", "out.csv", "failed.ndjson")
	equal(t, "ndjson", out["out.ndjson"], `{"sku":"A","cost":0.10,"three":0.30,"line":0.30,"known":true}`+"\n"+
		`{"sku":"B","cost":478.20,"three":1434.60,"line":478.20,"known":true}`+"\n")
	equal(t, "csv", out["out.csv"], "sku,cost,three,line,known\nA,0.10,0.30,0.30,true\nB,478.20,1434.60,478.20,true\n")
	if !strings.Contains(out["failed.ndjson"], `operand is nil`) || strings.Count(out["failed.ndjson"], "\n") != 1 {
		t.Errorf("the row without a cost fails naming the missing value: %s", out["failed.ndjson"])
	}

	// Mixing the decimal column with a float is found before anything runs,
	// where it is written.
	_, ds := load(t, head+"      bad: cost * 1.5\n"+tail)
	if len(ds) == 0 || ds[0].Code != exprs.CodeTypeMismatch || ds[0].Subject.Start.Line != 9 || ds[0].Subject.Start.Col != 17 {
		t.Errorf("cost * 1.5: got %v, want %s at the operator, line 9, column 17", ds, exprs.CodeTypeMismatch)
	}
}

// decimal() of a JSON number of no known type converts the number as it is
// written, every digit of it, unless the step also computes with the number
// as a plain number: then it reads as it always has, through a float.
func TestDecimalOfAnUntypedNumberIsExact(t *testing.T) {
	plan := compile(t, mapPipeline("", `      p: decimal(price) + 1
      lines: 'sum_decimal(map(lines, decimal(#.price)))'
      same: price
`))
	res := run(t, plan, nil, 1, `{"price":12345678901234567.89,"lines":[{"price":0.10},{"price":0.20}]}`)
	equal(t, "m", got(t, res, "m"), []string{`{"p":12345678901234568.89,"lines":0.30,"same":12345678901234567.89}`})

	plan = compile(t, mapPipeline("", `      p: decimal(price)
      twice: price * 2
`))
	res = run(t, plan, nil, 1, `{"price":0.10}`)
	equal(t, "m", got(t, res, "m"), []string{`{"p":0.1,"twice":0.2}`})
}

// A schema types text as a decimal with "format": "decimal": the amounts of
// an XML feed, text in the file, are exact decimals in expressions and
// numbers with their digits in the output.
func TestSchemaTypesDecimalText(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"in.xml": "<Orders><Order><Price>478.20</Price><Ref>A-1</Ref></Order><Order><Price>12345678901234567.89</Price><Ref>B</Ref></Order></Orders>",
		"order.schema.json": `{"type": "object", "additionalProperties": true, "properties": {
			"Price": {"type": "string", "format": "decimal"}, "Ref": {"type": "string"}}}`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := `pipeline: t
sources:
  in:
    file: {path: ` + filepath.Join(dir, "in.xml") + `, format: xml, record_path: Orders/Order}
    schema: ` + filepath.Join(dir, "order.schema.json") + `
steps:
  m:
    from: in
    map:
      ref: Ref
      price: Price
      plus: Price + decimal("0.5")
      f: format_money(Price, 1)
sinks:
  out:
    from: m
    file: {path: ` + filepath.Join(dir, "out.xml") + `, format: xml}
  failed:
    from: [in.error, m.error]
    file: {path: ` + filepath.Join(dir, "failed.ndjson") + `}
`
	out := runFiles(t, src, dir, "out.xml", "failed.ndjson")
	equal(t, "out", out["out.xml"], `<?xml version="1.0" encoding="UTF-8"?>
<records>
<record><ref>A-1</ref><price>478.20</price><plus>478.70</plus><f>478.2</f></record>
<record><ref>B</ref><price>12345678901234567.89</price><plus>12345678901234568.39</plus><f>12345678901234567.9</f></record>
</records>
`)
	equal(t, "failed", out["failed.ndjson"], "")
	if _, ds := load(t, strings.Replace(src, `Price + decimal("0.5")`, `Price + 0.5`, 1)); len(ds) == 0 || ds[0].Code != exprs.CodeTypeMismatch {
		t.Errorf("Price + 0.5: %v, want %s", ds, exprs.CodeTypeMismatch)
	}
}
