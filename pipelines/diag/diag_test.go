package diag_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/diag"
)

func TestSuggest(t *testing.T) {
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"shiping_address", []string{"shipping_address", "billing_address", "email"}, "shipping_address"},
		{"fitler", []string{"filter", "map", "route"}, "filter"},  // transposition counts as one edit
		{"EMAIL", []string{"email"}, "email"},                     // case is ignored
		{"xyz", []string{"filter", "map"}, ""},                    // nothing close
		{"map", []string{"map"}, ""},                              // an exact name is no suggestion
		{"qty", []string{"quantity", "sku"}, ""},                  // too far for a three-letter name
		{"lowercase", []string{"len", "lower", "upper"}, "lower"}, // a word added to the name
		{"lengthy", []string{"len"}, ""},                          // a prefix too short to mean it
		{"", []string{"a"}, "a"},
	}
	for _, tt := range tests {
		if got := diag.Suggest(tt.name, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := diag.DidYouMean("fitler", []string{"filter"}); got != `did you mean "filter"?` {
		t.Errorf("DidYouMean = %q", got)
	}
}

func pos(line, col int) diag.Pos { return diag.Pos{File: "p.yaml", Line: line, Col: col} }

func TestSortedOrdersAndDeduplicates(t *testing.T) {
	ds := diag.Diagnostics{
		{Code: "b", Summary: "second", Subject: diag.At(pos(3, 1), 1)},
		{Code: "a", Summary: "first", Subject: diag.At(pos(1, 5), 1)},
		{Code: "b", Summary: "second", Subject: diag.At(pos(3, 1), 1)}, // duplicate
		{Code: "a", Summary: "same line, later column", Subject: diag.At(pos(3, 9), 1)},
		{Code: "a", Summary: "same place, code a", Subject: diag.At(pos(3, 1), 1)},
	}
	var got []string
	for _, d := range ds.Sorted() {
		got = append(got, d.String())
	}
	want := []string{
		"p.yaml:1:5: error: first [a]",
		"p.yaml:3:1: error: same place, code a [a]",
		"p.yaml:3:1: error: second [b]",
		"p.yaml:3:9: error: same line, later column [a]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Sorted (-want +got):\n%s", diff)
	}
}

func TestCountsAndErr(t *testing.T) {
	var ds diag.Diagnostics
	ds.Warnf(diag.At(pos(1, 1), 1), "w", "a warning")
	if ds.HasErrors() || ds.Err() != nil {
		t.Fatal("warnings alone are not errors")
	}
	ds.Errorf(diag.At(pos(2, 1), 1), "e", "an error")
	if e, w := ds.Count(); e != 1 || w != 1 {
		t.Errorf("Count = %d, %d", e, w)
	}
	if err := ds.Err(); err == nil || !strings.Contains(err.Error(), "p.yaml:2:1: error: an error [e]") {
		t.Errorf("Err = %v", err)
	}
}

func TestWriteText(t *testing.T) {
	src := diag.Sources{"p.yaml": []byte("steps:\n  x:\n    city: shiping_address.city\n")}
	ds := diag.Diagnostics{{
		Severity: diag.Error, Code: "expr-unknown-field", Summary: `unknown field "shiping_address"`,
		Detail: "line one\nline two", Hint: `did you mean "shipping_address"?`,
		Subject: diag.Range{Start: pos(3, 11), End: pos(3, 26)},
	}, {
		Severity: diag.Warning, Code: "w", Summary: "no source line", Subject: diag.At(diag.Pos{File: "other.yaml", Line: 1, Col: 1}, 1),
	}}
	var b bytes.Buffer
	if err := diag.WriteText(&b, ds, src); err != nil {
		t.Fatal(err)
	}
	want := `p.yaml:3:11: error: unknown field "shiping_address" [expr-unknown-field]
   3 |     city: shiping_address.city
     |           ^^^^^^^^^^^^^^^
   line one
   line two
   hint: did you mean "shipping_address"?
other.yaml:1:1: warning: no source line [w]
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteText (-want +got):\n%s", diff)
	}
}

func TestCaretClampsToLine(t *testing.T) {
	src := diag.Sources{"p.yaml": []byte("a: é→x\n")}
	// A span running past the end of the line, and one onto the next line,
	// are underlined to the end of the line; columns count runes.
	for _, r := range []diag.Range{
		{Start: pos(1, 4), End: pos(1, 40)},
		{Start: pos(1, 4), End: pos(2, 3)},
	} {
		var b bytes.Buffer
		diag.WriteText(&b, diag.Diagnostics{{Code: "c", Summary: "s", Subject: r}}, src)
		lines := strings.Split(b.String(), "\n")
		if got, want := lines[2], "     |    ^^^"; got != want {
			t.Errorf("caret line = %q, want %q", got, want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	ds := diag.Diagnostics{{Severity: diag.Warning, Code: "unused-output", Summary: "s", Hint: "h", Subject: diag.At(pos(2, 3), 4)}}
	var b bytes.Buffer
	if err := diag.WriteJSON(&b, ds); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Diagnostics []struct {
			Severity, Code, Summary, Hint string
			Subject                       struct{ Start, End diag.Pos }
		}
		Errors, Warnings int
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	d := got.Diagnostics[0]
	if d.Severity != "warning" || d.Code != "unused-output" || d.Subject.Start != pos(2, 3) || d.Subject.End.Col != 7 || got.Warnings != 1 || got.Errors != 0 {
		t.Errorf("JSON = %s", b.String())
	}
	b.Reset()
	diag.WriteJSON(&b, nil)
	if !strings.Contains(b.String(), `"diagnostics": []`) {
		t.Errorf("no diagnostics must render as an empty list, got %s", b.String())
	}
}
