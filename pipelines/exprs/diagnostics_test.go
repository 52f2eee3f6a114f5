package exprs_test

import (
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
)

// shopifyOrder is the type the embedded Shopify order schema gives, where
// most fields may be null.
func shopifyOrder(t *testing.T) *component.Type {
	t.Helper()
	raw, ok := schemas.Lookup("shopify/order")
	if !ok {
		t.Fatal("no embedded shopify/order schema")
	}
	typ, err := exprs.TypeFromJSONSchema(raw, "")
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

// at is a problem's code and where it points in the expression.
type at struct {
	Code   string
	Offset int
	Len    int
}

func problemsAt(probs []exprs.Problem) []at {
	var out []at
	for _, p := range probs {
		out = append(out, at{p.Code, p.Offset, p.Len})
	}
	return out
}

// Fields the schema allows to be null are checked as their non-null type:
// most of a Shopify order may be null, and these mistakes are on its
// commonest fields.
func TestNullableFieldsAreTypeChecked(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	order := shopifyOrder(t)
	for _, tt := range []struct {
		src  string
		want []at
	}{
		{`customer.first_name + 1`, []at{{exprs.CodeTypeMismatch, 20, 1}}},
		{`email - 1`, []at{{exprs.CodeTypeMismatch, 6, 1}}},
		{`email == 1`, []at{{exprs.CodeTypeMismatch, 6, 2}}},
		{`sum(line_items, #.taxable)`, []at{{exprs.CodeTypeMismatch, 0, 3}}},
	} {
		_, probs := lib.Compile(tt.src, order, nil)
		if diff := cmp.Diff(tt.want, problemsAt(probs)); diff != "" {
			t.Errorf("%s: problems differ (-want +got):\n%s\n%+v", tt.src, diff, probs)
		}
	}
	// What stays right: null is still a possible value, and ?? narrows it.
	for _, src := range []string{
		`email ?? ""`, `lower(email ?? "")`, `email == nil`, `customer.first_name + " " + customer.last_name`,
		`(tags ?? "") == "" ? [] : split(tags, ", ")`, `len(shipping_lines) > 0 && shipping_lines[0].code == "EXPRESS"`,
	} {
		if _, probs := lib.Compile(src, order, nil); len(probs) > 0 {
			t.Errorf("%s: %+v", src, probs)
		}
	}
	p, _ := lib.Compile(`email ?? "none"`, order, nil)
	if got := p.ResultType(); got.Nullable || got.Kind != component.String {
		t.Errorf(`email ?? "none" is %s, want a string that is never null`, got)
	}
	p, _ = lib.Compile(`email`, order, nil)
	if got := p.ResultType(); !got.Nullable {
		t.Errorf(`email is %s, want a string that may be null`, got)
	}
}

// At run time a null in a field checked as its non-null type compares as
// null, is replaced by ??, and fails an operation that cannot take it with
// a message in the pipeline's terms: the field, its value, what was
// expected, never a Go type assertion.
func TestNullAtRunTime(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	order := shopifyOrder(t)
	env := map[string]any{
		"email": nil, "test": nil,
		"customer":       map[string]any{"first_name": nil, "last_name": "Ng"},
		"shipping_lines": []any{map[string]any{"code": nil}},
		"total_price":    nil, "shipping_address": nil,
		"note": nil, "line_items": nil, "total_weight": nil,
	}
	for _, tt := range []struct {
		src  string
		want any
	}{
		{`shipping_lines[0].code == "EXPRESS"`, false},
		{`shipping_lines[0].code != "EXPRESS"`, true},
		{`email ?? "none"`, "none"},
		{`email == nil`, true},
		{`customer.last_name == "Ng"`, true},
	} {
		p, probs := lib.Compile(tt.src, order, nil)
		if len(probs) > 0 {
			t.Fatalf("%s: %+v", tt.src, probs)
		}
		got, err := p.Run(&vm.VM{}, env)
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		src  string
		want string
	}{
		{`customer.first_name + " " + customer.last_name`, `customer.first_name is null, not a string`},
		{`!test`, `test is null, not a bool`},
		{`test && email != ""`, `test is null, not a bool`},
		{`upper(email)`, `email is null: upper: s must be a string, not null`},
		{`shipping_address.city`, `shipping_address is null, so it has no field city`},
		{`len(shipping_address.city) > 2`, `shipping_address is null, so it has no field city`},
		{`decimal(total_price) > 1`, `total_price is null: decimal: value is null`},
		{`len(note) > 1`, `note is null: len cannot use it`},
		{`map(line_items, #.sku)`, `line_items is null: map cannot use it`},
		{`-total_weight`, `total_weight is null: - cannot use it`},
		{`total_weight < 10`, `total_weight is null, not an int: < cannot use it`},
	} {
		p, probs := lib.Compile(tt.src, order, nil)
		if len(probs) > 0 {
			t.Fatalf("%s: %+v", tt.src, probs)
		}
		_, err := p.Run(&vm.VM{}, env)
		if err == nil {
			t.Errorf("%s ran, want an error %q", tt.src, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q, want it to say %q", tt.src, err, tt.want)
		}
		for _, internal := range []string{"interface conversion", "interface {}", "<nil>", "reflect"} {
			if strings.Contains(err.Error(), internal) {
				t.Errorf("%s: error %q speaks Go (%q)", tt.src, err, internal)
			}
		}
	}
}

// Every mistake in an expression is reported, each once: what depends on a
// part already reported is not reported again.
func TestEveryMistakeReported(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	order := shopifyOrder(t)
	for _, tt := range []struct {
		src  string
		want []at
	}{
		// shiping_address is unknown, so its .cty is not looked at; lowr is
		// unknown; zipp is not a field of the shipping address.
		{`upper(shiping_address.cty) + lowr(shipping_address.zipp)`, []at{
			{exprs.CodeUnknownField, 6, 15}, {exprs.CodeUnknownFunc, 29, 4}, {exprs.CodeUnknownField, 51, 4}}},
		// Two type errors in one expression.
		{`email - 1 + (name * 2)`, []at{{exprs.CodeTypeMismatch, 6, 1}, {exprs.CodeTypeMismatch, 18, 1}}},
		// An unknown function's result is of unknown type: adding it to a
		// string is not reported.
		{`lowr(email) + name`, []at{{exprs.CodeUnknownFunc, 0, 4}}},
	} {
		_, probs := lib.Compile(tt.src, order, nil)
		if diff := cmp.Diff(tt.want, problemsAt(probs)); diff != "" {
			t.Errorf("%s: problems differ (-want +got):\n%s\n%+v", tt.src, diff, probs)
		}
	}
}

// Messages in the author's terms: which bracket is unclosed, which
// argument is wrong, the function meant, the variable misspelt.
func TestProblemsInAuthorsTerms(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	order := shopifyOrder(t)
	for _, tt := range []struct {
		src     string
		want    at
		summary string
		hint    string
	}{
		{`decimal(total_price`, at{exprs.CodeSyntax, 7, 1}, "unclosed parenthesis of decimal(", ""},
		{`map(line_items, (#.price)]`, at{exprs.CodeSyntax, 25, 1}, "`]` where `)` was expected", ""},
		{`name + "é → x`, at{exprs.CodeSyntax, 7, 1}, "unclosed string", ""},
		{`pad_left(customer.id, "8", "0")`, at{exprs.CodeTypeMismatch, 22, 3}, "pad_left: width must be int, not string", ""},
		{`lowercase(email)`, at{exprs.CodeUnknownFunc, 0, 9}, `unknown function "lowercase"`, `did you mean "lower"?`},
		{`let total = decimal(total_price); totl * 2`, at{exprs.CodeUnknownVar, 34, 4}, `unknown variable "totl"`, `did you mean "total", set with let?`},
		{`format_time(now(), "yyyy-MM-dd")`, at{exprs.CodeBadArgument, 19, 12}, `layout "yyyy-MM-dd"`, ""},
		{`parse_time(created_at, "rfc3339", "Europe/Berln")`, at{exprs.CodeBadArgument, 34, 14}, `time zone "Europe/Berln"`, ""},
	} {
		_, probs := lib.Compile(tt.src, order, nil)
		if len(probs) != 1 {
			t.Errorf("%s: want one problem, got %+v", tt.src, probs)
			continue
		}
		p := probs[0]
		if got := (at{p.Code, p.Offset, p.Len}); got != tt.want {
			t.Errorf("%s: problem at %+v, want %+v (%s)", tt.src, got, tt.want, p.Summary)
		}
		if !strings.Contains(p.Summary, tt.summary) || !strings.Contains(p.Hint, tt.hint) {
			t.Errorf("%s: %q (hint %q), want it to say %q (hint %q)", tt.src, p.Summary, p.Hint, tt.summary, tt.hint)
		}
	}
}
