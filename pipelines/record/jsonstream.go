package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// ErrTooLarge is wrapped by the error a JSONStream returns for a value
// longer than its limit.
var ErrTooLarge = errors.New("a record is larger than the limit")

// Pos is a place in a text: 1-based line, and 1-based byte column.
type Pos struct{ Line, Col int }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// StreamError is a fault in a JSON stream, with where it is.
type StreamError struct {
	Pos Pos
	Msg string
	Err error // what it wraps: ErrTooLarge, a read error, or nil
}

func (e *StreamError) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Pos.String() + ": " + e.Err.Error()
	}
	return e.Pos.String() + ": " + e.Msg
}

func (e *StreamError) Unwrap() error { return e.Err }

// JSONStream reads JSON values from a stream one at a time: the elements
// of a top-level array, or, when the input is not an array, values one
// after another (one object, NDJSON, objects written back to back). Only
// the value being read is held, never the whole input, and a value may not
// be longer than the limit.
//
// A value's extent is found by its brackets and quotes alone, then the
// value is checked as JSON on its own. So a value that is JSON but not what
// the caller wants (a number where records are objects) is the caller's to
// report, and reading goes on; malformed syntax ends the stream, since past
// a wrong quote or bracket nothing says where the next value starts. Every
// error is a *StreamError naming the line and column.
type JSONStream struct {
	r     io.Reader
	limit int
	buf   []byte
	pos   int   // next byte to read in buf
	base  int64 // input offset of buf[0]
	line  int   // line of buf[pos]
	col0  int64 // input offset of that line's first byte
	rerr  error // the reader's error, once met
	state streamState
	open  Pos // where the array began
	out   bytes.Buffer
	last  []byte // the text of the value Next returned last, as written
	at    Pos    // where it starts
}

type streamState int

const (
	streamStart  streamState = iota
	streamFirst              // after '[': a value or ']'
	streamElem               // after ',': a value
	streamAfter              // after an element: ',' or ']'
	streamEnd                // after ']': only space
	streamValues             // not an array: values one after another
	streamDone
)

// NewJSONStream reads values from r; limit bounds one value's text (0 for
// no bound).
func NewJSONStream(r io.Reader, limit int64) *JSONStream {
	l := int(min(limit, int64(^uint(0)>>1)))
	return &JSONStream{r: r, limit: l, line: 1, buf: make([]byte, 0, 64<<10)}
}

// Next returns the next value, compacted, and where it starts; io.EOF once
// the input is read whole. The bytes are valid until the next call. Text
// inside strings is passed through as it is, invalid UTF-8 included.
func (s *JSONStream) Next() ([]byte, Pos, error) {
	for {
		switch s.state {
		case streamDone:
			return nil, Pos{}, io.EOF
		case streamStart:
			c, ok, err := s.skipSpace()
			if err != nil {
				return nil, Pos{}, err
			}
			if !ok {
				s.state = streamDone
				return nil, Pos{}, io.EOF
			}
			if c == '[' {
				s.open = s.here()
				s.consume(1)
				s.state = streamFirst
				continue
			}
			s.state = streamValues
		case streamValues:
			_, ok, err := s.skipSpace()
			if err != nil {
				return nil, Pos{}, err
			}
			if !ok {
				s.state = streamDone
				return nil, Pos{}, io.EOF
			}
			return s.value()
		case streamFirst, streamElem:
			c, ok, err := s.skipSpace()
			if err != nil {
				return nil, Pos{}, err
			}
			if !ok {
				return nil, Pos{}, s.unclosed()
			}
			if c == ']' {
				if s.state == streamElem {
					return nil, Pos{}, s.fail(s.here(), "a value must follow ',' in the array")
				}
				s.consume(1)
				s.state = streamEnd
				continue
			}
			s.state = streamAfter
			return s.value()
		case streamAfter:
			c, ok, err := s.skipSpace()
			if err != nil {
				return nil, Pos{}, err
			}
			switch {
			case !ok:
				return nil, Pos{}, s.unclosed()
			case c == ',':
				s.consume(1)
				s.state = streamElem
			case c == ']':
				s.consume(1)
				s.state = streamEnd
			default:
				return nil, Pos{}, s.fail(s.here(), fmt.Sprintf("expected ',' or ']' after an array element, found %s", quoteByte(c)))
			}
		case streamEnd:
			c, ok, err := s.skipSpace()
			if err != nil {
				return nil, Pos{}, err
			}
			if !ok {
				s.state = streamDone
				return nil, Pos{}, io.EOF
			}
			return nil, Pos{}, s.fail(s.here(), fmt.Sprintf("%s after the end of the JSON array", quoteByte(c)))
		}
	}
}

