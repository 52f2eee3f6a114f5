package connectors_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/component"
)

// errorRecord is what a source's error output carries.
type errorRecord struct {
	Node           string          `json:"node"`
	Error          string          `json:"error"`
	Seq            int64           `json:"seq"`
	Record         json.RawMessage `json:"record"`
	RecordBase64   []byte          `json:"record_base64"`
	Original       json.RawMessage `json:"original"`
	OriginalBase64 []byte          `json:"original_base64"`
}

func decodeErrors(t *testing.T, errs []string) []errorRecord {
	t.Helper()
	var out []errorRecord
	for _, e := range errs {
		if !utf8.ValidString(e) || !json.Valid([]byte(e)) {
			t.Fatalf("error record is not valid UTF-8 JSON: %q", e)
		}
		var r errorRecord
		if err := json.Unmarshal([]byte(e), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestJSONArrayElementErrors: an element that is JSON but not what the
// pipeline can use is one record's error, in the error output with where
// it was read, and the elements after it are delivered.
func TestJSONArrayElementErrors(t *testing.T) {
	dir := t.TempDir()
	in := write(t, filepath.Join(dir, "orders.json"), "[\n  {\"id\": 1, \"email\": \"A@X\"},\n  42,\n  {\"id\": 2, \"email\": \"B@X\"}\n]\n")
	src := "pipeline: t\nsources:\n  in:\n    file: {path: \"${IN}\", format: json}\nsteps:\n  m:\n    from: in\n    map: {id: id, email: lower(email)}\n" +
		"sinks:\n  out:\n    from: m\n    file: {path: \"${OUT}\"}\n  bad:\n    from: m.error\n    file: {path: \"${BAD}\"}\n"
	out, bad := filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "bad.ndjson")
	runPipeline(t, src, map[string]string{"IN": in, "OUT": out, "BAD": bad})
	if got := readFile(t, out); got != `{"id":1,"email":"a@x"}`+"\n"+`{"id":2,"email":"b@x"}`+"\n" {
		t.Errorf("output %q", got)
	}
	es := decodeErrors(t, strings.Split(strings.TrimSpace(readFile(t, bad)), "\n"))
	var loc struct {
		File string
		Line int
	}
	json.Unmarshal([]byte(strings.TrimSpace(readFile(t, bad))), &loc)
	if len(es) != 1 || string(es[0].Record) != "42" || es[0].Seq != 2 || loc.File != in || loc.Line != 3 {
		t.Errorf("error records %+v at %+v, want element 2 from %s line 3", es, loc, in)
	}
}

// TestJSONArraySyntaxError: malformed syntax inside an array stops the
// read at file:line:column, after every element before it was emitted.
func TestJSONArraySyntaxError(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  {\"id\": %d},\n", i)
	}
	b.WriteString("  {\"id\": 100, \"note\": \"unclosed},\n  {\"id\": 101}\n]\n")
	path := write(t, filepath.Join(t.TempDir(), "broken.json"), b.String())
	recs, _, err := readFiles(t, path, `format: json`)
	if len(recs) != 100 {
		t.Errorf("%d records emitted before the fault, want 100", len(recs))
	}
	if want := path + ":102:3: the value that starts here is not closed before the end of the input"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}

	path = write(t, filepath.Join(t.TempDir(), "typo.json"), "[{\"a\":1},\n {\"a\": tru}]")
	recs, _, err = readFiles(t, path, `format: json`)
	if len(recs) != 1 || err == nil || !strings.HasPrefix(err.Error(), path+":2:11: invalid character '}'") {
		t.Errorf("recs %v, err %v, want one record and the fault at 2:11", recs, err)
	}
}

