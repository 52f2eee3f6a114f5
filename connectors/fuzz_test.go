package connectors

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// fuzzLimit is the record size limit while fuzzing, so a run proves the
// readers stop at it instead of growing.
const fuzzLimit = 4 << 10

// collect reads input with o, checking every record is valid JSON and no
// record's text exceeded the limit by much.
func collect(t *testing.T, o *readOptions, input []byte) (recs, errs []*record.Record, err error) {
	var seq int64
	err = readFormat(context.Background(), o, bytes.NewReader(input), "in", "fuzz", &seq,
		func(r *record.Record) error {
			// The engine checks what a source left unchecked.
			if cerr := r.CheckJSON(); cerr != nil {
				errs = append(errs, component.ErrorRecord("in", r, cerr))
				return nil
			}
			if !record.Valid(r.Raw) || !utf8.Valid(r.Raw) {
				t.Fatalf("record is not UTF-8 JSON: %q", r.Raw)
			}
			recs = append(recs, r)
			return nil
		},
		func(r *record.Record) error {
			if !r.Failed || !record.Valid(r.Raw) || !utf8.Valid(r.Raw) {
				t.Fatalf("error record is not a failed JSON record: %q", r.Raw)
			}
			errs = append(errs, r)
			return nil
		})
	for _, r := range recs {
		// A record's JSON may be a few times its text (escapes), never
		// unbounded.
		if len(r.Raw) > 8*fuzzLimit+64<<10 {
			t.Fatalf("a %d-byte record passed a %d-byte limit", len(r.Raw), fuzzLimit)
		}
	}
	return recs, errs, err
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("id,qty,price,ok\n1,2,3.50,yes\n"), byte(','))
	f.Add([]byte("\ufeffa;b\r\n\"x;\"\"y\"\"\r\nz\";2\r\n"), byte(';'))
	f.Add([]byte("a,b\n\"unterminated\n"), byte(','))
	f.Add([]byte("a,b\n1\n1,2,3\nbare\"quote,1\n"), byte(','))
	f.Add([]byte("qty\n99999999999999999999\n-0\n+7\n"), byte('\t'))
	f.Fuzz(func(t *testing.T, input []byte, delim byte) {
		d := rune(delim)
		if d == 0 || d == '"' || d == '\r' || d == '\n' || d >= utf8.RuneSelf {
			d = ','
		}
		o := &readOptions{format: "csv", delim: d, maxRecord: fuzzLimit,
			types: map[string]string{"id": "int", "qty": "int", "price": "decimal", "ok": "bool", "w": "number"}}
		// Typed columns missing from the header fail the read; fuzz the
		// rows with and without types.
		collect(t, o, input)
		o.types = nil
		recs, _, _ := collect(t, o, input)
		for _, r := range recs {
			if !bytes.HasPrefix(r.Raw, []byte("{")) {
				t.Fatalf("row is not an object: %s", r.Raw)
			}
		}
	})
}

