package exprs_test

import (
	"fmt"
	"testing"

	"github.com/pipectl/pipectl/pipelines/exprs"
)

func TestGTINCheckDigits(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		code           string // an expr literal: quoted text or an int
		gtin, upc, ean bool
		gtin14         string // "" when gtin14 must fail
		comment        string
	}{
		{`"4006381333931"`, true, false, true, "04006381333931", "EAN-13"},
		{`"036000291452"`, true, true, false, "00036000291452", "UPC-A"},
		{`"96385074"`, true, false, true, "00000096385074", "EAN-8"},
		{`"10012345678902"`, true, false, false, "10012345678902", "GTIN-14 with indicator 1"},
		{`" 4006381333931 "`, true, false, true, "04006381333931", "surrounding space"},
		{`"0036000291452"`, true, false, true, "00036000291452", "UPC-A written as EAN-13"},
		{`"4006381333930"`, false, false, false, "", "check digit off by one"},
		{`"4006381333938"`, false, false, false, "", "check digit off by more"},
		{`"036000291453"`, false, false, false, "", "UPC-A, wrong check digit"},
		{`"96385075"`, false, false, false, "", "EAN-8, wrong check digit"},
		{`"400638133393"`, false, false, false, "", "EAN-13 missing a digit"},
		{`"40063813339310"`, false, false, false, "", "13 digits with a zero appended"},
		{`"400638133393 1"`, false, false, false, "", "inner space"},
		{`"4006-381333931"`, false, false, false, "", "dash"},
		{`"40063813339３1"`, false, false, false, "", "full-width digit"},
		{`"0000000000000"`, false, false, false, "", "all zeros pass mod 10 but are no GTIN"},
		{`"1234567"`, false, false, false, "", "seven digits"},
		{`"123456789012345"`, false, false, false, "", "fifteen digits"},
		{`""`, false, false, false, "", "empty"},
		{`4006381333931`, true, false, true, "04006381333931", "EAN-13 as a JSON number"},
		{`36000291452`, true, true, true, "00036000291452", "UPC-A that lost its leading zero"},
		{`96385074`, true, true, true, "00000096385074", "EAN-8 as a number: without its length, it may be any of them"},
		{`17`, false, false, false, "", "a quantity that happens to pass mod 10"},
		{`-4006381333931`, false, false, false, "", "negative"},
		{`400638133393100`, false, false, false, "", "too many digits"},
	}
	for _, tt := range tests {
		t.Run(tt.comment, func(t *testing.T) {
			for fn, want := range map[string]bool{"valid_gtin": tt.gtin, "valid_upc": tt.upc, "valid_ean": tt.ean} {
				src := fmt.Sprintf("%s(%s)", fn, tt.code)
				out, err := run(t, lib, src, nil)
				if err != nil || out != want {
					t.Errorf("%s = %v, %v; want %v", src, out, err, want)
				}
			}
			src := fmt.Sprintf("gtin14(%s)", tt.code)
			out, err := run(t, lib, src, nil)
			switch {
			case tt.gtin14 == "" && err == nil:
				t.Errorf("%s = %v, want an error", src, out)
			case tt.gtin14 != "" && (err != nil || out != tt.gtin14):
				t.Errorf("%s = %v, %v; want %s", src, out, err, tt.gtin14)
			}
		})
	}
}

func TestNormalizeSKU(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	tests := []struct {
		in, want string
	}{
		{`"ab-12"`, "AB-12"},
		{`"  ab 12  "`, "AB-12"},
		{`"ab\t\t12"`, "AB-12"},
		{`"ab - 12"`, "AB-12"},
		{`"ab- 12"`, "AB-12"},
		{`"ab -12"`, "AB-12"},
		{`"ab--12"`, "AB--12"},
		{`"ab_12.x/y"`, "AB_12.X/Y"},
		{`"ab\u00a012"`, "AB-12"},
		{`"\ufeffab12\u200b"`, "AB12"},
		{`"ab\u00ad12"`, "AB12"},
		{`"größe m"`, "GRÖßE-M"}, // Go upper-cases rune by rune; ß has no single-rune capital
		{`"   "`, ""},
		{`""`, ""},
		{`4711`, "4711"},
		{`-5`, "-5"},
	}
	for _, tt := range tests {
		src := "normalize_sku(" + tt.in + ")"
		out, err := run(t, lib, src, nil)
		if err != nil || out != tt.want {
			t.Errorf("%s = %q, %v; want %q", src, out, err, tt.want)
		}
	}
}
