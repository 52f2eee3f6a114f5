package connectors

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

var formats = []string{"ndjson", "json", "csv", "xml"}

// Settings shared by the kinds that read or write files and standard streams.
var (
	columnsTypedField = &component.Field{Name: "columns", Kind: component.MapField,
		Elem: &component.Field{Kind: component.EnumField, Enum: columnTypes, Doc: "column type"},
		Doc: "CSV column types by header name; unlisted columns are strings. int is a 64-bit integer, every digit kept; " +
			"decimal keeps the cell's exact digits (12.50 stays 12.50) and is an exact decimal in expressions; number is a floating-point number; bool takes " +
			"true, false, 1, 0, yes and no. Typed cells are trimmed, and null when empty; a cell that does not parse " +
			"sends its row to the source's `error` output, naming the file, line and column.",
		Examples: []any{map[string]any{"qty": "int", "price": "decimal"}}}
	delimiterField = &component.Field{Name: "delimiter", Kind: component.StringField, Default: ",",
		Doc: "CSV field delimiter: one character; `tab` for tabs.", Examples: []any{";", "tab"}}
	recordPathField = &component.Field{Name: "record_path", Kind: component.StringField,
		Doc:      "XML: slash-separated path of the record elements from the root; `*` matches any element. Required for xml.",
		Examples: []any{"Orders/Order"}}
	repeatedField = &component.Field{Name: "repeated", Kind: component.ListField,
		Elem: &component.Field{Kind: component.StringField, Doc: "an element name"},
		Doc: "XML: child elements always read as arrays, even when a record has one. Others are arrays only " +
			"when they repeat.", Examples: []any{[]any{"Line"}}}
	unwrapField = &component.Field{Name: "unwrap", Kind: component.StringField,
		Doc: "NDJSON and JSON: dot path of the records inside each value read, for API pages and envelopes: " +
			"`orders` reads each order of a Shopify page `{\"orders\": [...]}`, `order` the order of " +
			"`{\"order\": {...}}`, `data` a WooCommerce payload wrapped in `{\"data\": ...}`. An array there gives one " +
			"record per element; each record's original payload is the record itself, not the page. A value with " +
			"nothing at the path, and an element that is not an object, go to the `error` output.",
		Examples: []any{"orders", "order", "data"}}
	columnsListField = &component.Field{Name: "columns", Kind: component.ListField,
		Elem: &component.Field{Kind: component.StringField, Doc: "a field name"},
		Doc: "CSV columns, in order: top-level fields of the records. Without it the columns are the first record's " +
			"fields, and a later record with other fields goes to the sink's `error` output."}
)

