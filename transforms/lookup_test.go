package transforms_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
)

// tableDir writes table files into a fresh directory: the pipeline's.
func tableDir(t *testing.T, files map[string]string) *component.Runtime {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &component.Runtime{Dir: dir}
}

const skuCSV = "\ufeffstore_sku,wms_code,name\nA-1,W-100,\"Alpha, large\"\nB-2,W-200,Beta\n"

func lookupPipeline(settings string) string {
	return source("") + `steps:
  with_item:
    from: in
    lookup: ` + settings + `
` + sinks("with_item", "with_item.error")
}

// The row is added last, as an object of the CSV's text in header order;
// the record's own fields are copied byte for byte.
func TestLookupCSV(t *testing.T) {
	rt := tableDir(t, map[string]string{"tables/sku-map.csv": skuCSV})
	plan := compile(t, lookupPipeline("{table: tables/sku-map.csv, column: store_sku, key: sku, as: wms}"))
	res := run(t, plan, rt, 2,
		`{"id": 820982911946154508, "price": 12.50, "sku": "A-1" }`,
		` {"sku":"B-2"}`+"\n",
	)
	equal(t, "with_item", got(t, res, "with_item"), []string{
		`{"id": 820982911946154508, "price": 12.50, "sku": "A-1","wms":{"store_sku":"A-1","wms_code":"W-100","name":"Alpha, large"}}`,
		`{"sku":"B-2","wms":{"store_sku":"B-2","wms_code":"W-200","name":"Beta"}}`,
	})
	wantCounts(t, res, "with_item", counts{In: 2, Out: 2, Emitted: 2})
}

// JSON rows are copied as written; keys compare as text, so the number 7
// finds the row keyed "7" and the other way round.
func TestLookupJSONKeysCompareAsText(t *testing.T) {
	rt := tableDir(t, map[string]string{"locations.json": `[
  {"id": 7, "name": "East", "geo": {"lat": 40.71}},
  {"id": "12", "name": "West"},
  {"id": 2.5, "name": "Half"}
]`})
	plan := compile(t, lookupPipeline("{table: locations.json, column: id, key: loc, as: location}"))
	res := run(t, plan, rt, 1, `{"loc":"7"}`, `{"loc":12}`, `{"loc":7}`, `{"loc":2.50}`)
	equal(t, "with_item", got(t, res, "with_item"), []string{
		`{"loc":"7","location":{"id": 7, "name": "East", "geo": {"lat": 40.71}}}`,
		`{"loc":12,"location":{"id": "12", "name": "West"}}`,
		`{"loc":7,"location":{"id": 7, "name": "East", "geo": {"lat": 40.71}}}`,
		`{"loc":2.50,"location":{"id": 2.5, "name": "Half"}}`,
	})
}

// A field already named `as` is replaced where it is.
func TestLookupReplacesAnExistingField(t *testing.T) {
	rt := tableDir(t, map[string]string{"t.csv": "k,v\na,1\n"})
	plan := compile(t, lookupPipeline("{table: t.csv, column: k, key: k, as: v}"))
	res := run(t, plan, rt, 1, `{"v":"old","k":"a","z":[1, 2]}`, `{}`)
	equal(t, "with_item", got(t, res, "with_item")[:1], []string{`{"v":{"k":"a","v":"1"},"k":"a","z":[1, 2]}`})
}

func TestLookupOnMiss(t *testing.T) {
	rt := tableDir(t, map[string]string{"t.csv": "k,v\na,1\n"})
	in := []string{`{"k":"a"}`, `{"k":"zz"}`, `{"n":1}`}

	t.Run("error", func(t *testing.T) {
		res := run(t, compile(t, lookupPipeline("{table: t.csv, column: k, key: k, as: row}")), rt, 1, in...)
		equal(t, "with_item", got(t, res, "with_item"), []string{`{"k":"a","row":{"k":"a","v":"1"}}`})
		errs := errorsAt(t, res, "with_item.error")
		if len(errs) != 2 {
			t.Fatalf("%d error records, want 2", len(errs))
		}
		wantError(t, errs[0], "with_item", in[1], `no row of t.csv has k "zz"`)
		wantError(t, errs[1], "with_item", in[2], `key "k" is null`)
		wantCounts(t, res, "with_item", counts{In: 3, Out: 1, Errored: 2, Emitted: 1})
	})
	t.Run("default", func(t *testing.T) {
		res := run(t, compile(t, lookupPipeline("{table: t.csv, column: k, key: k, as: row, on_miss: default, default: {v: '0', k: none}}")), rt, 1, in...)
		equal(t, "with_item", got(t, res, "with_item"), []string{
			`{"k":"a","row":{"k":"a","v":"1"}}`,
			`{"k":"zz","row":{"v":"0","k":"none"}}`,
			`{"n":1,"row":{"v":"0","k":"none"}}`,
		})
		wantCounts(t, res, "with_item", counts{In: 3, Out: 3, Emitted: 3})
	})
	t.Run("drop", func(t *testing.T) {
		res := run(t, compile(t, lookupPipeline("{table: t.csv, column: k, key: k, as: row, on_miss: drop}")), rt, 1, in...)
		equal(t, "with_item", got(t, res, "with_item"), []string{`{"k":"a","row":{"k":"a","v":"1"}}`})
		equal(t, "errors", got(t, res, "with_item.error"), []string{})
		wantCounts(t, res, "with_item", counts{In: 3, Out: 1, Dropped: 2, Emitted: 1})
	})
}

