package pipelines

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"go.yaml.in/yaml/v3"
)

// scalarCase is a YAML text, the scalar in it to map (the value of key, or
// key/N for the Nth item of a list), what the parser decodes it to, and
// where some of its runes are (rune index -> 1-based line and column).
type scalarCase struct {
	name  string
	src   string
	key   string
	value string
	at    map[int]linecol
}

var scalarCases = []scalarCase{
	{
		name:  "plain",
		src:   "k: a + \"é\" + b\n",
		key:   "k",
		value: `a + "é" + b`,
		at:    map[int]linecol{0: {1, 4}, 5: {1, 9}, 10: {1, 14}, 11: {1, 15}},
	},
	{
		name:  "plain with a tab",
		src:   "k: a\tb→c\n",
		key:   "k",
		value: "a\tb→c",
		at:    map[int]linecol{1: {1, 5}, 3: {1, 7}, 4: {1, 8}},
	},
	{
		// Trailing blanks are dropped, the line break folds to a space
		// (at the end of the line), deeper indentation is dropped.
		name:  "plain on three lines",
		src:   "k: first  \n   second\n     third\nnext: 1\n",
		key:   "k",
		value: "first second third",
		at:    map[int]linecol{0: {1, 4}, 5: {1, 9}, 6: {2, 4}, 12: {2, 10}, 13: {3, 6}, 17: {3, 10}, 18: {3, 11}},
	},
	{
		name:  "plain with a blank line",
		src:   "k: one\n\n  two\n",
		key:   "k",
		value: "one\ntwo",
		at:    map[int]linecol{3: {1, 7}, 4: {3, 3}},
	},
	{
		name:  "single-quoted with '' escapes",
		src:   "k: 'it''s \"é\" '' x'\n",
		key:   "k",
		value: `it's "é" ' x`,
		at:    map[int]linecol{0: {1, 5}, 2: {1, 7}, 3: {1, 9}, 6: {1, 12}, 9: {1, 15}, 10: {1, 17}, 11: {1, 18}, 12: {1, 19}},
	},
	{
		name:  "single-quoted on several lines",
		src:   "k: 'one\n  two\n\n  thr''ee'\n",
		key:   "k",
		value: "one two\nthr'ee",
		at:    map[int]linecol{3: {1, 8}, 4: {2, 3}, 7: {2, 6}, 8: {4, 3}, 11: {4, 6}, 12: {4, 8}},
	},
	{
		name:  "double-quoted escapes",
		src:   `k: "A\x41-\u00e9-\U0001F600-\"-\\-\t-\_-\0-é"` + "\n",
		key:   "k",
		value: "AA-é-\U0001F600-\"-\\-\t-\u00a0-\x00-é",
		at: map[int]linecol{
			0: {1, 5}, 1: {1, 6}, 2: {1, 10}, 3: {1, 11}, 4: {1, 17}, 5: {1, 18}, 6: {1, 28},
			7: {1, 29}, 9: {1, 32}, 11: {1, 35}, 13: {1, 38}, 15: {1, 41},
			17: {1, 44}, 18: {1, 45},
		},
	},
	{
		// An escaped line break joins the lines and drops the next line's
		// indentation; a plain line break folds to a space; an empty line
		// is a newline; \n is a newline too.
		name:  "double-quoted line breaks",
		src:   "k: \"one \\\n  two\n  three\n\n  four\\n five\"\n",
		key:   "k",
		value: "one two three\nfour\n five",
		at: map[int]linecol{
			0: {1, 5}, 3: {1, 8}, 4: {2, 3}, 7: {2, 6}, 8: {3, 3}, 13: {3, 8},
			14: {5, 3}, 18: {5, 7}, 19: {5, 9}, 20: {5, 10},
		},
	},
	{
		name:  "double-quoted with a raw tab and a quote",
		src:   "k: \"a\tb \\\"c\\\"\"\n",
		key:   "k",
		value: "a\tb \"c\"",
		at:    map[int]linecol{1: {1, 6}, 4: {1, 9}, 5: {1, 11}, 6: {1, 12}, 7: {1, 14}},
	},
	{
		name:  "literal block with blank lines and deeper indentation",
		src:   "k: |\n  line one\n\n    indented é\n  last\nnext: x\n",
		key:   "k",
		value: "line one\n\n  indented é\nlast\n",
		at: map[int]linecol{
			0: {2, 3}, 8: {2, 11}, 9: {3, 1}, 10: {4, 3}, 12: {4, 5}, 21: {4, 14},
			22: {4, 15}, 23: {5, 3}, 27: {5, 7},
		},
	},
	{
		name:  "literal block with a header comment, kept trailing lines",
		src:   "k: |+ # keep\n   a\n\nnext: 1\n",
		key:   "k",
		value: "a\n\n",
		at:    map[int]linecol{0: {2, 4}, 1: {2, 5}, 2: {3, 1}},
	},
	{
		name:  "literal block, stripped",
		src:   "list:\n  - |-\n    a\n      b\n\n  - x\n",
		key:   "list/0",
		value: "a\n  b",
		at:    map[int]linecol{0: {3, 5}, 1: {3, 6}, 2: {4, 5}, 4: {4, 7}},
	},
	{
		// The indicator says the indentation is 2; the rest is content.
		name:  "literal block with an indentation indicator",
		src:   "k: |2\n    two more\n  base\n",
		key:   "k",
		value: "  two more\nbase\n",
		at:    map[int]linecol{0: {2, 3}, 2: {2, 5}, 10: {2, 13}, 11: {3, 3}},
	},
	{
		name:  "literal block with an indicator and chomping, in a nested mapping",
		src:   "a:\n  k: |-2\n      x\n     y\n",
		key:   "k",
		value: "  x\n y",
		at:    map[int]linecol{0: {3, 5}, 2: {3, 7}, 3: {3, 8}, 4: {4, 5}, 5: {4, 6}, 6: {4, 7}},
	},
	{
		// Lines fold to spaces; an empty line is a newline; more-indented
		// lines keep their line breaks and indentation.
		name:  "folded block",
		src:   "k: >\n  one\n  two\n\n  three\n    more é\n  four\n",
		key:   "k",
		value: "one two\nthree\n  more é\nfour\n",
		at: map[int]linecol{
			0: {2, 3}, 3: {2, 6}, 4: {3, 3}, 7: {3, 6}, 8: {5, 3}, 13: {5, 8},
			14: {6, 3}, 21: {6, 10}, 22: {6, 11}, 23: {7, 3},
		},
	},
	{
		name:  "folded block, stripped",
		src:   "k: >-\n  a →\n  b\n\n",
		key:   "k",
		value: "a → b",
		at:    map[int]linecol{0: {2, 3}, 2: {2, 5}, 3: {2, 6}, 4: {3, 3}, 5: {3, 4}},
	},
	{
		name:  "flow sequence items",
		src:   "k: [x, \"\\u00e9y\", 'z''']\n",
		key:   "k/1",
		value: "éy",
		at:    map[int]linecol{0: {1, 9}, 1: {1, 15}, 2: {1, 16}},
	},
	{
		name:  "flow mapping value over two lines",
		src:   "k: {a: 'one\n  two'}\n",
		key:   "a",
		value: "one two",
		at:    map[int]linecol{0: {1, 9}, 3: {1, 12}, 4: {2, 3}},
	},
	{
		name:  "empty double-quoted",
		src:   "k: \"\"\n",
		key:   "k",
		value: "",
		at:    map[int]linecol{0: {1, 5}},
	},
	{
		name:  "empty literal block",
		src:   "k: |\nnext: 1\n",
		key:   "k",
		value: "",
		at:    map[int]linecol{0: {1, 4}},
	},
	{
		// The parser skips a byte order mark: columns do not count it.
		name:  "byte order mark",
		src:   "\uFEFFk: \"é\"\n",
		key:   "k",
		value: "é",
		at:    map[int]linecol{0: {1, 5}},
	},
}