var fileSourceSpec = &component.Spec{
	Kind:    "file",
	Section: component.SourceSection,
	Summary: "Reads records from files: NDJSON, JSON arrays, CSV or XML, gzipped or not.",
	Description: "The batch exchange with ERPs and 3PLs. `path` may be a glob; files are read in name order, " +
		"each whole before the next. Files ending in .gz are decompressed; a file cut short stops the run with the " +
		"byte and line where its data ends. Files are streamed: memory grows with the largest record, never with " +
		"the file, and one record may not exceed 64 MiB (a larger one stops the run, naming the limit and where " +
		"the record starts).\n\n" +
		"Every record is accounted for: a record that cannot be made goes to the `error` output with its exact " +
		"text and file:line:column, and reading goes on; where the format cannot find the next record after a " +
		"fault (malformed JSON syntax inside an array, malformed XML) the run stops with the file, line and " +
		"column at fault, after every record before it was read. Records are JSON objects in valid UTF-8: " +
		"input that is not valid UTF-8 goes to the `error` output, its bytes kept exactly (as `record_base64`).\n\n" +
		"- ndjson: one JSON object a line; a line that is not one goes to the `error` output.\n" +
		"- json: a JSON array, one record per element (or values one after another, one record each); an " +
		"element that is not an object goes to the `error` output.\n" +
		"- csv: the header row names the fields, in order; `columns` gives types. A row that is not well-formed, " +
		"has a different number of cells than the header, or has a cell that does not parse as its type goes to " +
		"the `error` output with its text.\n" +
		"- xml: each element at `record_path` is a record. Child elements are fields (text as strings; repeated " +
		"elements are arrays; nested elements objects), attributes are `@name` fields, and text beside " +
		"attributes or children is `#text`. ISO-8859-1 and windows-1252 files are decoded (as the XML " +
		"declaration says). Malformed XML stops the run with the line and column at fault.\n\n" +
		"`pipectl test` and `pipectl dry-run --input` read a sample for this source in its own format, with " +
		"these settings: a CSV source's samples are CSV.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "path", Doc: "File source settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "File path or glob, relative to the working directory; ${VAR} allowed.",
				Examples: []any{"${ORDERS_IN}", "exports/orders-*.ndjson.gz"}},
			{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written in the file."},
			columnsTypedField,
			delimiterField,
			recordPathField,
			repeatedField,
			unwrapField,
		}},
	Validate:   validateReadSettings,
	Triggers:   []string{"cron", "manual"},
	NewSource:  newFileSource,
	ReadSample: readSample,
	Examples: []component.Example{{
		Title: "A nightly stock snapshot",
		YAML: `sources:
  stock:
    trigger: nightly
    file: {path: /data/wms/stock-*.csv, format: csv, columns: {on_hand: int}}`,
	}, {
		Title: "Shopify REST pages saved to files",
		YAML: `sources:
  orders:
    file: {path: exports/orders-page-*.json, format: json, unwrap: orders}
    schema: shopify/order`,
	}, {
		Title: "ERP orders as XML",
		YAML: `sources:
  erp_orders:
    file: {path: exports/orders-*.xml.gz, format: xml, record_path: Orders/Order, repeated: [Line]}`,
	}},
	OutputType: csvSourceType,
}

var fileSinkSpec = &component.Spec{
	Kind:    "file",
	Section: component.SinkSection,
	Summary: "Writes records to a file as NDJSON, a JSON array, CSV or XML.",
	Description: "Output is deterministic: the same input gives byte-identical files. The file is written beside " +
		"its path under a hidden temporary name and renamed into place when the run ends, so whoever polls the " +
		"directory never sees half a file; no records give a valid empty file (`[]`, a CSV header when `columns` " +
		"is set, an empty XML root).\n\n" +
		"Under `pipectl serve`, which runs a pipeline once per batch of deliveries, the sink adds each batch to the " +
		"file instead (a gzipped file gets a gzip member per batch), locked against other runs adding to it, and a " +
		"batch that fails or is interrupted takes back what it added. ndjson and csv can be added to (a CSV file's " +
		"header is written once, when the file is new); json and xml cannot, and serve refuses them.\n\n" +
		"- csv: columns follow `columns` or the first record's fields. Strings are written as they are, numbers " +
		"and booleans as their JSON text, null as an empty cell, objects and arrays as JSON text.\n" +
		"- xml: records are `record_element` elements inside a `root_element`. Fields become child elements, " +
		"arrays repeated elements, nested objects nested elements, `@name` fields attributes and `#text` text, " +
		"as the file source reads them. A field whose name cannot be an XML name sends its record to the " +
		"`error` output.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "path", Doc: "File sink settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "File path, relative to the working directory; ${VAR} allowed.", Examples: []any{"${ORDERS_OUT}"}},
			{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written."},
			columnsListField,
			delimiterField,
			{Name: "record_element", Kind: component.StringField, Default: "record", Doc: "XML: element name of each record.", Examples: []any{"Order"}},
			{Name: "root_element", Kind: component.StringField, Default: "records", Doc: "XML: element name of the document's root.", Examples: []any{"Orders"}},
			{Name: "gzip", Kind: component.BoolField, Default: false, Doc: "Compress the output with gzip; name the path .gz so a file source reads it back."},
		}},
	Validate: validateWriteSettings,
	NewSink:  newFileSink,
	Examples: []component.Example{{
		Title: "Pick tickets to NDJSON",
		YAML: `sinks:
  out:
    from: tickets
    file: {path: "${ORDERS_OUT}", format: ndjson}`,
	}, {
		Title: "A stock report for the ERP",
		YAML: `sinks:
  report:
    from: stock
    file: {path: out/stock.csv.gz, format: csv, columns: [sku, on_hand], gzip: true}`,
	}},
}