// value reads the value starting at s.pos.
func (s *JSONStream) value() ([]byte, Pos, error) {
	at := s.here()
	n, err := s.extent()
	if err != nil {
		return nil, at, err
	}
	raw := s.buf[s.pos : s.pos+n]
	s.out.Reset()
	if err := json.Compact(&s.out, raw); err != nil {
		// Compact does not say where; Unmarshal's check does.
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(raw, new(json.RawMessage)), &se) {
			// Offset counts the bytes read, the faulty one included.
			k := max(int(se.Offset)-1, 0)
			return nil, at, s.fail(offsetPos(at, raw[:min(k, len(raw))]), se.Error())
		}
		return nil, at, s.fail(at, err.Error())
	}
	s.last, s.at = raw, at
	s.consume(n)
	return s.out.Bytes(), at, nil
}

// InvalidUTF8 reports where the first byte that is not valid UTF-8 is in
// the value Next returned last, if one is.
func (s *JSONStream) InvalidUTF8() (Pos, bool) {
	if utf8.Valid(s.last) {
		return Pos{}, false
	}
	for i := 0; i < len(s.last); {
		r, size := utf8.DecodeRune(s.last[i:])
		if r == utf8.RuneError && size == 1 {
			return offsetPos(s.at, s.last[:i]), true
		}
		i += size
	}
	return Pos{}, false
}

// extent returns the length of the value starting at s.pos, by its
// brackets and quotes, reading more input as needed.
func (s *JSONStream) extent() (int, error) {
	depth := 0
	inString, escaped := false, false
	scalar := s.buf[s.pos] != '{' && s.buf[s.pos] != '[' && s.buf[s.pos] != '"'
	for i := s.pos; ; i++ {
		if i == len(s.buf) {
			if s.limit > 0 && i-s.pos > s.limit {
				return 0, &StreamError{Pos: s.here(), Err: ErrTooLarge, Msg: fmt.Sprintf("the value that starts here is larger than the limit (%d MiB)", s.limit>>20)}
			}
			shift, err := s.fill()
			i -= shift
			if err != nil {
				return 0, err
			}
			if i == len(s.buf) {
				if scalar {
					return i - s.pos, nil
				}
				return 0, s.fail(s.here(), "the value that starts here is not closed before the end of the input")
			}
		}
		c := s.buf[i]
		switch {
		case scalar:
			if isSpace(c) || c == ',' || c == ']' || c == '}' || c == '[' || c == '{' || c == '"' {
				return i - s.pos, nil
			}
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 0 {
					return i + 1 - s.pos, nil
				}
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1 - s.pos, nil
			}
		}
	}
}

// skipSpace moves past white space and returns the next byte, without
// consuming it; ok is false at the end of the input.
func (s *JSONStream) skipSpace() (byte, bool, error) {
	for {
		for s.pos < len(s.buf) {
			c := s.buf[s.pos]
			if !isSpace(c) {
				return c, true, nil
			}
			s.consume(1)
		}
		if _, err := s.fill(); err != nil {
			return 0, false, err
		}
		if s.pos == len(s.buf) {
			return 0, false, nil
		}
	}
}

