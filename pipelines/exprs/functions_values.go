package exprs

import (
	"fmt"
	"slices"
	"strings"
)

func valueFunctions() []*Function {
	return []*Function{
		{
			Name:     "coalesce",
			Category: "values",
			Summary: "Returns the first argument that is neither nil nor the empty string, or nil if none is: " +
				"shops send both for a missing value. Unlike ??, which only skips nil.",
			Signature: "coalesce(v any, more ...any) any",
			Types:     []any{new(func(any, ...any) any)},
			Fn: func(args ...any) (any, error) {
				for _, a := range args {
					if !blank(a) {
						return a, nil
					}
				}
				return nil, nil
			},
			Examples: []Example{
				{`coalesce("", nil, "jane@example.com")`, `"jane@example.com"`},
				{`coalesce(nil, 0, 5)`, `0`},
				{`coalesce(nil, "")`, `null`},
			},
		},
		{
			Name:      "default",
			Category:  "values",
			Summary:   "Returns v, or fallback when v is nil or the empty string.",
			Signature: "default(v any, fallback any) any",
			Types:     []any{new(func(any, any) any)},
			Fn: func(args ...any) (any, error) {
				if err := arity("default", args, 2, 2); err != nil {
					return nil, err
				}
				if blank(args[0]) {
					return args[1], nil
				}
				return args[0], nil
			},
			Examples: []Example{
				{`default("", "N/A")`, `"N/A"`},
				{`default(nil, 1)`, `1`},
				{`default("DHL", "UPS")`, `"DHL"`},
			},
		},
		{
			Name:     "lookup",
			Category: "values",
			Summary: "Returns table[key], e.g. a shop's shipping method translated to the WMS carrier code. An int " +
				"key is looked up as its digits. A key missing from the table is an error naming the key, unless " +
				"a fallback is given, so an unmapped code is never sent on as nil.",
			Signature: "lookup(table object, key string|int[, fallback any]) any",
			Types: []any{
				new(func(map[string]any, string) any), new(func(map[string]any, int) any),
				new(func(map[string]any, string, any) any), new(func(map[string]any, int, any) any),
			},
			Fn: lookup,
			Examples: []Example{
				{`lookup({"standard": "DHL-PAKET", "express": "DHL-EXPRESS"}, "express")`, `"DHL-EXPRESS"`},
				{`lookup({"1": "Berlin", "2": "Hamburg"}, 2)`, `"Hamburg"`},
				{`lookup({"standard": "DHL-PAKET"}, "pickup", "NONE")`, `"NONE"`},
			},
		},
	}
}

// blank reports whether v is what shops send for "no value".
func blank(v any) bool {
	return v == nil || v == ""
}

// maxKeysListed bounds the known keys a lookup error lists.
const maxKeysListed = 10

func lookup(args ...any) (any, error) {
	if err := arity("lookup", args, 2, 3); err != nil {
		return nil, err
	}
	table, ok := args[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("lookup: table must be an object, not %s", kindOf(args[0]))
	}
	key, err := argStringOrInt("lookup", args, 1, "key")
	if err != nil {
		return nil, err
	}
	if v, ok := table[key]; ok {
		return v, nil
	}
	if len(args) == 3 {
		return args[2], nil
	}
	known := make([]string, 0, len(table))
	for k := range table {
		known = append(known, k)
	}
	slices.Sort(known)
	if len(known) > maxKeysListed {
		known = append(known[:maxKeysListed], "...")
	}
	return nil, fmt.Errorf("lookup: key %q is not in the table (keys: %s); add it or give a fallback",
		key, strings.Join(known, ", "))
}