// lineEndings are the ways a file may break lines; positions must not
// depend on them.
var lineEndings = map[string]func(string) string{
	"lf":   func(s string) string { return s },
	"crlf": func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") },
	"cr":   func(s string) string { return strings.ReplaceAll(s, "\n", "\r") },
}

func TestScalarPositions(t *testing.T) {
	for _, tc := range scalarCases {
		for ending, rewrite := range lineEndings {
			t.Run(tc.name+"/"+ending, func(t *testing.T) {
				src := rewrite(tc.src)
				node := findScalar(t, src, tc.key)
				if node.Value != tc.value {
					t.Fatalf("the parser decodes %q to %q; the case says %q", src, node.Value, tc.value)
				}
				lines := splitLines([]byte(src))
				pos, ok := scalarPositions(lines, node)
				if !ok {
					t.Fatalf("scalarPositions(%q) failed", src)
				}
				value := []rune(node.Value)
				if len(pos) != len(value)+1 {
					t.Fatalf("got %d positions for %d runes, want one per rune and one past the end", len(pos), len(value))
				}
				for i, want := range tc.at {
					if pos[i] != want {
						t.Errorf("rune %d (%q) at %d:%d, want %d:%d", i, runeAt(value, i), pos[i].line, pos[i].col, want.line, want.col)
					}
				}
				quoted := node.Style&yaml.DoubleQuotedStyle != 0
				for i, v := range value {
					p := pos[i]
					if i > 0 && !before(pos[i-1], p) {
						t.Errorf("rune %d (%q) at %d:%d does not come after rune %d at %d:%d", i, v, p.line, p.col, i-1, pos[i-1].line, pos[i-1].col)
					}
					c, ok := sourceRune(lines, p)
					switch {
					case !ok:
						t.Errorf("rune %d (%q) at %d:%d: outside the file", i, v, p.line, p.col)
					case c == v:
						// A plain character: the source shows it.
					case quoted && c == '\\':
						// An escape sequence stands for it.
					case (v == ' ' || v == '\n') && c == '\n':
						// A line break folded to a space or kept.
					default:
						t.Errorf("rune %d (%q) at %d:%d, where the source has %q", i, v, p.line, p.col, c)
					}
				}
			})
		}
	}
}

