package state_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

// BenchmarkApply allocates orders of 3 lines and reports orders per
// second: one Apply per order, with its locks, ledger entries, records,
// explanation and idempotency key, committed. Each order takes 3 different
// SKUs of a catalog of 100, each stocked at 2 locations. "serial" is one
// caller, as the allocate step is in a pipeline; "parallel" is 8 callers
// per GOMAXPROCS, as several pipelines sharing a store are.
//
//	go test ./engine/state -run '^$' -bench Apply -cpu 1
func BenchmarkApply(b *testing.B) {
	for _, be := range backends {
		for _, parallel := range []bool{false, true} {
			name := be.name + "/serial"
			if parallel {
				name = be.name + "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				s := be.db.open(b, component.SystemClock{})
				const catalog = 100
				for i := range catalog {
					for _, loc := range []string{"east", "west"} {
						if _, err := s.SetLevel(ctx, component.LevelUpdate{Key: fmt.Sprint("f", i, loc), SKU: fmt.Sprintf("SKU-%03d", i), Location: loc, Quantity: d("100000000")}); err != nil {
							b.Fatal(err)
						}
					}
				}
				var seq atomic.Int64
				order := func() error {
					n := seq.Add(1)
					name := fmt.Sprintf("bench-%d", n)
					a, b, c := fmt.Sprintf("SKU-%03d", n*7%catalog), fmt.Sprintf("SKU-%03d", (n*7+31)%catalog), fmt.Sprintf("SKU-%03d", (n*7+62)%catalog)
					_, _, err := s.Apply(ctx, component.ApplyRequest{IdempotencyKey: name, Ref: name, SKUs: []string{a, b, c}},
						allocate(name, line{a, 1}, line{b, 2}, line{c, 1}))
					return err
				}
				b.ResetTimer()
				start := time.Now()
				if parallel {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := order(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for b.Loop() {
						if err := order(); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(seq.Load())/time.Since(start).Seconds(), "orders/s")
			})
		}
	}
}
