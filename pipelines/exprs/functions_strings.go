package exprs

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// expr's memory budget counts the arrays and maps its own operations build,
// but not what a library function returns (it calls them with Func, never
// Safe), so the functions that can make a string longer than their input
// bound it themselves. One careless argument, a width or count read from a
// bad record, must fail the record, not build a gigabyte string.
const (
	// maxPadWidth caps pad_left and pad_right; no WMS or ERP field is wider.
	maxPadWidth = 10_000
	// maxGrowth caps the bytes repeat builds and the bytes join's
	// separators and replace's replacements add.
	maxGrowth = 1 << 20
)

func stringFunctions() []*Function {
	return []*Function{
		{
			Name:      "lower",
			Category:  "strings",
			Summary:   "Lower-cases s (Unicode-aware), e.g. to compare e-mail addresses.",
			Signature: "lower(s string) string",
			Types:     []any{new(func(string) string)},
			Fn: func(args ...any) (any, error) {
				return mapString("lower", args, strings.ToLower)
			},
			Examples: []Example{
				{`lower("Jane.Doe@Example.COM")`, `"jane.doe@example.com"`},
				{`lower("ÉCOLE")`, `"école"`},
			},
		},
		{
			Name:      "upper",
			Category:  "strings",
			Summary:   "Upper-cases s (Unicode-aware), e.g. for country and currency codes.",
			Signature: "upper(s string) string",
			Types:     []any{new(func(string) string)},
			Fn: func(args ...any) (any, error) {
				return mapString("upper", args, strings.ToUpper)
			},
			Examples: []Example{
				{`upper("de")`, `"DE"`},
				{`upper("Zoë")`, `"ZOË"`},
			},
		},
		{
			Name:      "trim",
			Category:  "strings",
			Summary:   "Removes leading and trailing white space from s, or the characters in cutset when given.",
			Signature: "trim(s string[, cutset string]) string",
			Types:     []any{new(func(string) string), new(func(string, string) string)},
			Fn:        trim,
			Examples: []Example{
				{`trim("  Main St 1 \n")`, `"Main St 1"`},
				{`trim("--SKU-1--", "-")`, `"SKU-1"`},
			},
		},
		{
			Name:      "trim_prefix",
			Category:  "strings",
			Summary:   "Removes prefix from the start of s once, if s starts with it.",
			Signature: "trim_prefix(s string, prefix string) string",
			Types:     []any{new(func(string, string) string)},
			Fn: func(args ...any) (any, error) {
				return twoStrings("trim_prefix", args, strings.TrimPrefix)
			},
			Examples: []Example{
				{`trim_prefix("#1001", "#")`, `"1001"`},
				{`trim_prefix("1001", "#")`, `"1001"`},
			},
		},
		{
			Name:      "trim_suffix",
			Category:  "strings",
			Summary:   "Removes suffix from the end of s once, if s ends with it.",
			Signature: "trim_suffix(s string, suffix string) string",
			Types:     []any{new(func(string, string) string)},
			Fn: func(args ...any) (any, error) {
				return twoStrings("trim_suffix", args, strings.TrimSuffix)
			},
			Examples: []Example{
				{`trim_suffix("shop.myshopify.com", ".myshopify.com")`, `"shop"`},
				{`trim_suffix("SKU-1-DE", "-FR")`, `"SKU-1-DE"`},
			},
		},
		{
			Name:      "split",
			Category:  "strings",
			Summary:   "Splits s at every sep, or into at most n parts when n is given (n < 0 means all).",
			Signature: "split(s string, sep string[, n int]) array",
			Types:     []any{new(func(string, string) []any), new(func(string, string, int) []any)},
			Fn:        split,
			Examples: []Example{
				{`split("red,green,blue", ",")`, `["red","green","blue"]`},
				{`split("SKU-1-XL", "-", 2)`, `["SKU","1-XL"]`},
				{`split("", ",")`, `[""]`},
			},
		},
		{
			Name:     "join",
			Category: "strings",
			Summary: "Joins the elements of a with sep between them. Numbers and decimals are written in full; " +
				"nil elements are skipped, like SQL's concat_ws, so a missing address line leaves no empty gap.",
			Signature: "join(a array[, sep string]) string",
			Types:     []any{new(func([]any, string) string), new(func([]any) string)},
			Fn:        join,
			Examples: []Example{
				{`join(["Main St 1", nil, "Berlin"], ", ")`, `"Main St 1, Berlin"`},
				{`join(["SKU", 42, "XL"], "-")`, `"SKU-42-XL"`},
				{`join(["a", "b"])`, `"ab"`},
			},
		},
		{
			Name:      "replace",
			Category:  "strings",
			Summary:   "Replaces every occurrence of old in s with new (plain text, not a pattern).",
			Signature: "replace(s string, old string, new string) string",
			Types:     []any{new(func(string, string, string) string)},
			Fn:        replace,
			Examples: []Example{
				{`replace("+49 30 1234", " ", "")`, `"+49301234"`},
				{`replace("a.b.c", ".", "/")`, `"a/b/c"`},
			},
		},
		{
			Name:     "repeat",
			Category: "strings",
			Summary: "Repeats s n times, e.g. a separator line in a fixed-width file. Replaces expr's builtin, " +
				"which allocates the whole result before checking its size; the result may not exceed 1 MiB.",
			Signature: "repeat(s string, n int) string",
			Types:     []any{new(func(string, int) string)},
			Fn:        repeat,
			Examples: []Example{
				{`repeat("-", 10)`, `"----------"`},
				{`repeat("ab", 0)`, `""`},
			},
		},
		{
			Name:     "pad_left",
			Category: "strings",
			Summary: "Pads s on the left with fill (a space when omitted) to width characters, e.g. zero-padded " +
				"order numbers. An int is written in digits first. s already as wide is returned unchanged.",
			Signature: "pad_left(s string|int, width int[, fill string]) string",
			Types: []any{
				new(func(string, int, string) string), new(func(int, int, string) string),
				new(func(string, int) string), new(func(int, int) string),
			},
			Fn: func(args ...any) (any, error) { return pad("pad_left", args, true) },
			Examples: []Example{
				{`pad_left(1042, 8, "0")`, `"00001042"`},
				{`pad_left("7", 3)`, `"  7"`},
				{`pad_left("123456", 4, "0")`, `"123456"`},
			},
		},
		{
			Name:      "pad_right",
			Category:  "strings",
			Summary:   "Pads s on the right with fill (a space when omitted) to width characters, for fixed-width files.",
			Signature: "pad_right(s string|int, width int[, fill string]) string",
			Types: []any{
				new(func(string, int, string) string), new(func(int, int, string) string),
				new(func(string, int) string), new(func(int, int) string),
			},
			Fn: func(args ...any) (any, error) { return pad("pad_right", args, false) },
			Examples: []Example{
				{`pad_right("DE", 5, ".")`, `"DE..."`},
				{`pad_right("Zoë", 5)`, `"Zoë  "`},
			},
		},
		{
			Name:     "truncate",
			Category: "strings",
			Summary: "Cuts s to at most n characters (runes, so accented letters are never split), " +
				"ending with suffix when s was cut; the suffix counts towards n. For WMS fields with length limits.",
			Signature: "truncate(s string, n int[, suffix string]) string",
			Types:     []any{new(func(string, int) string), new(func(string, int, string) string)},
			Fn:        truncate,
			Examples: []Example{
				{`truncate("Müllerstraße 12", 8)`, `"Müllerst"`},
				{`truncate("Blue cotton t-shirt", 10, "…")`, `"Blue cott…"`},
				{`truncate("short", 10, "…")`, `"short"`},
			},
		},
	}
}

