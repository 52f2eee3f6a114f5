package record

import "strconv"

// Number converts a JSON number's text to int when it is an integer that
// fits in 64 bits (so 820982911946154508 stays exactly that), float64
// otherwise or when float is set.
func Number(raw string, float bool) any {
	if !float {
		if n, ok := parseInt(raw); ok {
			return n
		}
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return raw
	}
	return f
}

// parseInt parses raw as a decimal integer of 64 bits: digits, with an
// optional leading minus.
func parseInt(raw string) (int, bool) {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	return int(n), err == nil
}