// formatOnly lists settings that apply to some formats only.
var formatOnly = map[string][]string{
	"columns": {"csv"}, "delimiter": {"csv"},
	"record_path": {"xml"}, "repeated": {"xml"}, "record_element": {"xml"}, "root_element": {"xml"},
	"unwrap": {"ndjson", "json"},
}

// validateFormatSettings reports settings given for a format other than the
// one chosen: `columns` on an NDJSON source is a forgotten `format: csv`.
func validateFormatSettings(cfg *component.Value, report component.Reporter) string {
	format := "ndjson"
	if f := cfg.Get("format"); f != nil && f.Str != "" {
		format = f.Str
	}
	for _, k := range cfg.Keys {
		v := cfg.Map[k]
		if want, ok := formatOnly[k]; ok && v.Set && !contains(want, format) {
			report.Errorf(v, "invalid-value", "%s applies to format %s, and the format is %s", k, strings.Join(want, " and "), format)
		}
	}
	if d := cfg.Get("delimiter"); d != nil && d.Set {
		if _, err := delimiter(d.Str); err != nil {
			report.Errorf(d, "invalid-value", "%v", err)
		}
	}
	return format
}

func validateReadSettings(cfg *component.Value, report component.Reporter) {
	format := validateFormatSettings(cfg, report)
	p := cfg.Get("record_path")
	if format == "xml" && (p == nil || !p.Set) {
		report.Errorf(cfg.Get("format"), "missing-field", "format xml needs `record_path`, the path of the record elements, such as Orders/Order")
	}
	if p != nil && p.Set && p.Str != "" {
		if _, err := recordPath(p.Str); err != nil {
			report.Errorf(p, "invalid-value", "%v", err)
		}
	}
	if u := cfg.Get("unwrap"); u != nil && u.Set {
		if err := record.UnwrapPath(u.Str); err != nil {
			report.Errorf(u, "invalid-value", "%v", err)
		}
	}
}

func validateWriteSettings(cfg *component.Value, report component.Reporter) {
	validateFormatSettings(cfg, report)
	for _, k := range []string{"record_element", "root_element"} {
		if v := cfg.Get(k); v != nil && v.Set && !validXMLName(v.Str) {
			report.Errorf(v, "invalid-value", "%s %s is not an XML element name", k, v.Display())
		}
	}
	if cols := cfg.Get("columns"); cols != nil {
		seen := map[string]bool{}
		for _, c := range cols.List {
			if seen[c.Str] {
				report.Errorf(c, "invalid-value", "columns lists %s twice", c.Display())
			}
			seen[c.Str] = true
		}
	}
}

type fileSource struct {
	name    string
	pattern string
	opts    *readOptions
	read    atomic.Int64
	size    int64
	files   []string
}

func newFileSource(ctx component.BuildContext) (component.Source, error) {
	opts, err := parseReadOptions(ctx.Config)
	if err != nil {
		return nil, err
	}
	s := &fileSource{name: ctx.Name, pattern: ctx.Config.Get("path").Str, opts: opts}
	if s.pattern == "" {
		return nil, fmt.Errorf("path is empty: set it, or the environment variable it names")
	}
	files, err := filepath.Glob(s.pattern)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", s.pattern, err)
	}
	if len(files) == 0 {
		if _, err := os.Stat(s.pattern); err != nil {
			return nil, fmt.Errorf("no file matches %q", s.pattern)
		}
		files = []string{s.pattern}
	}
	sort.Strings(files)
	for _, f := range files {
		info, err := os.Stat(f)
		if err == nil && info.IsDir() {
			continue
		}
		if err == nil {
			s.size += info.Size()
		}
		s.files = append(s.files, f)
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("%q matches only directories", s.pattern)
	}
	return s, nil
}

func (s *fileSource) Size() int64      { return s.size }
func (s *fileSource) BytesRead() int64 { return s.read.Load() }