func FuzzXML(f *testing.F) {
	f.Add([]byte(`<r><i a="1"><n>x</n><n>y</n><m><k/></m></i><i>t</i></r>`))
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><r><i>caf` + "\xe9" + `</i></r>`))
	f.Add([]byte(`<r xmlns="u" xmlns:p="v"><p:i p:a="1">x<![CDATA[<y>]]>z<c/></p:i></r>`))
	f.Add([]byte(`<r><i><a><b><c>` + strings.Repeat("d", 5000) + `</c></b></a></i></r>`))
	f.Add([]byte(`<r><i>` + strings.Repeat(`<a>`, 300)))
	f.Fuzz(func(t *testing.T, input []byte) {
		for _, path := range [][]string{{"r", "i"}, {"*", "*"}, {"r"}} {
			o := &readOptions{format: "xml", path: path, maxRecord: fuzzLimit, repeated: map[string]bool{"n": true}}
			recs, _, _ := collect(t, o, input)
			for _, r := range recs {
				if !bytes.HasPrefix(r.Raw, []byte("{")) {
					t.Fatalf("record is not an object: %s", r.Raw)
				}
			}
		}
	})
}

// FuzzWriters writes a record holding arbitrary text as CSV and XML and
// reads it back: the writers' quoting and escaping always give a file the
// readers take, with the text intact.
func FuzzWriters(f *testing.F) {
	for _, s := range []string{"plain", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "<&>'\"", "\x00\x01\ufffe", "\xff\xfe bad utf-8", " lead", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := append(append([]byte(`{"a":`), record.AppendString(nil, s)...), '}')
		// What the text becomes once it is JSON: invalid UTF-8 is U+FFFD.
		var want string
		if err := json.Unmarshal(raw, &struct{ A *string }{&want}); err != nil {
			t.Fatal(err)
		}

		// CSV: encoding/csv reads a quoted \r\n as \n, and drops a lone \r
		// at the end of the input.
		got := roundTrip(t, newCSVEncoder(nil, ','), &readOptions{format: "csv", delim: ',', maxRecord: maxRecordSize}, raw)
		if w := strings.ReplaceAll(want, "\r\n", "\n"); got != nil && *got != w {
			t.Errorf("csv: %q became %q", w, *got)
		}

		// XML: characters XML cannot hold become U+FFFD; text is read back
		// exactly otherwise.
		got = roundTrip(t, &xmlEncoder{root: "records", elem: "record"}, &readOptions{format: "xml", path: []string{"records", "record"}, maxRecord: maxRecordSize}, raw)
		var w strings.Builder
		for _, r := range want {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
				r = utf8.RuneError
			}
			w.WriteRune(r)
		}
		if got == nil || *got != w.String() {
			t.Errorf("xml: %q became %v", w.String(), got)
		}
	})
}

// roundTrip writes one record with enc, reads the output with o, and
// returns field a of the record read (nil when the row is not read, which
// CSV allows for a record whose only cell is empty: a blank line).
func roundTrip(t *testing.T, enc encoder, o *readOptions, raw []byte) *string {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := enc.begin(w); err != nil {
		t.Fatal(err)
	}
	if err := enc.write(w, record.New(raw, nil)); err != nil {
		t.Fatalf("%T refused %s: %v", enc, raw, err)
	}
	if err := enc.end(w); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	recs, errs, err := collect(t, o, out.Bytes())
	if err != nil || len(errs) > 0 {
		t.Fatalf("%T output not read back: %v %v\n%q", enc, err, errs, out.String())
	}
	if len(recs) == 0 {
		return nil
	}
	v, _ := recs[0].Get("a")
	s := v.Str
	return &s
}

// TestRecordLimit: a record beyond the limit ends the read with an error
// saying so, whatever the format, instead of being gathered whole.
func TestRecordLimit(t *testing.T) {
	huge := strings.Repeat("x", 256<<10)
	for _, tc := range []struct {
		o     *readOptions
		input string
		at    string // where the error says the record is
	}{
		{&readOptions{format: "csv", delim: ','}, "a,b\n1,2\n\"" + huge + "\n", "fuzz:3: "},
		{&readOptions{format: "xml", path: []string{"r", "i"}}, "<r>\n<i>" + huge + "</i></r>", "fuzz:2:4: "},
		{&readOptions{format: "xml", path: []string{"r", "i"}}, "<r>" + huge + "<i/></r>", "fuzz:1:"},
		{&readOptions{format: "json"}, "[{\"a\":1},\n  {\"a\":\"" + huge + `"}]`, "fuzz:2:3: "},
		{&readOptions{format: "ndjson"}, "{}\n{}\n{\"a\":\"" + huge + strings.Repeat(huge, 4) + `"}`, "fuzz:3: "},
	} {
		tc.o.maxRecord = fuzzLimit
		_, _, err := collect(t, tc.o, []byte(tc.input))
		if !errors.Is(err, errRecordTooLarge) || !strings.HasPrefix(err.Error(), tc.at) || !strings.Contains(err.Error(), "(4096 bytes)") {
			t.Errorf("%s %.20q…: err = %v, want the record limit (4096 bytes) at %s", tc.o.format, tc.input, err, tc.at)
		}
	}
}

