package engine_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines/record"
)

// A sink fed both through allocate, which decides the orders of a batch
// together after the rest of the batch is delivered, and around it still
// receives its records in the source's order: an order's records never
// come after a later order's, whatever the batch size and worker count.
func TestSinkFedAroundAllocateKeepsSourceOrder(t *testing.T) {
	fx := newSwapFixture(t)
	write(t, filepath.Join(fx.dir, "p.yaml"), `pipeline: p
rules: rules.yaml
sources:
  in:
    feed: {}
steps:
  odd:
    from: in
    filter: id % 2 == 1
  alloc:
    from: in
    allocate: {rules: f, order_id: string(id), lines: lines}
sinks:
  out:
    from: [odd, alloc.allocations]
    hook: {}
`)
	fx.file, fx.plan = fx.load(t)
	if fx.plan == nil {
		t.Fatal("the pipeline does not compile")
	}
	for _, workers := range []int{1, 2} {
		for _, batch := range []int{1, 7, 64} {
			var seen []int
			fx.hook = func(rec *record.Record) {
				var r struct {
					ID      json.Number `json:"id"`
					OrderID json.Number `json:"order_id"`
				}
				if err := json.Unmarshal(rec.Raw, &r); err != nil {
					t.Fatalf("record %s: %v", rec.Raw, err)
				}
				id := r.ID
				if id == "" {
					id = r.OrderID
				}
				n, err := id.Int64()
				if err != nil {
					t.Fatalf("record %s has no order id", rec.Raw)
				}
				seen = append(seen, int(n))
			}
			opts := fx.options(150)
			opts.Workers, opts.BatchSize, opts.Trace = workers, batch, false
			if _, err := engine.Run(context.Background(), fx.plan, opts); err != nil {
				t.Fatal(err)
			}
			// Both lines of every order are allocated, and the odd orders
			// pass the filter too.
			if want := 2*150 + 75; len(seen) != want {
				t.Errorf("workers %d, batches of %d: the sink saw %d records, want %d", workers, batch, len(seen), want)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i] < seen[i-1] {
					t.Errorf("workers %d, batches of %d: order %d reached the sink after order %d (%v...)", workers, batch, seen[i], seen[i-1], seen[max(0, i-5):i+1])
					break
				}
			}
		}
	}
}