func mapString(name string, args []any, f func(string) string) (any, error) {
	if err := arity(name, args, 1, 1); err != nil {
		return nil, err
	}
	s, err := argString(name, args, 0, "s")
	if err != nil {
		return nil, err
	}
	return f(s), nil
}

func twoStrings(name string, args []any, f func(string, string) string) (any, error) {
	if err := arity(name, args, 2, 2); err != nil {
		return nil, err
	}
	s, err := argString(name, args, 0, "s")
	if err != nil {
		return nil, err
	}
	t, err := argString(name, args, 1, "the second argument")
	if err != nil {
		return nil, err
	}
	return f(s, t), nil
}

func trim(args ...any) (any, error) {
	if err := arity("trim", args, 1, 2); err != nil {
		return nil, err
	}
	s, err := argString("trim", args, 0, "s")
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		return strings.TrimSpace(s), nil
	}
	cutset, err := argString("trim", args, 1, "cutset")
	if err != nil {
		return nil, err
	}
	return strings.Trim(s, cutset), nil
}

func split(args ...any) (any, error) {
	if err := arity("split", args, 2, 3); err != nil {
		return nil, err
	}
	s, err := argString("split", args, 0, "s")
	if err != nil {
		return nil, err
	}
	sep, err := argString("split", args, 1, "sep")
	if err != nil {
		return nil, err
	}
	n := -1
	if len(args) == 3 {
		if n, err = argInt("split", args, 2, "n"); err != nil {
			return nil, err
		}
	}
	parts := strings.SplitN(s, sep, n)
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func join(args ...any) (any, error) {
	if err := arity("join", args, 1, 2); err != nil {
		return nil, err
	}
	a, ok := args[0].([]any)
	if !ok {
		return nil, fmt.Errorf("join: a must be an array, not %s", kindOf(args[0]))
	}
	sep := ""
	if len(args) == 2 {
		var err error
		if sep, err = argString("join", args, 1, "sep"); err != nil {
			return nil, err
		}
	}
	parts := make([]string, 0, len(a))
	for i, e := range a {
		if e == nil {
			continue
		}
		s, ok := text(e)
		if !ok {
			return nil, fmt.Errorf("join: element %d is %s, which has no text form", i, kindOf(e))
		}
		parts = append(parts, s)
	}
	if len(parts) > 1 && len(sep) > maxGrowth/(len(parts)-1) {
		return nil, fmt.Errorf("join: %d separators of %d bytes would add more than %d bytes", len(parts)-1, len(sep), maxGrowth)
	}
	return strings.Join(parts, sep), nil
}

func replace(args ...any) (any, error) {
	if err := arity("replace", args, 3, 3); err != nil {
		return nil, err
	}
	var ss [3]string
	for i, what := range []string{"s", "old", "new"} {
		var err error
		if ss[i], err = argString("replace", args, i, what); err != nil {
			return nil, err
		}
	}
	s, old, repl := ss[0], ss[1], ss[2]
	if grow := len(repl) - len(old); grow > 0 {
		n := strings.Count(s, old)
		if n > 0 && grow > maxGrowth/n {
			return nil, fmt.Errorf("replace: %d replacements of %d bytes would add more than %d bytes", n, len(repl), maxGrowth)
		}
	}
	return strings.ReplaceAll(s, old, repl), nil
}

func repeat(args ...any) (any, error) {
	if err := arity("repeat", args, 2, 2); err != nil {
		return nil, err
	}
	s, err := argString("repeat", args, 0, "s")
	if err != nil {
		return nil, err
	}
	n, err := argInt("repeat", args, 1, "n")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("repeat: n is negative (%d)", n)
	}
	if len(s) > 0 && n > maxGrowth/len(s) {
		return nil, fmt.Errorf("repeat: memory budget exceeded (%d times %d bytes is more than %d)", n, len(s), maxGrowth)
	}
	return strings.Repeat(s, n), nil
}

