package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pipectl/pipectl/engine/pipelinetest"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/schemas"
)

func runTest(c *cli, args []string) int {
	fs := newFlags(c, "test", "[FILE|DIR...] [--run REGEX] [--update] [--format text|json]", `
Test runs pipeline tests: YAML files beside a pipeline (pipeline_test.yaml
tests pipeline.yaml) that feed it records and say what its sinks and steps
must produce. Each test is a dry run: nothing is sent or written. The
environment comes from the test file only, and now() from its clock.

A directory is searched for *_test.yaml files (testdata and hidden
directories aside); with no arguments, the current directory is. After the
results, coverage says which steps ran, which named outputs (route
branches) records took and which sinks received records.

Each test of a pipeline that keeps stock gets a fresh store of its own,
seeded with the test's inventory: (a test may give its own), else the
file's; nothing of a run is committed to it, so no test sees another's.
levels sets on hand, and safety stock where a row says so, in the shape
'pipectl inventory load' reads; committed books stock to an order line as
allocate would (backorder: true for a backorder, which may take available
below zero).

--update rewrites the expectations of failing tests with what the pipeline
gives now (records, subsets with their keys, counts), leaving the rest of
the file as it is; review the diff. Exit status: 0 when every test passes, 2
when a test fails, 1 when a test file or a pipeline does not load.

File format:
  pipeline_file: pipeline.yaml     # optional beside NAME_test.yaml
  env: {WMS_URL: http://wms.test}  # the only variables ${VAR} sees
  clock: 2026-11-27T12:00:00Z      # now()
  inventory:                       # the stock allocate and stock steps see
    locations: [{id: wh-east, priority: 1, market: US}]
    skus: [{sku: GIFT, tracked: false}, {sku: KIT, components: [{sku: A, qty: 2}]}]
    levels:                        # SKU: {location: on hand, or {on_hand, safety_stock}}
      A: {wh-east: 5, wh-west: {on_hand: 3, safety_stock: 1}}
    committed:                     # what an earlier allocate took, for stock steps
      - {order_id: "1001", line_id: "1", sku: A, location: wh-east, qty: 2}
      - {order_id: "1001", line_id: "2", sku: A, location: wh-west, qty: 1, backorder: true}
  tests:
    - name: express orders go to the express sink
      input:
        orders:                    # a source or step
          - {id: 1, shipping_lines: [{code: EXPRESS}]}
          - {file: testdata/order.json, unwrap: order}
        stock:                     # a CSV source: its own CSV
          - file: testdata/stock.csv
          - text: |
              sku,on_hand
              A-1,3
      lookups: {sku_map: [{store_sku: A, wms: X}]}
      expect:
        express_wms: {count: 1, subset: [{order_id: "1"}]}
        by_speed.international: 0
        tickets: {assert: ['records[0].priority == "express"']}
      unhandled_errors: {count: 0}`, `  pipectl test
  pipectl test examples/ --run express
  pipectl test examples/shopify-orders-to-wms/pipeline_test.yaml --update
  pipectl test --format json examples/ | jq '.coverage'`)
	update := fs.Bool("update", false, "rewrite the expectations of failing tests with the actual output")
	runRE := fs.String("run", "", "run only the tests whose name matches this regular expression")
	format := fs.String("format", "text", "output format: text or json")
	paths, code, ok := parseFlags(c, fs, args)
	if !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(c.stderr, "pipectl test: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	opts := pipelinetest.Options{Registry: registry(), Schema: schemas.Lookup, SchemaNames: schemas.Names(), Update: *update}
	if *runRE != "" {
		re, err := regexp.Compile(*runRE)
		if err != nil {
			fmt.Fprintf(c.stderr, "pipectl test: --run: %v\n", err)
			return exitUsage
		}
		opts.Run = re
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := testFiles(paths)
	if err != nil {
		fmt.Fprintf(c.stderr, "pipectl test: %v\n", err)
		return exitError
	}
	var reports []*pipelinetest.Report
	var coverage []*pipelinetest.Coverage
	byPipeline := map[string]*pipelinetest.Coverage{}
	notLoaded, failed := 0, false
	counts := map[pipelinetest.Status]int{}
	for _, path := range files {
		rep, err := pipelinetest.RunFile(path, opts)
		reports = append(reports, rep)
		switch {
		case rep.LoadFailed():
			notLoaded++
		case err != nil:
			fmt.Fprintf(c.stderr, "pipectl test: %v\n", err)
			notLoaded++
		case rep.Failed():
			failed = true
		}
		for _, t := range rep.Tests {
			counts[t.Status]++
		}
		if rep.Coverage == nil {
			continue
		}
		key := filepath.Clean(rep.Coverage.Pipeline)
		if cov, ok := byPipeline[key]; ok {
			cov.Merge(rep.Coverage)
			continue
		}
		cov := *rep.Coverage
		cov.Pipeline = key
		byPipeline[key] = &cov
		coverage = append(coverage, &cov)
	}
	if *format == "json" {
		writeTestJSON(c, reports, coverage, counts)
	} else {
		for _, rep := range reports {
			rep.WriteText(c.stdout)
		}
		for _, cov := range coverage {
			fmt.Fprintln(c.stdout)
			pipelinetest.WriteCoverage(c.stdout, cov)
		}
		fmt.Fprintln(c.stdout)
		fmt.Fprintln(c.stdout, testSummary(counts, notLoaded, len(files)))
	}
	switch {
	case notLoaded > 0:
		return exitError
	case failed:
		return exitTestsFailed
	}
	return exitOK
}

// exitTestsFailed is `pipectl test`'s status when a test fails: apart from
// 1, which says a file or pipeline did not load.
const exitTestsFailed = 2

func testSummary(counts map[pipelinetest.Status]int, notLoaded, files int) string {
	var parts []string
	if notLoaded > 0 {
		parts = append(parts, fmt.Sprintf("%s did not load", plural(notLoaded, "file")))
	}
	for _, s := range []struct {
		st   pipelinetest.Status
		word string
	}{{pipelinetest.Fail, "failed"}, {pipelinetest.Error, "errored"}, {pipelinetest.Updated, "updated"}, {pipelinetest.Pass, "passed"}, {pipelinetest.Skip, "skipped"}} {
		if n := counts[s.st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s.word))
		}
	}
	if len(parts) == 0 {
		parts = []string{"no tests ran"}
	}
	status := "ok"
	if notLoaded+counts[pipelinetest.Fail]+counts[pipelinetest.Error] > 0 {
		status = "FAIL"
	}
	return fmt.Sprintf("%s: %s in %s", status, strings.Join(parts, ", "), plural(files, "file"))
}

