package record

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// Decimals are bounded so that a record cannot make one grow without limit:
// printing a decimal with a huge exponent writes every zero. No amount of
// money comes near these bounds. The expression library holds the decimals
// it computes to the same ones.
const (
	MaxDecimalDigits   = 100
	MaxDecimalExponent = 100
)

// DecimalInRange reports whether d is within the bounds above.
func DecimalInRange(d decimal.Decimal) bool {
	e := d.Exponent()
	return e >= -MaxDecimalExponent && e <= MaxDecimalExponent && d.NumDigits() <= MaxDecimalDigits
}

// parseDecimal reads a number written as JSON writes them, or with a
// leading plus or a bare point (+7.5, .5, 5.), as an exact decimal with the
// digits and scale it is written with: "478.20" is 47820 × 10⁻². Anything
// else, or a decimal beyond the bounds, is not one.
func parseDecimal(s string) (decimal.Decimal, bool) {
	if len(s) > 2*MaxDecimalDigits || !isDecimalText(s) {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(s)
	if err != nil || !DecimalInRange(d) {
		return decimal.Decimal{}, false
	}
	return d, true
}

// isDecimalText reports whether s is [+-]digits[.digits][(e|E)[+-]digits],
// with digits on at least one side of the point.
func isDecimalText(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// appendDecimal writes a decimal's exact digits as a JSON number, with its
// scale: 478.20 is written 478.20, as it was read or as the arithmetic that
// made it left it. canonical drops the trailing zeros after the point
// instead (478.2), so that equal decimals give equal text, for keys. The
// common case of at most 18 digits is written without big-integer
// formatting.
func appendDecimal(b []byte, d decimal.Decimal, canonical bool) []byte {
	exp := d.Exponent()
	if d.NumDigits() > 18 || exp > 0 || exp < -18 {
		return append(b, decimalString(d, canonical)...)
	}
	c := d.CoefficientInt64()
	for canonical && exp < 0 && c%10 == 0 {
		c /= 10
		exp++
	}
	if exp == 0 {
		return strconv.AppendInt(b, c, 10)
	}
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	var digits [20]byte
	s := strconv.AppendInt(digits[:0], c, 10)
	point := len(s) + int(exp)
	if point <= 0 {
		b = append(b, '0', '.')
		for ; point < 0; point++ {
			b = append(b, '0')
		}
		return append(b, s...)
	}
	b = append(b, s[:point]...)
	b = append(b, '.')
	return append(b, s[point:]...)
}

// decimalString is d's text with its scale, or canonical, independently of
// the package settings of shopspring/decimal.
func decimalString(d decimal.Decimal, canonical bool) string {
	if canonical {
		d = d.Normalize()
	}
	return d.StringFixed(max(0, -d.Exponent()))
}

// DecimalText is d's text as records write it: its exact digits with its
// scale (478.20).
func DecimalText(d decimal.Decimal) string { return string(appendDecimal(nil, d, false)) }