// TestScalarPositionsUnaligned covers the fallback: a node that does not
// match the text it claims to come from yields ok=false, never a panic or a
// wrong position.
func TestScalarPositionsUnaligned(t *testing.T) {
	lines := splitLines([]byte("k: abc\n"))
	for _, n := range []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "xyz", Line: 1, Column: 4},
		{Kind: yaml.ScalarNode, Value: "abcdef", Line: 1, Column: 4},
		{Kind: yaml.ScalarNode, Value: "abc", Line: 7, Column: 4},
		{Kind: yaml.ScalarNode, Value: "abc", Line: 0, Column: 0},
		{Kind: yaml.ScalarNode, Value: "abc", Line: 1, Column: 40},
		{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Value: "é", Line: 1, Column: 4},
		{Kind: yaml.ScalarNode, Style: yaml.LiteralStyle, Value: "abc\n", Line: 1, Column: 4},
		{Kind: yaml.ScalarNode, Style: yaml.FoldedStyle, Value: "  abc", Line: 1, Column: 1},
	} {
		if pos, ok := scalarPositions(lines, n); ok {
			t.Errorf("scalarPositions(%+v) = %v, true; want false", n, pos)
		}
	}
}

// TestExprLocate checks the spans an expression's problems are reported
// at, through the locator the loader attaches to expression values.
func TestExprLocate(t *testing.T) {
	src := "steps:\n" +
		"  s:\n" +
		"    filter: \"\\u00e9 + abc\"\n" +
		"    other: |\n" +
		"      one +\n" +
		"      two\n" +
		"    empty: ''\n"
	l := &loader{opts: LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }}}
	root := l.parse("p.yaml", []byte(src))
	if root == nil {
		t.Fatalf("parse: %v", l.diags)
	}
	fl := l.files["p.yaml"]
	value := func(key string) func(offset, length int) diag.Range {
		n := findIn(root, key)
		if n == nil {
			t.Fatalf("no %s", key)
		}
		v := &component.Value{Range: l.rangeOf(fl.path, n)}
		l.exprValue(fl, n, v)
		return v.Locate
	}
	rng := func(l1, c1, l2, c2 int) diag.Range {
		return diag.Range{Start: diag.Pos{File: "p.yaml", Line: l1, Col: c1}, End: diag.Pos{File: "p.yaml", Line: l2, Col: c2}}
	}
	filter, other, empty := value("filter"), value("other"), value("empty")
	for _, tc := range []struct {
		name string
		got  diag.Range
		want diag.Range
	}{
		{"escape", filter(0, 1), rng(3, 14, 3, 20)},
		{"after an escape", filter(4, 3), rng(3, 23, 3, 26)},
		{"to the end", filter(0, 7), rng(3, 14, 3, 26)},
		{"offset past the end", filter(40, 1), rng(3, 13, 3, 27)},
		{"negative offset", filter(-1, 1), rng(3, 13, 3, 27)},
		{"zero length", filter(4, 0), rng(3, 23, 3, 24)},
		{"block, second line", other(6, 3), rng(6, 7, 6, 10)},
		{"block, across lines: to the end of the first", other(0, 9), rng(5, 7, 5, 13)},
		{"empty: the whole scalar", empty(0, 1), rng(7, 12, 7, 14)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v-%d:%d, want %v-%d:%d", tc.name, tc.got.Start, tc.got.End.Line, tc.got.End.Col, tc.want.Start, tc.want.End.Line, tc.want.End.Col)
		}
	}
}

