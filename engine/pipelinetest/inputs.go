package pipelinetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Sample is sample input fed to a source or step: a file, or text given
// inline.
type Sample struct {
	// Path is the file to read; with Text, what names the text in
	// messages.
	Path string
	// Text, when not nil, is the sample itself.
	Text []byte
	// Name names the sample in messages and records' origins when it is
	// not Path (a test file's path as written, rather than as joined to
	// the test file's directory, so error records are the same wherever
	// the tests run from).
	Name string
	// Unwrap is the dot path of the records inside each value (`order`,
	// `orders`, `data`); for a source it replaces the source's own.
	Unwrap string
}

// maxSampleRecord bounds one record of a sample, as sources bound theirs.
const maxSampleRecord = 64 << 20

// ReadSample reads the records of a sample fed to node in plan. A source
// whose kind reads a format of its own (component.Spec.ReadSample: file,
// stdin, event) reads it as it reads its input, with the same parser and
// its settings: a CSV source's sample is CSV with its columns and
// delimiter, an XML source's sample is read at its record_path. Anything
// else (a step, a source whose payloads are JSON records) is fed JSON
// records: one object, an array of them, or NDJSON. seq numbers the records
// across the samples fed to one node.
//
// Records the source could not make (a CSV row with a bad cell) are error
// records, which the run sends to the source's error output as the source
// would; input whose structure is lost is an error, as it stops a run.
func ReadSample(plan *pipelines.Plan, node string, s Sample, seq *int64) ([]*record.Record, error) {
	in := io.Reader(bytes.NewReader(s.Text))
	if s.Text == nil {
		f, err := os.Open(s.Path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		in = f
	}
	name := s.Name
	if name == "" {
		name = s.Path
	}
	var out []*record.Record
	var err error
	if n, ok := sourceNode(plan, node); ok && n.Spec.ReadSample != nil {
		keep := func(r *record.Record) error { out = append(out, r); return nil }
		err = n.Spec.ReadSample(component.Sample{Node: node, Config: n.Config, Name: name, Input: in, Unwrap: s.Unwrap, Seq: seq}, keep, keep)
	} else {
		out, err = readJSONRecords(node, in, name, s.Unwrap, seq)
	}
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no records", name)
	}
	return out, nil
}

func sourceNode(plan *pipelines.Plan, node string) (*pipelines.Node, bool) {
	if plan == nil {
		return nil, false
	}
	n, ok := plan.Node(node)
	return n, ok && n.Section == component.SourceSection && n.Spec != nil
}

// readJSONRecords reads JSON records: the elements of an array, or values
// one after another, each unwrapped when unwrap is set.
func readJSONRecords(node string, in io.Reader, name, unwrap string, seq *int64) ([]*record.Record, error) {
	if unwrap != "" {
		if err := record.UnwrapPath(unwrap); err != nil {
			return nil, err
		}
	}
	st := record.NewJSONStream(in, maxSampleRecord)
	var out []*record.Record
	add := func(raw []byte, line int) {
		*seq++
		raw = bytes.Clone(raw)
		out = append(out, record.New(raw, &record.Origin{Source: node, Seq: *seq, Raw: raw, File: name, Line: int64(line)}))
	}
	for {
		v, pos, err := st.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%w", name, err)
		}
		if bad, ok := st.InvalidUTF8(); ok {
			return nil, fmt.Errorf("%s:%s: invalid UTF-8", name, bad)
		}
		if unwrap == "" {
			add(v, pos.Line)
			continue
		}
		found, _ := record.Unwrap(v, unwrap, func(rec []byte, _ int) error { add(rec, pos.Line); return nil })
		if !found {
			return nil, fmt.Errorf("%s:%s: nothing at %q to unwrap", name, pos, unwrap)
		}
	}
}

// NewRecord makes the record fed at a node: its origin names the node and
// its position among the records fed there, so error records say which
// sample failed.
func NewRecord(node string, seq int, raw []byte) *record.Record {
	return record.New(raw, &record.Origin{Source: node, Seq: int64(seq), Raw: raw})
}

// fresh copies a record read from a sample for one run: runs add to the
// records they are given (traces, decoded fields).
func fresh(r *record.Record) *record.Record {
	return &record.Record{Raw: r.Raw, Origin: r.Origin, Failed: r.Failed, Unchecked: r.Unchecked}
}
