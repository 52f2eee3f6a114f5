package exprs

import (
	"encoding/json"
	"fmt"
	"time"
)

// The builtins sum, first, last, flatten, map, filter, groupBy, uniq and
// sortBy are kept as expr defines them: they take predicates, which only
// builtins can. The functions here take values.

func collectionFunctions() []*Function {
	return []*Function{
		{
			Name:     "group",
			Category: "collections",
			Summary: "Groups the objects of a by the value of their field key, e.g. order lines by warehouse. " +
				"Keys are written as text (an int 7 becomes \"7\"); objects without the field go under \"\". " +
				"Each group keeps the order of a.",
			Signature: "group(a array, key string) object",
			Types:     []any{new(func([]any, string) map[string]any)},
			Fn:        group,
			Examples: []Example{
				{`group([{"sku": "A", "wh": "BER"}, {"sku": "B", "wh": "HAM"}, {"sku": "C", "wh": "BER"}], "wh")`,
					`{"BER":[{"sku":"A","wh":"BER"},{"sku":"C","wh":"BER"}],"HAM":[{"sku":"B","wh":"HAM"}]}`},
				{`sort(keys(group([{"id": 7}, {"id": 7}, {}], "id")))`, `["","7"]`},
			},
		},
		{
			Name:     "unique",
			Category: "collections",
			Summary: "Returns the elements of a without repeats, keeping the first of each in order. Decimals are " +
				"equal when their values are (1.50 and 1.5), objects and arrays when their contents are.",
			Signature: "unique(a array) array",
			Types:     []any{new(func([]any) []any)},
			Fn:        unique,
			Examples: []Example{
				{`unique(["DE", "FR", "DE", "AT"])`, `["DE","FR","AT"]`},
				{`unique([decimal("1.50"), decimal("1.5"), {"a": 1}, {"a": 1}])`, `["1.50",{"a":1}]`},
			},
		},
		{
			Name:     "pluck",
			Category: "collections",
			Summary: "Returns field of each object in a, nil where an element lacks it, e.g. the SKUs of the " +
				"order lines. Like map(a, .field) but also for elements that are not objects.",
			Signature: "pluck(a array, field string) array",
			Types:     []any{new(func([]any, string) []any)},
			Fn:        pluck,
			Examples: []Example{
				{`pluck([{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}], "sku")`, `["A-1","B-2"]`},
				{`pluck([{"sku": "A-1"}, {}, "x"], "sku")`, `["A-1",null,null]`},
			},
		},
	}
}

func argArray(name string, args []any, i int) ([]any, error) {
	if a, ok := args[i].([]any); ok {
		return a, nil
	}
	return nil, fmt.Errorf("%s: a must be an array, not %s", name, kindOf(args[i]))
}

func group(args ...any) (any, error) {
	if err := arity("group", args, 2, 2); err != nil {
		return nil, err
	}
	a, err := argArray("group", args, 0)
	if err != nil {
		return nil, err
	}
	key, err := argString("group", args, 1, "key")
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for i, e := range a {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("group: element %d is %s, not an object", i, kindOf(e))
		}
		k := ""
		if v := obj[key]; v != nil {
			if k, ok = text(v); !ok {
				return nil, fmt.Errorf("group: element %d: key %q is %s, which has no text form", i, key, kindOf(v))
			}
		}
		g, _ := out[k].([]any)
		out[k] = append(g, e)
	}
	return out, nil
}

// identity is what unique compares: the value itself where Go's == means
// equal value, a canonical text where it does not (decimals hold a
// pointer, times a location) or cannot (maps and slices).
func identity(v any) (any, error) {
	type decimalKey struct{ s string }
	type timeKey struct{ ns int64 }
	type jsonKey struct{ s string }
	switch x := v.(type) {
	case nil, string, bool, float64, float32:
		return v, nil
	case dec:
		return decimalKey{x.String()}, nil
	case time.Time:
		return timeKey{x.UnixNano()}, nil
	}
	if n, ok := toInt(v); ok {
		return n, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonKey{string(b)}, nil
}

func unique(args ...any) (any, error) {
	if err := arity("unique", args, 1, 1); err != nil {
		return nil, err
	}
	a, err := argArray("unique", args, 0)
	if err != nil {
		return nil, err
	}
	seen := make(map[any]bool, len(a))
	out := make([]any, 0, len(a))
	for i, e := range a {
		id, err := identity(e)
		if err != nil {
			return nil, fmt.Errorf("unique: element %d: %w", i, err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func pluck(args ...any) (any, error) {
	if err := arity("pluck", args, 2, 2); err != nil {
		return nil, err
	}
	a, err := argArray("pluck", args, 0)
	if err != nil {
		return nil, err
	}
	field, err := argString("pluck", args, 1, "field")
	if err != nil {
		return nil, err
	}
	out := make([]any, len(a))
	for i, e := range a {
		if obj, ok := e.(map[string]any); ok {
			out[i] = obj[field]
		}
	}
	return out, nil
}
