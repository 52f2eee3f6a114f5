package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// compile builds a plan from pipeline text, with ${DIR} set to dir.
func compile(t *testing.T, dir, src string) *pipelines.Plan {
	t.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(k string) (string, bool) {
			if k == "DIR" {
				return dir, true
			}
			return "", false
		}},
		Library: exprs.NewLibrary(component.FixedClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))),
		Schema:  schemas.Lookup, SchemaNames: schemas.Names(),
	}
	f, ds := pipelines.LoadBytes(filepath.Join(dir, "p.yaml"), []byte(src), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	if all := append(ds, cds...); all.HasErrors() {
		t.Fatalf("pipeline does not compile:\n%v", all.Err())
	}
	return p
}

func run(t *testing.T, p *pipelines.Plan, opts engine.Options) *engine.Result {
	t.Helper()
	res, err := engine.Run(context.Background(), p, opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// checkCounts asserts in = out + dropped + errored for every node.
func checkCounts(t *testing.T, res *engine.Result) {
	t.Helper()
	for _, n := range res.Nodes {
		if n.In != n.Out+n.Dropped+n.Errored {
			t.Errorf("%s %s: in %d != out %d + dropped %d + errored %d", n.Section, n.Name, n.In, n.Out, n.Dropped, n.Errored)
		}
	}
}

func stats(res *engine.Result, name string) engine.NodeStats {
	for _, n := range res.Nodes {
		if n.Name == name {
			return n
		}
	}
	return engine.NodeStats{}
}

const failingPipeline = `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  keep:
    from: in
    filter: kind != "skip"
  parse:
    from: keep
    map:
      code: parse_int(code)
sinks:
  out: {from: parse, file: "${DIR}/out.ndjson"}
  failed: {from: [in.error, keep.error, parse.error], file: "${DIR}/failed.ndjson"}
`

func TestFailingRecordsGoToErrorOutputWithPayload(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "in.ndjson"), `{"code":"1"}
{"code":"x2","note":"bad number"}
not json at all
{"code":"3","kind":"skip"}
{"code":"4"}
`)
	res := run(t, compile(t, dir, failingPipeline), engine.Options{})
	checkCounts(t, res)
	if got := lines(t, filepath.Join(dir, "out.ndjson")); strings.Join(got, "|") != `{"code":1}|{"code":4}` {
		t.Errorf("out = %v", got)
	}
	failed := lines(t, filepath.Join(dir, "failed.ndjson"))
	if len(failed) != 2 {
		t.Fatalf("failed = %v", failed)
	}
	var parseErr, srcErr map[string]any
	// Error records keep the input's order: line 2's failure, then line 3's.
	json.Unmarshal([]byte(failed[0]), &parseErr)
	json.Unmarshal([]byte(failed[1]), &srcErr)
	if srcErr["node"] != "in" || !strings.Contains(srcErr["error"].(string), "in.ndjson:3: not a JSON value") || srcErr["record"] != "not json at all" {
		t.Errorf("source error record = %s", failed[1])
	}
	rec, _ := parseErr["record"].(map[string]any)
	if parseErr["node"] != "parse" || !strings.Contains(parseErr["error"].(string), "field code") || rec["note"] != "bad number" || parseErr["seq"] != float64(2) {
		t.Errorf("map error record = %s", failed[0])
	}
	if s := stats(res, "parse"); s.In != 3 || s.Out != 2 || s.Errored != 1 {
		t.Errorf("parse stats = %+v", s)
	}
	if s := stats(res, "keep"); s.Dropped != 1 {
		t.Errorf("keep stats = %+v", s)
	}
	if len(res.Unhandled) != 0 {
		t.Errorf("unhandled = %d, want 0", len(res.Unhandled))
	}
}

func TestUnreadErrorsAreUnhandled(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "in.ndjson"), `{"code":"1"}`+"\n"+`{"code":"nope"}`+"\n")
	p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  parse: {from: in, map: {code: parse_int(code)}}
sinks:
  out: {from: parse, file: "${DIR}/out.ndjson"}
`)
	res := run(t, p, engine.Options{})
	checkCounts(t, res)
	if len(res.Unhandled) != 1 || !bytes.Contains(res.Unhandled[0].Raw, []byte(`"record":{"code":"nope"}`)) {
		t.Fatalf("unhandled = %v", res.Unhandled)
	}
}

func TestOrderIsKeptWithWorkers(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&in, `{"n":%d,"drop":%v}`+"\n", i, i%7 == 0)
	}
	write(t, filepath.Join(dir, "in.ndjson"), in.String())
	p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  keep: {from: in, filter: "!drop"}
  sq: {from: keep, map: {n: n, sq: n * n}}
sinks:
  out: {from: sq, file: "${DIR}/out.ndjson"}
`)
	var want []string
	for _, workers := range []int{1, 4} {
		res := run(t, p, engine.Options{Workers: workers, BatchSize: 7})
		checkCounts(t, res)
		got := lines(t, filepath.Join(dir, "out.ndjson"))
		if workers == 1 {
			want = got
			if len(got) != 2000-286 {
				t.Fatalf("%d records out", len(got))
			}
			continue
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("with %d workers the output differs from one worker's", workers)
		}
	}
	prev := -1
	for _, l := range want {
		var r struct{ N int }
		json.Unmarshal([]byte(l), &r)
		if r.N <= prev {
			t.Fatalf("order not kept: %d after %d", r.N, prev)
		}
		prev = r.N
	}
}

