package engine

import (
	"bytes"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// masker hides a pipeline's secret values (pipelines.Plan.Secrets) in what
// a run reports: its errors and its error records. A secret interpolated
// into a path, a URL or a lookup table's name otherwise reaches whatever a
// kind quotes in an error message ("open /data/tok_live…/orders.csv").
type masker struct {
	text *strings.Replacer
	// raw and quoted are each secret as it appears in text and inside a
	// JSON string, for the quick check that most records pass.
	raw, quoted [][]byte
	json        *strings.Replacer
}

func newMasker(secrets []string) *masker {
	if len(secrets) == 0 {
		return nil
	}
	m := &masker{}
	var pairs, jsonPairs []string
	for _, s := range secrets {
		q := string(record.AppendString(nil, s))
		q = q[1 : len(q)-1]
		pairs = append(pairs, s, component.Redacted)
		jsonPairs = append(jsonPairs, q, component.Redacted)
		m.raw = append(m.raw, []byte(s))
		m.quoted = append(m.quoted, []byte(q))
	}
	m.text = strings.NewReplacer(pairs...)
	m.json = strings.NewReplacer(jsonPairs...)
	return m
}

// error returns err with the secrets masked in its message.
func (m *masker) error(err error) error {
	if m == nil || err == nil {
		return err
	}
	msg := m.text.Replace(err.Error())
	if msg == err.Error() {
		return err
	}
	return &maskedError{msg, err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

// record returns an error record with the secrets masked, or rec itself
// when it holds none.
func (m *masker) record(rec *record.Record) *record.Record {
	if m == nil {
		return rec
	}
	found := false
	for i := range m.raw {
		if bytes.Contains(rec.Raw, m.quoted[i]) || bytes.Contains(rec.Raw, m.raw[i]) {
			found = true
			break
		}
	}
	if !found {
		return rec
	}
	out := *rec
	out.Raw = []byte(m.json.Replace(string(rec.Raw)))
	return &out
}
