package pipelines

import (
	"fmt"
	"strings"
)

// yaml.v3 reports a syntax error with a line and no column, and the line is
// where its parser gave up, which for the commonest mistakes is not where
// the mistake is: a quote left open is reported where the file ends, a tab
// on the line before it, a key indented one space too far at the start of
// the mapping around it. When the file does not parse, syntaxHint scans its
// text for those mistakes and says what is wrong and where.

// syntaxSpot is a place in the file and what is wrong there.
type syntaxSpot struct {
	line, col int // 1-based; col counts runes
	summary   string
	hint      string
}

// syntaxHint finds the mistake behind yaml.v3's error msg reported at
// line, or returns ok false when none of the mistakes it knows is there.
func syntaxHint(lines [][]rune, line int, msg string) (syntaxSpot, bool) {
	sc := scanYAML(lines)
	if strings.Contains(msg, "tab") && sc.tab.line > 0 {
		return sc.tab, true
	}
	if sc.quote.line > 0 && sc.quote.line <= line+1 {
		return sc.quote, true
	}
	if sc.bracket.line > 0 && sc.bracket.line <= line+1 {
		return sc.bracket, true
	}
	if sc.trailing.line > 0 && sc.trailing.line <= line+1 {
		return sc.trailing, true
	}
	switch {
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-' indicator"),
		strings.HasPrefix(msg, "block sequence entries are not allowed"):
		if s, ok := badIndent(lines, line); ok {
			return s, true
		}
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		if line >= 1 && line <= len(lines) {
			if col := secondColon(lines[line-1]); col > 0 {
				return syntaxSpot{line: line, col: col, summary: "a second `: ` on one line: a plain value cannot hold \": \"",
					hint: "quote the value, or put the nested key on its own line, indented"}, true
			}
		}
	}
	return syntaxSpot{}, false
}

// yamlScan is what scanYAML found: the first tab indenting a line, the
// first quoted scalar that does not end on its own line (almost always a
// quote left open), the first flow bracket left open or closed by the
// wrong kind, the first quoted value with more text after its closing quote
// (an expression that starts with a quoted string).
type yamlScan struct {
	tab, quote, bracket, trailing syntaxSpot
}

// scanYAML reads the text as YAML's scanner would, far enough to find
// quotes, flow brackets, comments and block scalars.
func scanYAML(lines [][]rune) yamlScan {
	var sc yamlScan
	type open struct {
		r         rune
		line, col int
	}
	var flow []open
	var quote rune // the quote of the scalar being read, or 0
	var qLine, qCol int
	// qValue is set when the quoted scalar is a value after `key:` or `-`.
	// Elsewhere (at the start of a line) it may be part of a plain value
	// continued from the line before (`"é" + name`), so the text after its
	// closing quote is no mistake.
	var qValue bool
	blockIndent := -1 // indentation of the line a block scalar starts on
	for li, l := range lines {
		ln := li + 1
		ind := indentOf(l)
		if blockIndent >= 0 {
			if ind == len(l) || ind > blockIndent {
				continue // inside the block scalar
			}
			blockIndent = -1
		}
		if quote == 0 && sc.tab.line == 0 {
			for i := 0; i < len(l) && (l[i] == ' ' || l[i] == '\t'); i++ {
				if l[i] == '\t' {
					sc.tab = syntaxSpot{line: ln, col: i + 1, summary: "a tab indents this line: YAML indents with spaces only",
						hint: "replace the tab with spaces"}
					break
				}
			}
		}
		prev := ' ' // the last character before i that is not a space
		for i := 0; i < len(l); i++ {
			c := l[i]
			if quote != 0 {
				switch {
				case quote == '"' && c == '\\':
					i++
				case quote == '\'' && c == '\'' && i+1 < len(l) && l[i+1] == '\'':
					i++
				case c == quote:
					if qLine != ln && sc.quote.line == 0 {
						sc.quote = syntaxSpot{line: qLine, col: qCol,
							summary: fmt.Sprintf("unclosed quote: the %c here is not closed on its line", quote),
							hint:    fmt.Sprintf("close it with %c where the value ends", quote)}
					}
					if rest := strings.TrimSpace(string(l[i+1:])); qValue && len(flow) == 0 && rest != "" && rest[0] != '#' && sc.trailing.line == 0 {
						other := map[rune]rune{'"': '\'', '\'': '"'}[quote]
						sc.trailing = syntaxSpot{line: ln, col: i + 2 + indentOf(l[i+1:]),
							summary: fmt.Sprintf("text after the closing %c: a quoted value ends at its quote", quote),
							hint:    fmt.Sprintf("quote the whole value with %c, or write the expression so it does not start with a string", other)}
					}
					quote = 0
					prev = c
				}
				continue
			}
			switch {
			case c == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
				i = len(l) // a comment
				continue
			case (c == '"' || c == '\'') && startsScalar(prev):
				quote, qLine, qCol, qValue = c, ln, i+1, prev == ':' || prev == '-'
			case (c == '[' || c == '{') && (startsScalar(prev) || len(flow) > 0 && prev == ' '):
				flow = append(flow, open{c, ln, i + 1})
			case (c == ']' || c == '}') && len(flow) > 0:
				o := flow[len(flow)-1]
				flow = flow[:len(flow)-1]
				if want := map[rune]rune{'[': ']', '{': '}'}[o.r]; want != c && sc.bracket.line == 0 {
					sc.bracket = syntaxSpot{line: ln, col: i + 1,
						summary: fmt.Sprintf("`%c` closes the `%c` opened at %d:%d, which needs `%c`", c, o.r, o.line, o.col, want)}
				}
			case (c == '|' || c == '>') && startsScalar(prev) && len(flow) == 0:
				blockIndent = ind
				i = len(l)
				continue
			}
			if c != ' ' && c != '\t' {
				prev = c
			}
		}
		// A flow collection left open at the end of a line whose next line
		// starts a new key is left open for good.
		if len(flow) > 0 && quote == 0 && sc.bracket.line == 0 && li+1 < len(lines) {
			next := lines[li+1]
			if ni := indentOf(next); ni < len(next) && ni <= flowIndent(lines, flow[0].line) && looksLikeKey(next[ni:]) {
				o := flow[len(flow)-1]
				closer := map[rune]rune{'[': ']', '{': '}'}[o.r]
				sc.bracket = syntaxSpot{line: o.line, col: o.col, summary: fmt.Sprintf("unclosed `%c`: no `%c` closes it", o.r, closer),
					hint: fmt.Sprintf("add `%c` at the end of the value", closer)}
			}
		}
	}
	if quote != 0 && sc.quote.line == 0 {
		sc.quote = syntaxSpot{line: qLine, col: qCol, summary: fmt.Sprintf("unclosed quote: no %c closes the %c here", quote, quote),
			hint: fmt.Sprintf("close it with %c where the value ends", quote)}
	}
	if len(flow) > 0 && sc.bracket.line == 0 {
		o := flow[len(flow)-1]
		closer := map[rune]rune{'[': ']', '{': '}'}[o.r]
		sc.bracket = syntaxSpot{line: o.line, col: o.col, summary: fmt.Sprintf("unclosed `%c`: no `%c` closes it", o.r, closer),
			hint: fmt.Sprintf("add `%c` at the end of the value", closer)}
	}
	return sc
}

