package transforms_test

import (
	"slices"
	"testing"
)

func filterPipeline(schema, cond string) string {
	return source(schema) + `steps:
  kept:
    from: in
    filter: '` + cond + `'
` + sinks("kept", "kept.error")
}

func TestFilterKeepsAndDrops(t *testing.T) {
	plan := compile(t, filterPipeline("shopify/order", `!test && len(line_items) > 0`))
	in := []string{
		`{"id":1,"test":false,"line_items":[{"sku":"A"}]}`,
		`{"id":2,"test":true,"line_items":[{"sku":"A"}]}`,
		`{"id":3,"test":false,"line_items":[]}`,
		`{"id":4, "test":false, "line_items":[{}] }`,
	}
	res := run(t, plan, nil, 3, in...)
	equal(t, "kept", got(t, res, "kept"), []string{in[0], in[3]})
	wantCounts(t, res, "kept", counts{In: 4, Out: 2, Dropped: 2, Emitted: 2})
}

// A condition that does not give a boolean at run time (possible on records
// of unknown shape) is an error, never a silent drop.
func TestFilterFailures(t *testing.T) {
	tests := []struct {
		name, cond, record string
		words              []string
	}{
		{"string", "flag", `{"flag":"yes"}`, []string{`condition "flag" gave a string, not a boolean`}},
		{"missing field", "flag", `{"id":1}`, []string{"gave null, not a boolean"}},
		{"number", "flag", `{"flag":1}`, []string{"gave a number"}},
		{"bad number", "int(qty) > 1", `{"qty":"x"}`, []string{"int"}},
		{"wrong type", "qty > 1", `{"qty":"3"}`, []string{"invalid operation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := compile(t, filterPipeline("", tt.cond))
			good := `{"flag":true,"qty":5}`
			res := run(t, plan, nil, 1, good, tt.record)
			equal(t, "kept", got(t, res, "kept"), []string{good})
			errs := errorsAt(t, res, "kept.error")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1", len(errs))
			}
			wantError(t, errs[0], "kept", tt.record, tt.words...)
			wantCounts(t, res, "kept", counts{In: 2, Out: 1, Errored: 1, Emitted: 1})
		})
	}
}

func TestFilterMustBeBoolean(t *testing.T) {
	if got := codes(t, filterPipeline("shopify/order", "email")); !slices.Contains(got, "expr-result-type") {
		t.Errorf("codes %v, want expr-result-type", got)
	}
}