// TestRunFailsWithLocatedFault: a run over a broken array fails naming
// the place, and the records before it reached the engine (the source
// counts them).
func TestRunFailsWithLocatedFault(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("[")
	for i := range 1519 {
		fmt.Fprintf(&b, "{\"id\":%d},\n", i)
	}
	b.WriteString("{\"id\": }]")
	in := write(t, filepath.Join(dir, "in.json"), b.String())
	p := compile(t, sourcePipeline(`{path: "${IN}", format: json}`), map[string]string{"IN": in, "OUT": filepath.Join(dir, "out.ndjson"), "BAD": filepath.Join(dir, "bad.ndjson")})
	_, err := engine.Run(context.Background(), p, engine.Options{Runtime: &component.Runtime{Clock: component.SystemClock{}}})
	if err == nil || !strings.Contains(err.Error(), in+":1520:8: invalid character '}'") {
		t.Errorf("run error %v, want the fault at %s:1520:8", err, in)
	}
}

// TestTruncatedGzip: a gzip file cut short stops the read with where its
// data ends, in every format, and the record it cut is not emitted.
func TestTruncatedGzip(t *testing.T) {
	var nd, js, cs, xm strings.Builder
	js.WriteString("[\n")
	cs.WriteString("n,pad\n")
	xm.WriteString("<r>\n")
	for i := range 20000 {
		fmt.Fprintf(&nd, "{\"n\":%d,\"pad\":\"%x\"}\n", i, i*7919)
		fmt.Fprintf(&js, "{\"n\":%d,\"pad\":\"%x\"},\n", i, i*7919)
		fmt.Fprintf(&cs, "%d,%x\n", i, i*7919)
		fmt.Fprintf(&xm, "<i><n>%d</n><pad>%x</pad></i>\n", i, i*7919)
	}
	for _, tc := range []struct{ format, settings, content string }{
		{"ndjson", `format: ndjson`, nd.String()},
		{"json", `format: json`, js.String()},
		{"csv", `format: csv`, cs.String()},
		{"xml", `format: xml, record_path: r/i`, xm.String()},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var z bytes.Buffer
			w := gzip.NewWriter(&z)
			w.Write([]byte(tc.content))
			w.Close()
			cut := z.Bytes()[:z.Len()/2]
			path := write(t, filepath.Join(t.TempDir(), "in."+tc.format+".gz"), string(cut))
			recs, errs, err := readFiles(t, path, tc.settings)
			if err == nil || !strings.HasPrefix(err.Error(), path+": unexpected end of gzip data after ") || !strings.Contains(err.Error(), ", in line ") {
				t.Fatalf("err = %v, want the end of the gzip data located", err)
			}
			if len(errs) > 0 {
				t.Errorf("error records %v: the cut record must not be one", errs[:1])
			}
			// Every record read is whole, and the line named is the one
			// after them (the header counts in CSV, the <r> line in XML).
			var n, line int64
			fmt.Sscanf(err.Error()[strings.Index(err.Error(), "after "):], "after %d bytes, in line %d", &n, &line)
			if n == 0 || line < int64(len(recs))+1 || line > int64(len(recs))+3 {
				t.Errorf("%d records read, error %v", len(recs), err)
			}
			for i, r := range recs {
				if want := fmt.Sprintf("%x", i*7919); !strings.Contains(r, want) {
					t.Fatalf("record %d = %s, not whole", i, r)
				}
			}
		})
	}
}

// TestInvalidUTF8GoesToErrorOutput: a record that is not valid UTF-8 is
// not passed on (its output would not be valid JSON text); it goes to the
// error output, which stays valid UTF-8 JSON and carries the exact bytes.
func TestInvalidUTF8GoesToErrorOutput(t *testing.T) {
	bad := "{\"name\":\"caf\xe9\"}"
	for _, tc := range []struct {
		format, settings, content string
		recs                      []string
		where                     string
		payload                   string
	}{
		{"ndjson", `format: ndjson`, "{\"n\":1}\n" + bad + "\n{\"n\":2}\n", []string{`{"n":1}`, `{"n":2}`}, ":2:13: invalid UTF-8", bad},
		{"json", `format: json`, "[{\"n\":1},\n " + bad + ",\n{\"n\":2}]", []string{`{"n":1}`, `{"n":2}`}, ":2:14: invalid UTF-8", bad},
		{"csv", `format: csv`, "n,name\n1,a\n2,caf\xe9\n3,b\n", []string{`{"n":"1","name":"a"}`, `{"n":"3","name":"b"}`}, `:3:3: column "name" is not valid UTF-8`, "2,caf\xe9"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			path := write(t, filepath.Join(t.TempDir(), "in."+tc.format), tc.content)
			recs, errs, err := readFiles(t, path, tc.settings)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.recs, recs); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			es := decodeErrors(t, errs)
			if len(es) != 1 {
				t.Fatalf("error records: %q", errs)
			}
			if es[0].Error != path+tc.where {
				t.Errorf("error %q, want %q", es[0].Error, path+tc.where)
			}
			if string(es[0].RecordBase64) != tc.payload || es[0].Record != nil {
				t.Errorf("payload %q (record %s), want exactly %q in record_base64", es[0].RecordBase64, es[0].Record, tc.payload)
			}
		})
	}
}

