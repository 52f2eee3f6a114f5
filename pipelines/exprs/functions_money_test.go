package exprs_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

// TestRoundMoneyModes pins every mode at the halves, where they differ, on
// both sides of zero.
func TestRoundMoneyModes(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	modes := []string{"half_up", "half_even", "up", "down", "ceiling", "floor"}
	tests := []struct {
		in     string
		places int
		want   [6]string // in the order of modes
	}{
		{"2.5", 0, [6]string{"3", "2", "3", "2", "3", "2"}},
		{"3.5", 0, [6]string{"4", "4", "4", "3", "4", "3"}},
		{"-2.5", 0, [6]string{"-3", "-2", "-3", "-2", "-2", "-3"}},
		{"-3.5", 0, [6]string{"-4", "-4", "-4", "-3", "-3", "-4"}},
		{"0.125", 2, [6]string{"0.13", "0.12", "0.13", "0.12", "0.13", "0.12"}},
		{"0.135", 2, [6]string{"0.14", "0.14", "0.14", "0.13", "0.14", "0.13"}},
		{"-0.125", 2, [6]string{"-0.13", "-0.12", "-0.13", "-0.12", "-0.12", "-0.13"}},
		{"1.2451", 2, [6]string{"1.25", "1.25", "1.25", "1.24", "1.25", "1.24"}},
		{"1.2449", 2, [6]string{"1.24", "1.24", "1.25", "1.24", "1.25", "1.24"}},
		{"1.20", 2, [6]string{"1.2", "1.2", "1.2", "1.2", "1.2", "1.2"}},
		{"-0.001", 2, [6]string{"0", "0", "-0.01", "0", "0", "-0.01"}},
		{"1250", -2, [6]string{"1300", "1200", "1300", "1200", "1300", "1200"}},
	}
	for _, tt := range tests {
		for i, mode := range modes {
			src := fmt.Sprintf(`round_money(%q, %d, %q)`, tt.in, tt.places, mode)
			out, err := run(t, lib, src, nil)
			if err != nil {
				t.Errorf("%s: %v", src, err)
				continue
			}
			if got := out.(decimal.Decimal).String(); got != tt.want[i] {
				t.Errorf("%s = %s, want %s", src, got, tt.want[i])
			}
		}
	}
}

// TestDecimalArithmetic checks the operator overloads give exact results
// where float64 would not.
func TestDecimalArithmetic(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		src  string
		want string // JSON
	}{
		{`decimal("19.99") * 3 == decimal("59.97")`, `true`},
		{`decimal("0.1") + decimal("0.2") == decimal("0.3")`, `true`},
		{`decimal("0.1") + decimal("0.2")`, `"0.3"`},
		{`decimal(0.1) * 3`, `"0.3"`},
		{`decimal("100") - decimal("0.01") * 3`, `"99.97"`},
		{`(decimal("100") - 3) / 4`, `"24.25"`},
		{`decimal("-4.20") * -1`, `"4.2"`},
		{`decimal("1.10") != decimal("1.1")`, `false`},
		{`decimal("1.1") < 2 && 1 < decimal("1.1")`, `true`},
		{`decimal("2") >= 2 && 2 <= decimal("2") && !(decimal("2") > 2)`, `true`},
		{`round_money(decimal("19.99") * decimal("1.19"), 2, "half_up")`, `"23.79"`},
		{`round_money(decimal("100") / 3, 2, "half_even") * 3`, `"99.99"`},
		{`format_money(decimal("0.5") - 1, 2)`, `"-0.50"`},
		{`format_money("1234567890.125", 2)`, `"1234567890.13"`},
		{`sum_decimal(["0.10", "0.20", nil, decimal("0.30"), 1])`, `"1.6"`},
		{`to_float(decimal("0.1") + decimal("0.2"))`, `0.3`},
		{`unique([decimal("1.50"), decimal("1.5")])`, `["1.5"]`},
	}
	for _, tt := range tests {
		out, err := run(t, lib, tt.src, nil)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		got, _ := json.Marshal(out)
		if string(got) != tt.want {
			t.Errorf("%s = %s, want %s", tt.src, got, tt.want)
		}
	}
}

