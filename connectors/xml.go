package connectors

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

// maxXMLDepth bounds element nesting, which the decoder would otherwise
// remember without limit.
const maxXMLDepth = 1000

// readXML emits one JSON object per element at the record path, streaming
// with the decoder's tokens: only the record being read is held.
//
// An element becomes a JSON value this way: attributes are "@name" fields;
// child elements are fields named by their local name, their values in
// document order, an array when the element repeats (or is listed in
// `repeated`); an element with neither attributes nor children is the string
// of its text, "" when empty; other text (beside attributes or children) is
// the "#text" field, trimmed of surrounding white space. Namespace
// declarations are dropped and prefixes ignored. The record element itself
// is always an object.
//
// XML that is not well-formed ends the read with an error naming the line
// and column, after every record before it was emitted: the decoder cannot
// find the next record after a syntax error. Text that is not valid UTF-8
// is such an error (declare the file's encoding when it is Latin-1).
func readXML(ctx context.Context, o *readOptions, r io.Reader, src, where string, seq *int64, emit func(*record.Record) error) error {
	g := &guard{r: r, limit: o.maxRecord}
	// The decoder buffers g itself, reading ahead 4 KiB at most: the slack
	// the guard allows a record beyond the limit.
	dec := xml.NewDecoder(g)
	dec.Strict = true
	dec.CharsetReader = charsetReader
	b := &xmlBuilder{repeated: o.repeated}
	var sl record.Slab
	depth, matched := 0, 0
	n := len(o.path)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		g.mark = g.n
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return xmlErr(where, dec, err, o.maxRecord, record.Pos{})
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxXMLDepth {
				line, col := dec.InputPos()
				return fmt.Errorf("%s:%d:%d: elements nest deeper than %d", where, line, col, maxXMLDepth)
			}
			if matched == depth-1 && depth <= n && (o.path[depth-1] == "*" || o.path[depth-1] == t.Name.Local) {
				matched = depth
			}
			if matched == n && depth == n {
				line, col := dec.InputPos()
				raw, err := b.record(dec, t)
				if err != nil {
					return xmlErr(where, dec, err, o.maxRecord, record.Pos{Line: line, Col: col})
				}
				depth--
				matched--
				*seq++
				raw = sl.Copy(raw)
				if err := emit(record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw, File: where, Line: int64(line)})); err != nil {
					return err
				}
			}
		case xml.EndElement:
			if matched == depth {
				matched--
			}
			depth--
		}
	}
}

// xmlErr locates an error of the XML decoder at the line and column it
// stopped at; a record too large is located where the record starts
// (start, when known).
func xmlErr(where string, dec *xml.Decoder, err error, limit int64, start record.Pos) error {
	if e, ok := inputErr(where, err); ok {
		return e
	}
	line, col := dec.InputPos()
	if errors.Is(err, errRecordTooLarge) {
		if start.Line > 0 {
			return fmt.Errorf("%s:%s: %w (%s): the record that starts here does not end within it", where, start, err, sizeText(limit))
		}
		return fmt.Errorf("%s:%d:%d: %w (%s)", where, line, col, err, sizeText(limit))
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if se.Line != line {
			col = 1
		}
		return fmt.Errorf("%s:%d:%d: %s", where, se.Line, col, se.Msg)
	}
	return fmt.Errorf("%s:%d:%d: %w", where, line, col, err)
}

// xmlBuilder turns one record element into JSON. Each open element is a
// frame; a closed element's JSON is appended to arena, and its parent's JSON
// replaces its children's there, so memory stays near the record's size.
type xmlBuilder struct {
	repeated map[string]bool
	stack    []xframe
	arena    []byte
	tmp      []byte
}

type xframe struct {
	name   string
	attrs  []xml.Attr
	text   []byte
	fields []xfield
	index  map[string]int // field position by name, once there are many
	start  int            // where the frame's children begin in arena
}

type xfield struct {
	name string
	vals []span
}

type span struct{ from, to int }

func (f *xframe) add(name string, v span) {
	i := -1
	if f.index != nil {
		if j, ok := f.index[name]; ok {
			i = j
		}
	} else {
		for j := range f.fields {
			if f.fields[j].name == name {
				i = j
				break
			}
		}
	}
	if i < 0 {
		i = len(f.fields)
		if i < cap(f.fields) {
			f.fields = f.fields[:i+1]
			f.fields[i].name = name
			f.fields[i].vals = f.fields[i].vals[:0]
		} else {
			f.fields = append(f.fields, xfield{name: name})
		}
		if f.index != nil {
			f.index[name] = i
		} else if len(f.fields) > 8 {
			f.index = make(map[string]int, 16)
			for j := range f.fields {
				f.index[f.fields[j].name] = j
			}
		}
	}
	f.fields[i].vals = append(f.fields[i].vals, v)
}