func writeTestJSON(c *cli, reports []*pipelinetest.Report, coverage []*pipelinetest.Coverage, counts map[pipelinetest.Status]int) {
	type fileJSON struct {
		*pipelinetest.Report
		Diagnostics diag.Diagnostics `json:"diagnostics"`
		// Coverage is per pipeline, over every file testing it: at the top.
		Coverage *struct{} `json:"coverage,omitempty"`
	}
	doc := struct {
		Files    []fileJSON               `json:"files"`
		Coverage []*pipelinetest.Coverage `json:"coverage"`
		Passed   int                      `json:"passed"`
		Failed   int                      `json:"failed"`
		Errored  int                      `json:"errored"`
		Skipped  int                      `json:"skipped"`
		Updated  int                      `json:"updated"`
	}{Files: []fileJSON{}, Coverage: coverage, Passed: counts[pipelinetest.Pass], Failed: counts[pipelinetest.Fail],
		Errored: counts[pipelinetest.Error], Skipped: counts[pipelinetest.Skip], Updated: counts[pipelinetest.Updated]}
	if doc.Coverage == nil {
		doc.Coverage = []*pipelinetest.Coverage{}
	}
	for _, r := range reports {
		ds := r.Diagnostics
		if ds == nil {
			ds = diag.Diagnostics{}
		}
		doc.Files = append(doc.Files, fileJSON{Report: r, Diagnostics: ds})
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(doc)
}

// testFiles expands directories into the pipeline test files under them
// (*_test.yaml, *_test.yml), in lexical order. A file named explicitly is
// always run.
func testFiles(paths []string) ([]string, error) {
	return findFiles(paths, "pipeline tests (*_test.yaml)", func(path string) bool {
		return strings.HasSuffix(path, "_test.yaml") || strings.HasSuffix(path, "_test.yml")
	})
}
