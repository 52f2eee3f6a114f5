package allocation_test

import (
	"testing"

	"github.com/pipectl/pipectl/transforms/allocation"
)

// BenchmarkAllocate allocates an order of 3 lines over 3 locations, one
// line split over two of them, and reports orders allocated per second
// besides ns/op.
func BenchmarkAllocate(b *testing.B) {
	locs := locations("wh-east", "wh-west", "store-nyc")
	stock := allocation.Stock{}
	for i, sku := range []string{"A", "B", "C"} {
		for j, l := range locs {
			stock[allocation.Key{SKU: sku, Location: l.ID}] = allocation.Level{OnHand: q("4"), Committed: q("1"), Reserved: q([]string{"0", "1"}[(i+j)%2])}
		}
	}
	o := order("1001", "1:A:2", "2:B:5", "3:C:1")
	skus := tracked("A", "B", "C")
	for _, s := range []allocation.Strategy{allocation.Priority, allocation.HighStock, allocation.FewestShipments} {
		r := rules(func(r *allocation.Rules) { r.Allocation.Strategy = s })
		b.Run(string(s), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := allocation.Allocate(o, skus, stock, locs, r, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
		})
	}
}
