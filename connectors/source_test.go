package connectors_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCSVTypedColumns(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "orders.csv"),
		"id,sku,qty,price,active,weight,note\n"+
			"820982911946154508,A-1, 3 ,12.50,yes,1.5,first\n"+
			"2,B-2,,+007.5,FALSE,2e3,\n"+
			"3,C-3,x1,1.00,true,0.25,bad qty\n"+
			"4,D-4,1,.5,0,-0,last\n")
	recs, errs, err := readFiles(t, path, `format: csv, columns: {id: int, qty: int, price: decimal, active: bool, weight: number}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"id":820982911946154508,"sku":"A-1","qty":3,"price":12.50,"active":true,"weight":1.5,"note":"first"}`,
		`{"id":2,"sku":"B-2","qty":null,"price":7.5,"active":false,"weight":2e3,"note":""}`,
		`{"id":4,"sku":"D-4","qty":1,"price":0.5,"active":false,"weight":-0,"note":"last"}`,
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(errs) != 1 {
		t.Fatalf("want 1 error record, got %v", errs)
	}
	var e struct {
		Node   string
		Error  string
		Seq    int
		Record string
	}
	if err := json.Unmarshal([]byte(errs[0]), &e); err != nil {
		t.Fatal(err)
	}
	if e.Node != "in" || e.Seq != 3 || e.Record != "3,C-3,x1,1.00,true,0.25,bad qty" {
		t.Errorf("error record = %s", errs[0])
	}
	if wantErr := path + `:4:7: column "qty": "x1" is not an int`; e.Error != wantErr {
		t.Errorf("error = %q, want %q", e.Error, wantErr)
	}
}

func TestCSVCellErrors(t *testing.T) {
	for _, tc := range []struct {
		typ, cell, want string
	}{
		{"int", "1.5", `"1.5" is not an int`},
		{"int", "99999999999999999999", `out of the range of a 64-bit int`},
		{"decimal", "1,5", `"1,5" is not a decimal`},
		{"decimal", "NaN", `is not a decimal`},
		{"number", "inf", `"inf" is not a number`},
		{"number", "0x10", `is not a number`},
		{"number", "1e999", `out of the range of a number`},
		{"bool", "maybe", `"maybe" is not a bool`},
	} {
		t.Run(tc.typ+"/"+tc.cell, func(t *testing.T) {
			path := write(t, filepath.Join(t.TempDir(), "x.csv"), "a,v\n1,\""+tc.cell+"\"\n")
			recs, errs, err := readFiles(t, path, `format: csv, columns: {v: `+tc.typ+`}`)
			if err != nil || len(recs) != 0 || len(errs) != 1 {
				t.Fatalf("recs %v errs %v err %v", recs, errs, err)
			}
			var e struct{ Error string }
			json.Unmarshal([]byte(errs[0]), &e)
			if !strings.Contains(e.Error, tc.want) || !strings.Contains(e.Error, `x.csv:2:3: column "v"`) {
				t.Errorf("error %q does not say %q at x.csv:2:3", e.Error, tc.want)
			}
		})
	}
}

func TestCSVQuotingAndShape(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), "in.csv"),
		"\ufeffsku;name;qty\r\n"+
			"A;\"Shirt; blue, large\";1\r\n"+
			"B;\"two\r\nlines \"\"quoted\"\"\";2\r\n"+
			"\r\n"+
			"C;too;many;cells\r\n"+
			"D;bare\"quote;4\r\n"+
			"E;ok;5\r\n")
	recs, errs, err := readFiles(t, path, `format: csv, delimiter: ";", columns: {qty: int}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"sku":"A","name":"Shirt; blue, large","qty":1}`,
		`{"sku":"B","name":"two\nlines \"quoted\"","qty":2}`,
		`{"sku":"E","name":"ok","qty":5}`,
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	wantErrs := []string{
		path + `:6: 4 cells, the header has 3 columns`,
		path + `:7:7: bare \" in non-quoted-field`,
	}
	if len(errs) != len(wantErrs) {
		t.Fatalf("errors: %v", errs)
	}
	for i, w := range wantErrs {
		if !strings.Contains(errs[i], w) {
			t.Errorf("error %d = %s, want it to contain %s", i, errs[i], w)
		}
	}
	if !strings.Contains(errs[0], `"record":"C;too;many;cells"`) {
		t.Errorf("error record does not carry the row's text: %s", errs[0])
	}
}

func TestCSVHeaderProblems(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, settings, want string }{
		{"a,b\n1,2\n", `format: csv, columns: {qty: int}`, `column "qty" has a type in ` + "`columns`" + ` but is not in the header (a, b)`},
		{"a,a\n1,2\n", `format: csv`, `the header names column "a" twice`},
	} {
		path := write(t, filepath.Join(dir, "h.csv"), tc.content)
		_, _, err := readFiles(t, path, tc.settings)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.content, err, tc.want)
		}
	}
	// A file with no header is no records.
	recs, errs, err := readFiles(t, write(t, filepath.Join(dir, "empty.csv"), ""), `format: csv`)
	if err != nil || len(recs)+len(errs) != 0 {
		t.Errorf("empty CSV: %v %v %v", recs, errs, err)
	}
}

