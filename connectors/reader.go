package connectors

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// maxRecordSize bounds the text of one record (a CSV row, an XML record
// element, a JSON array element): memory grows with the largest record, never
// with the size of the input.
const maxRecordSize = 64 << 20

// errRecordTooLarge is returned when one record's text exceeds the limit.
var errRecordTooLarge = errors.New("a record is larger than the limit")

// readOptions are a source's format settings, checked once when the source
// is built.
type readOptions struct {
	format string
	// CSV
	delim rune
	types map[string]string // column -> type, for typed columns
	// XML
	path     []string        // record_path, split
	repeated map[string]bool // element names always read as arrays
	// maxRecord bounds one record's text (tests and fuzzing lower it).
	maxRecord int64
}

var columnTypes = []string{"string", "int", "number", "decimal", "bool"}

// parseReadOptions reads the format settings of a file or stdin source.
// Values it cannot use are errors: the spec's Validate reports them at load,
// so these only catch a caller building a source by hand.
func parseReadOptions(cfg *component.Value) (*readOptions, error) {
	o := &readOptions{format: str(cfg, "format", "ndjson"), delim: ',', maxRecord: maxRecordSize}
	switch o.format {
	case "ndjson", "json", "csv", "xml":
	default:
		return nil, fmt.Errorf("format %q cannot be read", o.format)
	}
	if d := cfg.Get("delimiter"); d != nil && d.Str != "" {
		r, err := delimiter(d.Str)
		if err != nil {
			return nil, err
		}
		o.delim = r
	}
	if cols := cfg.Get("columns"); cols != nil {
		o.types = map[string]string{}
		for _, k := range cols.Keys {
			t := cols.Map[k].Str
			if !contains(columnTypes, t) {
				return nil, fmt.Errorf("column %q: unknown type %q", k, t)
			}
			if t != "string" {
				o.types[k] = t
			}
		}
	}
	if p := cfg.Get("record_path"); p != nil && p.Str != "" {
		path, err := recordPath(p.Str)
		if err != nil {
			return nil, err
		}
		o.path = path
	}
	if o.format == "xml" && len(o.path) == 0 {
		return nil, fmt.Errorf("format xml needs record_path")
	}
	if rep := cfg.Get("repeated"); rep != nil {
		o.repeated = map[string]bool{}
		for _, v := range rep.List {
			o.repeated[v.Str] = true
		}
	}
	return o, nil
}

// str returns a string setting, or def when it is absent.
func str(cfg *component.Value, key, def string) string {
	if v := cfg.Get(key); v != nil && v.Str != "" {
		return v.Str
	}
	return def
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// delimiter checks a CSV delimiter: one character that is not a quote or a
// line break. "\t" may be written as the word tab.
func delimiter(s string) (rune, error) {
	if s == "tab" {
		return '\t', nil
	}
	r, size := utf8.DecodeRuneInString(s)
	if size != len(s) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		return 0, fmt.Errorf("delimiter %q must be one character other than a quote or a line break", s)
	}
	return r, nil
}

// recordPath splits an XML record path such as Orders/Order.
func recordPath(s string) ([]string, error) {
	parts := strings.Split(strings.Trim(s, "/"), "/")
	for _, p := range parts {
		if p == "" || (p != "*" && !validXMLName(p)) {
			return nil, fmt.Errorf("record_path %q: %q is not an element name", s, p)
		}
	}
	return parts, nil
}

// countingReader counts the bytes read through it, for progress.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// decompress wraps r in a gzip reader when gz is set.
func decompress(r io.Reader, gz bool) (io.Reader, func() error, error) {
	if !gz {
		return r, func() error { return nil }, nil
	}
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("gzip: %w", err)
	}
	return z, z.Close, nil
}

// readFormat reads records of o's format from r. where names the input
// (a file path, "stdin") in messages; seq numbers records across inputs.
func readFormat(ctx context.Context, o *readOptions, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	size := 1 << 16
	if o.format == "ndjson" || o.format == "" {
		size = 1 << 20 // readNDJSON reads lines in place in this buffer
	}
	br := bufio.NewReaderSize(r, size)
	// A UTF-8 byte order mark (Excel writes one) is not part of the data.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	switch o.format {
	case "", "ndjson":
		return readNDJSON(ctx, br, src, where, seq, emit, emitErr)
	case "json":
		return readJSON(ctx, br, o.maxRecord, src, where, seq, emit)
	case "csv":
		return readCSV(ctx, o, br, src, where, seq, emit, emitErr)
	case "xml":
		return readXML(ctx, o, br, src, where, seq, emit)
	}
	return fmt.Errorf("format %s cannot be read", o.format)
}

// readNDJSON emits one record per non-blank line. A line that is not one
// JSON value goes to the source's error output with its line number.
func readNDJSON(ctx context.Context, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var sl record.Slab
	line := 0
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole, up to the limit.
			long := append([]byte(nil), b...)
			for err == bufio.ErrBufferFull {
				if len(long) > maxRecordSize {
					return fmt.Errorf("%s:%d: %w (%d MiB)", where, line+1, errRecordTooLarge, maxRecordSize>>20)
				}
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if len(b) > 0 {
			line++
			if t := bytes.TrimSpace(b); len(t) > 0 {
				*seq++
				raw := sl.Copy(t)
				// The line is checked for being JSON by the engine's
				// workers, in parallel, not here on the one reading
				// goroutine; where it came from is kept for the error.
				rec := record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw, File: where, Line: int64(line)})
				rec.Unchecked = true
				if e := emit(rec); e != nil {
					return e
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
}

// readJSON emits one record per element of a top-level JSON array,
// streaming: the array is never held whole, only one element at a time. A
// file holding objects instead (one, or several one after another) gives one
// record per object. Records are compacted, so a pretty-printed file gives
// the same records as a compact one.
func readJSON(ctx context.Context, r *bufio.Reader, limit int64, src, where string, seq *int64, emit func(*record.Record) error) error {
	g := &guard{r: r, limit: limit}
	dec := json.NewDecoder(g)
	dec.UseNumber()
	first, err := firstByte(r)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	array := first == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	var sl record.Slab
	var compact bytes.Buffer
	var raw json.RawMessage
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if array && !dec.More() {
			break
		}
		g.mark = g.n
		raw = raw[:0]
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF && !array {
				return nil
			}
			if errors.Is(err, errRecordTooLarge) {
				return fmt.Errorf("%s: record %d: %w (%d MiB)", where, *seq+1, err, limit>>20)
			}
			return fmt.Errorf("%s: record %d: %w", where, *seq+1, err)
		}
		compact.Reset()
		if err := json.Compact(&compact, raw); err != nil {
			return fmt.Errorf("%s: record %d: %w", where, *seq+1, err)
		}
		*seq++
		b := sl.Copy(compact.Bytes())
		if err := emit(record.New(b, &record.Origin{Source: src, Seq: *seq, Raw: b})); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: unexpected data after the JSON array", where)
	}
	return nil
}

// firstByte peeks at the first byte that is not white space.
func firstByte(r *bufio.Reader) (byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, r.UnreadByte()
		}
	}
}

// guard fails a read once more than limit bytes have been read since mark:
// the readers set mark at the start of each record, so one huge record (or a
// file that never closes its first one) fails instead of filling memory.
type guard struct {
	r     io.Reader
	n     int64 // bytes read
	mark  int64
	limit int64
}

func (g *guard) Read(p []byte) (int, error) {
	if g.limit > 0 && g.n-g.mark > g.limit {
		return 0, errRecordTooLarge
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	return n, err
}