// TestErrorRecordOfEmptyRow guards component.ErrorRecord's assumption that
// a failing record has text.
func TestErrorRecordOfEmptyRow(t *testing.T) {
	o := &readOptions{format: "csv", delim: ',', maxRecord: fuzzLimit}
	_, errs, err := collect(t, o, []byte("a,b\n\"\n"))
	if err != nil || len(errs) != 1 {
		t.Fatalf("%v %v", errs, err)
	}
	_ = component.ErrorRecord("x", errs[0], errors.New("again"))
}

// FuzzJSON reads arbitrary input as NDJSON and as JSON (arrays, values one
// after another): every record is valid UTF-8 JSON, every error record too,
// no record passes the limit, and a read that fails says where.
func FuzzJSON(f *testing.F) {
	f.Add([]byte("[{\"a\":1},\n 2, \"x\", [3], {\"b\":\"}\\\"{\"}]"))
	f.Add([]byte("{\"a\":1}\n\nnot json\n{\"a\":\"caf\xe9\"}\n[1]\n"))
	f.Add([]byte("[{\"a\":1},{\"a\":tru}]"))
	f.Add([]byte("[{\"a\":\"unclosed},{\"a\":2}]"))
	f.Add([]byte("{\"a\":1}{\"b\":2} 3 null"))
	f.Add([]byte("[1,]"))
	f.Add([]byte("[" + strings.Repeat("[", 3000)))
	f.Fuzz(func(t *testing.T, input []byte) {
		for _, format := range []string{"ndjson", "json"} {
			o := &readOptions{format: format, maxRecord: fuzzLimit}
			_, _, err := collect(t, o, input)
			if format == "json" && err != nil && !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("json: error %v does not say where", err)
			}
		}
	})
}

// FuzzUnwrap unwraps arbitrary input at arbitrary paths: each record is
// valid JSON that is at the path, and the sequence numbers count every
// record and every error record once.
func FuzzUnwrap(f *testing.F) {
	f.Add([]byte(`{"orders":[{"id":1},{"id":2}]}`+"\n"+`{"errors":"Not Found"}`), "orders")
	f.Add([]byte(`{"order":{"id":1}}`), "order")
	f.Add([]byte(`[{"data":{"id":1}},{"data":[]},{"data":[1,{"x":2}]}]`), "data")
	f.Add([]byte(`{"a":{"b":[{"c":1}]}}`), "a.b")
	f.Add([]byte(`{"a.b":1,"a":{"b":2}}`), "a.b")
	f.Fuzz(func(t *testing.T, input []byte, path string) {
		if record.UnwrapPath(path) != nil {
			return
		}
		for _, format := range []string{"ndjson", "json"} {
			o := &readOptions{format: format, maxRecord: fuzzLimit, unwrap: path}
			recs, errs, _ := collect(t, o, input)
			var seqs []int64
			for _, r := range append(recs, errs...) {
				seqs = append(seqs, r.Origin.Seq)
			}
			slices.Sort(seqs)
			for i, s := range seqs {
				if s != int64(i+1) {
					t.Fatalf("%s: sequence numbers %v are not 1..%d", format, seqs, len(seqs))
				}
			}
			for _, r := range recs {
				if r.Unchecked || !record.Valid(r.Raw) || string(r.Origin.Raw) != string(r.Raw) {
					t.Fatalf("%s: unwrapped record %q (original %q)", format, r.Raw, r.Origin.Raw)
				}
			}
		}
	})
}
