package state

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

func TestUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"0", 0, nil},
		{"1", 10000, nil},
		{"-2.5", -25000, nil},
		{"16.5000", 165000, nil},
		{"0.0001", 1, nil},
		{"1.23450", 12345, nil},
		{"0.00001", 0, component.ErrInvalidQuantity},
		{"100000000000", 1e15, nil},
		{"100000000000.0001", 0, component.ErrInvalidQuantity},
	} {
		got, err := toUnits(decimal.RequireFromString(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("toUnits(%s) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		in   int64
		want string
	}{{0, "0"}, {10000, "1"}, {-25000, "-2.5"}, {165000, "16.5"}, {1, "0.0001"}, {1e15, "100000000000"}, {12340, "1.234"}} {
		d := fromUnits(tc.in)
		if d.String() != tc.want {
			t.Errorf("fromUnits(%d) = %s, want %s", tc.in, d, tc.want)
		}
		if back, err := toUnits(d); err != nil || back != tc.in {
			t.Errorf("round trip of %d: %d, %v", tc.in, back, err)
		}
	}
}

func TestOutcomeEncoding(t *testing.T) {
	out := component.Outcome{
		Adjustments: []component.Adjustment{{SKU: "A", Location: "east", Bucket: component.Committed, Delta: decimal.RequireFromString("1.5"), Reason: "allocate", Ref: "o/1"}},
		Records: []component.OutputRecord{
			{Output: "allocations", Data: []byte(`{"qty": 1.50,  "sku":"A"}`)},
			{Output: "", Data: []byte{}},
			{Output: "notes", Data: []byte("not json \x00 \xff")},
		},
		ReleaseReservations: true,
	}
	b, err := encodeOutcome(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeOutcome(b, []byte(`{"why":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 3 || !got.ReleaseReservations || string(got.Explanation) != `{"why":1}` ||
		len(got.Adjustments) != 1 || !got.Adjustments[0].Delta.Equal(out.Adjustments[0].Delta) || got.Adjustments[0].Ref != "o/1" {
		t.Fatalf("decoded %+v", got)
	}
	for i := range out.Records {
		if got.Records[i].Output != out.Records[i].Output || !bytes.Equal(got.Records[i].Data, out.Records[i].Data) {
			t.Errorf("record %d: %q %q, want %q %q", i, got.Records[i].Output, got.Records[i].Data, out.Records[i].Output, out.Records[i].Data)
		}
	}
	for n := range len(b) {
		if _, err := decodeOutcome(b[:n], nil); err == nil {
			t.Errorf("decoding the first %d of %d bytes succeeded", n, len(b))
		}
	}
	if _, err := decodeOutcome(append(b, 0), nil); err == nil {
		t.Error("trailing bytes accepted")
	}
}

func TestMigrations(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		ms, err := migrations(dialect)
		if err != nil || len(ms) == 0 || ms[0].version != 1 || ms[0].name != "inventory" {
			t.Fatalf("%s migrations: %+v %v", dialect, ms, err)
		}
		if p, err := pending(ms, 0, 0); err != nil || len(p) != len(ms) {
			t.Errorf("%s: pending from 0: %d %v", dialect, len(p), err)
		}
		if p, err := pending(ms, ms[len(ms)-1].version, 0); err != nil || len(p) != 0 {
			t.Errorf("%s: pending when current: %d %v", dialect, len(p), err)
		}
		if _, err := pending(ms, ms[len(ms)-1].version+1, 0); err == nil || !strings.Contains(err.Error(), "newer than this pipectl") {
			t.Errorf("%s: a newer schema: %v", dialect, err)
		}
	}
	// Both databases have the same tables.
	tables := func(dialect string) []string {
		ms, _ := migrations(dialect)
		var out []string
		for _, line := range strings.Split(ms[0].sql, "\n") {
			if rest, ok := strings.CutPrefix(line, "CREATE TABLE "); ok {
				out = append(out, strings.Fields(rest)[0])
			}
		}
		return out
	}
	if a, b := tables("sqlite"), tables("postgres"); strings.Join(a, ",") != strings.Join(b, ",") || len(a) < 7 {
		t.Errorf("tables differ: sqlite %v, postgres %v", a, b)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@host/db":                            "postgres://u:[redacted]@host/db",
		"postgres://u@host/db":                                   "postgres://u@host/db",
		"postgres://host/db?x=a@b":                               "postgres://host/db?x=a@b",
		"mysql://root:pw@localhost/db":                           "mysql://root:[redacted]@localhost/db",
		"postgres://u@host/db?password=s3cr%40t&sslmode=disable": "postgres://u@host/db?password=[redacted]&sslmode=disable",
		"postgres://host/db?sslpassword=k3y":                     "postgres://host/db?sslpassword=[redacted]",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A password given as ?password= never reaches an error message, whatever
// the driver quotes of the URL.
func TestOpenErrorsHideQueryPasswords(t *testing.T) {
	for _, url := range []string{
		"postgres://nobody@127.0.0.1:1/db?password=hunter2-pg&connect_timeout=1",
		"postgres://nobody@127.0.0.1:1/db?password=hunter2%21pg&connect_timeout=1",
		"postgres://nobody:hunter2pw@127.0.0.1:1/db?connect_timeout=1",
		"postgres://nobody@127.0.0.1:1/db?password=hunter2-pg&sslmode=nonsense",
	} {
		_, err := Open(context.Background(), url, Options{})
		if err == nil {
			t.Fatalf("%s: opened", url)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error shows the password: %v", url, err)
		}
	}
}