// TestSplitLines pins that lines break where the YAML parser breaks them.
func TestSplitLines(t *testing.T) {
	got := splitLines([]byte("\uFEFFa\r\nb\rc\nd\u2028e\u0085f\u2029g"))
	var want [][]rune
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		want = append(want, []rune(s))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitLines (-want +got):\n%s", diff)
	}
	// The parser agrees on every line number.
	var doc yaml.Node
	src := "a: 1\rb: 2\u2028c: 3\r\nd: 4\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	lines := splitLines([]byte(src))
	m := doc.Content[0]
	for i := 0; i < len(m.Content); i += 2 {
		k := m.Content[i]
		if l := lines[k.Line-1]; string(l[k.Column-1:k.Column]) != k.Value {
			t.Errorf("key %s at %d:%d, where the split lines have %q", k.Value, k.Line, k.Column, string(l))
		}
	}
}

func findScalar(t *testing.T, src, key string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	n := findIn(&doc, key)
	if n == nil || n.Kind != yaml.ScalarNode {
		t.Fatalf("no scalar %s in %q", key, src)
	}
	return n
}

// findIn returns the value of the first mapping entry named key (depth
// first), or with key "name/N" the Nth item of that entry's list.
func findIn(n *yaml.Node, key string) *yaml.Node {
	name, idx, hasIdx := strings.Cut(key, "/")
	var walk func(n *yaml.Node) *yaml.Node
	walk = func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					v := n.Content[i+1]
					if !hasIdx {
						return v
					}
					j, err := strconv.Atoi(idx)
					if err != nil || j >= len(v.Content) {
						return nil
					}
					return v.Content[j]
				}
			}
		}
		for _, c := range n.Content {
			if r := walk(c); r != nil {
				return r
			}
		}
		return nil
	}
	return walk(n)
}

// sourceRune is the character at a position; the end of a line reads as
// '\n'.
func sourceRune(lines [][]rune, p linecol) (rune, bool) {
	if p.line < 1 || p.line > len(lines) || p.col < 1 || p.col > len(lines[p.line-1])+1 {
		return 0, false
	}
	l := lines[p.line-1]
	if p.col == len(l)+1 {
		return '\n', true
	}
	return l[p.col-1], true
}

func before(a, b linecol) bool { return a.line < b.line || a.line == b.line && a.col < b.col }

func runeAt(rs []rune, i int) string {
	if i < len(rs) {
		return string(rs[i])
	}
	return "end"
}

// FuzzScalarPositions checks every scalar of arbitrary YAML: where
// scalarPositions claims success, each rune of the value must sit on a
// source character that shows it (or on the escape or line break standing
// for it), in order. Failing to align is allowed; a wrong position is not.
func FuzzScalarPositions(f *testing.F) {
	for _, tc := range scalarCases {
		f.Add(tc.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil {
			return
		}
		lines := splitLines([]byte(src))
		var walk func(n *yaml.Node, depth int)
		walk = func(n *yaml.Node, depth int) {
			if n == nil || depth > 50 {
				return
			}
			for _, c := range n.Content {
				walk(c, depth+1)
			}
			if n.Kind != yaml.ScalarNode {
				return
			}
			pos, ok := scalarPositions(lines, n)
			if !ok {
				return
			}
			value := []rune(n.Value)
			if len(pos) != len(value)+1 {
				t.Fatalf("%q: %d positions for %d runes", n.Value, len(pos), len(value))
			}
			quoted := n.Style&yaml.DoubleQuotedStyle != 0
			for i, v := range value {
				p := pos[i]
				if i > 0 && !before(pos[i-1], p) {
					t.Fatalf("%q: rune %d at %d:%d is not after rune %d at %d:%d", n.Value, i, p.line, p.col, i-1, pos[i-1].line, pos[i-1].col)
				}
				c, ok := sourceRune(lines, p)
				if !ok || !(c == v || quoted && c == '\\' || (v == ' ' || v == '\n') && c == '\n') {
					t.Fatalf("%q (style %v): rune %d %q at %d:%d, where the source has %q", n.Value, n.Style, i, v, p.line, p.col, c)
				}
			}
		}
		walk(&doc, 0)
	})
}