// fill reads more input after what buf holds, first dropping what lies
// before s.pos, and returns how far the kept bytes moved. At the end of the
// input it returns no error and adds nothing.
func (s *JSONStream) fill() (int, error) {
	shift := s.pos
	if shift > 0 {
		n := copy(s.buf, s.buf[shift:])
		s.buf = s.buf[:n]
		s.base += int64(shift)
		s.pos = 0
	}
	if s.rerr != nil {
		return shift, s.readErr()
	}
	if cap(s.buf)-len(s.buf) < 32<<10 {
		grown := make([]byte, len(s.buf), 2*cap(s.buf)+32<<10)
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if err != nil {
		s.rerr = err
		if n == 0 {
			return shift, s.readErr()
		}
	}
	return shift, nil
}

// readErr is the error of the reader, io.EOF being none.
func (s *JSONStream) readErr() error {
	if s.rerr == io.EOF {
		return nil
	}
	return &StreamError{Pos: s.here(), Err: s.rerr}
}

// consume moves past n bytes at s.pos, counting lines.
func (s *JSONStream) consume(n int) {
	b := s.buf[s.pos : s.pos+n]
	if k := bytes.Count(b, []byte{'\n'}); k > 0 {
		s.line += k
		s.col0 = s.base + int64(s.pos+bytes.LastIndexByte(b, '\n')+1)
	}
	s.pos += n
}

// here is the position of buf[pos].
func (s *JSONStream) here() Pos {
	return Pos{Line: s.line, Col: int(s.base+int64(s.pos)-s.col0) + 1}
}

func (s *JSONStream) unclosed() error {
	return s.fail(s.open, "the array that starts here is not closed before the end of the input")
}

// fail ends the stream with an error at p.
func (s *JSONStream) fail(p Pos, msg string) error {
	s.state = streamDone
	return &StreamError{Pos: p, Msg: msg}
}

// offsetPos is the position after text that starts at p.
func offsetPos(p Pos, text []byte) Pos {
	if k := bytes.Count(text, []byte{'\n'}); k > 0 {
		return Pos{Line: p.Line + k, Col: len(text) - bytes.LastIndexByte(text, '\n')}
	}
	return Pos{Line: p.Line, Col: p.Col + len(text)}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", string(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// UnwrapPath checks an unwrap path: dot-separated keys, such as `orders`
// or `data.order`.
func UnwrapPath(path string) error {
	if path == "" {
		return errors.New("the unwrap path is empty")
	}
	for _, k := range strings.Split(path, ".") {
		if k == "" {
			return fmt.Errorf("unwrap path %q has an empty key", path)
		}
	}
	return nil
}

// Unwrap takes records out of an envelope: the value at path in the JSON
// value v, path being dot-separated keys (`orders` in a Shopify page
// {"orders": [...]}, `order` in {"order": {...}}, `data` in a proxied
// WooCommerce payload). An array there gives one record per element, each
// passed to each with its index; anything else is the one record (index
// -1). It reports false when nothing is at path. The records may alias v.
func Unwrap(v []byte, path string, each func(rec []byte, index int) error) (bool, error) {
	keys := strings.Split(path, ".")
	for i, k := range keys {
		keys[i] = gjson.Escape(k)
	}
	res := gjson.GetBytes(v, strings.Join(keys, "."))
	if !res.Exists() {
		return false, nil
	}
	if !res.IsArray() {
		return true, each(rawOf(v, res), -1)
	}
	var err error
	i := 0
	res.ForEach(func(_, e gjson.Result) bool {
		err = each(rawOf(v, e), i)
		i++
		return err == nil
	})
	return true, err
}

// rawOf returns r's text as a slice of v when gjson found it there.
func rawOf(v []byte, r gjson.Result) []byte {
	if r.Index > 0 && r.Index+len(r.Raw) <= len(v) && string(v[r.Index:r.Index+len(r.Raw)]) == r.Raw {
		return v[r.Index : r.Index+len(r.Raw)]
	}
	return []byte(r.Raw)
}