// record reads the element start opened, to its end, and returns its JSON.
func (b *xmlBuilder) record(dec *xml.Decoder, start xml.StartElement) ([]byte, error) {
	b.arena = b.arena[:0]
	b.stack = b.stack[:0]
	b.push(start)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(b.stack) >= maxXMLDepth {
				return nil, fmt.Errorf("elements nest deeper than %d", maxXMLDepth)
			}
			b.push(t)
		case xml.CharData:
			top := &b.stack[len(b.stack)-1]
			top.text = append(top.text, t...)
		case xml.EndElement:
			top := &b.stack[len(b.stack)-1]
			v := b.close(top, len(b.stack) == 1)
			b.stack = b.stack[:len(b.stack)-1]
			if len(b.stack) == 0 {
				return b.arena[v.from:v.to], nil
			}
			b.stack[len(b.stack)-1].add(top.name, v)
		}
	}
}

func (b *xmlBuilder) push(t xml.StartElement) {
	n := len(b.stack)
	if n < cap(b.stack) {
		b.stack = b.stack[:n+1]
	} else {
		b.stack = append(b.stack, xframe{})
	}
	f := &b.stack[n]
	f.name = t.Name.Local
	f.attrs = f.attrs[:0]
attrs:
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		// Prefixes are dropped, so p:id and q:id are both @id: the first
		// is kept, as a JSON object holds a key once.
		for _, b := range f.attrs {
			if b.Name.Local == a.Name.Local {
				continue attrs
			}
		}
		f.attrs = append(f.attrs, a)
	}
	f.text = f.text[:0]
	f.fields = f.fields[:0]
	f.index = nil
	f.start = len(b.arena)
}

// close writes a frame's JSON in place of its children's and returns where.
func (b *xmlBuilder) close(f *xframe, isRecord bool) span {
	out := b.tmp[:0]
	if !isRecord && len(f.attrs) == 0 && len(f.fields) == 0 {
		out = record.AppendString(out, string(f.text))
	} else {
		out = append(out, '{')
		n := 0
		sep := func() {
			if n > 0 {
				out = append(out, ',')
			}
			n++
		}
		for _, a := range f.attrs {
			sep()
			out = record.AppendString(out, "@"+a.Name.Local)
			out = append(out, ':')
			out = record.AppendString(out, a.Value)
		}
		for _, fl := range f.fields {
			sep()
			out = record.AppendString(out, fl.name)
			out = append(out, ':')
			array := len(fl.vals) > 1 || b.repeated[fl.name]
			if array {
				out = append(out, '[')
			}
			for i, v := range fl.vals {
				if i > 0 {
					out = append(out, ',')
				}
				out = append(out, b.arena[v.from:v.to]...)
			}
			if array {
				out = append(out, ']')
			}
		}
		if t := strings.TrimSpace(string(f.text)); t != "" {
			sep()
			out = append(out, `"#text":`...)
			out = record.AppendString(out, t)
		}
		out = append(out, '}')
	}
	b.tmp = out
	b.arena = append(b.arena[:f.start], out...)
	return span{f.start, len(b.arena)}
}

// charsetReader decodes the single-byte encodings ERPs still write XML in;
// anything else must be converted to UTF-8 first.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii":
		return &singleByteReader{r: bufio.NewReader(in)}, nil
	case "windows-1252", "cp1252":
		return &singleByteReader{r: bufio.NewReader(in), high: &cp1252}, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported: convert the file to UTF-8", label)
}

// singleByteReader converts a single-byte encoding to UTF-8: bytes below
// 0x80 are ASCII, 0x80-0x9F come from high when set, the rest are Latin-1.
type singleByteReader struct {
	r    *bufio.Reader
	high *[32]rune
	raw  [4096]byte
	buf  []byte // raw converted
	out  []byte // what of buf is still to be read
}

func (s *singleByteReader) Read(p []byte) (int, error) {
	if len(s.out) == 0 {
		n, err := s.r.Read(s.raw[:])
		if n == 0 {
			return 0, err
		}
		s.buf = s.buf[:0]
		for _, c := range s.raw[:n] {
			switch {
			case c < 0x80:
				s.buf = append(s.buf, c)
			case c < 0xA0 && s.high != nil:
				s.buf = utf8.AppendRune(s.buf, s.high[c-0x80])
			default:
				s.buf = utf8.AppendRune(s.buf, rune(c))
			}
		}
		s.out = s.buf
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// cp1252 maps windows-1252's 0x80-0x9F; its five unassigned bytes map to the
// C1 controls, as browsers do.
var cp1252 = [32]rune{
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
	0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
}

// validXMLName reports whether s can be an element or attribute name
// (namespace prefixes excluded).
func validXMLName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
		default:
			return false
		}
	}
	return true
}

