package component

import (
	"errors"

	"github.com/pipectl/pipectl/pipelines/record"
)

// DeliveryError is a record a sink could not deliver: the last status the
// destination answered (an HTTP status; 0 when no answer came) and the
// attempts made. ErrorRecord writes both as fields of the error record, so
// a route can tell a rejected record (422) from an outage (exhausted 503s).
type DeliveryError struct {
	Status   int
	Attempts int
	Err      error
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// ErrorRecord builds the record a failure sends to an error output: the
// node that failed, the error, the record as the node received it, and
// where it came from. The original payload is included when it differs from
// the record, so nothing is lost however far downstream the failure was.
func ErrorRecord(node string, in *record.Record, err error) *record.Record {
	b := make([]byte, 0, len(in.Raw)+128)
	b = append(b, `{"node":`...)
	b = record.AppendString(b, node)
	b = append(b, `,"error":`...)
	b = record.AppendString(b, err.Error())
	var de *DeliveryError
	if errors.As(err, &de) {
		if de.Status != 0 {
			b = append(b, `,"status":`...)
			b = appendInt(b, int64(de.Status))
		}
		b = append(b, `,"attempts":`...)
		b = appendInt(b, int64(de.Attempts))
	}
	if o := in.Origin; o != nil {
		b = append(b, `,"source":`...)
		b = record.AppendString(b, o.Source)
		b = append(b, `,"seq":`...)
		b = appendInt(b, o.Seq)
	}
	b = append(b, `,"record":`...)
	b = appendRaw(b, in.Raw)
	if o := in.Origin; o != nil && len(o.Raw) > 0 && (len(in.Raw) == 0 || &o.Raw[0] != &in.Raw[0]) {
		b = append(b, `,"original":`...)
		b = appendRaw(b, o.Raw)
	}
	b = append(b, '}')
	out := record.New(b, in.Origin)
	out.Failed = true
	if in.Trace != nil {
		// The failing node is the last on the trace: it is left through
		// its error output.
		out.Trace = append([]string(nil), in.Trace...)
		if n := len(out.Trace); n > 0 && out.Trace[n-1] == node {
			out.Trace[n-1] = node + ".error"
		} else {
			out.Trace = append(out.Trace, node+".error")
		}
	}
	return out
}

// appendRaw appends a record's JSON, or the text as a string when it is
// not JSON (a line a source could not parse).
func appendRaw(b, raw []byte) []byte {
	if record.Valid(raw) {
		return append(b, raw...)
	}
	return record.AppendString(b, string(raw))
}

func appendInt(b []byte, n int64) []byte {
	v, _ := record.AppendJSON(b, n)
	return v
}
