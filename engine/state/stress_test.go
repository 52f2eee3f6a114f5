package state_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/internal/pgtest"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/shopspring/decimal"
)

// TestAllocationNeverOversellsUnderContention is design/distributed.md
// §11.3 T3 on one machine: 8 workers, each with a pool of its own as a
// process would have, allocate orders of 1-4 lines of 1-3 units over 60
// SKUs at 3 locations, the SKUs Zipf-skewed so a few hot ones take most
// lines, against about half as many units as are ordered. A third of the
// orders are all or nothing (deny), the rest ship what is there and
// backorder the rest. Some orders are cancelled mid-transaction (from
// inside decide, after the row locks are taken) or by a short deadline
// anywhere on the way; each is then delivered again, as at-least-once
// delivery would, until it is applied. While it runs and at the end:
// no row's allocated units exceed its stock, the levels equal the ledger,
// every order is applied once and whole, and the database counted no
// deadlock (pg_stat_database.deadlocks of a database of its own) while no
// 40P01 reached a caller.
//
// It runs 2,000 orders (300 with -short); PIPECTL_STRESS_ORDERS sets
// another count.
func TestAllocationNeverOversellsUnderContention(t *testing.T) {
	orders := 2000
	if testing.Short() {
		orders = 300
	}
	if v := os.Getenv("PIPECTL_STRESS_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("PIPECTL_STRESS_ORDERS=%q: want a positive count", v)
		}
		orders = n
	}
	const (
		workers   = 8
		skus      = 60
		locations = 3
	)
	u := pgtest.Database(t, "pipectl_stress_", url.Values{"pool_max_conns": {"4"}})
	stores := make([]state.Store, workers)
	for i := range stores {
		s, err := state.Open(ctx, u, state.Options{Clock: newClock()})
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	closeStores := sync.OnceFunc(func() {
		for _, s := range stores {
			s.Close()
		}
	})
	t.Cleanup(closeStores)

	// The orders, with Zipf-skewed SKUs.
	rng := rand.New(rand.NewPCG(7, 11))
	zipf := rand.NewZipf(rng, 1.1, 1, skus-1)
	type order struct {
		id    string
		lines []line
		deny  bool // all or nothing; else ship partial, backorder the rest
	}
	all := make([]order, orders)
	demand := map[string]int64{}
	for i := range all {
		o := order{id: fmt.Sprintf("o%05d", i), deny: i%3 == 0}
		for range 1 + rng.IntN(4) {
			l := line{fmt.Sprintf("SKU%02d", zipf.Uint64()), 1 + rng.Int64N(3)}
			o.lines = append(o.lines, l)
			demand[l.sku] += l.qty
		}
		all[i] = o
	}
	// Half the demand in stock, spread over the locations (a SKU nobody
	// ordered gets a little).
	locs := []string{"east", "north", "west"}[:locations]
	initial := map[component.StockKey]int64{}
	for i := range skus {
		sku := fmt.Sprintf("SKU%02d", i)
		units := max(demand[sku]/2, 2)
		for j, loc := range locs {
			n := units / int64(len(locs))
			if j == 0 {
				n += units % int64(len(locs))
			}
			initial[key(sku, loc)] = n
			set(t, stores[0], "init:"+sku+"@"+loc, sku, loc, strconv.FormatInt(n, 10))
		}
	}

	// The sampler checks the invariants in one snapshot while orders run.
	stop := make(chan struct{})
	var samples atomic.Int64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		conn := rawConn(t, u)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if msg := invariants(conn); msg != "" {
				t.Errorf("during the run: %s", msg)
				return
			}
			samples.Add(1)
		}
	}()

	queue := make(chan int, orders)
	for i := range all {
		queue <- i
	}
	var pending sync.WaitGroup
	pending.Add(orders)
	go func() { pending.Wait(); close(queue) }()
	var cancelled, deadlines, surfaced atomic.Int64
	var mu sync.Mutex
	outcomes := map[string]component.Outcome{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w]
			r := rand.New(rand.NewPCG(uint64(w), 99))
			for i := range queue {
				o := all[i]
				skus := make([]string, len(o.lines))
				for j, l := range o.lines {
					skus[j] = l.sku
				}
				octx, cancel := context.WithCancel(ctx)
				decide := stressDecide(o.id, o.deny, o.lines)
				switch x := r.IntN(100); {
				case x < 5: // cancelled with its rows locked
					inner := decide
					decide = func(snap component.Snapshot) (component.Outcome, error) {
						out, err := inner(snap)
						cancel()
						return out, err
					}
				case x < 10: // a deadline somewhere on the way
					octx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(3000))*time.Microsecond)
				}
				out, _, err := s.Apply(octx, component.ApplyRequest{IdempotencyKey: "allocate:" + o.id, Ref: o.id, SKUs: skus, Fingerprint: o.id}, decide)
				deadline := octx.Err() != nil
				cancel()
				var pe *pgconn.PgError
				switch {
				case errors.As(err, &pe) && pe.Code == "40P01":
					surfaced.Add(1)
					t.Errorf("order %s: a deadlock reached the caller: %v", o.id, err)
				case err != nil && deadline:
					// Cancelled: delivered again, as a redelivery would.
					if errors.Is(err, context.DeadlineExceeded) {
						deadlines.Add(1)
					} else {
						cancelled.Add(1)
					}
					queue <- i
					continue
				case err != nil:
					t.Errorf("order %s: %v", o.id, err)
				default:
					mu.Lock()
					if prev, ok := outcomes[o.id]; ok && !sameRecords(prev, out) {
						t.Errorf("order %s: replayed other records", o.id)
					}
					outcomes[o.id] = out
					mu.Unlock()
				}
				pending.Done()
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()

	conn := rawConn(t, u)
	if msg := invariants(conn); msg != "" {
		t.Errorf("at the end: %s", msg)
	}
	// Every order is applied once, and whole: its ledger entries are its
	// outcome's adjustments, and its lines are fully allocated or
	// backordered, or (deny) fully allocated or not at all.
	moves := map[string]map[int]int64{} // order -> line -> units
	backordered := map[string]int64{}
	rows, err := conn.Query(ctx, `SELECT key, ref, reason, delta FROM movements WHERE bucket = 'committed' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, ref, reason string
		var delta int64
		if err := rows.Scan(&k, &ref, &reason, &delta); err != nil {
			t.Fatal(err)
		}
		id, ln, _ := strings.Cut(ref, "/")
		if k != "allocate:"+id {
			t.Errorf("movement of %s under key %s", ref, k)
		}
		n, _ := strconv.Atoi(ln)
		if moves[id] == nil {
			moves[id] = map[int]int64{}
		}
		moves[id][n] += delta
		if reason == "backorder" {
			backordered[id] += delta
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var applied int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM applied WHERE outcome IS NOT NULL`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != orders || len(outcomes) != orders {
		t.Errorf("%d orders applied, %d answered, want %d", applied, len(outcomes), orders)
	}
	full, rejected, partial := 0, 0, 0
	for _, o := range all {
		got := moves[o.id]
		out := outcomes[o.id]
		if len(got) == 0 {
			if !o.deny || len(out.Records) != 1 || out.Records[0].Output != "rejections" {
				t.Errorf("order %s applied nothing; outcome %s", o.id, dump(out))
			}
			rejected++
			continue
		}
		for j, l := range o.lines {
			if got[j+1] != l.qty*10000 {
				t.Errorf("order %s line %d: %d units in the ledger, want %d (the whole line)", o.id, j+1, got[j+1], l.qty*10000)
			}
		}
		if len(got) != len(o.lines) {
			t.Errorf("order %s: ledger lines %v", o.id, got)
		}
		switch {
		case o.deny && backordered[o.id] != 0:
			t.Errorf("order %s (deny) backordered %d", o.id, backordered[o.id])
		case backordered[o.id] != 0:
			partial++
		default:
			full++
		}
	}
	closeStores()
	deadlocks := deadlockCount(t, u)
	t.Logf("%d orders (%d fully allocated, %d partly backordered, %d rejected); %d cancelled mid-transaction, %d past a deadline, redelivered; %d samples; %d deadlocks counted, %d surfaced",
		orders, full, partial, rejected, cancelled.Load(), deadlines.Load(), samples.Load(), deadlocks, surfaced.Load())
	if deadlocks != 0 {
		t.Errorf("the database counted %d deadlocks, want none", deadlocks)
	}
	if rejected == 0 || partial == 0 || full == 0 || cancelled.Load() == 0 {
		t.Errorf("the run did not exercise every path (full %d, partial %d, rejected %d, cancelled %d)", full, partial, rejected, cancelled.Load())
	}
}