func (s *fileSource) Read(ctx context.Context, emit, emitErr func(*record.Record) error) error {
	var seq int64
	for _, path := range s.files {
		if err := s.readFile(ctx, path, &seq, emit, emitErr); err != nil {
			return err
		}
	}
	return nil
}

func (s *fileSource) readFile(ctx context.Context, path string, seq *int64, emit, emitErr func(*record.Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, closeZ, err := decompress(countingReader{f, &s.read}, strings.HasSuffix(path, ".gz"))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer closeZ()
	return readFormat(ctx, s.opts, r, s.name, path, seq, emit, emitErr)
}

// fileSink writes to a hidden temporary file beside path, renamed over path
// when the run commits. Nothing touches the file system before Start (or,
// for a sink used without the engine, the first Write), so building the
// sink (as dry runs do) changes nothing. A run that does not commit removes
// the temporary file and leaves whatever was at path before.
//
// In append mode (component.Runtime.Append, under `pipectl serve`) the sink
// adds to path itself, locked against other runs appending to it, and a
// run that does not commit truncates path back to the size it had at
// Start. Beside path, a hidden file (committedPath) keeps the size path
// had when the last run committed, so a run killed before it could take
// its bytes back has them taken back by the next one.
type fileSink struct {
	path      string
	enc       encoder
	gzip      bool
	dry       bool
	appending bool
	f         *os.File
	tmp       string
	z         *gzip.Writer
	w         *bufio.Writer
	err       error // why the file could not be opened
	closed    bool
	// base is path's size when an appending run started: what it may
	// truncate back to. n counts the records this run wrote.
	base int64
	n    int
	// delim is the CSV delimiter, for reading the header of a file added to.
	delim rune
}

func newFileSink(ctx component.BuildContext) (component.Sink, error) {
	p := ctx.Config.Get("path").Str
	if p == "" {
		return nil, fmt.Errorf("path is empty: set it, or the environment variable it names")
	}
	opts, err := parseWriteOptions(ctx.Config)
	if err != nil {
		return nil, err
	}
	gz := false
	if v := ctx.Config.Get("gzip"); v != nil {
		gz = v.Bool
	}
	s := &fileSink{path: p, enc: opts.encoder(), gzip: gz, delim: opts.delim,
		dry: ctx.Runtime != nil && ctx.Runtime.DryRun, appending: ctx.Runtime != nil && ctx.Runtime.Append}
	if s.appending {
		switch opts.format {
		case "json":
			return nil, errors.New("format json cannot be appended to, and under pipectl serve every batch of deliveries adds to the file: " +
				"a JSON array is one document that its last ] closes; write format ndjson, one record a line, instead")
		case "xml":
			return nil, errors.New("format xml cannot be appended to, and under pipectl serve every batch of deliveries adds to the file: " +
				"an XML document has one root element that its end tag closes; write format ndjson, one record a line, instead")
		}
	}
	return s, nil
}

// Start creates the output's folder when it is missing, removes the
// temporary files runs that were killed left beside the path, and opens
// this run's temporary file, so a path that cannot be written fails the run
// before it reads anything rather than failing every record.
func (s *fileSink) Start(ctx context.Context) error {
	if s.dry {
		return nil
	}
	if dir := filepath.Dir(s.path); dir != "" {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("cannot create the folder of %s: %w", s.path, unwrapPath(err))
		}
	}
	removeStaleTemps(s.path)
	return s.open(ctx)
}

// open creates the temporary file (in append mode, opens path) on first
// use and starts the document.
func (s *fileSink) open(ctx context.Context) error {
	if s.w != nil || s.err != nil {
		return s.err
	}
	if s.dry {
		return errors.New("file sink opened during a dry run")
	}
	if s.err = s.openFile(ctx); s.err != nil {
		return s.err
	}
	var out io.Writer = &writeback{f: s.f, written: s.base, started: s.base}
	if s.gzip {
		// In append mode each run adds a gzip member, which readers
		// (the file source, gzip -d) read on from the one before.
		s.z = gzip.NewWriter(out) // no name or time in the header: same input, same bytes
		out = s.z
	}
	s.w = bufio.NewWriterSize(out, 1<<16)
	if s.appending && s.base > 0 {
		if s.err = s.resume(); s.err != nil {
			return s.err
		}
	}
	if err := s.enc.begin(s.w); err != nil {
		s.err = err
		return err
	}
	return nil
}