// Whatever the miss policy, a key that cannot be looked up and a record
// that cannot take a field are errors.
func TestLookupRecordFailures(t *testing.T) {
	rt := tableDir(t, map[string]string{"t.csv": "k,v\na,1\n"})
	tests := []struct {
		name, key, record string
		words             []string
	}{
		{"object key", "k", `{"k":{"a":1}}`, []string{"gave an object; a key must be text or a number"}},
		{"array key", "k", `{"k":["a"]}`, []string{"gave an array"}},
		{"bad number", "string(int(k))", `{"k":"x"}`, []string{`key "string(int(k))"`}},
		{"not an object", "'\"a\"'", `["a"]`, []string{"not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := compile(t, lookupPipeline("{table: t.csv, column: k, key: "+tt.key+", as: row, on_miss: drop}"))
			res := run(t, plan, rt, 1, tt.record)
			errs := errorsAt(t, res, "with_item.error")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1", len(errs))
			}
			wantError(t, errs[0], "with_item", tt.record, tt.words...)
			wantCounts(t, res, "with_item", counts{In: 1, Errored: 1})
		})
	}
}

// A table that cannot be used stops the run before any record flows.
func TestLookupBadTables(t *testing.T) {
	tests := []struct {
		name, file, text, words string
	}{
		{"missing file", "", "", "does not exist"},
		{"missing column", "t.csv", "sku,v\na,1\n", `column "k" is not in the header (sku, v)`},
		{"duplicate key", "t.csv", "k,v\na,1\nb,2\na,3\n", `k "a" appears on lines 2 and 4`},
		{"ragged csv", "t.csv", "k,v\na,1,2\n", "wrong number of fields"},
		{"empty csv", "t.csv", "", "needs a header row"},
		{"json not an array", "t.json", `{"k":"a"}`, "must be an array of objects, not an object"},
		{"json row not an object", "t.json", `[{"k":"a"},3]`, "row 1 is a number"},
		{"json key missing", "t.json", `[{"v":1}]`, "row 0: k is null (the field is missing)"},
		{"json duplicate", "t.json", `[{"k":1},{"k":"1"}]`, `k "1" appears in rows 0 and 1`},
		{"json invalid", "t.json", `[{"k":1}`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{}
			table := "absent.csv"
			if tt.file != "" {
				files[tt.file] = tt.text
				table = tt.file
			}
			plan := compile(t, lookupPipeline("{table: "+table+", column: k, key: k, as: row}"))
			_, err := runErr(plan, tableDir(t, files), 1, `{"k":"a"}`)
			if err == nil || !containsAll(err.Error(), `step "with_item"`, table, tt.words) {
				t.Errorf("run error = %v, want one naming the step, the table and %q", err, tt.words)
			}
		})
	}
}

// Pipeline tests replace the table with rows of their own.
func TestLookupMockedTable(t *testing.T) {
	plan := compile(t, lookupPipeline("{table: nowhere.csv, column: sku, key: sku, as: wms}"))
	rt := &component.Runtime{Tables: map[string][]map[string]any{
		"with_item": {{"sku": "A", "code": "W-1", "qty": 3}, {"sku": 7, "code": "W-7"}},
	}}
	res := run(t, plan, rt, 1, `{"sku":"A"}`, `{"sku":"7"}`)
	equal(t, "with_item", got(t, res, "with_item"), []string{
		`{"sku":"A","wms":{"code":"W-1","qty":3,"sku":"A"}}`,
		`{"sku":"7","wms":{"code":"W-7","sku":7}}`,
	})
	rt.Tables["with_item"] = append(rt.Tables["with_item"], map[string]any{"sku": "A"})
	if _, err := runErr(plan, rt, 1); err == nil || !strings.Contains(err.Error(), `sku "A" appears in rows 0 and 2`) {
		t.Errorf("duplicate test row: err = %v", err)
	}
}

func TestLookupSettingsAreChecked(t *testing.T) {
	tests := []struct{ settings, code string }{
		{"{table: t.csv, column: k, key: k, as: row, on_miss: default}", "missing-field"},
		{"{table: t.xlsx, column: k, key: k, as: row}", "invalid-value"},
		{"{table: t.csv, column: k, key: k, as: ''}", "invalid-value"},
		{"{table: t.csv, column: k, key: k, as: row, on_miss: ignore}", "invalid-value"},
	}
	for _, tt := range tests {
		if got := codes(t, lookupPipeline(tt.settings)); !slices.Contains(got, tt.code) {
			t.Errorf("%s: codes %v, want %s", tt.settings, got, tt.code)
		}
	}
	// The row is typed as an open object: downstream may read any column,
	// and the record's own fields keep their types.
	compile(t, source("shopify/order")+`steps:
  with_loc:
    from: in
    lookup: {table: t.csv, column: k, key: string(id), as: loc}
  out:
    from: with_loc
    map:
      code: loc.code
      id: id + 1
`+sinks("out"))
}
