package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/internal/pgtest"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
	"github.com/shopspring/decimal"
)

// BenchmarkAllocate runs the allocate step end to end on a real store and
// reports orders allocated per second: b.N orders of 3 lines (3 SKUs of a
// catalog of 100, each stocked at 3 locations) flow from a source through
// `allocate` (priority strategy, split shipments) to a sink of shipments,
// the orders of each batch of 64 decided and committed together (group
// commit), each with its ledger entries, records and explanation. It also
// reports the speed-up over committing each order in a transaction of its
// own, measured in the same run (x-one-commit-per-order). PostgreSQL is
// skipped when it is not reachable, unless PIPECTL_REQUIRE_SERVICES=1;
// PIPECTL_TEST_POSTGRES_URL names the server (default: the local one,
// database test).
//
//	go test ./bench -run '^$' -bench Allocate -cpu 1 -benchtime 20000x
func BenchmarkAllocate(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchmarkAllocate(b, "sqlite://"+filepath.Join(b.TempDir(), "state"))
	})
	b.Run("postgres", func(b *testing.B) {
		benchmarkAllocate(b, pgtest.Schema(b, "pipectl_bench_", nil))
	})
}

const allocatePipeline = `pipeline: allocate-bench
rules:
  fulfillment:
    fulfillment:
      allocation: {strategy: priority, location_priority: [wh-1, wh-2, wh-3]}
      split: {mode: ship_partial}
      backorder: {policy: allow}
sources:
  orders:
    bench_orders: {}
steps:
  allocate:
    from: orders
    allocate: {rules: fulfillment, order_id: string(id), lines: line_items}
sinks:
  shipments:
    from: allocate.shipments
    discard: {}
`

const (
	benchCatalog   = 100
	benchLocations = 3
)

func benchmarkAllocate(b *testing.B, stateURL string) {
	engine.TuneGC() // as pipectl run does
	ctx := context.Background()
	st, err := state.Open(ctx, stateURL, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for i := range benchCatalog {
		for l := 1; l <= benchLocations; l++ {
			if _, err := st.SetLevel(ctx, component.LevelUpdate{SKU: fmt.Sprintf("SKU-%03d", i), Location: fmt.Sprintf("wh-%d", l), Quantity: decimal.NewFromInt(1_000_000_000)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	src := &benchOrders{}
	p := allocatePlan(b, src)
	// Warm up: the first order opens connections and reads the locations.
	src.n, src.first = 1, 0
	if _, err := engine.Run(ctx, p, engine.Options{Runtime: &component.Runtime{Clock: component.SystemClock{}, Inventory: st}}); err != nil {
		b.Fatal(err)
	}
	src.n, src.first = b.N, 1
	b.ResetTimer()
	start := time.Now()
	res, err := engine.Run(ctx, p, engine.Options{Runtime: &component.Runtime{Clock: component.SystemClock{}, Inventory: st}})
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Unhandled) > 0 {
		b.Fatalf("%d orders failed, the first: %s", len(res.Unhandled), res.Unhandled[0].Raw)
	}
	for _, n := range res.Nodes {
		if n.Name == "allocate" && n.Out != int64(b.N) {
			b.Fatalf("allocate passed on %d of %d orders", n.Out, b.N)
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "orders/s")

	// The baseline, in the same run: the same number of new orders, each
	// committed in a transaction of its own (batches of one order, so
	// groups of one).
	src.n, src.first = b.N, b.N+1
	start = time.Now()
	if _, err := engine.Run(ctx, p, engine.Options{BatchSize: 1, Runtime: &component.Runtime{Clock: component.SystemClock{}, Inventory: st}}); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds()/elapsed.Seconds(), "x-one-commit-per-order")
}

// allocatePlan compiles the benchmark pipeline with its source and sink
// kinds.
func allocatePlan(b *testing.B, src *benchOrders) *pipelines.Plan {
	b.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	reg.Add(&component.Spec{
		Kind: "bench_orders", Section: component.SourceSection, Summary: "The benchmark's orders.",
		Config:    &component.Field{Kind: component.ObjectField, Doc: "Nothing."},
		NewSource: func(component.BuildContext) (component.Source, error) { return src, nil },
	})
	reg.Add(&component.Spec{
		Kind: "discard", Section: component.SinkSection, Summary: "Drops every record.",
		Config:  &component.Field{Kind: component.ObjectField, Doc: "Nothing."},
		NewSink: func(component.BuildContext) (component.Sink, error) { return discard{}, nil },
	})
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(),
	}
	f, ds := pipelines.LoadBytes("allocate-bench.yaml", []byte(allocatePipeline), opts.LoadOptions)
	p, cds := pipelines.Compile(f, opts)
	if all := append(ds, cds...); all.HasErrors() {
		b.Fatalf("benchmark pipeline does not compile: %v", all.Err())
	}
	return p
}

// benchOrders emits n orders numbered from first (which makes each order
// id unique in the store, so none is a replay).
type benchOrders struct{ first, n int }

func (s *benchOrders) Read(ctx context.Context, emit func(*record.Record) error, _ func(*record.Record) error) error {
	for i := s.first; i < s.first+s.n; i++ {
		// Three different SKUs spread over the catalog.
		a, b, c := i*7%benchCatalog, (i*7+31)%benchCatalog, (i*7+62)%benchCatalog
		raw := fmt.Appendf(nil, `{"id":%d,"line_items":[{"sku":"SKU-%03d","quantity":1},{"sku":"SKU-%03d","quantity":2},{"sku":"SKU-%03d","quantity":1}]}`, i, a, b, c)
		if err := emit(record.New(raw, &record.Origin{Source: "orders", Seq: int64(i), Raw: raw})); err != nil {
			return err
		}
	}
	return nil
}

type discard struct{}

func (discard) Write(context.Context, *record.Record) error { return nil }
func (discard) Flush(context.Context) error                 { return nil }
func (discard) Close(context.Context, bool) error           { return nil }
