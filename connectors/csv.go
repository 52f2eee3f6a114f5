package connectors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

// csvColumn is a header column: its JSON key, written once, and its type.
type csvColumn struct {
	name string
	key  []byte // `"name":`
	typ  string // "" for strings
}

// readCSV emits one JSON object per row, keyed by the header row, in header
// order. Typed columns are converted (an empty typed cell is null); a row
// whose cell does not parse as its type, whose number of cells differs from
// the header's, or that is not well-formed CSV goes to the source's error
// output with its text, the file, the line and the column.
func readCSV(ctx context.Context, o *readOptions, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	tap := &rawTap{r: r, limit: o.maxRecord}
	cr := csv.NewReader(tap)
	cr.Comma = o.delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		if e, ok := inputErr(where, err); ok {
			return e
		}
		return fmt.Errorf("%s:1: header: %w", where, csvErr(err, o.maxRecord))
	}
	for i, h := range header {
		if !utf8.ValidString(h) {
			line, col := cr.FieldPos(i)
			return fmt.Errorf("%s:%d:%d: header: column %d is not valid UTF-8", where, line, col, i+1)
		}
	}
	cols, err := csvColumns(header, o.types)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	tap.setMark(cr.InputOffset())

	var sl record.Slab
	var buf []byte
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		start := cr.InputOffset()
		row, err := cr.Read()
		end := cr.InputOffset()
		if err == io.EOF {
			return nil
		}
		var rowErr error
		var pe *csv.ParseError
		switch {
		case err == nil:
		case errors.As(err, &pe) && pe.Err != nil && !errors.Is(err, errRecordTooLarge) && end > start:
			rowErr = fmt.Errorf("%s:%d:%d: %v", where, pe.Line, pe.Column, pe.Err)
		default:
			if e, ok := inputErr(where, err); ok {
				return e
			}
			return fmt.Errorf("%s:%d: %w", where, tap.lineAt(start), csvErr(err, o.maxRecord))
		}
		if rowErr == nil && len(row) != len(cols) {
			line, _ := cr.FieldPos(0)
			rowErr = fmt.Errorf("%s:%d: %d cells, the header has %d columns", where, line, len(row), len(cols))
		}
		if rowErr == nil {
			// A cell that is not valid UTF-8 cannot be a JSON string
			// without losing bytes: the row goes to the error output,
			// its text kept exactly.
			for i, cell := range row {
				if !utf8.ValidString(cell) {
					line, col := cr.FieldPos(i)
					rowErr = fmt.Errorf("%s:%d:%d: column %q is not valid UTF-8", where, line, col, cols[i].name)
					break
				}
			}
		}
		if rowErr == nil {
			buf = append(buf[:0], '{')
			for i, c := range cols {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, c.key...)
				if buf, err = appendCell(buf, row[i], c.typ); err != nil {
					line, col := cr.FieldPos(i)
					rowErr = fmt.Errorf("%s:%d:%d: column %q: %w", where, line, col, c.name, err)
					break
				}
			}
			buf = append(buf, '}')
		}
		*seq++
		var line int64
		switch {
		case pe != nil:
			line = int64(pe.StartLine)
		case len(row) > 0:
			l, _ := cr.FieldPos(0)
			line = int64(l)
		}
		if rowErr != nil {
			// The text of the row, without the blank lines before it.
			text := bytes.Trim(tap.span(start, end), "\r\n")
			if len(text) == 0 {
				text = []byte(" ")
			}
			raw := sl.Copy(text)
			rec := record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw, File: where, Line: line})
			if err := emitErr(component.ErrorRecord(src, rec, rowErr)); err != nil {
				return err
			}
		} else {
			raw := sl.Copy(buf)
			if err := emit(record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw, File: where, Line: line})); err != nil {
				return err
			}
		}
		tap.setMark(end)
	}
}

// csvErr words a reading error, naming the size limit when that was hit.
func csvErr(err error, limit int64) error {
	if errors.Is(err, errRecordTooLarge) {
		return fmt.Errorf("the row that starts here: %w (%s): is the file CSV, with balanced quotes?", errRecordTooLarge, sizeText(limit))
	}
	return err
}

// csvColumns checks a header row against the column types.
func csvColumns(header []string, types map[string]string) ([]csvColumn, error) {
	cols := make([]csvColumn, len(header))
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		if seen[h] {
			return nil, fmt.Errorf("the header names column %q twice", h)
		}
		seen[h] = true
		cols[i] = csvColumn{name: h, key: append(record.AppendString(nil, h), ':'), typ: types[h]}
	}
	for name := range types {
		if !seen[name] {
			return nil, fmt.Errorf("column %q has a type in `columns` but is not in the header (%s)", name, strings.Join(header, ", "))
		}
	}
	return cols, nil
}