// TestErrorPayloadIsExact: the text of a line that is not JSON reaches the
// error output byte for byte, invalid UTF-8 included.
func TestErrorPayloadIsExact(t *testing.T) {
	line := "not json \xff\xfe at all"
	path := write(t, filepath.Join(t.TempDir(), "in.ndjson"), "{\"n\":1}\n"+line+"\n")
	_, errs, err := readFiles(t, path, `format: ndjson`)
	if err != nil {
		t.Fatal(err)
	}
	es := decodeErrors(t, errs)
	if len(es) != 1 || string(es[0].RecordBase64) != line {
		t.Fatalf("error records %q, want the line's exact bytes", errs)
	}
	if want := base64.StdEncoding.EncodeToString([]byte(line)); !strings.Contains(errs[0], `"record_base64":"`+want+`"`) {
		t.Errorf("error record %s does not carry the payload as base64", errs[0])
	}

	// Valid UTF-8 text stays a string, as it was.
	path = write(t, filepath.Join(t.TempDir(), "in.ndjson"), "café au lait\n")
	_, errs, _ = readFiles(t, path, `format: ndjson`)
	if es := decodeErrors(t, errs); len(es) != 1 || string(es[0].Record) != `"café au lait"` {
		t.Errorf("error records %q", errs)
	}
}

// TestXMLFaultLocated: malformed XML stops with line and column, after the
// records before it.
func TestXMLFaultLocated(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), "in.xml"), "<r>\n<i><n>1</n></i>\n<i><n>2</n></i>\n  <i><n>3</n</i>\n</r>\n")
	recs, _, err := readFiles(t, path, `format: xml, record_path: r/i`)
	if len(recs) != 2 || err == nil || !strings.HasPrefix(err.Error(), path+":4:") {
		t.Fatalf("recs %v, err %v: want 2 records, then line 4 and a column", recs, err)
	}
	var line, col int
	if _, e := fmt.Sscanf(strings.TrimPrefix(err.Error(), path+":"), "%d:%d:", &line, &col); e != nil || col < 10 {
		t.Errorf("err %v: want a column at the fault", err)
	}
}

