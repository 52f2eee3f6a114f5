package transforms_test

import (
	"slices"
	"strings"
	"testing"
)

func validatePipeline(schema string) string {
	return source("") + `steps:
  checked:
    from: in
    validate: ` + schema + `
` + sinks("checked", "checked.error")
}

// Valid records pass unchanged; each invalid one leaves through `error`
// naming every violation by its place, sorted.
func TestValidateEmbeddedSchema(t *testing.T) {
	plan := compile(t, validatePipeline("shopify/order"))
	valid := `{"id": 820982911946154508, "email": null, "line_items": [{"sku": "A-1", "quantity": 2, "price": "12.50"}]}`
	invalid := `{"id":"820982911946154508","line_items":[{"sku":"A-1","quantity":"2"},{"quantity":1.5}]}`
	res := run(t, plan, nil, 2, valid, invalid, valid)
	equal(t, "checked", got(t, res, "checked"), []string{valid, valid})
	errs := errorsAt(t, res, "checked.error")
	if len(errs) != 1 {
		t.Fatalf("%d error records, want 1", len(errs))
	}
	wantError(t, errs[0], "checked", invalid, "record does not match schema shopify/order (3 violations): ")
	e := errs[0].Error
	i, j, k := strings.Index(e, "/id: expected integer"), strings.Index(e, "/line_items/0/quantity: expected integer, but got string"),
		strings.Index(e, "/line_items/1/quantity: expected integer, but got number")
	if i < 0 || j < 0 || k < 0 || !(i < j && j < k) {
		t.Errorf("error %q: want /id, /line_items/0/quantity and /line_items/1/quantity violations, in that order", e)
	}
	wantCounts(t, res, "checked", counts{In: 3, Out: 2, Errored: 1, Emitted: 2})
}

// A schema file resolves beside the pipeline file, and so do its $refs.
func TestValidateSchemaFile(t *testing.T) {
	rt := tableDir(t, map[string]string{
		"schemas/ticket.json": `{"type": "object", "required": ["order_id", "lines"], "additionalProperties": false,
			"properties": {"order_id": {"type": "string", "minLength": 1}, "lines": {"type": "array", "minItems": 1, "items": {"$ref": "line.json"}}}}`,
		"schemas/line.json": `{"type": "object", "required": ["sku", "qty"], "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}`,
	})
	plan := compile(t, validatePipeline("schemas/ticket.json"))
	good := `{"order_id":"1001","lines":[{"sku":"A","qty":1}]}`
	bad := `{"order_id":"","lines":[{"sku":"A","qty":0},{"qty":2}],"extra":true}`
	res := run(t, plan, rt, 1, good, bad, `[]`, `"text"`)
	equal(t, "checked", got(t, res, "checked"), []string{good})
	errs := errorsAt(t, res, "checked.error")
	if len(errs) != 3 {
		t.Fatalf("%d error records, want 3", len(errs))
	}
	wantError(t, errs[0], "checked", bad, "(4 violations)", "(root): additionalProperties 'extra' not allowed",
		"/lines/0/qty: must be >= 1", "/lines/1: missing properties: 'sku'", "/order_id: length must be >= 1")
	wantError(t, errs[1], "checked", `[]`, "(root): expected object, but got array")
	wantError(t, errs[2], "checked", `"text"`, "expected object, but got string")
	wantCounts(t, res, "checked", counts{In: 4, Out: 1, Errored: 3, Emitted: 1})
}

// A record that is not JSON (a line a source passed through) is an error,
// not a crash.
func TestValidateRecordNotJSON(t *testing.T) {
	plan := compile(t, validatePipeline("shopify/order"))
	res := run(t, plan, nil, 1, `{"id":1`)
	errs := errorsAt(t, res, "checked.error")
	if len(errs) != 1 {
		t.Fatalf("%d error records, want 1", len(errs))
	}
	if !strings.Contains(errs[0].Error, "not JSON") {
		t.Errorf("error %q, want it to say the record is not JSON", errs[0].Error)
	}
}

func TestValidateBadSchemas(t *testing.T) {
	// Embedded names are checked when the file is loaded.
	if got := codes(t, validatePipeline("shopify/ordr")); !slices.Contains(got, "unknown-schema") {
		t.Errorf("shopify/ordr: codes %v, want unknown-schema", got)
	}
	_, ds := load(t, validatePipeline("shopify/ordr"))
	if len(ds) == 0 || !strings.Contains(ds[0].Summary, `did you mean "shopify/order"?`) {
		t.Errorf("diagnostics %v, want a did-you-mean", ds)
	}
	// Files are read when the step is built.
	for _, tt := range []struct{ name, text, words string }{
		{"missing.json", "", "missing.json"},
		{"broken.json", `{"type": `, "broken.json"},
		{"wrong.json", `{"type": 5}`, "wrong.json"},
	} {
		files := map[string]string{}
		if tt.text != "" {
			files[tt.name] = tt.text
		}
		plan := compile(t, validatePipeline(tt.name))
		_, err := runErr(plan, tableDir(t, files), 1, `{}`)
		if err == nil || !containsAll(err.Error(), `step "checked"`, tt.words) {
			t.Errorf("%s: run error = %v, want one naming the step and %q", tt.name, err, tt.words)
		}
	}
}

// Records of unknown shape gain the embedded schema's type once validated:
// the steps after are checked against it.
func TestValidateTypesItsOutput(t *testing.T) {
	head := source("") + `steps:
  checked:
    from: in
    validate: shopify/order
  ticket:
    from: checked
    map:
`
	compile(t, head+"      sku: line_items[0].sku\n      id: id + 1\n"+sinks("ticket"))
	if got := codes(t, head+"      sku: line_items[0].skew\n"+sinks("ticket")); !slices.Contains(got, "expr-unknown-field") {
		t.Errorf("line_items[0].skew after validate: codes %v, want expr-unknown-field", got)
	}
	// A file schema is not read at compile time: the input's type stays.
	compile(t, source("")+`steps:
  checked:
    from: in
    validate: ticket.json
  ticket:
    from: checked
    map:
      anything: whatever.field
`+sinks("ticket"))
}
