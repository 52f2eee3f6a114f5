package pipelines

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scalarPositions maps every character of a scalar's decoded value back to
// its line and column in the file, through plain, single-quoted,
// double-quoted (with escapes), literal and folded block styles. It works by
// walking the value and the source side by side; where they cannot be
// aligned it returns ok=false and callers fall back to the scalar's start.
//
// lines are the file's lines as runes; node.Line and node.Column are 1-based.
// The returned slice has one entry per rune of node.Value plus one for the
// position just past its end.
func scalarPositions(lines [][]rune, node *yaml.Node) (pos []linecol, ok bool) {
	if node.Line < 1 || node.Line > len(lines) {
		return nil, false
	}
	s := &scalarScanner{lines: lines, line: node.Line - 1, col: node.Column - 1}
	switch node.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle) {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		s.next() // opening quote
	case yaml.LiteralStyle, yaml.FoldedStyle:
		if node.Value == "" {
			// Nothing to map; the header stands for the empty value.
			return []linecol{{node.Line, node.Column}}, true
		}
		// Content starts on the line after the header (| or > with
		// indicators and perhaps a comment), indented by the first
		// non-empty line's indentation; deeper indentation is content.
		// An indentation indicator (|2) makes part of that indentation
		// content, which the value's first line shows.
		s.line++
		s.col = 0
		s.indent = blockIndent(lines, s.line) - leadingSpaces(node.Value)
		if s.indent < 1 {
			return nil, false
		}
		s.skipIndent()
	}
	quote := rune(0)
	switch {
	case node.Style&yaml.DoubleQuotedStyle != 0:
		quote = '"'
	case node.Style&yaml.SingleQuotedStyle != 0:
		quote = '\''
	}
	value := []rune(node.Value)
	pos = make([]linecol, 0, len(value)+1)
	for i := 0; i < len(value); {
		r, ok := s.peek()
		if !ok {
			return nil, false
		}
		v := value[i]
		switch {
		case quote == '"' && r == '\\':
			dec, width, lineCont := s.escape()
			if lineCont {
				s.skipN(width)
				s.skipBlanks()
				continue
			}
			if width == 0 || dec != v {
				return nil, false
			}
			pos = append(pos, s.here())
			s.skipN(width)
			i++
		case quote == '\'' && r == '\'' && v == '\'':
			pos = append(pos, s.here())
			s.skipN(2)
			i++
		case r == v && r != '\n':
			pos = append(pos, s.here())
			s.next()
			i++
		case r == '\n' && (v == ' ' || v == '\n'):
			// A line break in the source folds to a space or stays a
			// newline in the value; either way the value's character sits
			// at the end of the source line. Empty lines between folded
			// lines become further newlines.
			pos = append(pos, s.here())
			s.next()
			s.skipIndent()
			i++
		case s.indent == 0 && (r == ' ' || r == '\t' || r == '\n'), r == '\n':
			// Indentation and the blanks folding discards.
			s.next()
			if r == '\n' {
				s.skipIndent()
			}
		default:
			return nil, false
		}
	}
	pos = append(pos, s.here())
	return pos, true
}

type linecol struct{ line, col int } // 1-based

type scalarScanner struct {
	lines     [][]rune
	line, col int // 0-based
	// indent is a block scalar's indentation, skipped at the start of each
	// line; 0 for flow scalars, whose continuation lines lose all leading
	// blanks.
	indent int
}

// blockIndent is the indentation of the first non-blank line from line on.
func blockIndent(lines [][]rune, line int) int {
	for ; line < len(lines); line++ {
		n := 0
		for n < len(lines[line]) && lines[line][n] == ' ' {
			n++
		}
		if n < len(lines[line]) {
			return n
		}
	}
	return 0
}

// leadingSpaces counts the spaces starting the first non-empty line of a
// block scalar's value.
func leadingSpaces(value string) int {
	for _, l := range strings.Split(value, "\n") {
		if n := len(l) - len(strings.TrimLeft(l, " ")); n < len(l) {
			return n
		}
	}
	return 0
}

// peek returns the character at the cursor; the end of a line reads as '\n'.
func (s *scalarScanner) peek() (rune, bool) {
	if s.line >= len(s.lines) {
		return 0, false
	}
	l := s.lines[s.line]
	if s.col >= len(l) {
		return '\n', true
	}
	return l[s.col], true
}

func (s *scalarScanner) here() linecol { return linecol{s.line + 1, s.col + 1} }

func (s *scalarScanner) next() {
	if s.line < len(s.lines) && s.col >= len(s.lines[s.line]) {
		s.line++
		s.col = 0
		return
	}
	s.col++
}

func (s *scalarScanner) skipN(n int) {
	for range n {
		s.next()
	}
}

// skipIndent skips the indentation at the start of a continuation line.
func (s *scalarScanner) skipIndent() {
	if s.indent > 0 {
		for i := 0; i < s.indent; i++ {
			if r, ok := s.peek(); !ok || r != ' ' {
				return
			}
			s.next()
		}
		return
	}
	for {
		r, ok := s.peek()
		if !ok || (r != ' ' && r != '\t') {
			return
		}
		s.next()
	}
}

// skipBlanks skips spaces and line breaks (after an escaped line break).
func (s *scalarScanner) skipBlanks() {
	for {
		r, ok := s.peek()
		if !ok || (r != ' ' && r != '\t' && r != '\n') {
			return
		}
		s.next()
	}
}

// escape decodes the double-quoted escape sequence at the cursor: the rune
// it stands for and its width in the source. lineCont reports an escaped
// line break, which stands for nothing.
func (s *scalarScanner) escape() (r rune, width int, lineCont bool) {
	l := s.lines[s.line]
	if s.col+1 >= len(l) {
		return 0, 1, true
	}
	c := l[s.col+1]
	simple := map[rune]rune{
		'0': 0, 'a': '\a', 'b': '\b', 't': '\t', '\t': '\t', 'n': '\n', 'v': '\v', 'f': '\f', 'r': '\r',
		'e': 0x1b, ' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': 0x85, '_': 0xa0, 'L': 0x2028, 'P': 0x2029,
	}
	if d, ok := simple[c]; ok {
		return d, 2, false
	}
	digits := map[rune]int{'x': 2, 'u': 4, 'U': 8}[c]
	if digits == 0 || s.col+2+digits > len(l) {
		return 0, 0, false
	}
	v, err := strconv.ParseUint(string(l[s.col+2:s.col+2+digits]), 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return rune(v), 2 + digits, false
}

// splitLines splits a file into lines of runes, dropping line endings. It
// breaks lines where the YAML parser does (\r\n, \n, \r, and the Unicode
// breaks NEL, LS and PS), so its line numbers are the nodes'.
func splitLines(src []byte) [][]rune {
	out := [][]rune{}
	var cur []rune
	// The parser skips a byte order mark; columns do not count it.
	rs := []rune(strings.TrimPrefix(string(src), "\uFEFF"))
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\r', '\n', '\u0085', '\u2028', '\u2029':
			if r == '\r' && i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			out = append(out, cur)
			cur = nil
		default:
			cur = append(cur, r)
		}
	}
	return append(out, cur)
}
