package record

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// decodeObject decodes the fields of obj that p reads into m.
func decodeObject(obj gjson.Result, p *Projection, m map[string]any) {
	all := p == nil || p.All
	obj.ForEach(func(k, v gjson.Result) bool {
		if all {
			m[k.Str] = decode(v, AllFields, p != nil && p.Float)
			return true
		}
		if fp, ok := p.Fields[k.Str]; ok {
			m[k.Str] = decode(v, fp, fp.Float)
		}
		return true
	})
}

// decode converts a JSON value into the Go value expressions see: string,
// int (every digit of a 64-bit integer), float64, bool, nil, []any and
// map[string]any.
func decode(v gjson.Result, p *Projection, float bool) any {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Number:
		return Number(v.Raw, float)
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.Null:
		return nil
	}
	if v.IsArray() {
		var elem *Projection
		if p == nil || p.All {
			elem = AllFields
		} else {
			elem = p.Elem
		}
		out := make([]any, 0, 4)
		v.ForEach(func(_, e gjson.Result) bool {
			if elem == nil {
				out = append(out, nil) // only the length is read
			} else {
				out = append(out, decode(e, elem, elem.Float))
			}
			return true
		})
		return out
	}
	if v.IsObject() {
		m := make(map[string]any, fieldCount(p))
		decodeObject(v, p, m)
		return m
	}
	return nil
}

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
