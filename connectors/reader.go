package connectors

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
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
var errRecordTooLarge = record.ErrTooLarge

// sizeText words a size limit: "64 MiB".
func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

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
	// NDJSON and JSON: the dot path of the records in each value read.
	unwrap string
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
	if u := cfg.Get("unwrap"); u != nil && u.Str != "" {
		if err := record.UnwrapPath(u.Str); err != nil {
			return nil, err
		}
		o.unwrap = u.Str
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
	return &gzipReader{z: z}, z.Close, nil
}

// gzipReader counts the bytes and lines it decompresses, so a file cut
// short or damaged is reported where its data stops.
type gzipReader struct {
	z     *gzip.Reader
	n     int64 // bytes given
	lines int64 // line breaks given
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	g.n += int64(n)
	g.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	if err != nil && err != io.EOF {
		err = &gzipError{n: g.n, line: g.lines + 1, err: err}
	}
	return n, err
}

// gzipError is a gzip stream that stopped before its end.
type gzipError struct {
	n, line int64
	err     error
}

func (e *gzipError) Error() string {
	if errors.Is(e.err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("unexpected end of gzip data after %d bytes, in line %d: the file is cut short", e.n, e.line)
	}
	return fmt.Sprintf("gzip data damaged after %d bytes, in line %d: %v", e.n, e.line, e.err)
}

func (e *gzipError) Unwrap() error { return e.err }

// inputErr words an error reading the input itself (not its format),
// which locates itself: a gzip stream cut short.
func inputErr(where string, err error) (error, bool) {
	var ge *gzipError
	if errors.As(err, &ge) {
		return fmt.Errorf("%s: %w", where, ge), true
	}
	return nil, false
}

// readSample reads a sample for a file, stdin or event source, with the
// parser and the settings the source reads its input with. NDJSON and JSON
// samples are read by the JSON reader, which takes one object, an array or
// NDJSON alike (a line that is not JSON ends the sample, where a source
// would send it to its error output). A sample whose name ends in .gz is
// decompressed.
func readSample(s component.Sample, emit, emitErr func(*record.Record) error) error {
	o, err := parseReadOptions(s.Config)
	if err != nil {
		return err
	}
	if s.Unwrap != "" {
		if o.format != "ndjson" && o.format != "json" {
			return fmt.Errorf("unwrap applies to JSON input, and %s reads %s", s.Node, o.format)
		}
		if err := record.UnwrapPath(s.Unwrap); err != nil {
			return err
		}
		o.unwrap = s.Unwrap
	}
	if o.format == "ndjson" {
		o.format = "json"
	}
	seq := s.Seq
	if seq == nil {
		seq = new(int64)
	}
	r, closeZ, err := decompress(s.Input, strings.HasSuffix(s.Name, ".gz"))
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer closeZ()
	return readFormat(context.Background(), o, r, s.Node, s.Name, seq, emit, emitErr)
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
		return readNDJSON(ctx, o, br, src, where, seq, emit, emitErr)
	case "json":
		return readJSON(ctx, o, br, src, where, seq, emit, emitErr)
	case "csv":
		return readCSV(ctx, o, br, src, where, seq, emit, emitErr)
	case "xml":
		return readXML(ctx, o, br, src, where, seq, emit)
	}
	return fmt.Errorf("format %s cannot be read", o.format)
}