// startsScalar reports whether a value may start after prev, the last
// character before it that is not a space: at the start of a line, after a
// key's colon, a list dash, or inside a flow collection.
func startsScalar(prev rune) bool {
	switch prev {
	case ' ', ':', '-', '[', '{', ',', '?':
		return true
	}
	return false
}

func indentOf(l []rune) int {
	i := 0
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	return i
}

func flowIndent(lines [][]rune, line int) int { return indentOf(lines[line-1]) }

// looksLikeKey reports whether text starts with `name:`.
func looksLikeKey(text []rune) bool {
	for i, c := range text {
		switch {
		case c == ':':
			return i > 0 && (i+1 == len(text) || text[i+1] == ' ')
		case c == ' ' || c == '"' || c == '\'' || c == '[' || c == '{' || c == ',' || c == '#':
			return false
		}
	}
	return false
}

// badIndent finds, from line on, the first line indented to a depth that
// matches none of the mappings it could belong to.
func badIndent(lines [][]rune, line int) (syntaxSpot, bool) {
	var stack []int // indentation of the open block levels
	closed := false // the line before ends a value: a flow collection or a quote
	for li := 0; li < len(lines); li++ {
		l := lines[li]
		ind := indentOf(l)
		if ind == len(l) || l[ind] == '#' {
			continue
		}
		popped := false
		for len(stack) > 0 && stack[len(stack)-1] > ind {
			stack = stack[:len(stack)-1]
			popped = true
		}
		if len(stack) == 0 || stack[len(stack)-1] < ind {
			// A line indented deeper than the one before is the value of
			// its key or continues its plain value, unless that line's value
			// was complete; a dedent must land on an open level.
			if li+1 >= line && popped {
				return syntaxSpot{line: li + 1, col: ind + 1,
					summary: fmt.Sprintf("this line is indented by %d spaces, which matches no key above it", ind),
					hint:    "indent it like the key it belongs with"}, true
			}
			if li+1 >= line && closed && looksLikeKey(l[ind:]) {
				return syntaxSpot{line: li + 1, col: ind + 1,
					summary: "this key is indented under a value that is already complete",
					hint:    "indent it like the key it belongs with, or move it inside the braces"}, true
			}
			stack = append(stack, ind)
		}
		end := strings.TrimRight(string(l), " \t")
		if i := strings.Index(end, " #"); i >= 0 {
			end = strings.TrimRight(end[:i], " \t")
		}
		closed = strings.HasSuffix(end, "}") || strings.HasSuffix(end, "]") || strings.HasSuffix(end, "\"") || strings.HasSuffix(end, "'")
	}
	return syntaxSpot{}, false
}

// secondColon returns the column of a line's second ": " outside quotes,
// or 0.
func secondColon(l []rune) int {
	seen := 0
	var quote rune
	for i, c := range l {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && i > 0 && l[i-1] == ' ':
			return 0
		case c == ':' && (i+1 == len(l) || l[i+1] == ' '):
			seen++
			if seen == 2 {
				return i + 1
			}
		}
	}
	return 0
}
