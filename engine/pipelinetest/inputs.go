package pipelinetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

// ReadRecords reads sample records from a file: one JSON object, a JSON
// array of records, or NDJSON (any sequence of JSON values). With unwrap, a
// dot path (`order`, `data`), each value is replaced by what is at that
// path, so API responses such as {"order": {...}} feed the bare record; an
// array there gives one record per element. Numbers keep every digit.
func ReadRecords(path, unwrap string) ([][]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs, err := ParseRecords(src, unwrap)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

// ParseRecords is ReadRecords on text already read.
func ParseRecords(src []byte, unwrap string) ([][]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var out [][]byte
	for n := 1; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			off := int(dec.InputOffset())
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = int(se.Offset)
			}
			line := 1 + bytes.Count(src[:min(off, len(src))], []byte("\n"))
			return nil, fmt.Errorf("line %d: not JSON: %v", line, err)
		}
		v := gjson.ParseBytes(raw)
		if unwrap != "" {
			v = v.Get(unwrap)
			if !v.Exists() {
				return nil, fmt.Errorf("value %d has nothing at %q to unwrap", n, unwrap)
			}
		}
		if v.IsArray() {
			for _, e := range v.Array() {
				out = append(out, compact(e.Raw))
			}
			continue
		}
		out = append(out, compact(v.Raw))
	}
	if len(out) == 0 {
		return nil, errors.New("no records: want a JSON object, an array of objects, or NDJSON")
	}
	return out, nil
}

// compact removes insignificant space, keeping numbers' text as written.
func compact(raw string) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(raw)); err != nil {
		return []byte(raw)
	}
	return b.Bytes()
}

// NewRecord makes the record fed at a node: its origin names the node and
// its position among the records fed there, so error records say which
// sample failed.
func NewRecord(node string, seq int, raw []byte) *record.Record {
	return record.New(raw, &record.Origin{Source: node, Seq: int64(seq), Raw: raw})
}
