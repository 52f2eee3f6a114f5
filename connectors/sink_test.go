package connectors_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// orders are records with what each format must carry: big integers,
// decimals, text needing quotes and escapes, nested objects and arrays.
const orders = `{"id":820982911946154508,"sku":"A,1","qty":2,"price":12.50,"paid":true,"note":"say \"hi\"\nnow <b>&</b>","ship":{"city":"Köln","zip":"50667"},"tags":["x","y"],"gift":null}
{"id":2,"sku":"B","qty":1,"price":3,"paid":false,"note":"","ship":{"city":"Paris","zip":"75001"},"tags":["z"],"gift":null}
`

// sinkPipeline writes the records of an NDJSON file $IN through a file sink
// of the given settings (path excluded) to $OUT.
func sinkPipeline(settings string) string {
	return "pipeline: t\nsources:\n  in:\n    file: {path: \"${IN}\"}\nsinks:\n  out:\n    from: in\n    file: {path: \"${OUT}\", " + settings + "}\n"
}

func TestSinkRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, write, read string
		want              []string
	}{
		{"ndjson", `format: ndjson`, `format: ndjson`, strings.Split(strings.TrimSpace(orders), "\n")},
		{"json", `format: json`, `format: json`, strings.Split(strings.TrimSpace(orders), "\n")},
		{"csv", `format: csv`, `format: csv, columns: {id: int, qty: int, price: decimal, paid: bool}`, []string{
			`{"id":820982911946154508,"sku":"A,1","qty":2,"price":12.50,"paid":true,"note":"say \"hi\"\nnow <b>&</b>","ship":"{\"city\":\"Köln\",\"zip\":\"50667\"}","tags":"[\"x\",\"y\"]","gift":""}`,
			`{"id":2,"sku":"B","qty":1,"price":3,"paid":false,"note":"","ship":"{\"city\":\"Paris\",\"zip\":\"75001\"}","tags":"[\"z\"]","gift":""}`,
		}},
		{"xml", `format: xml, record_element: Order, root_element: Orders`, `format: xml, record_path: Orders/Order, repeated: [tags]`, []string{
			`{"id":"820982911946154508","sku":"A,1","qty":"2","price":"12.50","paid":"true","note":"say \"hi\"\nnow <b>&</b>","ship":{"city":"Köln","zip":"50667"},"tags":["x","y"],"gift":""}`,
			`{"id":"2","sku":"B","qty":"1","price":"3","paid":"false","note":"","ship":{"city":"Paris","zip":"75001"},"tags":["z"],"gift":""}`,
		}},
	} {
		for _, gz := range []bool{false, true} {
			name, out, settings := tc.name, "out."+tc.name, tc.write
			if gz {
				name, out, settings = name+"+gzip", out+".gz", settings+", gzip: true"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				in := write(t, filepath.Join(dir, "in.ndjson"), orders)
				outPath := filepath.Join(dir, out)
				res := runPipeline(t, sinkPipeline(settings), map[string]string{"IN": in, "OUT": outPath})
				if len(res.Unhandled) > 0 {
					t.Fatalf("unhandled: %s", res.Unhandled[0].Raw)
				}
				recs, errs, err := readFiles(t, outPath, tc.read)
				if err != nil || len(errs) > 0 {
					t.Fatalf("read back: %v %v\n%s", err, errs, readFile(t, outPath))
				}
				if diff := cmp.Diff(tc.want, recs); diff != "" {
					t.Errorf("read back (-want +got):\n%s\nfile:\n%s", diff, readFile(t, outPath))
				}
				if got := dirEntries(t, dir); !cmp.Equal(got, []string{"in.ndjson", out}) {
					t.Errorf("directory holds %v: a temporary file was left", got)
				}
			})
		}
	}
}

