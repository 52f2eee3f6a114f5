package pipelinetest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/pipelinetest"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

func TestReadSampleJSON(t *testing.T) {
	for _, tc := range []struct {
		name, src, unwrap string
		want              []string
		err               string
	}{
		{name: "object", src: "{\n  \"id\": 820982911946154508\n}\n", want: []string{`{"id":820982911946154508}`}},
		{name: "array", src: `[{"id":1},{"id":2}]`, want: []string{`{"id":1}`, `{"id":2}`}},
		{name: "ndjson", src: "{\"id\":1}\n\n{\"id\":2.50}\n", want: []string{`{"id":1}`, `{"id":2.50}`}},
		{name: "unwrap", src: `{"order":{"id":1}}`, unwrap: "order", want: []string{`{"id":1}`}},
		{name: "unwrap array", src: `{"orders":[{"id":1},{"id":2}]}`, unwrap: "orders", want: []string{`{"id":1}`, `{"id":2}`}},
		{name: "unwrap missing", src: "{\"data\":{}}\n{\"data\":{}}", unwrap: "order", err: `sample:1:1: nothing at "order" to unwrap`},
		{name: "not json", src: "{\"id\":1}\n{oops}\n", err: "sample:2:2: invalid character 'o'"},
		{name: "empty", src: "\n", err: "sample: no records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seq int64
			got, err := pipelinetest.ReadSample(nil, "orders", pipelinetest.Sample{Text: []byte(tc.src), Name: "sample", Unwrap: tc.unwrap}, &seq)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for i, g := range got {
				s = append(s, string(g.Raw))
				if g.Origin.Seq != int64(i+1) || g.Origin.Source != "orders" {
					t.Errorf("record %d origin %+v", i, g.Origin)
				}
			}
			if diff := cmp.Diff(tc.want, s); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func compile(t *testing.T, src string) *pipelines.Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := options()
	plan, _, ds := pipelines.Validate(path, pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: opts.Registry, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      opts.Schema,
		SchemaNames: opts.SchemaNames,
	})
	if plan == nil {
		t.Fatalf("does not compile: %v", ds)
	}
	return plan
}

// TestDryRunTapsAndNotRun checks the harness: a tap keeps a step output's
// records, a step that cannot run keeps what reached it and leaves out
// what only it feeds, and the event source (no reader yet) does not stop a
// dry run. Nothing is written.
func TestDryRunTapsAndNotRun(t *testing.T) {
	plan := compile(t, `
pipeline: p
triggers:
  hook: {webhook: {path: /h}}
sources:
  orders: {trigger: hook, event: {}}
steps:
  by_size:
    from: orders
    route: {routes: {big: qty > 10}}
  held:
    from: by_size.big
    hold: {}
sinks:
  small:
    from: by_size.unmatched
    file: {path: small.ndjson}
  after:
    from: held.kept
    stdout: {}
  errors:
    from: [by_size.error, held.error]
    stdout: {}
`)
	dir := t.TempDir()
	var inputs []engine.Input
	for i, raw := range []string{`{"qty":1}`, `{"qty":50}`, `{"qty":2}`} {
		inputs = append(inputs, engine.Input{Node: "orders", Record: pipelinetest.NewRecord("orders", i+1, []byte(raw))})
	}
	res, err := pipelinetest.DryRun(context.Background(), plan, pipelinetest.DryRunOptions{
		Runtime: &component.Runtime{Clock: component.SystemClock{}, Dir: dir},
		Inputs:  inputs,
		Taps:    []pipelinetest.Tap{{Node: "by_size", Output: "big"}},
		Trace:   true,
	})
	if err != nil {
		t.Fatal(err)
	}
	raws := func(recs []*record.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, string(r.Raw))
		}
		return out
	}
	if diff := cmp.Diff([]string{`{"qty":50}`}, raws(res.Records("by_size", "big"))); diff != "" {
		t.Errorf("tap by_size.big (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`{"qty":1}`, `{"qty":2}`}, raws(res.Records("small", ""))); diff != "" {
		t.Errorf("sink small (-want +got):\n%s", diff)
	}
	var notRun []string
	for _, nr := range res.NotRun {
		notRun = append(notRun, nr.Node+"<-"+nr.Because)
		if nr.Node == "held" {
			if diff := cmp.Diff([]string{`{"qty":50}`}, raws(nr.Records)); diff != "" {
				t.Errorf("records reaching held (-want +got):\n%s", diff)
			}
		}
	}
	if diff := cmp.Diff([]string{"held<-held", "after<-held"}, notRun); diff != "" {
		t.Errorf("not run (-want +got):\n%s", diff)
	}
	if _, ok := res.Captured["errors"]; !ok {
		t.Error("the errors sink, which reads a node that runs, was left out")
	}
	for _, st := range res.Nodes {
		if strings.HasPrefix(st.Name, "tap:") {
			t.Errorf("a tap shows in the node stats: %+v", st)
		}
		if st.Name == "held" && (st.Section != component.StepSection || st.Kind != "hold") {
			t.Errorf("held's stats are not a hold step's: %+v", st)
		}
	}
	if got := res.Records("small", "")[0].Trace; !cmp.Equal(got, []string{"orders", "by_size.unmatched", "small"}) {
		t.Errorf("trace = %v", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("the dry run wrote %v", entries)
	}

	// Feeding the step that cannot run is refused with the reason.
	_, err = pipelinetest.DryRun(context.Background(), plan, pipelinetest.DryRunOptions{
		Inputs: []engine.Input{{Node: "held", Record: pipelinetest.NewRecord("held", 1, []byte(`{}`))}},
	})
	if err == nil || !strings.Contains(err.Error(), "cannot run yet") {
		t.Errorf("feeding held: err = %v", err)
	}
	// Tapping an output that does not exist is an error naming the outputs.
	_, err = pipelinetest.DryRun(context.Background(), plan, pipelinetest.DryRunOptions{Taps: []pipelinetest.Tap{{Node: "by_size", Output: "huge"}}})
	if err == nil || !strings.Contains(err.Error(), `no output "huge"`) {
		t.Errorf("tapping by_size.huge: err = %v", err)
	}
}

// TestRequiredPathMissing checks both sides of `requires:`: skipped with
// the reason, or a load error under PIPECTL_REQUIRE_SERVICES=1.
func TestRequiredPathMissing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte("pipeline: p\nsources:\n  in: {stdin: {}}\nsinks:\n  out: {from: in, stdout: {}}\n"), 0o644)
	test := filepath.Join(dir, "pipeline_test.yaml")
	os.WriteFile(test, []byte("requires: absent\ntests:\n  - {name: t, input: {in: {file: absent/x.json}}, expect: {out: 1}}\n"), 0o644)

	t.Setenv("PIPECTL_REQUIRE_SERVICES", "")
	rep, err := pipelinetest.RunFile(test, options())
	if err != nil || !strings.Contains(rep.Skipped, "absent not found") || rep.Failed() || rep.Count(pipelinetest.Skip) != 1 {
		t.Errorf("without the path: err %v, skipped %q, failed %v", err, rep.Skipped, rep.Failed())
	}
	t.Setenv("PIPECTL_REQUIRE_SERVICES", "1")
	rep, err = pipelinetest.RunFile(test, options())
	if err == nil || !rep.LoadFailed() || rep.Diagnostics[0].Code != pipelinetest.CodeRequires {
		t.Errorf("with PIPECTL_REQUIRE_SERVICES=1: err %v, diagnostics %v", err, rep.Diagnostics)
	}
}

