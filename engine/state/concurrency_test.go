package state_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// TestConcurrentOrdersNeverOversell fires 1,000 orders from 32 goroutines
// at 100 units of stock, on every store. Each order wants one unit of the
// scarce SKU and one of a plentiful one, its lines in random order (so the
// store, not the caller, must order the locks), all or nothing; 200 of the
// orders are sent twice, the copy racing the original. Exactly 100 orders
// get stock, every order has exactly one outcome, the ledger agrees with
// the levels, and every copy returns its original's bytes.
func TestConcurrentOrdersNeverOversell(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.db.open(t, newClock())
			concurrentOrders(t, []state.Store{s}, 1000, 200, 32, 100, 1)
		})
	}
}

// TestConcurrentGroupsNeverOversell is the same race with the orders
// applied in groups of up to 8 (ApplyGroup, as the allocate step commits
// them): groups lock rows across orders, and copies of an order may meet in
// one group or in two racing ones.
func TestConcurrentGroupsNeverOversell(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.db.open(t, newClock())
			concurrentOrders(t, []state.Store{s}, 1000, 200, 32, 100, 8)
		})
	}
}

// TestConcurrentProcessesSQLite is the same race between two stores open on
// one SQLite file, as two processes sharing the embedded state would be:
// their writes are serialized by the file lock, not by a mutex they share.
func TestConcurrentProcessesSQLite(t *testing.T) {
	u := sqliteDB(t)
	a, b := mustOpen(t, u, newClock()), mustOpen(t, u, newClock())
	concurrentOrders(t, []state.Store{a, b}, 400, 100, 16, 50, 4)
}

func concurrentOrders(t *testing.T, stores []state.Store, orders, dups, workers, units, group int) {
	s := stores[0]
	set(t, s, "f1", "SCARCE", "east", fmt.Sprint(units))
	set(t, s, "f2", "PLENTY", "east", "100000")
	set(t, s, "f3", "PLENTY", "west", "100000")

	type job struct {
		order int
		copy  bool
	}
	jobs := make([]job, 0, orders+dups)
	for i := range orders {
		jobs = append(jobs, job{order: i})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, i := range rng.Perm(orders)[:dups] {
		jobs = append(jobs, job{order: i, copy: true})
	}
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })

	type result struct {
		out      component.Outcome
		replayed bool
		err      error
	}
	var mu sync.Mutex
	results := map[int][]result{}
	queue := make(chan job)
	if group > 1 {
		queue = make(chan job, len(jobs)) // so workers find groups waiting
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[w%len(stores)]
			request := func(j job) (component.ApplyRequest, func(component.Snapshot) (component.Outcome, error)) {
				name := fmt.Sprintf("order-%04d", j.order)
				lines := []line{{"SCARCE", 1}, {"PLENTY", 1}}
				skus := []string{"SCARCE", "PLENTY"}
				if j.order%2 == 1 {
					lines[0], lines[1] = lines[1], lines[0]
					skus[0], skus[1] = skus[1], skus[0]
				}
				return component.ApplyRequest{IdempotencyKey: "shop:" + name, Ref: name, SKUs: skus}, allocate(name, lines...)
			}
			for j := range queue {
				jobs := []job{j}
			more:
				for len(jobs) < group {
					select {
					case j, ok := <-queue:
						if !ok {
							break more
						}
						jobs = append(jobs, j)
					default:
						break more
					}
				}
				var reqs []component.ApplyRequest
				var decides []func(component.Snapshot) (component.Outcome, error)
				for _, j := range jobs {
					req, decide := request(j)
					reqs, decides = append(reqs, req), append(decides, decide)
				}
				var got []result
				if group == 1 {
					out, replayed, err := st.Apply(ctx, reqs[0], decides[0])
					got = []result{{out, replayed, err}}
				} else {
					res, err := st.ApplyGroup(ctx, reqs, func(i int, snap component.Snapshot) (component.Outcome, error) { return decides[i](snap) })
					for i := range jobs {
						if err != nil {
							got = append(got, result{err: err})
						} else {
							got = append(got, result{res[i].Outcome, res[i].Replayed, res[i].Err})
						}
					}
				}
				mu.Lock()
				for i, j := range jobs {
					results[j.order] = append(results[j.order], got[i])
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()

	allocated, rejected := 0, 0
	for i := range orders {
		rs := results[i]
		want := 1
		for _, j := range jobs {
			if j.order == i && j.copy {
				want = 2
			}
		}
		if len(rs) != want {
			t.Fatalf("order %d ran %d times, want %d", i, len(rs), want)
		}
		fresh := 0
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("order %d: %v", i, r.err)
			}
			if !r.replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("order %d was applied %d times", i, fresh)
		}
		if len(rs) == 2 && !sameRecords(rs[0].out, rs[1].out) {
			t.Errorf("order %d: the copy returned other records:\n%s\n%s", i, dump(rs[0].out), dump(rs[1].out))
		}
		switch out := rs[0].out; {
		case len(out.Adjustments) == 2 && len(out.Records) == 2:
			allocated++
		case len(out.Adjustments) == 0 && len(out.Records) == 1 && out.Records[0].Output == "rejections":
			rejected++
		default:
			t.Errorf("order %d: unexpected outcome %s", i, dump(out))
		}
	}
	if allocated != units || rejected != orders-units {
		t.Errorf("%d orders allocated, %d rejected; want %d and %d", allocated, rejected, units, orders-units)
	}
	wantLevel(t, s, "SCARCE", "east", fmt.Sprint(units), fmt.Sprint(units), "0", "0", "0")
	l1, l2 := level(t, s, "PLENTY", "east"), level(t, s, "PLENTY", "west")
	if got := l1.Committed.Add(l2.Committed); !got.Equal(decimal.NewFromInt(int64(units))) {
		t.Errorf("PLENTY committed %s, want %d (the whole order or nothing)", got, units)
	}
	// The ledger has one allocation per allocated line, each under its
	// own order's key.
	for _, sku := range []string{"SCARCE", "PLENTY"} {
		ms, err := s.Movements(ctx, sku)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		n := 0
		for _, m := range ms {
			if m.Reason != "allocate" {
				continue
			}
			n++
			if keys[m.Key] {
				t.Errorf("%s allocated twice under %s", sku, m.Key)
			}
			keys[m.Key] = true
		}
		if n != units {
			t.Errorf("ledger of %s has %d allocations, want %d", sku, n, units)
		}
	}
}

func sameRecords(a, b component.Outcome) bool {
	if len(a.Records) != len(b.Records) || !bytes.Equal(a.Explanation, b.Explanation) {
		return false
	}
	for i := range a.Records {
		if a.Records[i].Output != b.Records[i].Output || !bytes.Equal(a.Records[i].Data, b.Records[i].Data) {
			return false
		}
	}
	return true
}

func dump(o component.Outcome) string {
	var b bytes.Buffer
	for _, r := range o.Records {
		fmt.Fprintf(&b, "%s %s; ", r.Output, r.Data)
	}
	return b.String()
}
