package connectors

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

var formats = []string{"ndjson", "json", "csv", "xml"}

var fileSourceSpec = &component.Spec{
	Kind:    "file",
	Section: component.SourceSection,
	Summary: "Reads records from files: NDJSON, JSON arrays, CSV or XML, gzipped or not.",
	Description: "The batch exchange with ERPs and 3PLs. `path` may be a glob; files are read in name order. " +
		"Files ending in .gz are decompressed. CSV rows become objects keyed by the header row, with `columns` " +
		"giving types; XML records are the elements at `record_path`.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "path", Doc: "File source settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "File path or glob, relative to the working directory; ${VAR} allowed.",
				Examples: []any{"${ORDERS_IN}", "exports/orders-*.ndjson.gz"}},
			{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written in the file."},
			{Name: "columns", Kind: component.MapField, Elem: &component.Field{Kind: component.EnumField, Enum: []string{"string", "int", "number", "decimal", "bool"}, Doc: "column type"},
				Doc: "CSV column types by header name; unlisted columns are strings.", Examples: []any{map[string]any{"qty": "int", "price": "decimal"}}},
			{Name: "delimiter", Kind: component.StringField, Default: ",", Doc: "CSV field delimiter."},
			{Name: "record_path", Kind: component.StringField, Doc: "XML: slash-separated path of the record elements.", Examples: []any{"Orders/Order"}},
		}},
	Triggers:  []string{"cron", "manual"},
	NewSource: newFileSource,
	Examples: []component.Example{{
		Title: "A nightly stock snapshot",
		YAML: `sources:
  stock:
    trigger: nightly
    file: {path: /data/wms/stock-*.csv, format: csv, columns: {on_hand: int}}`,
	}},
}

var fileSinkSpec = &component.Spec{
	Kind:        "file",
	Section:     component.SinkSection,
	Summary:     "Writes records to a file as NDJSON, a JSON array, CSV or XML.",
	Description: "Output is deterministic: the same input gives byte-identical files. CSV columns follow `columns` or the first record's keys.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Shorthand: "path", Doc: "File sink settings.",
		Fields: []*component.Field{
			{Name: "path", Kind: component.StringField, Required: true, Doc: "File path; ${VAR} allowed.", Examples: []any{"${ORDERS_OUT}"}},
			{Name: "format", Kind: component.EnumField, Enum: formats, Default: "ndjson", Doc: "How records are written."},
			{Name: "columns", Kind: component.ListField, Elem: &component.Field{Kind: component.StringField, Doc: "a field name"}, Doc: "CSV columns, in order."},
			{Name: "record_element", Kind: component.StringField, Default: "record", Doc: "XML: element name of each record."},
			{Name: "gzip", Kind: component.BoolField, Default: false, Doc: "Compress the output."},
		}},
	NewSink: newFileSink,
	Examples: []component.Example{{
		Title: "Pick tickets to NDJSON",
		YAML: `sinks:
  out:
    from: tickets
    file: {path: "${ORDERS_OUT}", format: ndjson}`,
	}},
}

// resolve makes a path relative to the pipeline file's directory absolute.
func resolve(rt *component.Runtime, p string) string {
	if filepath.IsAbs(p) || rt == nil || rt.Dir == "" {
		return p
	}
	return filepath.Join(rt.Dir, p)
}

type fileSource struct {
	name    string
	pattern string
	format  string
	read    atomic.Int64
	size    int64
	files   []string
	cfg     *component.Value
}

func newFileSource(ctx component.BuildContext) (component.Source, error) {
	s := &fileSource{name: ctx.Name, pattern: ctx.Config.Get("path").Str, format: ctx.Config.Get("format").Str, cfg: ctx.Config}
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
		if info, err := os.Stat(f); err == nil {
			s.size += info.Size()
		}
	}
	s.files = files
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
	return readFormat(ctx, s.format, s.cfg, r, s.name, path, seq, emit, emitErr)
}

// readFormat reads records of a format from r.
func readFormat(ctx context.Context, format string, cfg *component.Value, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	switch format {
	case "", "ndjson":
		return readNDJSON(ctx, r, src, where, seq, emit, emitErr)
	case "json":
		return readJSONArray(ctx, r, src, where, seq, emit, emitErr)
	}
	return fmt.Errorf("format %s cannot be read yet", format)
}

type fileSink struct {
	path   string
	format string
	f      *os.File
	w      *bufio.Writer
	n      int
	dry    bool
}

func newFileSink(ctx component.BuildContext) (component.Sink, error) {
	p := ctx.Config.Get("path").Str
	if p == "" {
		return nil, fmt.Errorf("path is empty: set it, or the environment variable it names")
	}
	return &fileSink{path: p, format: ctx.Config.Get("format").Str, dry: ctx.Runtime != nil && ctx.Runtime.DryRun}, nil
}

// open creates the file on first use, so building the sink (as dry runs do)
// touches nothing.
func (s *fileSink) open() error {
	if s.w != nil {
		return nil
	}
	if s.dry {
		return fmt.Errorf("file sink opened during a dry run")
	}
	f, err := os.Create(s.path)
	if err != nil {
		return err
	}
	s.f, s.w = f, bufio.NewWriterSize(f, 1<<20)
	if s.format == "json" {
		s.w.WriteByte('[')
	}
	return nil
}

func (s *fileSink) Write(rec *record.Record) error {
	if err := s.open(); err != nil {
		return err
	}
	switch s.format {
	case "json":
		if s.n > 0 {
			s.w.WriteByte(',')
		}
		s.w.WriteString("\n")
		s.w.Write(rec.Raw)
	default:
		s.w.Write(rec.Raw)
		s.w.WriteByte('\n')
	}
	s.n++
	return nil
}

func (s *fileSink) Close() error {
	if s.dry {
		return nil
	}
	if err := s.open(); err != nil {
		return err
	}
	if s.format == "json" {
		if s.n > 0 {
			s.w.WriteByte('\n')
		}
		s.w.WriteString("]\n")
	}
	if err := s.w.Flush(); err != nil {
		s.f.Close()
		return err
	}
	return s.f.Close()
}