func (s *fileSink) openFile(ctx context.Context) error {
	if !s.appending {
		f, tmp, err := createTemp(s.path)
		s.f, s.tmp = f, tmp
		return err
	}
	f, base, err := openAppend(ctx, s.path)
	s.f, s.base = f, base
	return err
}

// openAppend opens path to append to it, locked, after taking back what a
// run killed before it committed left at its end, and returns the size
// that is path's committed content.
func openAppend(ctx context.Context, path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot open %s to append to it: %w", path, unwrapPath(err))
	}
	if err := lockAppend(ctx, f); err != nil {
		f.Close()
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	size := info.Size()
	committed, known := readCommitted(path)
	if known && committed < size {
		// Bytes a run added and never committed (it was killed): the
		// deliveries they came from were not acknowledged and come again.
		if err := truncateTo(f, committed); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("cannot take back what an unfinished run added to %s: %w", path, unwrapPath(err))
		}
		size = committed
	}
	if !known || committed != size {
		if err := writeCommitted(path, size); err != nil {
			f.Close()
			return nil, 0, err
		}
		syncDir(filepath.Dir(path))
	}
	return f, size, nil
}

// committedPath is the hidden file beside path holding path's size when
// the last run appending to it committed.
func committedPath(path string) string {
	dir, prefix := tempPrefix(path)
	return filepath.Join(dir, prefix+"committed")
}

// readCommitted reads the committed size of path; known is false when no
// run appended to it (or what was kept cannot be read, when the best left
// is to trust the file).
func readCommitted(path string) (size int64, known bool) {
	b, err := os.ReadFile(committedPath(path))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n >= 0
}

// writeCommitted keeps size as path's committed size, durably.
func writeCommitted(path string, size int64) error {
	name := committedPath(path)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err == nil {
		_, err = f.WriteString(strconv.FormatInt(size, 10) + "\n")
		if e := f.Sync(); err == nil {
			err = e
		}
		if e := f.Close(); err == nil {
			err = e
		}
	}
	if err != nil {
		return fmt.Errorf("cannot keep the committed size of %s in %s: %w", path, name, unwrapPath(err))
	}
	return nil
}

// truncateTo cuts f back to size, durably.
func truncateTo(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}

// resume prepares the encoder to add to the base bytes already in the file:
// a CSV file has its header, which the rows added must follow, and a line
// cut short (a file written by hand without a final newline) is ended, so
// the first record added starts a line of its own.
func (s *fileSink) resume() error {
	if !s.gzip {
		last := make([]byte, 1)
		if _, err := s.f.ReadAt(last, s.base-1); err != nil {
			return fmt.Errorf("%s: %w", s.path, unwrapPath(err))
		}
		if last[0] != '\n' {
			s.w.WriteByte('\n')
		}
	}
	e, ok := s.enc.(*csvEncoder)
	if !ok {
		return nil
	}
	var r io.Reader = io.NewSectionReader(s.f, 0, s.base)
	if s.gzip {
		z, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("cannot read the CSV header of %s, to add rows under it: gzip: %w", s.path, err)
		}
		defer z.Close()
		r = z
	}
	cr := csv.NewReader(r)
	cr.Comma = s.delim
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("cannot read the CSV header of %s, to add rows under it: %w", s.path, err)
	}
	if err := e.resume(header); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// tempPrefix is how the temporary files of path are named: hidden from
// globs such as *.csv that pick files up, and recognisable as path's.
func tempPrefix(path string) (dir, prefix string) {
	dir, base := filepath.Split(path)
	return dir, "." + base + "."
}

// createTemp creates a new file next to path and locks it for as long as it
// is open, which tells removeStaleTemps that its writer is alive.
func createTemp(path string) (*os.File, string, error) {
	dir, prefix := tempPrefix(path)
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36)+".tmp")
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("cannot create %s: %w", path, unwrapPath(err))
		}
		lockFile(f)
		return f, name, nil
	}
	return nil, "", fmt.Errorf("cannot create a temporary file beside %s", path)
}

