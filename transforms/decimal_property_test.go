package transforms_test

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/tidwall/gjson"
)

// randomDecimal writes a decimal of 1 to 20 significant digits, of any
// scale up to its digits, often with trailing zeros, as plain text
// (-0.00120, 12345678901234567.89, 7).
func randomDecimal(r *rand.Rand) string {
	n := 1 + r.IntN(20)
	digits := make([]byte, n)
	for i := range digits {
		digits[i] = byte('0' + r.IntN(10))
	}
	if digits[0] == '0' {
		digits[0] = '1'
	}
	for i := n - 1; i > 0 && r.IntN(3) == 0; i-- {
		digits[i] = '0'
	}
	scale := r.IntN(n + 1)
	var s string
	switch {
	case scale == 0:
		s = string(digits)
	case scale == n:
		s = "0." + string(digits)
	default:
		s = string(digits[:n-scale]) + "." + string(digits[n-scale:])
	}
	if r.IntN(3) == 0 {
		s = "-" + s
	}
	return s
}

// decimalCase is one record of the property test: its decimals as the
// input writes them.
type decimalCase struct{ id, a, b string }

// Random decimals of up to 20 significant digits go through a file source
// of each format, three steps (a conversion, a filter computing with them,
// a mapping computing more) and a file sink of the same format, and come out
// with exactly the digits exact arithmetic gives, scale included.
func TestDecimalsKeepTheirDigitsThroughEveryFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 20))
	cases := make([]decimalCase, 300)
	for i := range cases {
		cases[i] = decimalCase{id: strconv.Itoa(i + 1), a: randomDecimal(r), b: randomDecimal(r)}
	}
	cases[0] = decimalCase{id: "1", a: "12345678901234567.89", b: "478.20"}
	for _, format := range []string{"ndjson", "json", "csv", "xml"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in."+format)
			if err := os.WriteFile(in, decimalInput(format, cases), 0o644); err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{
				"ndjson": "format: ndjson", "json": "format: json",
				"csv": "format: csv, columns: {a: decimal}", "xml": "format: xml, record_path: records/record",
			}[format]
			sinkSettings := map[string]string{"csv": ", columns: [id, a, b, sum, diff, prod, quot]"}[format]
			src := `pipeline: t
sources:
  in:
    file: {path: ` + in + `, ` + settings + `}
steps:
  exact:
    from: in
    map: {id: id, a: decimal(a), b: decimal(b)}
  checked:
    from: exact
    filter: a + b == b + a && a - a == 0
  out:
    from: checked
    map:
      id: id
      a: a
      b: b
      sum: a + b
      diff: a - b
      prod: a * 3
      quot: 'b == 0 ? a : a / 2'
sinks:
  file:
    from: out
    file: {path: ` + filepath.Join(dir, "out."+format) + `, format: ` + format + sinkSettings + `}
  failed:
    from: [in.error, exact.error, checked.error, out.error]
    file: {path: ` + filepath.Join(dir, "failed.ndjson") + `}
`
			out := runFiles(t, src, dir, "out."+format, "failed.ndjson")
			if out["failed.ndjson"] != "" {
				t.Fatalf("records failed:\n%s", out["failed.ndjson"])
			}
			got := decimalOutput(t, format, []byte(out["out."+format]))
			if len(got) != len(cases) {
				t.Fatalf("%d records out, want %d", len(got), len(cases))
			}
			for i, c := range cases {
				a, b := decimal.RequireFromString(c.a), decimal.RequireFromString(c.b)
				quot := a
				if !b.IsZero() {
					quot = a.Div(decimal.NewFromInt(2))
				}
				want := map[string]string{"id": c.id, "a": c.a, "b": c.b,
					"sum": scaled(a.Add(b)), "diff": scaled(a.Sub(b)),
					"prod": scaled(a.Mul(decimal.NewFromInt(3)))}
				for field, w := range want {
					if g := got[i][field]; g != w {
						t.Errorf("record %s: %s = %s, want %s (a %s, b %s)", c.id, field, g, w, c.a, c.b)
					}
				}
				// Division is carried to 16 places: the quotient is that
				// number, written with no more places than its operands
				// or the division have.
				q, err := decimal.NewFromString(got[i]["quot"])
				if err != nil || !q.Equal(quot) || -q.Exponent() > max(16, -a.Exponent()) {
					t.Errorf("record %s: quot = %s, want %s", c.id, got[i]["quot"], quot)
				}
			}
		})
	}
}

// scaled is a decimal's exact digits with its scale.
func scaled(d decimal.Decimal) string { return d.StringFixed(max(0, -d.Exponent())) }

// decimalInput writes the cases in a format: a as a JSON number and b as
// text in JSON, both as text in CSV (a typed decimal by `columns`) and XML.
func decimalInput(format string, cases []decimalCase) []byte {
	var b bytes.Buffer
	switch format {
	case "ndjson", "json":
		if format == "json" {
			b.WriteString("[\n")
		}
		for i, c := range cases {
			if format == "json" && i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, `{"id":%q,"a":%s,"b":%q}`, c.id, c.a, c.b)
			if format == "ndjson" {
				b.WriteByte('\n')
			}
		}
		if format == "json" {
			b.WriteString("\n]\n")
		}
	case "csv":
		b.WriteString("id,a,b\n")
		for _, c := range cases {
			fmt.Fprintf(&b, "%s,%s,%s\n", c.id, c.a, c.b)
		}
	case "xml":
		b.WriteString("<?xml version=\"1.0\"?>\n<records>\n")
		for _, c := range cases {
			fmt.Fprintf(&b, "  <record><id>%s</id><a>%s</a><b>%s</b></record>\n", c.id, c.a, c.b)
		}
		b.WriteString("</records>\n")
	}
	return b.Bytes()
}

// decimalOutput reads the records a sink wrote, each as its fields' text:
// a JSON value's text (a string's characters), a CSV cell, an element's
// text.
func decimalOutput(t *testing.T, format string, out []byte) []map[string]string {
	t.Helper()
	var recs []map[string]string
	fromJSON := func(v gjson.Result) {
		m := map[string]string{}
		v.ForEach(func(k, f gjson.Result) bool {
			if f.Type == gjson.String {
				m[k.Str] = f.Str
			} else {
				m[k.Str] = f.Raw
			}
			return true
		})
		recs = append(recs, m)
	}
	switch format {
	case "ndjson":
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fromJSON(gjson.Parse(line))
		}
	case "json":
		gjson.ParseBytes(out).ForEach(func(_, v gjson.Result) bool {
			fromJSON(v)
			return true
		})
	case "csv":
		rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows[1:] {
			m := map[string]string{}
			for i, h := range rows[0] {
				m[h] = row[i]
			}
			recs = append(recs, m)
		}
	case "xml":
		dec := xml.NewDecoder(bytes.NewReader(out))
		var cur map[string]string
		var field string
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch x := tok.(type) {
			case xml.StartElement:
				switch x.Name.Local {
				case "records":
				case "record":
					cur = map[string]string{}
				default:
					field = x.Name.Local
				}
			case xml.CharData:
				if cur != nil && field != "" {
					cur[field] += string(x)
				}
			case xml.EndElement:
				if x.Name.Local == "record" {
					recs = append(recs, cur)
					cur = nil
				}
				field = ""
			}
		}
	}
	return recs
}
