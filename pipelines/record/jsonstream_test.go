package record_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/record"
)

// readAll reads every value of in, one byte at a time so every value
// crosses reads, and returns them with their positions and the error that
// ended the stream (nil at a clean end).
func readAll(in string, limit int64) (vals []string, at []string, err error) {
	s := record.NewJSONStream(iotest.OneByteReader(strings.NewReader(in)), limit)
	for {
		v, p, err := s.Next()
		if err == io.EOF {
			return vals, at, nil
		}
		if err != nil {
			return vals, at, err
		}
		vals = append(vals, string(v))
		at = append(at, p.String())
	}
}

func TestJSONStream(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		vals     []string
		at       []string
		err      string // the error's text, "" for none
	}{
		{"array", "[\n  {\"a\": 1},\n  2, \"x\" ,[3]\n]\n", []string{`{"a":1}`, "2", `"x"`, "[3]"}, []string{"2:3", "3:3", "3:6", "3:11"}, ""},
		{"empty array", " [ ] ", nil, nil, ""},
		{"one object", "{\n \"a\": [1, 2]\n}\n", []string{`{"a":[1,2]}`}, []string{"1:1"}, ""},
		{"ndjson", "{\"a\":1}\n\n{\"b\":\"}\\\"{\"}\n3", []string{`{"a":1}`, `{"b":"}\"{"}`, "3"}, []string{"1:1", "3:1", "4:1"}, ""},
		{"empty", " \n ", nil, nil, ""},
		{"syntax inside an element", "[{\"a\":1},\n {\"a\": tru}]", []string{`{"a":1}`}, nil, "2:11: invalid character '}' in literal true (expecting 'e')"},
		{"unclosed string", "[{\"a\":1}, {\"a\": \"x}]", []string{`{"a":1}`}, nil, "1:11: the value that starts here is not closed before the end of the input"},
		{"unclosed array", "[1, 2", []string{"1", "2"}, nil, "1:1: the array that starts here is not closed before the end of the input"},
		{"missing comma", "[1 2]", []string{"1"}, nil, "1:4: expected ',' or ']' after an array element, found \"2\""},
		{"trailing comma", "[1,\n]", []string{"1"}, nil, "2:1: a value must follow ',' in the array"},
		{"after the array", "[1]\n{}", []string{"1"}, nil, "2:1: \"{\" after the end of the JSON array"},
		{"bad scalar", "[1, nope]", []string{"1"}, nil, "1:6: invalid character 'o' in literal null (expecting 'u')"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, at, err := readAll(tc.in, 0)
			if diff := cmp.Diff(tc.vals, vals); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			if tc.at != nil {
				if diff := cmp.Diff(tc.at, at); diff != "" {
					t.Errorf("positions (-want +got):\n%s", diff)
				}
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
		})
	}
}

func TestJSONStreamLimit(t *testing.T) {
	in := `[{"a":1},` + "\n" + `{"a":"` + strings.Repeat("x", 5000) + `"}]`
	vals, _, err := readAll(in, 1000)
	if len(vals) != 1 || !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("values %v, error %v: want the first value, then the limit", vals, err)
	}
	var se *record.StreamError
	if !errors.As(err, &se) || se.Pos != (record.Pos{Line: 2, Col: 1}) {
		t.Errorf("error %v, want it at 2:1, where the value starts", err)
	}
}

// TestJSONStreamReadError: a reader's failure is located where the stream
// stood.
func TestJSONStreamReadError(t *testing.T) {
	boom := errors.New("boom")
	s := record.NewJSONStream(io.MultiReader(strings.NewReader("[1,\n2,"), iotest.ErrReader(boom)), 0)
	var err error
	n := 0
	for err == nil {
		_, _, err = s.Next()
		n++
	}
	var se *record.StreamError
	if !errors.Is(err, boom) || !errors.As(err, &se) || se.Pos.Line != 2 || n != 3 {
		t.Errorf("after %d values: %v, want boom on line 2 after two values", n-1, err)
	}
}

func TestUnwrap(t *testing.T) {
	for _, tc := range []struct {
		v, path string
		want    []string
		found   bool
	}{
		{`{"orders":[{"id":1},{"id":2}]}`, "orders", []string{`{"id":1}`, `{"id":2}`}, true},
		{`{"order":{"id":1}}`, "order", []string{`{"id":1}`}, true},
		{`{"data":{"order":{"id":1}}}`, "data.order", []string{`{"id":1}`}, true},
		{`{"a.b":{"id":1}}`, "a.b", nil, false},
		{`{"orders":[]}`, "orders", nil, true},
		{`{"order":{"id":1}}`, "orders", nil, false},
		{`[1]`, "orders", nil, false},
	} {
		var got []string
		found, err := record.Unwrap([]byte(tc.v), tc.path, func(rec []byte, _ int) error {
			got = append(got, string(rec))
			return nil
		})
		if err != nil || found != tc.found || !cmp.Equal(got, tc.want) {
			t.Errorf("Unwrap(%s, %s) = %v %v %v, want %v %v", tc.v, tc.path, got, found, err, tc.want, tc.found)
		}
	}
}