// readNDJSON emits one record per non-blank line. A line that is not one
// JSON value, or is not valid UTF-8, goes to the source's error output
// with its exact bytes and its line number. Lines are checked for being
// JSON by the engine's workers, in parallel, not here on the one reading
// goroutine: this loop only checks the line's encoding (and looks at its
// first byte, to leave the common case, an object, on the fast path).
func readNDJSON(ctx context.Context, o *readOptions, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
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
				if int64(len(long)) > o.maxRecord {
					return fmt.Errorf("%s:%d: %w (%s)", where, line+1, errRecordTooLarge, sizeText(o.maxRecord))
				}
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && err != io.EOF {
			// The line was cut short by the failure: it is not a record.
			if e, ok := inputErr(where, err); ok {
				return e
			}
			return fmt.Errorf("%s:%d: %w", where, line+1, err)
		}
		if len(b) > 0 {
			line++
			if t := bytes.TrimSpace(b); len(t) > 0 {
				*seq++
				var e error
				if t[0] != '{' || o.unwrap != "" || !utf8.Valid(t) {
					e = ndjsonLine(o, sl.Copy(t), src, where, line, seq, emit, emitErr)
				} else {
					raw := sl.Copy(t)
					rec := record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw, File: where, Line: int64(line)})
					rec.Unchecked = true
					e = emit(rec)
				}
				if e != nil {
					return e
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// ndjsonLine handles the lines that do not start as an object or are not
// valid UTF-8, and every line when records are unwrapped (which needs it
// checked here).
func ndjsonLine(o *readOptions, t []byte, src, where string, line int, seq *int64, emit, emitErr func(*record.Record) error) error {
	at := fmt.Sprintf("%s:%d", where, line)
	origin := &record.Origin{Source: src, Seq: *seq, Raw: t, File: where, Line: int64(line)}
	if col, ok := invalidUTF8(t); !ok {
		return reject(emitErr, t, origin, fmt.Errorf("%s:%d: invalid UTF-8", at, col))
	}
	if o.unwrap == "" {
		// Checked as JSON by the engine, as the other lines are.
		rec := record.New(t, origin)
		rec.Unchecked = true
		return emit(rec)
	}
	if !record.Valid(t) {
		return reject(emitErr, t, origin, fmt.Errorf("%s: not a JSON value", at))
	}
	return unwrapRecords(o.unwrap, t, at, origin, seq, emit, emitErr)
}

// unwrapRecords emits the records at path in the value v read at at: each
// one its own payload. A value with nothing there goes to the error output.
func unwrapRecords(path string, v []byte, at string, origin *record.Origin, seq *int64, emit, emitErr func(*record.Record) error) error {
	first := true
	found, err := record.Unwrap(v, path, func(rec []byte, i int) error {
		if !first {
			*seq++
		}
		first = false
		o := *origin
		o.Seq, o.Raw = *seq, rec
		return emit(record.New(rec, &o))
	})
	if err != nil {
		return err
	}
	if !found {
		return reject(emitErr, v, origin, fmt.Errorf("%s: nothing at %q to unwrap", at, path))
	}
	if first {
		// An empty array: no records, and none is lost. The number
		// taken for the value is given back.
		*seq--
	}
	return nil
}

// reject sends text that is not a record to the error output, its bytes
// kept exactly as its original payload.
func reject(emitErr func(*record.Record) error, text []byte, origin *record.Origin, err error) error {
	return emitErr(component.ErrorRecord(origin.Source, record.New(text, origin), err))
}

// invalidUTF8 reports whether b is valid UTF-8, and if not the 1-based
// column of its first invalid byte.
func invalidUTF8(b []byte) (int, bool) {
	if utf8.Valid(b) {
		return 0, true
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i + 1, false
		}
		i += size
	}
	return 0, true
}

// readJSON emits one record per element of a top-level JSON array,
// streaming: the array is never held whole, only one element at a time. A
// file holding values instead (one object, NDJSON, objects one after
// another) gives one record per value. Records are compacted, so a
// pretty-printed file gives the same records as a compact one.
//
// Each element is one record, whatever JSON it is (a step that needs an
// object fails that record alone); one that is not valid UTF-8 goes to the
// error output, and reading goes on. Malformed syntax ends the read
// with the line and column at fault, after every record before it was
// emitted: past a broken quote or bracket the next element cannot be found
// reliably.
func readJSON(ctx context.Context, o *readOptions, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	st := record.NewJSONStream(r, o.maxRecord)
	var sl record.Slab
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v, pos, err := st.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if e, ok := inputErr(where, err); ok {
				return e
			}
			if errors.Is(err, errRecordTooLarge) {
				return fmt.Errorf("%s:%s: %w (%s)", where, pos, errRecordTooLarge, sizeText(o.maxRecord))
			}
			return fmt.Errorf("%s:%w", where, err)
		}
		*seq++
		v = sl.Copy(v)
		at := fmt.Sprintf("%s:%s", where, pos)
		origin := &record.Origin{Source: src, Seq: *seq, Raw: v, File: where, Line: int64(pos.Line)}
		if bad, ok := st.InvalidUTF8(); ok {
			if err := reject(emitErr, v, origin, fmt.Errorf("%s:%s: invalid UTF-8", where, bad)); err != nil {
				return err
			}
			continue
		}
		if o.unwrap != "" {
			if err := unwrapRecords(o.unwrap, v, at, origin, seq, emit, emitErr); err != nil {
				return err
			}
			continue
		}
		if err := emit(record.New(v, origin)); err != nil {
			return err
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