// TestUnwrapShopifyPages reads real Shopify API responses: a page of
// orders and a single-order envelope, through a file source with unwrap.
// Each record is one order, and its original payload is the order.
func TestUnwrapShopifyPages(t *testing.T) {
	fixtures := filepath.Join("..", "..", "shared", "fixtures")
	page := filepath.Join(fixtures, "go-shopify", "orders.json")
	single := filepath.Join(fixtures, "shopify_python_api", "order.json")
	for _, f := range []string{page, single} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
				t.Fatalf("fixture %s: %v", f, err)
			}
			t.Skipf("fixtures not found: %v", err)
		}
	}
	var want []map[string]any
	var env struct{ Orders []map[string]any }
	raw, _ := os.ReadFile(page)
	json.Unmarshal(raw, &env)
	want = env.Orders
	if len(want) < 1 {
		t.Fatalf("%s has no orders", page)
	}

	p := compile(t, sourcePipeline(`{path: "${IN}", format: json, unwrap: orders}`), map[string]string{"IN": page, "OUT": "x", "BAD": "x"})
	src := newSource(t, p, "in")
	var got []string
	err := src.Read(t.Context(), func(r *recordT) error {
		if string(r.Origin.Raw) != string(r.Raw) {
			t.Errorf("original payload is not the record: %.80s", r.Origin.Raw)
		}
		got = append(got, string(r.Raw))
		return nil
	}, func(r *recordT) error { t.Errorf("error record %s", r.Raw); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want the page's %d orders", len(got), len(want))
	}
	for i, g := range got {
		var m map[string]any
		json.Unmarshal([]byte(g), &m)
		if m["id"] != want[i]["id"] || m["id"] == nil {
			t.Errorf("record %d id %v, want %v", i, m["id"], want[i]["id"])
		}
	}

	// The single-order envelope, on stdin as NDJSON would not fit (it is
	// pretty-printed): read as json with unwrap: order.
	recs, errs, err := readFiles(t, single, `format: json, unwrap: order`)
	if err != nil || len(errs) != 0 || len(recs) != 1 || !strings.HasPrefix(recs[0], `{"`) || strings.Contains(recs[0], `"order":`) {
		t.Errorf("single order: %d records %.60v, errors %v, err %v", len(recs), recs, errs, err)
	}

	// A page without the path is one error record, and reading goes on.
	path := write(t, filepath.Join(t.TempDir(), "pages.ndjson"), `{"orders":[{"id":1},{"id":2}]}`+"\n"+`{"errors":"Not Found"}`+"\n"+`{"orders":[]}`+"\n"+`{"orders":[{"id":3}]}`+"\nnot json\n")
	var seqs []int64
	p = compile(t, sourcePipeline(`{path: "${IN}", format: ndjson, unwrap: orders}`), map[string]string{"IN": path, "OUT": "x", "BAD": "x"})
	recs = nil
	errs = nil
	err = newSource(t, p, "in").Read(t.Context(), func(r *recordT) error {
		recs = append(recs, string(r.Raw))
		seqs = append(seqs, r.Origin.Seq)
		return nil
	}, func(r *recordT) error { errs = append(errs, string(r.Raw)); return nil })
	if diff := cmp.Diff([]string{`{"id":1}`, `{"id":2}`, `{"id":3}`}, recs); diff != "" || err != nil {
		t.Errorf("records (-want +got):\n%s%v", diff, err)
	}
	if diff := cmp.Diff([]int64{1, 2, 4}, seqs); diff != "" {
		t.Errorf("seqs (-want +got):\n%s", diff)
	}
	es := decodeErrors(t, errs)
	if len(es) != 2 || es[0].Error != path+`:2: nothing at "orders" to unwrap` || string(es[0].Record) != `{"errors":"Not Found"}` || es[0].Seq != 3 ||
		es[1].Error != path+`:5: not a JSON value` || es[1].Seq != 5 {
		t.Errorf("error records %+v", es)
	}
}

// TestStdinUnwrap: stdin takes a page as curl gives it (pretty-printed, as
// shopify_python_api's fixture is): one record per order.
func TestStdinUnwrap(t *testing.T) {
	page := filepath.Join("..", "..", "shared", "fixtures", "shopify_python_api", "orders.json")
	raw, err := os.ReadFile(page)
	if err != nil {
		if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
			t.Fatal(err)
		}
		t.Skipf("fixture: %v", err)
	}
	var env struct{ Orders []struct{ ID json.Number } }
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&env); err != nil || len(env.Orders) == 0 {
		t.Fatalf("fixture: %v", err)
	}
	p := compile(t, "pipeline: t\nsources:\n  in:\n    stdin: {format: json, unwrap: orders}\nsinks:\n  out: {from: in, stdout: {}}\n", nil)
	n := node(t, p, "in")
	s, err := n.Spec.NewSource(component.BuildContext{Name: "in", Config: n.Config, Runtime: &component.Runtime{Stdin: bytes.NewReader(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	recs, errs, err := readAll(t, s)
	if err != nil || len(errs) > 0 || len(recs) != len(env.Orders) {
		t.Fatalf("%d records, errors %v, err %v; want %d orders", len(recs), errs, err, len(env.Orders))
	}
	for i, r := range recs {
		if !strings.HasPrefix(r, `{"`) || !strings.Contains(r, `"id":`+env.Orders[i].ID.String()) {
			t.Errorf("record %d is not order %s: %.80s", i, env.Orders[i].ID, r)
		}
	}
}
