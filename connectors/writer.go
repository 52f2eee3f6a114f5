package connectors

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// encoder writes records in one format. begin and end write what comes
// before the first record and after the last (a JSON array's brackets, an
// XML root element, a CSV header when the columns are known), so no records
// still make a valid, empty document. A record write refuses (a CSV row that
// is not an object) fails alone: nothing of it is written.
type encoder interface {
	begin(w *bufio.Writer) error
	write(w *bufio.Writer, rec *record.Record) error
	end(w *bufio.Writer) error
}

// writeOptions are a sink's format settings.
type writeOptions struct {
	format     string
	columns    []string
	delim      rune
	root, elem string
}

// parseWriteOptions reads the format settings of a file or stdout sink.
func parseWriteOptions(cfg *component.Value) (*writeOptions, error) {
	o := &writeOptions{format: str(cfg, "format", "ndjson"), delim: ',',
		root: str(cfg, "root_element", "records"), elem: str(cfg, "record_element", "record")}
	switch o.format {
	case "ndjson", "json", "csv", "xml":
	default:
		return nil, fmt.Errorf("format %q cannot be written", o.format)
	}
	if d := cfg.Get("delimiter"); d != nil && d.Str != "" {
		r, err := delimiter(d.Str)
		if err != nil {
			return nil, err
		}
		o.delim = r
	}
	if cols := cfg.Get("columns"); cols != nil {
		seen := map[string]bool{}
		for _, c := range cols.List {
			if seen[c.Str] {
				return nil, fmt.Errorf("columns lists %q twice", c.Str)
			}
			seen[c.Str] = true
			o.columns = append(o.columns, c.Str)
		}
	}
	for _, n := range []string{o.root, o.elem} {
		if !validXMLName(n) {
			return nil, fmt.Errorf("%q is not an XML element name", n)
		}
	}
	return o, nil
}

func (o *writeOptions) encoder() encoder {
	switch o.format {
	case "json":
		return &jsonEncoder{}
	case "csv":
		return newCSVEncoder(o.columns, o.delim)
	case "xml":
		return &xmlEncoder{root: o.root, elem: o.elem}
	}
	return &ndjsonEncoder{}
}

// ndjsonEncoder writes one record a line. A record holding line breaks
// (read pretty-printed) is compacted, so each stays on its line.
type ndjsonEncoder struct{ scratch bytes.Buffer }

func (e *ndjsonEncoder) begin(*bufio.Writer) error { return nil }

func (e *ndjsonEncoder) write(w *bufio.Writer, rec *record.Record) error {
	raw := rec.Raw
	if bytes.IndexByte(raw, '\n') >= 0 || bytes.IndexByte(raw, '\r') >= 0 {
		e.scratch.Reset()
		if err := json.Compact(&e.scratch, raw); err != nil {
			return fmt.Errorf("record is not JSON: %w", err)
		}
		raw = e.scratch.Bytes()
	}
	w.Write(raw)
	return w.WriteByte('\n')
}

func (e *ndjsonEncoder) end(*bufio.Writer) error { return nil }

// jsonEncoder writes a JSON array, one record a line.
type jsonEncoder struct{ n int }

func (e *jsonEncoder) begin(w *bufio.Writer) error { return w.WriteByte('[') }

func (e *jsonEncoder) write(w *bufio.Writer, rec *record.Record) error {
	if e.n > 0 {
		w.WriteByte(',')
	}
	w.WriteByte('\n')
	_, err := w.Write(rec.Raw)
	e.n++
	return err
}

func (e *jsonEncoder) end(w *bufio.Writer) error {
	if e.n > 0 {
		w.WriteByte('\n')
	}
	_, err := w.WriteString("]\n")
	return err
}