// csvSourceType types the records of a source reading CSV with `columns`:
// the typed columns are of their types (a decimal column's cells are exact
// decimals in expressions, and decode as such), and may be null, as an
// empty typed cell is; other columns are strings. The type refines the
// source's schema when it has one, and is otherwise an open object, since
// the header is only read when the source runs.
func csvSourceType(tc component.TypeContext) map[string]*component.Type {
	cols := tc.Config.Get("columns")
	if str(tc.Config, "format", "ndjson") != "csv" || cols == nil || len(cols.Keys) == 0 {
		return nil
	}
	out := component.OpenObject()
	if tc.Input != nil && tc.Input.Kind == component.Object {
		cp := *tc.Input
		cp.Fields = slices.Clone(cp.Fields)
		out = &cp
	}
	for _, name := range cols.Keys {
		t := columnType(cols.Map[name].Str)
		if t == nil {
			continue // reported by the spec's enum
		}
		i := slices.IndexFunc(out.Fields, func(p component.Property) bool { return p.Name == name })
		if i < 0 {
			out.Fields = append(out.Fields, component.Property{Name: name, Type: t})
			continue
		}
		out.Fields[i].Type = t
	}
	return map[string]*component.Type{component.DefaultOutput: out}
}

// columnType is the type of a CSV column of a `columns` type.
func columnType(name string) *component.Type {
	var t component.Type
	switch name {
	case "string":
		return component.StringType
	case "int":
		t = *component.IntType
	case "number":
		t = *component.NumberType
	case "decimal":
		t = *component.DecimalType
	case "bool":
		t = *component.BoolType
	default:
		return nil
	}
	t.Nullable = true // an empty typed cell is null
	return &t
}

// appendCell appends a cell's JSON value. Typed cells are trimmed of
// surrounding spaces and are null when empty.
func appendCell(b []byte, cell, typ string) ([]byte, error) {
	if typ == "" || typ == "string" {
		return record.AppendString(b, cell), nil
	}
	s := strings.TrimSpace(cell)
	if s == "" {
		return append(b, "null"...), nil
	}
	switch typ {
	case "int":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return b, fmt.Errorf("%q is out of the range of a 64-bit int", cell)
			}
			return b, fmt.Errorf("%q is not an int", cell)
		}
		return strconv.AppendInt(b, n, 10), nil
	case "decimal":
		out, ok := appendDecimal(b, s)
		if !ok {
			return b, fmt.Errorf("%q is not a decimal", cell)
		}
		return out, nil
	case "number":
		if !isDecimalText(s) {
			return b, fmt.Errorf("%q is not a number", cell)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return b, fmt.Errorf("%q is out of the range of a number", cell)
		}
		if validJSONNumber(s) {
			return append(b, s...), nil
		}
		return record.AppendJSON(b, f)
	case "bool":
		switch strings.ToLower(s) {
		case "true", "1", "yes":
			return append(b, "true"...), nil
		case "false", "0", "no":
			return append(b, "false"...), nil
		}
		return b, fmt.Errorf("%q is not a bool (true, false, 1, 0, yes or no)", cell)
	}
	return b, fmt.Errorf("unknown column type %q", typ)
}

// isDecimalText reports whether s is made of sign, digits, one point and
// an exponent only (no "inf", "nan", hex or digit separators).
func isDecimalText(s string) bool {
	_, ok := appendDecimal(nil, s)
	return ok
}

