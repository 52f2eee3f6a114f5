package connectors

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// slab hands out copies of byte slices carved from large chunks, so reading
// a million lines costs a few thousand allocations. Records alias their
// chunk, which lives as long as any of them.
type slab struct{ buf []byte }

const slabSize = 256 << 10

func (s *slab) copy(b []byte) []byte {
	if len(b) > slabSize/4 {
		return append([]byte(nil), b...)
	}
	if cap(s.buf)-len(s.buf) < len(b) {
		s.buf = make([]byte, 0, slabSize)
	}
	start := len(s.buf)
	s.buf = append(s.buf, b...)
	return s.buf[start:len(s.buf):len(s.buf)]
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

// decompress wraps r in a gzip reader when name ends in .gz.
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

// readNDJSON emits one record per non-blank line. A line that is not one
// JSON value goes to the source's error output with its line number.
func readNDJSON(ctx context.Context, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var sl slab
	line := 0
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), b...)
			for err == bufio.ErrBufferFull {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if len(b) > 0 {
			line++
			if t := bytes.TrimSpace(b); len(t) > 0 {
				*seq++
				raw := sl.copy(t)
				rec := record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw})
				if !record.Valid(raw) {
					if e := emitErr(component.ErrorRecord(src, rec, fmt.Errorf("%s:%d: not a JSON value", where, line))); e != nil {
						return e
					}
				} else if e := emit(rec); e != nil {
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

// readJSONArray emits one record per element of a top-level JSON array
// (a single object is one record), streaming: the array is never held whole.
func readJSONArray(ctx context.Context, r io.Reader, src, where string, seq *int64, emit, emitErr func(*record.Record) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("%s: expected a JSON array of records", where)
	}
	for dec.More() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("%s: record %d: %w", where, *seq+1, err)
		}
		*seq++
		rec := record.New(raw, &record.Origin{Source: src, Seq: *seq, Raw: raw})
		if err := emit(rec); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}