func TestSinkExactOutput(t *testing.T) {
	for _, tc := range []struct{ settings, want string }{
		{`format: ndjson`, orders},
		{`format: json`, "[\n" + strings.Replace(orders, "\n{", ",\n{", 1) + "]\n"},
		{`format: csv`, "id,sku,qty,price,paid,note,ship,tags,gift\n" +
			"820982911946154508,\"A,1\",2,12.50,true,\"say \"\"hi\"\"\nnow <b>&</b>\",\"{\"\"city\"\":\"\"Köln\"\",\"\"zip\"\":\"\"50667\"\"}\",\"[\"\"x\"\",\"\"y\"\"]\",\n" +
			"2,B,1,3,false,,\"{\"\"city\"\":\"\"Paris\"\",\"\"zip\"\":\"\"75001\"\"}\",\"[\"\"z\"\"]\",\n"},
		{`format: csv, columns: [sku, price, missing], delimiter: ";"`, "sku;price;missing\nA,1;12.50;\nB;3;\n"},
		{`format: xml`, `<?xml version="1.0" encoding="UTF-8"?>` + "\n<records>\n" +
			`<record><id>820982911946154508</id><sku>A,1</sku><qty>2</qty><price>12.50</price><paid>true</paid>` +
			`<note>say &quot;hi&quot;&#xA;now &lt;b&gt;&amp;&lt;/b&gt;</note><ship><city>Köln</city><zip>50667</zip></ship>` +
			"<tags>x</tags><tags>y</tags><gift/></record>\n" +
			`<record><id>2</id><sku>B</sku><qty>1</qty><price>3</price><paid>false</paid><note></note>` +
			"<ship><city>Paris</city><zip>75001</zip></ship><tags>z</tags><gift/></record>\n</records>\n"},
	} {
		t.Run(tc.settings, func(t *testing.T) {
			dir := t.TempDir()
			in := write(t, filepath.Join(dir, "in.ndjson"), orders)
			out := filepath.Join(dir, "out")
			runPipeline(t, sinkPipeline(tc.settings), map[string]string{"IN": in, "OUT": out})
			if diff := cmp.Diff(tc.want, readFile(t, out)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSinkDeterministic(t *testing.T) {
	for _, settings := range []string{`format: ndjson, gzip: true`, `format: json`, `format: csv, gzip: true`, `format: xml, gzip: true`} {
		dir := t.TempDir()
		in := write(t, filepath.Join(dir, "in.ndjson"), strings.Repeat(orders, 50))
		var outs [2][]byte
		for i := range outs {
			out := filepath.Join(dir, "out")
			runPipeline(t, sinkPipeline(settings), map[string]string{"IN": in, "OUT": out})
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = b
		}
		if len(outs[0]) == 0 || !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("%s: two runs wrote different bytes (%d, %d)", settings, len(outs[0]), len(outs[1]))
		}
	}
}

func TestSinkEmptyInput(t *testing.T) {
	for _, tc := range []struct{ settings, want, read string }{
		{`format: ndjson`, "", `format: ndjson`},
		{`format: json`, "[]\n", `format: json`},
		{`format: csv`, "", `format: csv`},
		{`format: csv, columns: [a, b]`, "a,b\n", `format: csv`},
		{`format: xml`, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<records>\n</records>\n", `format: xml, record_path: records/record`},
		{`format: json, gzip: true`, "[]\n", `format: json`},
	} {
		t.Run(tc.settings, func(t *testing.T) {
			dir := t.TempDir()
			in := write(t, filepath.Join(dir, "in.ndjson"), "")
			out := filepath.Join(dir, "out")
			if strings.Contains(tc.settings, "gzip") {
				out += ".gz"
			}
			runPipeline(t, sinkPipeline(tc.settings), map[string]string{"IN": in, "OUT": out})
			if got := readFile(t, out); got != tc.want {
				t.Errorf("output = %q, want %q", got, tc.want)
			}
			recs, errs, err := readFiles(t, out, tc.read)
			if err != nil || len(recs)+len(errs) > 0 {
				t.Errorf("reading the empty output back: %v %v %v", recs, errs, err)
			}
		})
	}
}

func TestSinkRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		settings, records string
		want              []string // error messages, in order
		file              string
	}{
		{`format: csv`, `{"a":1}` + "\n" + `{"a":2,"b":3}` + "\n" + `[1]` + "\n" + `{"a":4}`,
			[]string{"field \"b\" is not among the CSV columns (a), which come from the first record: list every column in `columns`", `a CSV row needs a JSON object, not an array`},
			"a\n1\n4\n"},
		{`format: csv, columns: [a]`, `{"a":1,"b":2}`, nil, "a\n1\n"},
		{`format: xml`, `{"ok":1}` + "\n" + `{"line items":1}` + "\n" + `{"x":{"@1":2}}` + "\n" + `{"x":{"@a":[1]}}` + "\n" + `[[1],{"@a":"v","#text":"t","b":null}]`,
			[]string{`field "line items" cannot be an XML element name`, `field "x.@1" cannot be an XML attribute name`, `field "x.@a" is an attribute and needs a string, number or boolean, not an array`},
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<records>\n<record><ok>1</ok></record>\n" +
				"<record><item><item>1</item></item><item a=\"v\">t<b/></item></record>\n</records>\n"},
	} {
		t.Run(tc.settings, func(t *testing.T) {
			dir := t.TempDir()
			in := write(t, filepath.Join(dir, "in.ndjson"), tc.records)
			out := filepath.Join(dir, "out")
			res := runPipeline(t, sinkPipeline(tc.settings), map[string]string{"IN": in, "OUT": out})
			var got []string
			for _, r := range res.Unhandled {
				v, _ := (&recordT{Raw: r.Raw}).Get("error")
				got = append(got, v.Str)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.file, readFile(t, out)); diff != "" {
				t.Errorf("file (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSinkTouchesNothingUntilWritten builds sinks as dry runs do: nothing
// appears until a record is written or the sink is closed, and a dry run's
// sink never creates its file.
func TestSinkTouchesNothingUntilWritten(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	p := compile(t, sinkPipeline(`format: csv`), map[string]string{"IN": "x", "OUT": out})

	s := newSink(t, p, "out", nil, nil)
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Fatalf("building the sink created %v", got)
	}
	if err := s.Write(context.Background(), record.New([]byte(`{"a":1}`), nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("the file appeared before Close: readers could see half of it")
	}
	if err := s.Close(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != "a\n1\n" {
		t.Errorf("file = %q", got)
	}

	dry := newSink(t, p, "out", &component.Runtime{DryRun: true}, nil)
	os.Remove(out)
	if err := dry.Write(context.Background(), record.New([]byte(`{"a":1}`), nil)); err == nil {
		t.Errorf("a dry run's sink wrote")
	}
	if err := dry.Close(context.Background(), true); err != nil {
		t.Error(err)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("a dry run's sink created %v", got)
	}

	// A directory that does not exist fails the records and Close, and
	// leaves nothing behind.
	p = compile(t, sinkPipeline(`format: json`), map[string]string{"IN": "x", "OUT": filepath.Join(dir, "missing", "out.json")})
	s = newSink(t, p, "out", nil, nil)
	if err := s.Write(context.Background(), record.New([]byte(`{"a":1}`), nil)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing directory: %v", err)
	}
	if err := s.Close(context.Background(), true); err == nil {
		t.Errorf("close after failing to open: no error")
	}
}

func TestStdoutFormats(t *testing.T) {
	for _, tc := range []struct{ settings, want string }{
		{`{}`, `{"a":1,"b":"x"}` + "\n" + `{"a":2,"b":"y,z"}` + "\n"},
		{`{format: json}`, "[\n" + `{"a":1,"b":"x"}` + ",\n" + `{"a":2,"b":"y,z"}` + "\n]\n"},
		{`{format: csv}`, "a,b\n1,x\n2,\"y,z\"\n"},
		{`{format: csv, columns: [b], delimiter: tab}`, "b\nx\ny,z\n"},
	} {
		t.Run(tc.settings, func(t *testing.T) {
			in := write(t, tempPath(t, "in.ndjson"), `{"a":1,"b":"x"}`+"\n"+`{"a":2,"b":"y,z"}`+"\n")
			src := "pipeline: t\nsources:\n  in:\n    file: {path: \"${IN}\"}\nsinks:\n  out:\n    from: in\n    stdout: " + tc.settings + "\n"
			var out bytes.Buffer
			p := compile(t, src, map[string]string{"IN": in})
			s := newSink(t, p, "out", &component.Runtime{Stdout: &out}, nil)
			recs, _, err := readAll(t, newSource(t, p, "in"))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if err := s.Write(context.Background(), record.New([]byte(r), nil)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStdinCSV(t *testing.T) {
	src := "pipeline: t\nsources:\n  in:\n    stdin: {format: csv, columns: {qty: int}}\nsinks:\n  out:\n    from: in\n    stdout: {}\n"
	p := compile(t, src, nil)
	n := node(t, p, "in")
	s, err := n.Spec.NewSource(component.BuildContext{Name: "in", Config: n.Config, Runtime: &component.Runtime{Stdin: strings.NewReader("sku,qty\nA,2\n")}})
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := readAll(t, s)
	if err != nil || len(recs) != 1 || recs[0] != `{"sku":"A","qty":2}` {
		t.Errorf("%v %v", recs, err)
	}
}

// A file sink closed without commit leaves what was at its path before and
// removes its temporary file.
func TestFileSinkWithoutCommitKeepsThePreviousFile(t *testing.T) {
	dir := t.TempDir()
	out := write(t, filepath.Join(dir, "out.json"), "yesterday\n")
	p := compile(t, sinkPipeline(`format: json`), map[string]string{"IN": "x", "OUT": out})
	s := newSink(t, p, "out", nil, nil)
	if err := s.(component.Starter).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := s.Write(context.Background(), record.New(fmt.Appendf(nil, `{"n":%d}`, i), nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != "yesterday\n" {
		t.Errorf("file = %q, want the previous content", got)
	}
	if got := dirEntries(t, dir); len(got) != 1 {
		t.Errorf("left %v", got)
	}
}

// Starting a file sink removes the temporary files a killed run left beside
// its path, and only those: a file another live run is writing stays.
func TestFileSinkRemovesStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	stale := write(t, filepath.Join(dir, ".out.ndjson.k1ll3d.tmp"), strings.Repeat("x", 1<<20))
	other := write(t, filepath.Join(dir, ".other.ndjson.k1ll3d.tmp"), "another output's")
	p := compile(t, sinkPipeline(`format: ndjson`), map[string]string{"IN": "x", "OUT": out})

	live := newSink(t, p, "out", nil, nil)
	if err := live.(component.Starter).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed run's temporary file is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another output's temporary file was removed: %v", err)
	}
	var liveTemp string
	for _, e := range dirEntries(t, dir) {
		if strings.HasPrefix(e, ".out.ndjson.") {
			liveTemp = e
		}
	}
	if liveTemp == "" {
		t.Fatal("the started sink has no temporary file")
	}
	second := newSink(t, p, "out", nil, nil)
	if err := second.(component.Starter).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, liveTemp)); err != nil {
		t.Errorf("a live run's temporary file was removed: %v", err)
	}
	second.Close(context.Background(), false)
	live.Close(context.Background(), false)
}