func TestRoute(t *testing.T) {
	dir := t.TempDir()
	p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  by:
    from: in
    route:
      mode: all
      routes:
        big: total > 100
        gift: gift == true
sinks:
  big: {from: by.big, stdout: {}}
  gift: {from: by.gift, stdout: {}}
  rest: {from: by.unmatched, stdout: {}}
  failed: {from: by.error, stdout: {}}
`)
	in := func(s string) engine.Input { return engine.Input{Node: "in", Record: record.New([]byte(s), nil)} }
	res := run(t, p, engine.Options{DryRun: true, Inputs: []engine.Input{
		in(`{"total": 150, "gift": true}`), in(`{"total": 5, "gift": false}`), in(`{"total": "oops"}`),
	}})
	checkCounts(t, res)
	count := func(sink string) int { return len(res.Captured[sink].Records) }
	if count("big") != 1 || count("gift") != 1 || count("rest") != 1 {
		t.Errorf("big %d gift %d rest %d", count("big"), count("gift"), count("rest"))
	}
	// "oops" > 100 fails at run time: the record goes to the error output
	// only, never half-routed.
	if count("failed") != 1 {
		t.Errorf("failed = %d", count("failed"))
	}
}

func TestFidelity(t *testing.T) {
	dir := t.TempDir()
	// Integers above 2^53, exact decimals, unicode and escapes.
	input := `{"id":820982911946154508,"price":"106.53","qty":3,"name":"Zoë \"Z\" \\ O'Brien\n\u2028→😀","neg":-9223372036854775808}` + "\n"
	write(t, filepath.Join(dir, "in.ndjson"), input)
	p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  m:
    from: in
    map:
      id: id
      id_text: string(id)
      total: decimal(price) * int(qty)
      name: name
      neg: neg
sinks:
  out: {from: m, file: "${DIR}/out.ndjson"}
`)
	run(t, p, engine.Options{})
	first, _ := os.ReadFile(filepath.Join(dir, "out.ndjson"))
	want := `{"id":820982911946154508,"id_text":"820982911946154508","total":319.59,"name":"Zoë \"Z\" \\ O'Brien\n\u2028→😀","neg":-9223372036854775808}` + "\n"
	if string(first) != want {
		t.Errorf("output:\n got %s\nwant %s", first, want)
	}
	run(t, p, engine.Options{Workers: 3})
	second, _ := os.ReadFile(filepath.Join(dir, "out.ndjson"))
	if !bytes.Equal(first, second) {
		t.Error("the same input gave different bytes")
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/missing-input.ndjson"}
steps:
  m: {from: in, map: {x: x}}
sinks:
  out: {from: m, file: "${DIR}/out.ndjson"}
`)
	res := run(t, p, engine.Options{DryRun: true, Trace: true, Inputs: []engine.Input{{Node: "in", Record: record.New([]byte(`{"x":1}`), nil)}}})
	if _, err := os.Stat(filepath.Join(dir, "out.ndjson")); !os.IsNotExist(err) {
		t.Error("a dry run created the sink's file")
	}
	got := res.Captured["out"].Records
	if len(got) != 1 || string(got[0].Raw) != `{"x":1}` {
		t.Fatalf("captured = %v", got)
	}
	if tr := strings.Join(got[0].Trace, " -> "); tr != "in -> m -> out" {
		t.Errorf("trace = %s", tr)
	}
}

// Workers decode records into arenas they reuse from batch to batch. A
// record a worker decoded that goes on to the ordered stage (here a filter
// forwards it unchanged to a stateful dedupe and to a sink) must still read
// its own fields there, after the worker has moved on to other batches.
func TestRecordsLeavingWorkersKeepTheirFields(t *testing.T) {
	dir := t.TempDir()
	var in strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&in, `{"id":%d,"key":"k-%d","big":%d,"lines":[{"sku":"S%d"}]}`+"\n", i, i%1000, 1000000+i, i)
	}
	write(t, filepath.Join(dir, "in.ndjson"), in.String())
	p := compile(t, dir, `
pipeline: p
sources:
  in: {file: "${DIR}/in.ndjson"}
steps:
  some: {from: in, filter: 'big > 1000000 && len(lines) > 0 && key != ""'}
  once: {from: some, dedupe: {key: key}}
  shape: {from: once, map: {id: id, key: key, big: big, sku: "lines[0].sku"}}
sinks:
  out: {from: shape, file: "${DIR}/out.ndjson"}
`)
	for _, workers := range []int{1, 2, 4} {
		res := run(t, p, engine.Options{Workers: workers, BatchSize: 16})
		checkCounts(t, res)
		got := lines(t, filepath.Join(dir, "out.ndjson"))
		// id 0 is filtered out, so key k-0 is first seen at id 1000.
		if len(got) != 1000 {
			t.Fatalf("%d workers: %d records out, want 1000 (ids 1 to 1000)", workers, len(got))
		}
		for i, l := range got {
			id := i + 1
			want := fmt.Sprintf(`{"id":%d,"key":"k-%d","big":%d,"sku":"S%d"}`, id, id%1000, 1000000+id, id)
			if l != want {
				t.Fatalf("%d workers: record %d is %s, want %s", workers, i, l, want)
			}
		}
	}
}