func pad(name string, args []any, left bool) (any, error) {
	if err := arity(name, args, 2, 3); err != nil {
		return nil, err
	}
	s, err := argStringOrInt(name, args, 0, "s")
	if err != nil {
		return nil, err
	}
	width, err := argInt(name, args, 1, "width")
	if err != nil {
		return nil, err
	}
	if width < 0 || width > maxPadWidth {
		return nil, fmt.Errorf("%s: width %d is outside 0 to %d", name, width, maxPadWidth)
	}
	fill := " "
	if len(args) == 3 {
		if fill, err = argString(name, args, 2, "fill"); err != nil {
			return nil, err
		}
		if fill == "" {
			return nil, fmt.Errorf("%s: fill is empty", name)
		}
	}
	missing := width - utf8.RuneCountInString(s)
	if missing <= 0 {
		return s, nil
	}
	// A fill of several characters repeats and is cut to the exact width.
	f := []rune(fill)
	padding := make([]rune, missing)
	for i := range padding {
		padding[i] = f[i%len(f)]
	}
	if left {
		return string(padding) + s, nil
	}
	return s + string(padding), nil
}

func truncate(args ...any) (any, error) {
	if err := arity("truncate", args, 2, 3); err != nil {
		return nil, err
	}
	s, err := argString("truncate", args, 0, "s")
	if err != nil {
		return nil, err
	}
	n, err := argInt("truncate", args, 1, "n")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("truncate: n is negative (%d)", n)
	}
	suffix := ""
	if len(args) == 3 {
		if suffix, err = argString("truncate", args, 2, "suffix"); err != nil {
			return nil, err
		}
	}
	if utf8.RuneCountInString(s) <= n {
		return s, nil
	}
	keep := n - utf8.RuneCountInString(suffix)
	if keep < 0 {
		return nil, fmt.Errorf("truncate: suffix %q is longer than n (%d)", suffix, n)
	}
	r := []rune(s)
	return string(r[:keep]) + suffix, nil
}
