// Package pipelinetest runs pipeline tests: YAML files beside a pipeline
// that feed it records and say what its sinks and steps must produce. It is
// what `pipectl test` and `pipectl dry-run` run on, and what Go tests call
// (RunFile) so that `go test` runs every example's pipeline tests.
//
// A test file (pipeline_test.yaml tests pipeline.yaml beside it):
//
//	pipeline_file: pipeline.yaml       # optional: NAME_test.yaml tests NAME.yaml
//	env: {WMS_URL: http://wms.test}    # the only environment ${VAR} sees
//	clock: 2026-11-27T12:00:00Z        # now(); DefaultClock when absent
//	requires: [../fixtures]            # skip the file when a path is absent
//	lookups: {sku_map: [{store_sku: A, wms: X}]}  # tables of lookup steps
//	inventory:                         # stock the allocate step sees
//	  locations: [{id: wh-east, priority: 1, market: US, coords: {lat: 40.7, lng: -74}}]
//	  levels: {SKU-1: {wh-east: 5, wh-west: {on_hand: 3, safety_stock: 1}}}
//	  skus: [{sku: GIFT, tracked: false}]
//	  committed: [{order_id: "1001", line_id: "1", sku: SKU-1, location: wh-east, qty: 2}]
//	tests:
//	  - name: express orders go to the express sink
//	    input:
//	      orders:                      # a source or step
//	        - {id: 1, shipping_lines: [{code: EXPRESS}]}
//	        - {file: testdata/order.json, unwrap: order}
//	      stock:                       # a CSV source: samples in its format
//	        - {file: testdata/stock.csv}
//	        - text: |
//	            sku,on_hand
//	            A-1,3
//	    expect:
//	      express_wms:                 # a sink, source, step, or step.output
//	        count: 1
//	        subset: [{order_id: "1"}]
//	      by_speed.international: 0    # shorthand for {count: 0}
//	      tickets: [{order_id: "1"}]   # shorthand for {records: [...]}
//	    unhandled_errors: {count: 1, subset: [{node: ticket}]}
//
// Every test runs the pipeline afresh as a dry run: sinks are captured,
// nothing is sent or written. Expectations combine `count`; `records`
// (exact, in order); `subset` (each expected record contained in the
// actual one in its place: objects by their keys, arrays elementwise); and
// `assert`, expressions over `records` and `count` type-checked against the
// records' type. Numbers compare as exact decimals: 10 matches 10.0, not
// "10". A test without `unhandled_errors` fails when a record fails with
// nothing reading the error output it went to.
//
// Decisions, written down:
//   - Inputs are inline records (YAML mappings, records as they are) or
//     samples: `{file: path}` or `{text: ...}`, read in the format of the
//     source they feed, by that source's parser with its settings
//     (component.Spec.ReadSample), so a CSV source is fed CSV and a row it
//     cannot make reaches its error output as in a run. A step, or a
//     source of JSON records, takes JSON samples: one object, an array or
//     NDJSON. `unwrap` takes the records out of an envelope, replacing the
//     source's own. Samples are read once the pipeline is compiled (their
//     format is the source's), and a sample that cannot be read is a load
//     error at its `file:` or `text:`. Records' origins name a file as the
//     test file writes it, so error records do not depend on where the
//     tests run from.
//   - The pipeline under test is `pipeline_file:`, not `pipeline:`: a
//     top-level `pipeline:` key is what marks a pipeline file, so `pipectl
//     validate DIR` and the examples' tests never take a test for one.
//   - Tests are hermetic: the process environment is not read, the clock
//     is fixed, lookups may be mocked. The same test passes on every machine.
//   - Expectations at a step's outputs are captured by taps: extra capturing
//     sinks added to a copy of the plan. A tap on a step's error output
//     handles those errors, as a sink reading it would.
//   - Stock is per test: each test of a pipeline that reads inventory
//     (allocate, stock, the inventory sink) gets a fresh SQLite store in a
//     temporary directory, seeded with the test's `inventory:` (else the
//     file's, else nothing), and removed afterwards. The run is a dry run,
//     so allocate commits nothing to it (it keeps the run's own movements
//     in memory): no test sees another's, and within a test later orders
//     see what earlier ones took and a repeated order replays.
//     `locations` and `skus` take the store's field names; SKUs are
//     tracked unless they say otherwise. `committed` seeds what an earlier
//     allocate committed to orders (ledger ref "<order_id>/<line_id>",
//     `backorder: true` for a backorder), for tests of `stock` steps.
//   - A step whose kind cannot run yet (it has no run-time part) is
//     replaced by a capture, with the nodes only it feeds left out; tests
//     may check everything before it, and coverage says what was not run.
//   - Coverage counts the steps that ran a record, every named output
//     (route branches, allocate's shipments and backorders; a kind's fixed
//     outputs such as `unmatched` only when the pipeline reads them) and the
//     sinks that received records, over all the tests run.
//   - --update rewrites the failing expectations with what the pipeline
//     gives now: records replace records, subsets keep their keys with
//     today's values, counts are recounted; assertions are left to people.
//     Only the changed entries' lines are written again, so comments and
//     layout elsewhere survive.
//
// pipelinetest imports engine, engine/state and the compiler; like engine, it must not
// import transforms, connectors or cmd: the kinds reach it through
// Options.Registry.
package pipelinetest
