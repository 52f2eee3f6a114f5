package record

import (
	"fmt"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Record is one record: JSON bytes and the fields decoded from them so far.
// A record is owned by one worker at a time and is not safe for concurrent
// use; its bytes are never modified once the record exists.
type Record struct {
	// Raw is the record's JSON text.
	Raw []byte
	// Origin is the source payload this record was derived from, kept for
	// error outputs: a record that fails anywhere is reported with it.
	Origin *Origin
	// Failed marks an error record (built by component.ErrorRecord).
	Failed bool
	// Unchecked marks a record whose bytes a source has not checked to be
	// JSON: the engine checks it (see CheckJSON) before any step reads it,
	// on its parallel workers rather than on the source's goroutine.
	Unchecked bool
	// Trace lists what happened to the record, when a dry run traces.
	Trace []string

	fields  map[string]any
	decoded *Projection
	arena   *Arena
}

// Origin identifies a source payload.
type Origin struct {
	Source string // the source node's name
	Seq    int64  // position of the payload in its source, from 1
	Raw    []byte // the payload as read
	File   string // the file it was read from, when a file ("" otherwise)
	Line   int64  // its line in File, when known
}

// CheckJSON reports an Unchecked record's bytes that are not one JSON
// value, naming where they came from, and marks the record checked.
func (r *Record) CheckJSON() error {
	if !r.Unchecked {
		return nil
	}
	r.Unchecked = false
	if Valid(r.Raw) {
		return nil
	}
	if o := r.Origin; o != nil && o.File != "" {
		return fmt.Errorf("%s:%d: not a JSON value", o.File, o.Line)
	}
	return fmt.Errorf("not a JSON value")
}

// New returns a record holding raw, which it now owns: the caller must not
// modify raw afterwards (decoded strings alias it).
func New(raw []byte, origin *Origin) *Record {
	return &Record{Raw: raw, Origin: origin}
}

// Derive returns a new record built from r: same origin and trace.
func (r *Record) Derive(raw []byte) *Record {
	out := &Record{Raw: raw, Origin: r.Origin, arena: r.arena}
	if r.Trace != nil {
		out.Trace = append([]string(nil), r.Trace...)
	}
	return out
}

// Valid reports whether b is one JSON value.
func Valid(b []byte) bool { return gjson.ValidBytes(b) }

// Fields decodes the fields p reads (all fields when p is nil or All) and
// returns them as the environment expressions run against. A record that is
// not a JSON object decodes to an empty map. The map is cached: several
// steps reading the same record with the same projection decode it once.
func (r *Record) Fields(p *Projection) map[string]any {
	if r.fields != nil && (r.decoded == p || r.decoded.Covers(p)) {
		return r.fields
	}
	bx := boxer{arena: r.arena}
	m := bx.newMap(fieldCount(p))
	if i := skipSpace(r.Raw, 0); i < len(r.Raw) && r.Raw[i] == '{' {
		scanObject(&bx, r.Raw, i, p, m)
	}
	r.fields, r.decoded = m, p
	return m
}

// DecodeIn makes the record decode its fields into a, until Release. The
// caller owns the arena and promises to Release the record before it
// resets a while anything may still read the record.
func (r *Record) DecodeIn(a *Arena) { r.arena = a }

// Release forgets the fields decoded so far and the arena: whoever reads
// the record next decodes it again, on its own.
func (r *Record) Release() { r.fields, r.decoded, r.arena = nil, nil, nil }

// Get returns the raw JSON of a top-level field, and whether it exists.
func (r *Record) Get(name string) (gjson.Result, bool) {
	v := gjson.GetBytes(r.Raw, gjson.Escape(name))
	return v, v.Exists()
}

func fieldCount(p *Projection) int {
	if p == nil || p.All {
		return 16
	}
	return len(p.Fields)
}

// bytesToString views b as a string without copying. Safe because a
// record's bytes are never modified.
func bytesToString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