// TestInputsInTheSourcesFormat: a pipeline test feeds a CSV source its own
// CSV (a file, or text), read with the source's columns and delimiter, and
// an XML source a sample read at its record_path; a row the source cannot
// make goes to the source's error output, as in a run.
func TestInputsInTheSourcesFormat(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stock.yaml", `pipeline: stock
sources:
  stock:
    file: {path: "${STOCK_IN:-stock.csv}", format: csv, delimiter: ";", columns: {on_hand: int, price: decimal}}
  erp:
    file: {path: "${ERP_IN:-erp.xml}", format: xml, record_path: Orders/Order, repeated: [Line]}
steps:
  levels:
    from: stock
    map: {sku: sku, on_hand: on_hand + 1, price: price}
  orders:
    from: erp
    map: {id: Id, lines: len(Line)}
sinks:
  out: {from: levels, stdout: {}}
  bad: {from: stock.error, stdout: {}}
  erp_out: {from: orders, stdout: {}}
`)
	write("stock.csv", "sku;on_hand;price\nA-1;3;12.50\nB-2;x;1.00\n")
	write("stock_test.yaml", `tests:
  - name: a file in the source's format
    input:
      stock: {file: stock.csv}
    expect:
      out: [{sku: A-1, on_hand: 4, price: 12.50}]
      bad: {count: 1, subset: [{record: "B-2;x;1.00"}]}
  - name: text in the source's format
    input:
      stock:
        - text: |
            sku;on_hand;price
            C-3;7;2.00
        - {sku: D-4, on_hand: 1, price: 3}
    expect:
      out: [{sku: C-3, on_hand: 8, price: 2.00}, {sku: D-4, on_hand: 2, price: 3}]
  - name: an XML sample read at the record path
    input:
      erp:
        text: |
          <Orders><Order><Id>7</Id><Line/></Order><Order><Id>8</Id><Line/><Line/></Order></Orders>
    expect:
      erp_out: [{id: "7", lines: 1}, {id: "8", lines: 2}]
`)
	rep, err := pipelinetest.RunFile(filepath.Join(dir, "stock_test.yaml"), options())
	if err != nil {
		t.Fatalf("%v\n%v", err, rep.Diagnostics)
	}
	for _, tr := range rep.Tests {
		if tr.Status != pipelinetest.Pass {
			t.Errorf("%s: %s %s %+v", tr.Name, tr.Status, tr.Reason, tr.Failures)
		}
	}

	// A sample the source cannot read is a load error at the input.
	write("broken_test.yaml", "pipeline_file: stock.yaml\ntests:\n  - name: t\n    input:\n      erp: {text: \"<Orders><Order>\"}\n    expect: {erp_out: 0}\n")
	rep, err = pipelinetest.RunFile(filepath.Join(dir, "broken_test.yaml"), options())
	if err == nil || len(rep.Diagnostics) == 0 || rep.Diagnostics[0].Code != pipelinetest.CodeBadInput || rep.Diagnostics[0].Subject.Start.Line != 5 {
		t.Errorf("broken XML sample: %v %v", err, rep.Diagnostics)
	}
}
