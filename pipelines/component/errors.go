package component

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"

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
	// Retryable says trying again later may succeed (a 5xx, 408, 429, a
	// network error or timeout), as opposed to a refusal that will not
	// change (another 4xx). RetryAfter is the wait the destination asked
	// for (Retry-After), zero when it named none.
	Retryable  bool
	RetryAfter time.Duration
}

func (e *DeliveryError) Error() string { return e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// ErrorRecord builds the record a failure sends to an error output: the
// node that failed, the error, the record as the node received it, and
// where it came from (the source and the payload's number in it, and the
// file and line when it was read from one). The original payload is
// included when it differs from the record, so nothing is lost however far
// downstream the failure was; a payload that is not valid UTF-8 is carried
// as base64 (see appendRaw).
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
		if o.File != "" {
			b = append(b, `,"file":`...)
			b = record.AppendString(b, o.File)
			if o.Line > 0 {
				b = append(b, `,"line":`...)
				b = appendInt(b, o.Line)
			}
		}
	}
	b = appendRaw(b, "record", in.Raw)
	if o := in.Origin; o != nil && len(o.Raw) > 0 && (len(in.Raw) == 0 || &o.Raw[0] != &in.Raw[0]) {
		b = appendRaw(b, "original", o.Raw)
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

// appendRaw appends ,"key": and a record's JSON, or the text as a string
// when it is not JSON (a line a source could not parse). Text that is not
// valid UTF-8 cannot be a JSON string without losing bytes, so it is
// appended as base64 under key_base64 instead ("record_base64"): error
// outputs stay valid JSON and the payload stays byte-exact.
func appendRaw(b []byte, key string, raw []byte) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	if !utf8.Valid(raw) {
		b = append(b, `_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"')
	}
	b = append(b, '"', ':')
	if record.Valid(raw) {
		return append(b, raw...)
	}
	return record.AppendString(b, string(raw))
}

func appendInt(b []byte, n int64) []byte {
	v, _ := record.AppendJSON(b, n)
	return v
}

// Codes of the problems kinds report about their settings when they are
// built (SettingError), besides the loader's own (invalid-value,
// missing-field, ...).
const (
	// CodeMissingFile is a file that ships with the pipeline (a lookup
	// table, a schema) and is not there.
	CodeMissingFile = "missing-file"
	// CodeInvalidSetting is a setting a kind could not use when it was
	// built, for a reason it could only find then (a table that does not
	// parse, a schema that does not compile).
	CodeInvalidSetting = "invalid-setting"
)

// SettingError is an error building a node that one of its settings is at
// fault for. The engine reports it at the setting's place in the file, so
// `pipectl validate`, which builds every node without starting it, finds
// what a run would fail on where it is written. Build several into one
// error with errors.Join to report them all.
type SettingError struct {
	Value *Value // the setting at fault, as decoded (its Range is where)
	Code  string // a diagnostic code: CodeMissingFile, "invalid-value"...
	Err   error
	Hint  string
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// SettingErrorf returns a SettingError about v. A nil v gives a plain
// error, for callers that may not have the value at hand.
func SettingErrorf(v *Value, code, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if v == nil {
		return err
	}
	return &SettingError{Value: v, Code: code, Err: err}
}

// RetryPolicy is how a sink's records are retried when the engine keeps
// their retries (Runtime.RetryLater): attempts in all, the first wait,
// doubling up to MaxBackoff, and the age after which a record is given up
// on (0: no limit).
type RetryPolicy struct {
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	MaxAge      time.Duration
}

// Delay is the wait after failed attempt n (1 for the first): a random
// duration between half and all of Backoff·2^(n-1), so clients retrying
// together spread out while the total wait stays predictable, at least what
// a Retry-After asked (retryAfter, 0 for none), at most MaxBackoff.
func (p RetryPolicy) Delay(n int, retryAfter time.Duration) time.Duration {
	ceil := p.Backoff
	for i := 1; i < n && ceil < p.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.MaxBackoff)
	d := ceil / 2
	if half := ceil - d; half > 0 {
		d += rand.N(half + 1)
	}
	return min(max(d, retryAfter), p.MaxBackoff)
}

// DefaultRetryPolicy is the policy of sinks that declare none.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 10, Backoff: time.Second, MaxBackoff: time.Minute}

// RetryPolicer is a sink with retry settings of its own (http's
// max_attempts, backoff, max_backoff, max_age).
type RetryPolicer interface {
	RetryPolicy() RetryPolicy
}
