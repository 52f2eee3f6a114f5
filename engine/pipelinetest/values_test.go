package pipelinetest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func yamlValue(t *testing.T, src string) any {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	v, err := fromYAML(&n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCompare pins down what matches: numbers as exact decimals whatever
// their spelling, never a number and its string; subsets by keys, arrays
// elementwise and of the same length.
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		want, got string
		subset    bool
		diffs     []string
	}{
		{want: `{a: 10}`, got: `{"a":10.0}`},
		{want: `{a: 19.90}`, got: `{"a":19.9}`},
		{want: `{a: 820982911946154508}`, got: `{"a":820982911946154508}`},
		{want: `{a: 820982911946154508}`, got: `{"a":820982911946154509}`, diffs: []string{".a: want 820982911946154508, got 820982911946154509"}},
		{want: `{a: "10"}`, got: `{"a":10}`, diffs: []string{`.a: want string "10", got number 10`}},
		{want: `{a: 1e2}`, got: `{"a":100}`},
		{want: `{at: 2026-11-27T12:00:00Z}`, got: `{"at":"2026-11-27T12:00:00Z"}`},
		{want: `{a: null, b: true}`, got: `{"a":null,"b":true}`},
		{want: `{a: 1}`, got: `{"a":1,"b":2}`, diffs: []string{`.b: unexpected field, got 2`}},
		{want: `{a: 1}`, got: `{"a":1,"b":2}`, subset: true},
		{want: `{a: 1, c: 3}`, got: `{"a":1}`, subset: true, diffs: []string{`.c: missing, want 3`}},
		{want: `{l: [{sku: A}]}`, got: `{"l":[{"sku":"A","qty":1}]}`, subset: true},
		{want: `{l: [{sku: A}]}`, got: `{"l":[{"sku":"A"},{"sku":"B"}]}`, subset: true, diffs: []string{`.l: want 1 elements, got 2: [{"sku":"A"},{"sku":"B"}]`}},
		{want: `{"a b": 1}`, got: `{"a b":2}`, diffs: []string{`["a b"]: want 1, got 2`}},
		{want: `[1]`, got: `{"a":1}`, diffs: []string{`want an array, got object {"a":1}`}},
	} {
		var ms []mismatch
		compare(yamlValue(t, tc.want), fromRaw([]byte(tc.got)), "", tc.subset, &ms)
		var got []string
		for _, m := range ms {
			got = append(got, m.String())
		}
		if diff := cmp.Diff(tc.diffs, got); diff != "" {
			t.Errorf("compare(%s, %s, subset=%v) (-want +got):\n%s", tc.want, tc.got, tc.subset, diff)
		}
	}
}

// TestYAMLToJSON checks that inline records become the JSON a source would
// read: key order kept, numbers as written, timestamps as strings.
func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct{ yaml, json string }{
		{`{id: 820982911946154508, price: "19.90", total: 19.90, z: 1, a: 2}`, `{"id":820982911946154508,"price":"19.90","total":19.90,"z":1,"a":2}`},
		{`{at: 2026-11-27T12:00:00Z, on: 2026-11-27, "yes": yes, n: ~, big: 1_000}`, `{"at":"2026-11-27T12:00:00Z","on":"2026-11-27","yes":"yes","n":null,"big":1000}`},
		{"{base: &b {x: 1}, copy: {<<: *b, y: 2}}", `{"base":{"x":1},"copy":{"x":1,"y":2}}`},
		{`[{sku: A}, "two", 3]`, `[{"sku":"A"},"two",3]`},
	} {
		if got := string(toJSON(yamlValue(t, tc.yaml))); got != tc.json {
			t.Errorf("%s:\n got %s\nwant %s", tc.yaml, got, tc.json)
		}
	}
	var n yaml.Node
	yaml.Unmarshal([]byte(`{a: .inf}`), &n)
	if _, err := fromYAML(&n); err == nil || !strings.Contains(err.Error(), "not a number JSON can hold") {
		t.Errorf("fromYAML(.inf) = %v, want an error", err)
	}
}

// TestProject checks what --update keeps of a record for a subset.
func TestProject(t *testing.T) {
	want := yamlValue(t, `{id: 0, lines: [{sku: X}], ship: {city: X}}`)
	got := fromRaw([]byte(`{"extra":1,"ship":{"city":"Lyon","zip":"1"},"id":"7","lines":[{"sku":"A","q":1},{"sku":"B","q":2}]}`))
	if s := string(toJSON(project(want, got))); s != `{"id":"7","lines":[{"sku":"A"},{"sku":"B"}],"ship":{"city":"Lyon"}}` {
		t.Errorf("project = %s", s)
	}
}