// stressDecide allocates an order greedily over the snapshot's rows in
// (sku, location) order, against a running ledger. deny: all or nothing,
// a rejection when any line is short. Otherwise a line's shortfall is
// backordered at the first location with a row for its SKU.
func stressDecide(order string, deny bool, lines []line) func(component.Snapshot) (component.Outcome, error) {
	return func(snap component.Snapshot) (component.Outcome, error) {
		var out component.Outcome
		left := map[component.StockKey]decimal.Decimal{}
		for _, l := range snap.Levels {
			left[l.Key()] = l.Allocatable()
		}
		for i, ln := range lines {
			ref := fmt.Sprintf("%s/%d", order, i+1)
			need := decimal.NewFromInt(ln.qty)
			first := ""
			for _, l := range snap.Levels {
				if l.SKU != ln.sku {
					continue
				}
				if first == "" {
					first = l.Location
				}
				take := decimal.Min(need, left[l.Key()])
				if !take.IsPositive() {
					continue
				}
				left[l.Key()] = left[l.Key()].Sub(take)
				need = need.Sub(take)
				out.Adjustments = append(out.Adjustments, component.Adjustment{SKU: ln.sku, Location: l.Location, Bucket: component.Committed,
					Delta: take, Reason: "allocate", Ref: ref})
				out.Records = append(out.Records, component.OutputRecord{Output: "allocations",
					Data: fmt.Appendf(nil, `{"order_id":%q,"line":%d,"sku":%q,"location_id":%q,"qty":%s}`, order, i+1, ln.sku, l.Location, take)})
			}
			switch {
			case !need.IsPositive():
			case deny:
				return component.Outcome{Records: []component.OutputRecord{{Output: "rejections",
					Data: fmt.Appendf(nil, `{"order_id":%q,"line":%d,"sku":%q,"short":%s}`, order, i+1, ln.sku, need)}}}, nil
			default:
				out.Adjustments = append(out.Adjustments, component.Adjustment{SKU: ln.sku, Location: first, Bucket: component.Committed,
					Delta: need, AllowNegative: true, Backorder: true, Reason: "backorder", Ref: ref})
				out.Records = append(out.Records, component.OutputRecord{Output: "backorders",
					Data: fmt.Appendf(nil, `{"order_id":%q,"line":%d,"sku":%q,"location_id":%q,"qty":%s}`, order, i+1, ln.sku, first, need)})
			}
		}
		return out, nil
	}
}

