package record_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

// stdDecode decodes like the scanner should: integers as int, other
// numbers as float64.
func stdDecode(t *testing.T, raw string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return fixNumbers(v).(map[string]any)
}

func fixNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return record.Number(string(x), false)
	case map[string]any:
		for k, e := range x {
			x[k] = fixNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fixNumbers(e)
		}
	}
	return v
}

func TestFieldsAllMatchesStandardDecoding(t *testing.T) {
	for _, raw := range []string{
		order,
		`{}`,
		` { "a" : [ 1 , 2.5 , -3e2 , true , false , null , "x" ] , "b" : { "c" : { } } } `,
		`{"esc":"a\"b\\c\nd\u00e9\ud83d\ude00","k\"ey":1}`,
		`{"big":820982911946154508,"min":-9223372036854775808,"over":9223372036854775808,"f":1.0}`,
		`{"nested":[[1,[2,{"x":"]}"}]],{}],"after":"ok"}`,
	} {
		got := record.New([]byte(raw), nil).Fields(nil)
		if diff := cmp.Diff(stdDecode(t, raw), got); diff != "" {
			t.Errorf("%s (-std +scanner):\n%s", raw, diff)
		}
	}
}

func TestFieldsProjection(t *testing.T) {
	p := &record.Projection{}
	p.Field("customer").Field("first_name")
	p.Field("line_items").Element().Field("sku")
	p.Field("shipping_lines") // shape only: the length
	got := record.New([]byte(order), nil).Fields(p)
	want := map[string]any{
		"customer":       map[string]any{"first_name": "Bo"},
		"line_items":     []any{map[string]any{"sku": "SKU-00506"}, map[string]any{"sku": "SKU-00381"}, map[string]any{"sku": "SKU-00964"}},
		"shipping_lines": []any{nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFieldsFloatHint(t *testing.T) {
	p := &record.Projection{}
	p.Field("weight").Float = true
	p.Field("qty")
	got := record.New([]byte(`{"weight": 5, "qty": 5}`), nil).Fields(p)
	if _, ok := got["weight"].(float64); !ok {
		t.Errorf("weight = %T, want float64 (the schema says number)", got["weight"])
	}
	if _, ok := got["qty"].(int); !ok {
		t.Errorf("qty = %T, want int", got["qty"])
	}
}

func TestFieldsCache(t *testing.T) {
	wide := &record.Projection{}
	wide.Field("id")
	wide.Field("email")
	narrow := &record.Projection{}
	narrow.Field("id")
	r := record.New([]byte(order), nil)
	a := r.Fields(wide)
	b := r.Fields(narrow)
	if reflect.ValueOf(a).Pointer() != reflect.ValueOf(b).Pointer() {
		t.Error("a narrower projection must reuse the decoded fields")
	}
	c := r.Fields(record.AllFields)
	if _, ok := c["line_items"]; !ok {
		t.Error("a wider projection must decode again")
	}
}

func TestNotAnObject(t *testing.T) {
	for _, raw := range []string{`[1,2]`, `"s"`, ``, `   `, `{"a":`, `{"a" 1}`, `{"a":[1,2`, `{"a":"unterminated`} {
		// Must not panic; what decodes is whatever was well-formed.
		record.New([]byte(raw), nil).Fields(nil)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		raw   string
		float bool
		want  any
	}{
		{"820982911946154508", false, 820982911946154508},
		{"-12", false, -12},
		{"12", true, 12.0},
		{"1.5", false, 1.5},
		{"1e3", false, 1000.0},
		{"9223372036854775808", false, 9.223372036854776e18},
	}
	for _, tt := range tests {
		if got := record.Number(tt.raw, tt.float); got != tt.want {
			t.Errorf("Number(%q, %v) = %#v, want %#v", tt.raw, tt.float, got, tt.want)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{"a\"b\\c\n\t\x01é\u2028", `"a\"b\\c\n\t\u0001é\u2028"`},
		{"bad \xff utf8", `"bad \ufffd utf8"`},
		{820982911946154508, `820982911946154508`},
		{int64(-5), `-5`},
		{3.0, `3`},
		{tenth() + 0.2, `0.30000000000000004`},
		{1e21, `1e+21`},
		{decimal.RequireFromString("319.590"), `319.590`},
		{[]any{decimal.RequireFromString("12345678901234567.89")}, `[12345678901234567.89]`},
		{time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), `"2026-11-27T12:00:00Z"`},
		{[]any{1, "x", true, nil}, `[1,"x",true,null]`},
		{map[string]any{"b": 1, "a": map[string]any{"z": 1, "y": 2}}, `{"a":{"y":2,"z":1},"b":1}`},
		{record.RawJSON(`{"kept":  "as is"}`), `{"kept":  "as is"}`},
	}
	for _, tt := range tests {
		got, err := record.AppendJSON(nil, tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("AppendJSON(%#v) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("AppendJSON(%#v) = %s is not valid JSON", tt.in, got)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), struct{}{}} {
		if _, err := record.AppendJSON(nil, bad); err == nil {
			t.Errorf("AppendJSON(%v) must fail", bad)
		}
	}
}

func TestProjectionString(t *testing.T) {
	p := &record.Projection{}
	p.Field("line_items").Element().Field("sku")
	p.Field("customer").Field("first_name")
	p.Field("id")
	q := &record.Projection{}
	q.Field("customer").All = true
	p.Merge(q)
	if got := p.String(); got != "customer, id, line_items[].sku" {
		t.Errorf("String = %q", got)
	}
	if !p.Covers(q) || q.Covers(p) {
		t.Error("Covers is wrong")
	}
}

// FuzzFields checks that the scanner never panics and, on valid JSON
// objects, decodes what encoding/json decodes.
func FuzzFields(f *testing.F) {
	for _, s := range []string{order, `{}`, `{"a":[1,{"b":"c\"d"}],"e":null}`, `{"a":1e400}`, `[1]`, `{"a":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := record.New([]byte(raw), nil).Fields(nil)
		var std map[string]any
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&std) != nil || dec.More() || !json.Valid([]byte(raw)) {
			return
		}
		if std == nil {
			// `null` decodes without error into a nil map, but it is not an
			// object: Fields gives an empty map for every non-object record.
			if len(got) != 0 {
				t.Errorf("%q is not an object but Fields gave %v", raw, got)
			}
			return
		}
		want := fixNumbers(std)
		if !cmp.Equal(want, got, cmp.Comparer(func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) })) {
			t.Errorf("%q:\n%s", raw, cmp.Diff(want, got))
		}
		// What is decoded encodes back to valid JSON.
		if out, err := record.AppendJSON(nil, got); err == nil && !json.Valid(out) {
			t.Errorf("re-encoding %q gave invalid JSON %s", raw, out)
		}
	})
}

func tenth() float64 { return 0.1 }

// Decimals are written with their scale, and as keys without trailing
// zeros, whatever their size.
func TestAppendDecimal(t *testing.T) {
	for _, tt := range []struct{ in, json, key string }{
		{"0", "0", "0"},
		{"0.00", "0.00", "0"},
		{"319.590", "319.590", "319.59"},
		{"478.20", "478.20", "478.2"},
		{"-0.05", "-0.05", "-0.05"},
		{"0.000000001", "0.000000001", "0.000000001"},
		{"100", "100", "100"},
		{"1e3", "1000", "1000"},
		{"1.20e1", "12.0", "12"},
		{"-1234567.8900", "-1234567.8900", "-1234567.89"},
		{"123456789012345678901234.50", "123456789012345678901234.50", "123456789012345678901234.5"},
		{"0.12345678901234567890", "0.12345678901234567890", "0.1234567890123456789"},
		{"12345678901234567.89", "12345678901234567.89", "12345678901234567.89"},
		{"-0.5", "-0.5", "-0.5"},
	} {
		d := decimal.RequireFromString(tt.in)
		got, _ := record.AppendJSON(nil, d)
		if string(got) != tt.json {
			t.Errorf("decimal %s written as %s, want %s", tt.in, got, tt.json)
		}
		key, _ := record.AppendKey(nil, map[string]any{"k": []any{d}})
		if want := `{"k":[` + tt.key + `]}`; string(key) != want {
			t.Errorf("decimal %s as a key: %s, want %s", tt.in, key, want)
		}
		if !d.Equal(decimal.RequireFromString(tt.key)) || !d.Equal(decimal.RequireFromString(tt.json)) {
			t.Errorf("decimal %s: %s or %s is not the same number", tt.in, tt.json, tt.key)
		}
	}
}

// Fields the record type says are decimals decode as exact decimals, from
// numbers and from decimal text, keeping their scale; other fields decode
// as before, and a value that is no decimal is left as it is.
func TestFieldsDecimalHint(t *testing.T) {
	p := &record.Projection{}
	for _, f := range []string{"n", "s", "big", "exp", "word", "int", "null", "huge"} {
		p.Field(f).Decimal = true
	}
	p.Field("lines").Element().Field("price").Decimal = true
	p.Field("plain")
	raw := `{"n":478.20,"s":"0.10","big":12345678901234567.89,"exp":1.5e2,"word":"free","int":7,"null":null,` +
		`"huge":1e400,"plain":478.20,"lines":[{"price":"19.990","sku":"A"},{"price":-3}]}`
	for _, a := range []*record.Arena{nil, record.NewArena()} {
		r := record.New([]byte(raw), nil)
		if a != nil {
			r.DecodeIn(a)
		}
		got := r.Fields(p)
		for field, want := range map[string]string{"n": "478.20", "s": "0.10", "big": "12345678901234567.89", "exp": "150", "int": "7"} {
			d, ok := got[field].(decimal.Decimal)
			if !ok {
				t.Errorf("%s = %#v, want the decimal %s", field, got[field], want)
				continue
			}
			if text, _ := record.AppendJSON(nil, d); string(text) != want {
				t.Errorf("%s = %s, want %s", field, text, want)
			}
		}
		if got["word"] != "free" || got["null"] != nil || got["plain"] != 478.2 {
			t.Errorf("word, null, plain = %#v, %#v, %#v: want them as they are", got["word"], got["null"], got["plain"])
		}
		if got["huge"] != record.Number("1e400", false) {
			t.Errorf("huge = %#v: a decimal beyond the bounds decodes as it would without a type", got["huge"])
		}
		lines := got["lines"].([]any)
		if d, ok := lines[0].(map[string]any)["price"].(decimal.Decimal); !ok || d.String() != "19.99" || d.Exponent() != -3 {
			t.Errorf("lines[0].price = %#v, want 19.990", lines[0].(map[string]any)["price"])
		}
		if _, ok := lines[0].(map[string]any)["sku"]; ok {
			t.Error("lines[].sku is not read")
		}
		if d, ok := lines[1].(map[string]any)["price"].(decimal.Decimal); !ok || !d.Equal(decimal.NewFromInt(-3)) {
			t.Errorf("lines[1].price = %#v, want -3", lines[1].(map[string]any)["price"])
		}
	}
}

// Parts of a value read whole keep the types the record type gives them.
func TestFieldsDecimalInsideAWholeValue(t *testing.T) {
	p := &record.Projection{}
	lines := p.Field("lines")
	lines.Element().Field("price").Decimal = true
	q := &record.Projection{}
	q.Field("lines").All = true
	p.Merge(q)
	got := record.New([]byte(`{"lines":[{"price":1.10,"qty":2.5,"tags":["x"]}]}`), nil).Fields(p)
	line := got["lines"].([]any)[0].(map[string]any)
	if d, ok := line["price"].(decimal.Decimal); !ok || record.DecimalText(d) != "1.10" {
		t.Errorf("price = %#v, want the decimal 1.10", line["price"])
	}
	if line["qty"] != 2.5 || !reflect.DeepEqual(line["tags"], []any{"x"}) {
		t.Errorf("qty, tags = %#v, %#v: the rest of a line is read whole", line["qty"], line["tags"])
	}
}

// A record decoded for one projection serves another only when it decoded
// what that one reads the way it wants it: a decode with no types (a
// schema check's) does not serve a step that reads decimals.
func TestCoversTypes(t *testing.T) {
	price := &record.Projection{}
	price.Field("price").Decimal = true
	untypedPrice := &record.Projection{}
	untypedPrice.Field("price")
	wholeTyped := &record.Projection{All: true}
	wholeTyped.Field("price").Decimal = true
	wholeTyped.Normalize()
	lines := &record.Projection{}
	lines.Field("lines").Element().Field("price").Decimal = true
	tests := []struct {
		p, q *record.Projection
		want bool
	}{
		{record.AllFields, price, false},
		{nil, price, false},
		{record.AllFields, untypedPrice, true},
		{nil, untypedPrice, true},
		{wholeTyped, price, true},
		{wholeTyped, untypedPrice, true},
		{wholeTyped, record.AllFields, true},
		{price, wholeTyped, false},
		{price, untypedPrice, true},
		{untypedPrice, price, false},
		{record.AllFields, lines, false},
		{lines, lines, true},
	}
	for i, tt := range tests {
		if got := tt.p.Covers(tt.q); got != tt.want {
			t.Errorf("%d: (%v).Covers(%v) = %v, want %v", i, tt.p, tt.q, got, tt.want)
		}
	}
	// The cache follows Covers.
	r := record.New([]byte(`{"price":"1.50"}`), nil)
	r.Fields(record.AllFields)
	if _, ok := r.Fields(price)["price"].(decimal.Decimal); !ok {
		t.Error("a record decoded without types is decoded again for a projection reading decimals")
	}
}

// A value handed to decimal() decodes as a decimal unless it is also
// computed with as a plain number.
func TestFieldsDecimalArg(t *testing.T) {
	p := &record.Projection{}
	p.Field("a").DecimalArg = true
	q := &record.Projection{}
	q.Field("a").Plain = true
	both := &record.Projection{}
	both.Merge(p)
	both.Merge(q)
	raw := []byte(`{"a":0.10}`)
	if _, ok := record.New(raw, nil).Fields(p)["a"].(decimal.Decimal); !ok {
		t.Error("a value only handed to decimal() decodes as a decimal")
	}
	if got := record.New(raw, nil).Fields(both)["a"]; got != 0.1 {
		t.Errorf("a value also computed with decodes as a number, got %#v", got)
	}
	if record.AllFields.Covers(p) || !record.AllFields.Covers(both) {
		t.Error("Covers must follow how the value decodes")
	}
}

// FuzzDecimalFields decodes values typed decimal: it never panics, a
// decimal decodes only from decimal text, and writes back as the same
// number, with no more than the digits it was read with.
func FuzzDecimalFields(f *testing.F) {
	for _, s := range []string{`{"a":478.20}`, `{"a":"0.10"}`, `{"a":-1e-3}`, `{"a":"1e400"}`, `{"a":[1.5,"x"]}`, `{"a":"+.5"}`, `{"a":"5."}`} {
		f.Add(s)
	}
	p := &record.Projection{}
	p.Field("a").Decimal = true
	p.Field("a").Element().Decimal = true
	f.Fuzz(func(t *testing.T, raw string) {
		v := record.New([]byte(raw), nil).Fields(p)["a"]
		vals := []any{v}
		if l, ok := v.([]any); ok {
			vals = l
		}
		for _, e := range vals {
			d, ok := e.(decimal.Decimal)
			if !ok {
				continue
			}
			out, err := record.AppendJSON(nil, d)
			if err != nil || !json.Valid(out) {
				t.Fatalf("%q: decimal %v written as %q, %v", raw, d, out, err)
			}
			back, err := decimal.NewFromString(string(out))
			if err != nil || !back.Equal(d) || len(out) > 2*record.MaxDecimalDigits+4 {
				t.Fatalf("%q: decimal %v written as %s", raw, d, out)
			}
		}
	})
}