func TestXMLRecords(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), "orders.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by the ERP -->
<Orders xmlns="urn:erp" xmlns:x="urn:x" generated="2026-03-01">
  <Header><Count>2</Count></Header>
  <Order id="1001" x:channel="web" x:id="dropped: @id is taken">
    <Customer>
      <Name> Ada &amp; Co </Name>
      <Email>ada@example.com</Email>
    </Customer>
    <Line sku="A"><Qty>2</Qty></Line>
    <Line sku="B"><Qty>1</Qty></Line>
    <Note><![CDATA[leave <at> door]]></Note>
    <Gift/>
    <Price currency="EUR">12.50</Price>
  </Order>
  <Order id="1002">
    <Line sku="C"><Qty>5</Qty></Line>
    <Tag>a</Tag>
    <Tag>b</Tag>
  </Order>
  <Other><Order id="nested-elsewhere"/></Other>
</Orders>
`)
	recs, errs, err := readFiles(t, path, `format: xml, record_path: Orders/Order`)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	want := []string{
		`{"@id":"1001","@channel":"web","Customer":{"Name":" Ada & Co ","Email":"ada@example.com"},` +
			`"Line":[{"@sku":"A","Qty":"2"},{"@sku":"B","Qty":"1"}],"Note":"leave <at> door","Gift":"",` +
			`"Price":{"@currency":"EUR","#text":"12.50"}}`,
		`{"@id":"1002","Line":{"@sku":"C","Qty":"5"},"Tag":["a","b"]}`,
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}

	// `repeated` makes a single Line an array too, and * matches any root.
	recs, _, err = readFiles(t, path, `format: xml, record_path: "*/Order", repeated: [Line]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || !strings.Contains(recs[1], `"Line":[{"@sku":"C","Qty":"5"}]`) {
		t.Errorf("repeated: %v", recs)
	}
}

func TestXMLErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"<Orders>\n<Order><Id>1</Id></Order>\n<Order><Id>2</Order>\n</Orders>", "bad.xml:3:21: element <Id> closed by </Order>"},
		{"<Orders>\n<Order><Id>1</Id></Order>\n<Order>", "bad.xml:3:8: unexpected EOF"},
		{`<?xml version="1.0" encoding="EBCDIC"?><Orders/>`, `encoding "EBCDIC" is not supported`},
		{"<Orders>" + strings.Repeat("<a>", 1001), "nest deeper than 1000"},
	} {
		path := write(t, filepath.Join(dir, "bad.xml"), tc.content)
		recs, _, err := readFiles(t, path, `format: xml, record_path: Orders/Order`)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: err = %v, want %q", tc.content, err, tc.want)
		}
		if strings.Contains(tc.content, "<Id>1</Id>") && len(recs) != 1 {
			t.Errorf("records before the error were not read: %v", recs)
		}
	}
}

func TestXMLSingleByteEncodings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ enc, want string }{
		{"ISO-8859-1", `{"Name":"Café"}`},
		{"windows-1252", `{"Name":"Café €"}`},
	} {
		content := `<?xml version="1.0" encoding="` + tc.enc + `"?><R><I><Name>Caf` + "\xe9"
		if tc.enc == "windows-1252" {
			content += " \x80"
		}
		content += "</Name></I></R>"
		recs, _, err := readFiles(t, write(t, filepath.Join(dir, "e.xml"), content), `format: xml, record_path: R/I`)
		if err != nil || len(recs) != 1 || recs[0] != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.enc, recs, err, tc.want)
		}
	}
}

