package record

import (
	"encoding/json"
	"unicode/utf8"
	"unsafe"
)

// A projection-driven JSON scanner. Decoding what the pipeline reads is the
// hot path of every run, so instead of visiting every value through a
// general parser this walks the record once: wanted fields are decoded,
// everything else is skipped by bracket counting. Strings without escapes
// alias the record's bytes (records are immutable), so they cost no copy.
// The input has been validated as JSON by the source; the scanner still
// checks every bound, and on malformed input returns what it decoded so far.

// scanObject decodes the fields of the object starting at data[i] ('{')
// that p reads into m, and returns the index after the object.
func scanObject(bx *boxer, data []byte, i int, p *Projection, m map[string]any) int {
	all := p == nil || p.All
	var fields map[string]*Projection
	if p != nil {
		fields = p.Fields
	}
	i++ // '{'
	for {
		i = skipSpace(data, i)
		if i >= len(data) || data[i] == '}' {
			return i + 1
		}
		if data[i] == ',' {
			i++
			continue
		}
		if data[i] != '"' {
			return len(data)
		}
		key, next := scanString(data, i)
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return len(data)
		}
		i = skipSpace(data, i+1)
		fp := fields[key]
		if fp == nil {
			if !all {
				i = skipValue(data, i)
				continue
			}
			fp = AllFields
		}
		var v any
		v, i = scanValue(bx, data, i, fp)
		m[key] = v
	}
}

// scanValue decodes the value at data[i] as far as p reads it, typed as p
// asks (Float, Decimal).
func scanValue(bx *boxer, data []byte, i int, p *Projection) (any, int) {
	if i >= len(data) {
		return nil, i
	}
	switch c := data[i]; {
	case c == '"':
		s, end := scanString(data, i)
		if p.decimal() {
			if d, ok := parseDecimal(s); ok {
				return d, end
			}
		}
		return bx.str(s), end
	case c == '{':
		m := bx.newMap(fieldCount(p))
		return m, scanObject(bx, data, i, p, m)
	case c == '[':
		elem := p.Elem
		if elem == nil && p.All {
			elem = AllFields
		}
		out, ticket := bx.newList()
		i++
		for {
			i = skipSpace(data, i)
			if i >= len(data) {
				bx.keepList(ticket, out)
				return out, i
			}
			switch data[i] {
			case ']':
				bx.keepList(ticket, out)
				return out, i + 1
			case ',':
				i++
				continue
			}
			if elem == nil {
				out = append(out, nil) // only the length is read
				next := skipValue(data, i)
				if next == i {
					bx.keepList(ticket, out)
					return out, len(data) // malformed: give up on the rest
				}
				i = next
				continue
			}
			var v any
			v, i = scanValue(bx, data, i, elem)
			out = append(out, v)
		}
	case c == 't':
		return true, skipValue(data, i)
	case c == 'f':
		return false, skipValue(data, i)
	case c == 'n':
		return nil, skipValue(data, i)
	default:
		j := i
		for j < len(data) && isNumberByte(data[j]) {
			j++
		}
		if j == i {
			return nil, len(data) // malformed: give up on the rest
		}
		raw := unsafe.String(&data[i], j-i)
		if p.decimal() {
			if d, ok := parseDecimal(raw); ok {
				return d, j
			}
		}
		return bx.number(raw, p.Float), j
	}
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// scanString returns the string starting at data[i] ('"') and the index after
// its closing quote.
func scanString(data []byte, i int) (string, int) {
	start := i + 1
	high := false
	for j := start; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			if j == start {
				return "", j + 1
			}
			// Invalid UTF-8 decodes to U+FFFD, as encoding/json does.
			if high && !utf8.Valid(data[start:j]) {
				return scanEscaped(data, i)
			}
			return unsafe.String(&data[start], j-start), j + 1
		case c == '\\':
			return scanEscaped(data, i)
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return "", len(data)
}

// scanEscaped decodes a string with escapes, the rare case, with the
// standard library.
func scanEscaped(data []byte, i int) (string, int) {
	end := skipString(data, i)
	var s string
	if err := json.Unmarshal(data[i:end], &s); err != nil {
		return "", end
	}
	return s, end
}

// skipString returns the index after the string starting at data[i].
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		}
	}
	return len(data)
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
