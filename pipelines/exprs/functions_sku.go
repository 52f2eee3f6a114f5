package exprs

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

func skuFunctions() []*Function {
	return []*Function{
		{
			Name:     "normalize_sku",
			Category: "sku",
			Summary: "Normalises a SKU so that the shop's and the WMS's spellings match: trims it, upper-cases it, " +
				"drops invisible characters (zero-width spaces, byte-order marks, soft hyphens) and turns each run " +
				"of inner white space into a single dash, without doubling a dash already there " +
				"(\"ab 12\" and \"AB - 12\" both become \"AB-12\"). Other characters are kept. An int is written " +
				"as its digits.",
			Signature: "normalize_sku(s string|int) string",
			Types:     []any{new(func(string) string), new(func(int) string)},
			Fn:        normalizeSKU,
			Examples: []Example{
				{`normalize_sku("  ab 12\u200b ")`, `"AB-12"`},
				{`normalize_sku("tee - blue  xl")`, `"TEE-BLUE-XL"`},
				{`normalize_sku(4711)`, `"4711"`},
			},
		},
		{
			Name:     "valid_gtin",
			Category: "sku",
			Summary: "Reports whether s is a GTIN-8, GTIN-12 (UPC-A), GTIN-13 (EAN) or GTIN-14 with a correct " +
				"check digit; surrounding space is ignored and all zeros is not a GTIN. An int, whose leading zeros " +
				"JSON has dropped, is valid when it has 8 to 14 digits and a correct check digit.",
			Signature: "valid_gtin(s string|int) bool",
			Types:     []any{new(func(string) bool), new(func(int) bool)},
			Fn: func(args ...any) (any, error) {
				return validCode("valid_gtin", args, []int{8, 12, 13, 14}, 14)
			},
			Examples: []Example{
				{`valid_gtin("4006381333931")`, `true`},
				{`valid_gtin("4006381333932")`, `false`},
				{`valid_gtin(36000291452)`, `true`},
			},
		},
		{
			Name:      "valid_upc",
			Category:  "sku",
			Summary:   "Reports whether s is a 12-digit UPC-A with a correct check digit (an int: 8 to 12 digits).",
			Signature: "valid_upc(s string|int) bool",
			Types:     []any{new(func(string) bool), new(func(int) bool)},
			Fn: func(args ...any) (any, error) {
				return validCode("valid_upc", args, []int{12}, 12)
			},
			Examples: []Example{
				{`valid_upc("036000291452")`, `true`},
				{`valid_upc("4006381333931")`, `false`},
			},
		},
		{
			Name:      "valid_ean",
			Category:  "sku",
			Summary:   "Reports whether s is an EAN-13 or EAN-8 with a correct check digit (an int: 8 to 13 digits).",
			Signature: "valid_ean(s string|int) bool",
			Types:     []any{new(func(string) bool), new(func(int) bool)},
			Fn: func(args ...any) (any, error) {
				return validCode("valid_ean", args, []int{8, 13}, 13)
			},
			Examples: []Example{
				{`valid_ean("4006381333931")`, `true`},
				{`valid_ean("96385074")`, `true`},
				{`valid_ean("036000291452")`, `false`},
			},
		},
		{
			Name:     "gtin14",
			Category: "sku",
			Summary: "Writes a GTIN-8, -12, -13 or -14 as the 14 digits warehouses and GS1 barcodes use, padded " +
				"with leading zeros. A GTIN with a wrong check digit is an error rather than a code sent on; test " +
				"with valid_gtin first to route such records elsewhere.",
			Signature: "gtin14(s string|int) string",
			Types:     []any{new(func(string) string), new(func(int) string)},
			Fn:        gtin14,
			Examples: []Example{
				{`gtin14("036000291452")`, `"00036000291452"`},
				{`gtin14("96385074")`, `"00000096385074"`},
				{`gtin14(4006381333931)`, `"04006381333931"`},
			},
		},
	}
}

// invisible are characters that copy and paste from spreadsheets and
// admin UIs leave in SKUs without anyone seeing them.
func invisible(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return true
	}
	return false
}

func normalizeSKU(args ...any) (any, error) {
	if err := arity("normalize_sku", args, 1, 1); err != nil {
		return nil, err
	}
	s, err := argStringOrInt("normalize_sku", args, 0, "s")
	if err != nil {
		return nil, err
	}
	s = strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, s)
	words := strings.FieldsFunc(strings.ToUpper(s), unicode.IsSpace)
	var b strings.Builder
	for i, w := range words {
		if i > 0 && !strings.HasSuffix(words[i-1], "-") && !strings.HasPrefix(w, "-") {
			b.WriteByte('-')
		}
		b.WriteString(w)
	}
	return b.String(), nil
}

// minIntGTIN is the fewest digits an int must have to be taken for a GTIN.
// An int has lost its leading zeros, so shorter ones cannot be told apart
// from quantities and prices that happen to pass the check digit (17 does).
const minIntGTIN = 8

// gtinDigits returns the code of argument 0 as digits. Text must have one of
// the lengths; an int, having lost its leading zeros, is padded to pad
// digits, which leaves the check digit unchanged since GS1 weights digits
// from the right. ok is false when the code is malformed or all zeros.
func gtinDigits(name string, args []any, lengths []int, pad int) (digits string, ok bool, err error) {
	switch v := args[0].(type) {
	case string:
		s := strings.TrimSpace(v)
		for _, n := range lengths {
			if len(s) == n && allDigits(s) && strings.Trim(s, "0") != "" {
				return s, true, nil
			}
		}
		return "", false, nil
	}
	n, isInt := toInt(args[0])
	if !isInt {
		return "", false, fmt.Errorf("%s: s must be a string or an int, not %s", name, kindOf(args[0]))
	}
	s := strconv.Itoa(n)
	if n < 0 || len(s) < minIntGTIN || len(s) > pad {
		return "", false, nil
	}
	return strings.Repeat("0", pad-len(s)) + s, true, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// checkDigitOK applies the GS1 mod-10 check: from the right, excluding the
// check digit, digits are weighted 3, 1, 3, ...
func checkDigitOK(digits string) bool {
	sum := 0
	for i := len(digits) - 2; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-2-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10-sum%10)%10 == int(digits[len(digits)-1]-'0')
}

func validCode(name string, args []any, lengths []int, pad int) (any, error) {
	if err := arity(name, args, 1, 1); err != nil {
		return nil, err
	}
	digits, ok, err := gtinDigits(name, args, lengths, pad)
	if err != nil || !ok {
		return false, err
	}
	return checkDigitOK(digits), nil
}

func gtin14(args ...any) (any, error) {
	if err := arity("gtin14", args, 1, 1); err != nil {
		return nil, err
	}
	digits, ok, err := gtinDigits("gtin14", args, []int{8, 12, 13, 14}, 14)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("gtin14: %v is not a GTIN (8, 12, 13 or 14 digits)", args[0])
	}
	if !checkDigitOK(digits) {
		return nil, fmt.Errorf("gtin14: %v has a wrong check digit", args[0])
	}
	return strings.Repeat("0", 14-len(digits)) + digits, nil
}