// removeStaleTemps deletes the temporary files of path that no live run is
// writing: what a run killed before it could clean up (kill -9, a power
// cut) left behind, which can be as large as the output itself.
func removeStaleTemps(path string) {
	dir, prefix := tempPrefix(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".tmp") {
			continue
		}
		full := filepath.Join(dir, name)
		if abandoned(full) {
			os.Remove(full)
		}
	}
}

// unwrapPath drops the temporary name from an *os.PathError.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *fileSink) Write(ctx context.Context, rec *record.Record) error {
	if err := s.open(ctx); err != nil {
		return err
	}
	if err := s.enc.write(s.w, rec); err != nil {
		return err
	}
	s.n++
	return nil
}

// Flush writes what is buffered to the temporary file and syncs it, so
// everything written so far is on disk (not yet in place: Close does that;
// in append mode, in place but not committed: a run that does not commit
// takes it back).
func (s *fileSink) Flush(context.Context) error {
	if s.w == nil || s.closed {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	if s.z != nil {
		if err := s.z.Flush(); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		if err := s.w.Flush(); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return nil
}

// Close with commit ends the document, syncs it and renames it into place,
// then syncs the folder so the rename survives a crash. An input with no
// records still gives a valid, empty document. Without commit the
// temporary file is removed and path is left as it was. In append mode,
// see closeAppend.
func (s *fileSink) Close(ctx context.Context, commit bool) error {
	if s.closed || s.dry {
		return nil
	}
	s.closed = true
	if !commit {
		s.discard()
		return nil
	}
	if err := s.open(ctx); err != nil {
		s.discard()
		return err
	}
	if s.appending {
		return s.closeAppend()
	}
	err := s.enc.end(s.w)
	if e := s.w.Flush(); err == nil {
		err = e
	}
	if s.z != nil {
		if e := s.z.Close(); err == nil {
			err = e
		}
	}
	if e := s.f.Sync(); err == nil {
		err = e
	}
	if e := s.f.Close(); err == nil {
		err = e
	}
	if err == nil {
		// Replaced, path is no longer what a run appending to it
		// committed: the next such run trusts the file as it finds it.
		// Removed first, so no crash leaves the new file with an old
		// size to cut it to; the folder's sync below makes it durable.
		if e := os.Remove(committedPath(s.path)); e != nil && !errors.Is(e, os.ErrNotExist) {
			err = e
		}
	}
	if err == nil {
		err = os.Rename(s.tmp, s.path)
	}
	if err != nil {
		os.Remove(s.tmp)
		return fmt.Errorf("%s: %w", s.path, err)
	}
	syncDir(filepath.Dir(s.path))
	return nil
}

// closeAppend ends what this run added, syncs it and keeps path's new size
// as committed. A run that added no records adds nothing (not even an
// empty gzip member) to a file that has content. Whatever fails, path is
// truncated back to what it was at Start.
func (s *fileSink) closeAppend() error {
	if s.n == 0 && s.base > 0 {
		s.discard()
		return nil
	}
	err := s.enc.end(s.w)
	if e := s.w.Flush(); err == nil {
		err = e
	}
	if s.z != nil {
		if e := s.z.Close(); err == nil {
			err = e
		}
	}
	if e := s.f.Sync(); err == nil {
		err = e
	}
	var info os.FileInfo
	if err == nil {
		info, err = s.f.Stat()
	}
	if err == nil {
		err = writeCommitted(s.path, info.Size())
	}
	if err != nil {
		s.discard()
		return fmt.Errorf("%s: %w", s.path, unwrapPath(err))
	}
	// Closing the file lets go of its lock, once the size is kept.
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("%s: %w", s.path, unwrapPath(err))
	}
	return nil
}

// discard closes and removes the temporary file, if there is one; in
// append mode it truncates path back to its size at Start instead.
func (s *fileSink) discard() {
	if s.f == nil {
		return
	}
	if s.appending {
		truncateTo(s.f, s.base)
		s.f.Close()
		return
	}
	s.f.Close()
	os.Remove(s.tmp)
}

// syncDir makes a rename in dir durable. It is best effort: some file
// systems cannot sync a directory, and the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