func rawConn(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Del("pool_max_conns")
	pu.RawQuery = q.Encode()
	conn, err := pgx.Connect(ctx, pu.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// invariants checks, in one snapshot of the database, that no row's
// allocated units exceed its stock (nothing in the test lowers on hand,
// so nothing may be uncovered either), that committed never exceeds on
// hand plus the backorders booked, and that every row's buckets equal the
// sums of its ledger. It returns what is wrong, or "".
func invariants(conn *pgx.Conn) string {
	var msg string
	err := pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var sku, loc string
		var onHand, committed, backordered, uncovered int64
		err := tx.QueryRow(ctx, `SELECT sku, location, on_hand, committed, backordered, uncovered FROM stock
			WHERE committed - backordered > on_hand OR uncovered <> 0 OR backordered < 0 OR committed < 0 LIMIT 1`).
			Scan(&sku, &loc, &onHand, &committed, &backordered, &uncovered)
		switch {
		case err == nil:
			msg = fmt.Sprintf("%s at %s oversold: on_hand %d committed %d backordered %d uncovered %d", sku, loc, onHand, committed, backordered, uncovered)
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var lOnHand, lCommitted, lBackordered int64
		err = tx.QueryRow(ctx, `SELECT s.sku, s.location, s.on_hand, s.committed, s.backordered,
				COALESCE(m.on_hand, 0), COALESCE(m.committed, 0), COALESCE(m.backordered, 0)
			FROM stock s LEFT JOIN (
				SELECT sku, location,
					SUM(delta) FILTER (WHERE bucket = 'on_hand') AS on_hand,
					SUM(delta) FILTER (WHERE bucket = 'committed') AS committed,
					SUM(delta) FILTER (WHERE bucket = 'committed' AND reason = 'backorder') AS backordered
				FROM movements GROUP BY sku, location) m USING (sku, location)
			WHERE s.on_hand <> COALESCE(m.on_hand, 0) OR s.committed <> COALESCE(m.committed, 0) OR s.backordered <> COALESCE(m.backordered, 0)
			LIMIT 1`).Scan(&sku, &loc, &onHand, &committed, &backordered, &lOnHand, &lCommitted, &lBackordered)
		switch {
		case err == nil:
			msg = fmt.Sprintf("%s at %s does not add up: on_hand %d committed %d backordered %d, the ledger says %d %d %d",
				sku, loc, onHand, committed, backordered, lOnHand, lCommitted, lBackordered)
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var orphans int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM movements m WHERE m.key <> '' AND m.key NOT LIKE 'init:%'
			AND NOT EXISTS (SELECT 1 FROM applied a WHERE a.key = m.key AND a.outcome IS NOT NULL)`).Scan(&orphans); err != nil {
			return err
		}
		if orphans != 0 {
			msg = fmt.Sprintf("%d movements of orders not recorded as applied (a half-applied order)", orphans)
		}
		return nil
	})
	if err != nil {
		return "reading the invariants: " + err.Error()
	}
	return msg
}

// deadlockCount is the deadlocks the server counted in the database u
// names. Backends report their counts when they exit, which the stores'
// closing started; it waits a little for them.
func deadlockCount(t *testing.T, u string) int64 {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	conn := rawConn(t, u)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