// TestGlobAndGzip reads two files, one gzipped, for every format: in name
// order, numbered as one sequence.
func TestGlobAndGzip(t *testing.T) {
	for _, tc := range []struct {
		format, settings string
		a, b             string // the contents of the two files
	}{
		{"ndjson", `format: ndjson`, `{"n":1}` + "\n" + `{"n":2}` + "\n", `{"n":3}`},
		{"json", `format: json`, `[{"n":1},{"n":2}]`, `[{"n":3}]`},
		{"csv", `format: csv, columns: {n: int}`, "n\n1\n2\n", "n\n3\n"},
		{"xml", `format: xml, record_path: r/i`, "<r><i><n>1</n></i><i><n>2</n></i></r>", "<r><i><n>3</n></i></r>"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			dir := t.TempDir()
			// Written in the opposite order to the names, so order comes
			// from the names.
			writeGzip(t, filepath.Join(dir, "part-2."+tc.format+".gz"), tc.b)
			write(t, filepath.Join(dir, "part-1."+tc.format), tc.a)
			write(t, filepath.Join(dir, "other.txt"), "not matched")
			p := compile(t, sourcePipeline(`{path: "${IN}", `+tc.settings+`}`), map[string]string{"IN": filepath.Join(dir, "part-*"), "OUT": "x", "BAD": "x"})
			src := newSource(t, p, "in")
			var got []string
			var seqs []int64
			err := src.Read(t.Context(), func(r *recordT) error {
				got = append(got, string(r.Raw))
				seqs = append(seqs, r.Origin.Seq)
				return nil
			}, func(r *recordT) error { t.Errorf("error record %s", r.Raw); return nil })
			if err != nil {
				t.Fatal(err)
			}
			want := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`}
			if tc.format == "xml" {
				want = []string{`{"n":"1"}`, `{"n":"2"}`, `{"n":"3"}`}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]int64{1, 2, 3}, seqs); diff != "" {
				t.Errorf("seq (-want +got):\n%s", diff)
			}
			if sz, ok := src.(interface{ Size() int64 }); !ok || sz.Size() == 0 {
				t.Errorf("source does not report its size")
			}
		})
	}
}

func TestJSONStreaming(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("[\n")
	const n = 5000
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\n    \"id\": %d,\n    \"total\": 12.50,\n    \"tags\": [ \"a\", \"b\" ]\n  }", 820982911946154508+i)
	}
	b.WriteString("\n]\n")
	recs, _, err := readFiles(t, write(t, filepath.Join(dir, "big.json"), b.String()), `format: json`)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n || recs[0] != `{"id":820982911946154508,"total":12.50,"tags":["a","b"]}` ||
		recs[n-1] != fmt.Sprintf(`{"id":%d,"total":12.50,"tags":["a","b"]}`, 820982911946154508+n-1) {
		t.Errorf("got %d records, first %s", len(recs), recs[0])
	}

	// Objects one after another are one record each.
	recs, _, err = readFiles(t, write(t, filepath.Join(dir, "objs.json"), "{\"a\": 1}\n{\"a\": 2}"), `format: json`)
	if err != nil || len(recs) != 2 || recs[1] != `{"a":2}` {
		t.Errorf("objects: %v %v", recs, err)
	}
	// Empty files and empty arrays are no records.
	for _, content := range []string{"", " \n", "[]"} {
		recs, _, err = readFiles(t, write(t, filepath.Join(dir, "e.json"), content), `format: json`)
		if err != nil || len(recs) != 0 {
			t.Errorf("%q: %v %v", content, recs, err)
		}
	}
	// A broken array stops where the record it broke in starts.
	_, _, err = readFiles(t, write(t, filepath.Join(dir, "broken.json"), `[{"a":1},{"a":`), `format: json`)
	if err == nil || !strings.Contains(err.Error(), "broken.json:1:10: ") {
		t.Errorf("broken array: %v", err)
	}
	_, _, err = readFiles(t, write(t, filepath.Join(dir, "trailing.json"), `[{"a":1}] x`), `format: json`)
	if err == nil {
		t.Errorf("data after the array was accepted")
	}
}

func TestNDJSONWithBOMAndBadLine(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), "in.ndjson"), "\ufeff{\"a\":1}\n\nnot json\n{\"a\":2}\n")
	recs, errs, err := readFiles(t, path, `format: ndjson`)
	if err != nil || len(recs) != 2 || len(errs) != 1 || !strings.Contains(errs[0], path+`:3: not a JSON value`) {
		t.Errorf("recs %v errs %v err %v", recs, errs, err)
	}
}

func TestFormatSettingsValidate(t *testing.T) {
	for _, tc := range []struct {
		source, sink string
		codes        []string
	}{
		{`{path: x, columns: {qty: int}}`, `{path: y}`, []string{"invalid-value"}},
		{`{path: x, format: xml}`, `{path: y}`, []string{"missing-field"}},
		{`{path: x, format: xml, record_path: "Orders//Order"}`, `{path: y}`, []string{"invalid-value"}},
		{`{path: x, format: csv, delimiter: ";;"}`, `{path: y}`, []string{"invalid-value"}},
		{`{path: x, format: csv, columns: {qty: integer}}`, `{path: y}`, []string{"invalid-value"}},
		{`{path: x}`, `{path: y, format: csv, record_element: Order}`, []string{"invalid-value"}},
		{`{path: x}`, `{path: y, format: xml, record_element: "1st"}`, []string{"invalid-value"}},
		{`{path: x}`, `{path: y, format: csv, columns: [a, a]}`, []string{"invalid-value"}},
		{`{path: x, format: csv, delimiter: tab, columns: {a: decimal}}`, `{path: y, format: xml, record_element: Order, root_element: Orders, gzip: true}`, nil},
	} {
		src := "pipeline: t\nsources:\n  in:\n    file: " + tc.source + "\nsinks:\n  out:\n    from: in\n    file: " + tc.sink + "\n"
		_, ds := diagnose(t, src, nil)
		var errCodes []string
		for _, d := range ds {
			if d.Code != "unused-output" {
				errCodes = append(errCodes, d.Code)
			}
		}
		if diff := cmp.Diff(tc.codes, errCodes); diff != "" {
			t.Errorf("%s -> %s: codes (-want +got):\n%s\n%v", tc.source, tc.sink, diff, ds)
		}
	}
}