// TestDecimalMissing checks a decimal field that is missing from the record
// compares as nil does and fails arithmetic with a message that says so.
func TestDecimalMissing(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	env := map[string]any{"price": nil, "qty": 2}
	tests := []struct {
		src, want, err string
	}{
		{src: `price == decimal("1")`, want: `false`},
		{src: `price != decimal("1")`, want: `true`},
		{src: `price == nil`, want: `true`},
		{src: `(price ?? decimal("0")) * qty`, want: `"0"`},
		{src: `price * qty`, err: "decimal *: operand is nil (a missing value)"},
		{src: `price < 1`, err: "decimal <: operand is nil"},
	}
	for _, tt := range tests {
		p, probs := lib.Compile(tt.src, orderType, nil)
		if len(probs) > 0 {
			t.Errorf("%s: %+v", tt.src, probs)
			continue
		}
		out, err := p.Run(&vm.VM{}, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one containing %q", tt.src, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if got, _ := json.Marshal(out); string(got) != tt.want {
			t.Errorf("%s = %s, want %s", tt.src, got, tt.want)
		}
	}
}

// TestDecimalBounds checks that decimals cannot be grown without limit:
// squaring repeatedly doubles the digits each time.
func TestDecimalBounds(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	src := `let a = decimal("1.23456789"); let b = a*a; let c = b*b; let d = c*c; let e = d*d; let f = e*e; f*f*f`
	_, err := run(t, lib, src, nil)
	if err == nil || !strings.Contains(err.Error(), "decimal *: result out of range") {
		t.Errorf("error %v, want decimal *: result out of range", err)
	}
	for _, src := range []string{`decimal(1e300)`, `decimal("1e-101")`, `decimal("` + strings.Repeat("9", 101) + `")`} {
		if _, err := run(t, lib, src, nil); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%s: error %v, want out of range", src, err)
		}
	}
	if _, err := run(t, lib, `decimal("`+strings.Repeat("9", 100)+`")`, nil); err != nil {
		t.Errorf("a 100-digit decimal is refused: %v", err)
	}
}

// TestDecimalScale pins the scale results are written with: the larger of
// the operands', more places only where the value needs them, never more
// than were computed; round_money gives exactly its places.
func TestDecimalScale(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	for src, want := range map[string]string{
		`decimal("478.20")`:                           "478.20",
		`decimal("19.99") + decimal("0.01")`:          "20.00",
		`decimal("1.50") - 1`:                         "0.50",
		`decimal("19.99") * 3`:                        "59.97",
		`decimal("0.10") * decimal("0.10")`:           "0.01",
		`decimal("1.5") * decimal("1.5")`:             "2.25",
		`decimal("100") * 10`:                         "1000",
		`decimal("59.97") / 3`:                        "19.99",
		`decimal("10") / 4`:                           "2.5",
		`decimal("10.00") / 4`:                        "2.50",
		`decimal("1") / 3`:                            "0.3333333333333333",
		`decimal("0.12345678901234567890") / 1`:       "0.1234567890123457",
		`round_money(decimal("2"), 2, "half_up")`:     "2.00",
		`round_money(decimal("2"), 2, "floor")`:       "2.00",
		`round_money(decimal("2.999"), 2, "ceiling")`: "3.00",
		`round(decimal("19.995"), 2)`:                 "20.00",
		`sum_decimal(["0.10", "0.20"])`:               "0.30",
	} {
		out, err := run(t, lib, src, nil)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := record.DecimalText(out.(decimal.Decimal)); got != want {
			t.Errorf("%s = %s, want %s", src, got, want)
		}
	}
}