// xmlEncoder writes records as XML: a declaration, a root element, and one
// element per record. Fields become child elements, an array field repeated
// elements of the field's name, nested objects nested elements; "@name"
// fields become attributes and "#text" the element's text, so what the file
// source reads, this writes back. An array inside an array is an element
// whose elements are named item. Null is an empty element.
type xmlEncoder struct {
	root, elem string
	buf        []byte
}

func (e *xmlEncoder) begin(w *bufio.Writer) error {
	w.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<")
	w.WriteString(e.root)
	_, err := w.WriteString(">\n")
	return err
}

func (e *xmlEncoder) write(w *bufio.Writer, rec *record.Record) error {
	out, err := appendXMLElement(e.buf[:0], e.elem, gjson.ParseBytes(rec.Raw), "")
	e.buf = out
	if err != nil {
		return err
	}
	out = append(out, '\n')
	e.buf = out
	_, err = w.Write(out)
	return err
}

func (e *xmlEncoder) end(w *bufio.Writer) error {
	w.WriteString("</")
	w.WriteString(e.root)
	_, err := w.WriteString(">\n")
	return err
}

// appendXMLElement appends v as an element named name. path names the field
// in messages.
func appendXMLElement(b []byte, name string, v gjson.Result, path string) ([]byte, error) {
	if !validXMLName(name) {
		return b, fmt.Errorf("field %q cannot be an XML element name", path)
	}
	b = append(b, '<')
	b = append(b, name...)
	switch {
	case v.IsObject():
		var err error
		v.ForEach(func(k, a gjson.Result) bool {
			if !strings.HasPrefix(k.Str, "@") {
				return true
			}
			attr := k.Str[1:]
			if !validXMLName(attr) {
				err = fmt.Errorf("field %q cannot be an XML attribute name", join(path, k.Str))
				return false
			}
			if a.IsObject() || a.IsArray() {
				err = fmt.Errorf("field %q is an attribute and needs a string, number or boolean, not %s", join(path, k.Str), jsonKind(a))
				return false
			}
			b = append(b, ' ')
			b = append(b, attr...)
			b = append(b, `="`...)
			b = appendXMLText(b, scalarText(a))
			b = append(b, '"')
			return true
		})
		if err != nil {
			return b, err
		}
		b = append(b, '>')
		v.ForEach(func(k, c gjson.Result) bool {
			switch {
			case strings.HasPrefix(k.Str, "@"):
			case k.Str == "#text":
				if c.IsObject() || c.IsArray() {
					err = fmt.Errorf("field %q is text and needs a string, number or boolean, not %s", join(path, k.Str), jsonKind(c))
					return false
				}
				b = appendXMLText(b, scalarText(c))
			case c.IsArray():
				c.ForEach(func(_, e gjson.Result) bool {
					b, err = appendXMLElement(b, k.Str, e, join(path, k.Str))
					return err == nil
				})
			default:
				b, err = appendXMLElement(b, k.Str, c, join(path, k.Str))
			}
			return err == nil
		})
		if err != nil {
			return b, err
		}
	case v.IsArray():
		b = append(b, '>')
		var err error
		v.ForEach(func(_, e gjson.Result) bool {
			b, err = appendXMLElement(b, "item", e, join(path, "item"))
			return err == nil
		})
		if err != nil {
			return b, err
		}
	case v.Type == gjson.Null || !v.Exists():
		return append(b, "/>"...), nil
	default:
		b = append(b, '>')
		b = appendXMLText(b, scalarText(v))
	}
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>'), nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// scalarText is a scalar's text: a string's characters, a number's or a
// boolean's JSON text.
func scalarText(v gjson.Result) string {
	if v.Type == gjson.String {
		return v.Str
	}
	if v.Type == gjson.Null {
		return ""
	}
	return v.Raw
}

// appendXMLText escapes s for element text and attribute values. Line
// breaks and tabs are written as character references, so they survive
// attribute normalisation; characters XML cannot hold become U+FFFD.
func appendXMLText(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&quot;"...)
		case r == '\'':
			b = append(b, "&apos;"...)
		case r == '\t':
			b = append(b, "&#x9;"...)
		case r == '\n':
			b = append(b, "&#xA;"...)
		case r == '\r':
			b = append(b, "&#xD;"...)
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			b = append(b, "\uFFFD"...)
		default:
			b = append(b, s[i-size:i]...)
		}
	}
	return b
}