// appendDecimal appends the decimal number s as a JSON number with exactly
// its digits: "12.50" stays 12.50, "+007.5" becomes 7.5, ".5" becomes 0.5.
// It reports false when s is not [+-]digits[.digits][e[+-]digits].
func appendDecimal(b []byte, s string) ([]byte, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
	}
	if intPart == "" && frac == "" {
		return b, false
	}
	var exp string
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		es := i + 1
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == ds {
			return b, false
		}
		exp = s[es:i]
	}
	if i != len(s) {
		return b, false
	}
	if neg {
		b = append(b, '-')
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	b = append(b, intPart...)
	if frac != "" {
		b = append(b, '.')
		b = append(b, frac...)
	}
	if exp != "" {
		b = append(b, 'e')
		b = append(b, exp...)
	}
	return b, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validJSONNumber reports whether s is a number as JSON writes them.
func validJSONNumber(s string) bool {
	out, ok := appendDecimal(nil, s)
	return ok && string(out) == s && s[0] != '+'
}

// rawTap keeps the input read through it from the current record on, so a
// row that fails can be reported with its exact text, and fails reads once
// one record grows past the limit.
type rawTap struct {
	r     io.Reader
	buf   []byte // input from offset base on
	base  int64
	mark  int64 // where the current record starts
	limit int64
	lines int64 // line breaks before base
}

func (t *rawTap) Read(p []byte) (int, error) {
	if t.limit > 0 && t.base+int64(len(t.buf))-t.mark > t.limit {
		return 0, errRecordTooLarge
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// span returns the input between two offsets at or after the mark.
func (t *rawTap) span(from, to int64) []byte {
	from, to = max(from, t.base), min(to, t.base+int64(len(t.buf)))
	if from >= to {
		return nil
	}
	return t.buf[from-t.base : to-t.base]
}

// setMark starts a record at off, forgetting what lies before it.
func (t *rawTap) setMark(off int64) {
	t.mark = off
	if k := off - t.base; k > 64<<10 && k > int64(len(t.buf))/2 {
		t.lines += int64(bytes.Count(t.buf[:k], []byte{'\n'}))
		n := copy(t.buf, t.buf[k:])
		t.buf = t.buf[:n]
		t.base = off
	}
}

// lineAt returns the line of the input at off, at or after the mark.
func (t *rawTap) lineAt(off int64) int64 {
	k := min(max(off-t.base, 0), int64(len(t.buf)))
	return t.lines + int64(bytes.Count(t.buf[:k], []byte{'\n'})) + 1
}

// csvEncoder writes records as CSV rows: a header, then one row per record.
// The columns are the configured ones or the first record's top-level keys
// in order. Strings are written as they are; numbers and booleans as their
// JSON text; null and absent fields as empty cells; objects and arrays as
// compact JSON text.
type csvEncoder struct {
	columns  []string
	explicit bool
	// resumed says the file already has its header (a file sink appending
	// to it): begin writes none.
	resumed bool
	index   map[string]int
	delim   rune
	cw      *csv.Writer
	cells   []string
	scratch bytes.Buffer
}

func newCSVEncoder(columns []string, delim rune) *csvEncoder {
	e := &csvEncoder{delim: delim}
	if len(columns) > 0 {
		e.setColumns(columns)
		e.explicit = true
	}
	return e
}

func (e *csvEncoder) setColumns(cols []string) {
	e.columns = cols
	e.index = make(map[string]int, len(cols))
	for i, c := range cols {
		e.index[c] = i
	}
	e.cells = make([]string, len(cols))
}

// resume makes e add rows under header, the header of the file it adds
// to, instead of writing a header of its own: the rows take header's
// columns, which must be the configured ones when `columns` is set.
func (e *csvEncoder) resume(header []string) error {
	if e.explicit && !slices.Equal(header, e.columns) {
		return fmt.Errorf("the file's CSV header has the columns %s, and the sink's `columns` are %s: rows added under that header would be misread",
			strings.Join(header, ", "), strings.Join(e.columns, ", "))
	}
	if !e.explicit {
		e.setColumns(header)
	}
	e.resumed = true
	return nil
}

func (e *csvEncoder) begin(w *bufio.Writer) error {
	e.cw = csv.NewWriter(w)
	e.cw.Comma = e.delim
	if e.columns != nil && !e.resumed {
		return e.cw.Write(e.columns)
	}
	return nil
}

func (e *csvEncoder) write(_ *bufio.Writer, rec *record.Record) error {
	res := gjson.ParseBytes(rec.Raw)
	if !res.IsObject() {
		return fmt.Errorf("a CSV row needs a JSON object, not %s", jsonKind(res))
	}
	if e.columns == nil {
		var cols []string
		seen := map[string]bool{}
		res.ForEach(func(k, _ gjson.Result) bool {
			if !seen[k.Str] {
				seen[k.Str] = true
				cols = append(cols, k.Str)
			}
			return true
		})
		e.setColumns(cols)
		if err := e.cw.Write(cols); err != nil {
			return err
		}
	}
	clear(e.cells)
	var unknown []string
	res.ForEach(func(k, v gjson.Result) bool {
		i, ok := e.index[k.Str]
		if !ok {
			if !e.explicit {
				unknown = append(unknown, k.Str)
			}
			return true
		}
		e.cells[i] = e.cellText(v)
		return true
	})
	if len(unknown) > 0 {
		what := "field " + strconv.Quote(unknown[0]) + " is"
		if len(unknown) > 1 {
			what = "fields " + strings.Join(quoteAll(unknown), ", ") + " are"
		}
		from := "the first record"
		if e.resumed {
			from = "the header of the file added to"
		}
		return fmt.Errorf("%s not among the CSV columns (%s), which come from %s: list every column in `columns`",
			what, strings.Join(e.columns, ", "), from)
	}
	if err := e.cw.Write(e.cells); err != nil {
		return err
	}
	return nil
}

func (e *csvEncoder) cellText(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.Null:
		return ""
	case gjson.JSON:
		e.scratch.Reset()
		if json.Compact(&e.scratch, []byte(v.Raw)) == nil {
			return e.scratch.String()
		}
	}
	return v.Raw
}

func (e *csvEncoder) end(*bufio.Writer) error {
	e.cw.Flush()
	return e.cw.Error()
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// jsonKind names the kind of a JSON value in messages.
func jsonKind(v gjson.Result) string {
	switch {
	case v.IsArray():
		return "an array"
	case v.IsObject():
		return "an object"
	case v.Type == gjson.String:
		return "a string"
	case v.Type == gjson.Number:
		return "a number"
	case v.Type == gjson.True, v.Type == gjson.False:
		return "a boolean"
	}
	return "null"
}
