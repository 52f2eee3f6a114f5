package state_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/engine/state/jsintake"
	"github.com/pipectl/pipectl/internal/natstest"
	"github.com/pipectl/pipectl/pipelines/component"
)

// TestQueueConformance runs the one suite every serve-state implementation
// must pass, each test on a fresh database.
func TestQueueConformance(t *testing.T) {
	for _, b := range queueBackends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range queueConformance {
				t.Run(c.name, func(t *testing.T) { c.test(t, b.db) })
			}
		})
	}
}

var queueConformance = []struct {
	name string
	test func(t *testing.T, db backend)
}{
	{"EnqueueClaimOrder", testQueueOrder},
	{"Dedupe", testQueueDedupe},
	{"DedupeInOneGroup", testQueueDedupeConcurrent},
	{"LeaseExpiry", testQueueLeaseExpiry},
	{"ConcurrentClaimers", testQueueConcurrentClaimers},
	{"FinishAtomic", testQueueFinishAtomic},
	{"ReleaseNotBefore", testQueueRelease},
	{"LeaseRenewed", testQueueRenew},
	{"Retries", testQueueRetries},
	{"DeadLetterEdit", testDeadLetterEdit},
	{"DeadLetterMark", testDeadLetterMark},
	{"DeadLetterFilters", testDeadLetterFilters},
	{"Runs", testQueueRuns},
	{"TicksClaimedOnce", testQueueTicks},
	{"Checkpoints", testQueueCheckpoints},
	{"Audit", testQueueAudit},
	{"Tokens", testQueueTokens},
	{"Pauses", testQueuePauses},
	{"Nodes", testQueueNodes},
	{"OrderEvents", testQueueOrderEvents},
	{"DepthAndOldest", testQueueDepth},
	{"Reopen", testQueueReopen},
}

// queueBackends are the serve-state implementations: the two stores, and
// the intake on JetStream with the rest in PostgreSQL.
var queueBackends = append(backends[:len(backends):len(backends)], struct {
	name string
	db   backend
}{"jetstream", jetstreamDB})

// jetstreamDB names a stream of the test's own and a PostgreSQL schema
// of its own: jetstream:STREAM:PREFIX|POSTGRES-URL.
func jetstreamDB(t testing.TB) string {
	stream, prefix := natstest.Stream(t)
	return "jetstream:" + stream + ":" + prefix + "|" + postgresDB(t)
}

// onJetStream reports whether u is jetstreamDB's: its leases and delays
// run on the NATS server's clock, so the suite waits for them, scaled by
// realScale, where it advances the test clock for the others.
func onJetStream(u string) bool { return strings.HasPrefix(u, "jetstream:") }

const realScale = 40 // a minute of lease is 1.5 s on JetStream

// lease is d as a lease or delay for the backend of u.
func lease(u string, d time.Duration) time.Duration {
	if onJetStream(u) {
		return d / realScale
	}
	return d
}

// pass advances the test clock by d, and on JetStream also waits d scaled.
func pass(u string, clock *testClock, d time.Duration) {
	clock.Advance(d)
	if onJetStream(u) {
		time.Sleep(d / realScale)
	}
}

// openQueue opens the serve state of the database u (for SQLite, queue.db
// beside the inventory file u names), closed when the test ends.
func openQueue(t testing.TB, u string, clock component.Clock) state.Queue {
	t.Helper()
	if rest, ok := strings.CutPrefix(u, "jetstream:"); ok {
		names, pg, _ := strings.Cut(rest, "|")
		stream, prefix, _ := strings.Cut(names, ":")
		pq := openQueue(t, pg, clock)
		q, err := jsintake.Open(context.Background(), natstest.URL(), pq, jsintake.Config{Stream: stream, Prefix: prefix, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	q, err := state.OpenQueue(context.Background(), u, state.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func enqueue(t testing.TB, q state.Queue, d *state.Delivery) (int64, bool) {
	t.Helper()
	id, dup, err := q.Enqueue(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	return id, dup
}

func claimQ(t testing.TB, q state.Queue, pipeline string, max int, lease time.Duration) []*state.Delivery {
	t.Helper()
	ds, err := q.Claim(ctx, pipeline, max, lease)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func ids(ds []*state.Delivery) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func depth(t testing.TB, q state.Queue, pipeline string) state.QueueDepth {
	t.Helper()
	qd, err := q.Depth(ctx, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	return qd
}

// testQueueOrder: deliveries come back as they were queued, every field,
// oldest first per pipeline, each claimed once while its lease runs.
func testQueueOrder(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	var want []*state.Delivery
	for i := range 5 {
		d := &state.Delivery{Pipeline: "orders", Trigger: "shopify", Version: "v1", EventID: fmt.Sprint("evt-", i),
			Header: http.Header{"X-Shopify-Topic": {"orders/create"}, "X-N": {fmt.Sprint(i)}}, Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		id, dup := enqueue(t, q, d)
		if dup {
			t.Fatalf("delivery %d taken for a duplicate", i)
		}
		got := *d
		got.ID, got.Received, got.Attempts = id, clock.Now(), 1
		want = append(want, &got)
		clock.Advance(time.Second)
	}
	other, _ := enqueue(t, q, &state.Delivery{Pipeline: "stock", Trigger: "cron"})
	first := claimQ(t, q, "orders", 3, time.Minute)
	if diff := cmp.Diff(want[:3], first); diff != "" {
		t.Errorf("first claim (-want +got):\n%s", diff)
	}
	rest := claimQ(t, q, "orders", 10, time.Minute)
	if diff := cmp.Diff(want[3:], rest); diff != "" {
		t.Errorf("second claim (-want +got):\n%s", diff)
	}
	if again := claimQ(t, q, "orders", 10, time.Minute); len(again) != 0 {
		t.Errorf("leased deliveries claimed again: %v", ids(again))
	}
	st := claimQ(t, q, "stock", 10, time.Minute)
	if len(st) != 1 || st[0].ID != other || st[0].Header != nil || st[0].Body != nil {
		t.Errorf("the other pipeline's claim: %+v", st)
	}
	if err := q.Finish(ctx, ids(first), nil, nil); err != nil {
		t.Fatal(err)
	}
	if qd := depth(t, q, "orders"); qd.Queued != 2 || qd.Running != 2 {
		t.Errorf("after finishing 3 of 5: %+v", qd)
	}
	for _, bad := range []func() error{
		func() error { _, _, err := q.Enqueue(ctx, &state.Delivery{}); return err },
		func() error { _, err := q.Claim(ctx, "orders", 0, time.Minute); return err },
		func() error { _, err := q.Claim(ctx, "orders", 1, 0); return err },
	} {
		if err := bad(); err == nil {
			t.Error("bad input accepted")
		}
	}
}

// testQueueDedupe: an event id queued once keeps its repeats out for
// DedupeHorizon, even after its delivery finished; other pipelines and
// deliveries without an id are not affected.
func testQueueDedupe(t *testing.T, db backend) {
	clock := newClock()
	u := db(t)
	q := openQueue(t, u, clock)
	id1, _ := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "e1", Body: []byte("first")})
	if id, dup := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "e1", Body: []byte("again")}); !dup || id != id1 {
		t.Errorf("repeat: id %d dup %v; want %d true", id, dup, id1)
	}
	if _, dup := enqueue(t, q, &state.Delivery{Pipeline: "stock", EventID: "e1"}); dup {
		t.Error("an event id of another pipeline was taken for a duplicate")
	}
	for range 2 {
		if _, dup := enqueue(t, q, &state.Delivery{Pipeline: "orders"}); dup {
			t.Error("a delivery without an event id was taken for a duplicate")
		}
	}
	ds := claimQ(t, q, "orders", 10, time.Minute)
	if len(ds) != 3 || string(ds[0].Body) != "first" {
		t.Fatalf("claimed %+v", ds)
	}
	if err := q.Finish(ctx, ids(ds), nil, nil); err != nil {
		t.Fatal(err)
	}
	if !onJetStream(u) {
		clock.Advance(state.DedupeHorizon - time.Minute)
	}
	if id, dup := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "e1"}); !dup || id != id1 {
		t.Errorf("repeat after the delivery finished: id %d dup %v; want %d true", id, dup, id1)
	}
	if qd := depth(t, q, "orders"); qd.Queued != 0 {
		t.Errorf("a duplicate was queued: %+v", qd)
	}
	if onJetStream(u) {
		// The stream's duplicate window is real time; past it, the
		// processed-message keys keep the horizon (jsintake's own tests).
		return
	}
	clock.Advance(2 * time.Minute)
	id2, dup := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "e1"})
	if dup || id2 == id1 {
		t.Errorf("repeat after the horizon: id %d dup %v; want a new delivery", id2, dup)
	}
	if id, dup := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "e1"}); !dup || id != id2 {
		t.Errorf("repeat of the new delivery: id %d dup %v; want %d true", id, dup, id2)
	}
}

// testQueueDedupeConcurrent fires 200 Enqueues at once, 20 of them
// repeating another's event id: on SQLite they meet in the same groups,
// on PostgreSQL in concurrent transactions. Exactly 180 are queued, and
// each repeat is answered with its original's id.
func testQueueDedupeConcurrent(t *testing.T, db backend) {
	q := openQueue(t, db(t), newClock())
	const n, dups = 200, 20
	type result struct {
		event string
		id    int64
		dup   bool
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		event := fmt.Sprint("e", i)
		if i >= n-dups {
			event = fmt.Sprint("e", i-(n-dups))
		}
		wg.Go(func() {
			<-start
			id, dup, err := q.Enqueue(ctx, &state.Delivery{Pipeline: "orders", EventID: event})
			if err != nil {
				t.Error(err)
			}
			results[i] = result{event, id, dup}
		})
	}
	close(start)
	wg.Wait()
	byEvent := map[string][]result{}
	nDup := 0
	for _, r := range results {
		byEvent[r.event] = append(byEvent[r.event], r)
		if r.dup {
			nDup++
		}
	}
	if nDup != dups {
		t.Errorf("%d duplicates; want %d", nDup, dups)
	}
	for event, rs := range byEvent {
		if len(rs) == 2 && (rs[0].id != rs[1].id || rs[0].dup == rs[1].dup) {
			t.Errorf("%s: %+v; want one delivery and one duplicate with its id", event, rs)
		}
	}
	if qd := depth(t, q, "orders"); qd.Queued != n-dups {
		t.Errorf("%d queued; want %d", qd.Queued, n-dups)
	}
}

// testQueueLeaseExpiry: a delivery whose worker died (its lease ran out)
// is claimable again, its attempts counting both claims.
func testQueueLeaseExpiry(t *testing.T, db backend) {
	clock := newClock()
	u := db(t)
	q := openQueue(t, u, clock)
	// On the test clock, to the edge of the lease; on a server's, with a
	// margin either side.
	before, after := 59*time.Second, time.Second
	if onJetStream(u) {
		before, after = 30*time.Second, 60*time.Second
	}
	l := lease(u, time.Minute)
	id, _ := enqueue(t, q, &state.Delivery{Pipeline: "orders"})
	if ds := claimQ(t, q, "orders", 1, l); len(ds) != 1 || ds[0].Attempts != 1 {
		t.Fatalf("first claim: %+v", ds)
	}
	pass(u, clock, before)
	if ds := claimQ(t, q, "orders", 1, l); len(ds) != 0 {
		t.Fatalf("claimed while leased: %+v", ds)
	}
	if qd := depth(t, q, "orders"); qd.Running != 1 {
		t.Errorf("while leased: %+v", qd)
	}
	pass(u, clock, after)
	if qd := depth(t, q, "orders"); !onJetStream(u) && (qd.Running != 0 || qd.Queued != 1) {
		// (JetStream counts a delivery whose lease ran out as handed out
		// until it is handed out again.)
		t.Errorf("after the lease: %+v", qd)
	}
	ds := claimQ(t, q, "orders", 1, l)
	if len(ds) != 1 || ds[0].ID != id || ds[0].Attempts != 2 {
		t.Fatalf("after the lease ran out: %+v", ds)
	}
}

// testQueueConcurrentClaimers: two claimers on two stores (two processes)
// drain one queue; every delivery goes to exactly one of them.
func testQueueConcurrentClaimers(t *testing.T, db backend) {
	u := db(t)
	a, b := openQueue(t, u, newClock()), openQueue(t, u, newClock())
	const n = 300
	var all []int64
	for range n {
		id, _ := enqueue(t, a, &state.Delivery{Pipeline: "orders"})
		all = append(all, id)
	}
	got := make([][]int64, 2)
	var wg sync.WaitGroup
	for w, q := range []state.Queue{a, b} {
		wg.Go(func() {
			for {
				ds, err := q.Claim(ctx, "orders", 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				got[w] = append(got[w], ids(ds)...)
			}
		})
	}
	wg.Wait()
	claimed := append(slices.Clone(got[0]), got[1]...)
	slices.Sort(claimed)
	if !slices.Equal(claimed, all) {
		t.Errorf("claimed %d deliveries (%d and %d); want each of %d once", len(claimed), len(got[0]), len(got[1]), n)
	}
	for i := 1; i < len(claimed); i++ {
		if claimed[i] == claimed[i-1] {
			t.Errorf("delivery %d claimed twice", claimed[i])
		}
	}
}

// testQueueFinishAtomic: a reader never sees a delivery gone without its
// retries, nor its retries beside it. Each Finish removes one delivery and
// adds two retries and a dead letter; Depth reads one snapshot, in which
// 2*queued + retries stays the same throughout.
func testQueueFinishAtomic(t *testing.T, db backend) {
	u := db(t)
	q := openQueue(t, u, newClock())
	const n = 30
	for range n {
		enqueue(t, q, &state.Delivery{Pipeline: "orders"})
	}
	ds := claimQ(t, q, "orders", n, time.Hour)
	if err := q.Finish(ctx, []int64{ds[0].ID}, []*state.Retry{{Pipeline: "orders"}}, nil); err == nil {
		t.Error("a retry without its sink accepted")
	}
	if qd := depth(t, q, "orders"); qd.Queued != n || qd.Retries != 0 {
		t.Fatalf("a refused Finish changed the queue: %+v", qd)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			qd, err := q.Depth(ctx, "orders")
			if err != nil {
				t.Error(err)
				return
			}
			// On JetStream the queue is the stream's and the retries
			// PostgreSQL's: a Finish commits the retries, then
			// acknowledges, so a reader may see both for a moment, never
			// neither.
			if sum := 2*qd.Queued + qd.Retries; sum != 2*n && (!onJetStream(u) || sum < 2*n) {
				t.Errorf("torn Finish seen: %+v", qd)
				return
			}
		}
	})
	for _, d := range ds {
		err := q.Finish(ctx, []int64{d.ID},
			[]*state.Retry{{Pipeline: "orders", Sink: "erp", Delivery: d.ID}, {Pipeline: "orders", Sink: "wms", Delivery: d.ID}},
			[]*state.DeadLetter{{Pipeline: "orders", Node: "map", Error: "bad sku", Delivery: d.ID}})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	dls, err := q.ListDeadLetters(ctx, state.DeadLetterFilter{Pipeline: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if qd := depth(t, q, "orders"); qd.Queued != 0 || qd.Retries != 2*n || len(dls) != n {
		t.Errorf("after finishing all: %+v, %d dead letters", qd, len(dls))
	}
}

// testQueueRelease: released deliveries come back from notBefore, in their
// original order, with their attempts kept.
func testQueueRelease(t *testing.T, db backend) {
	clock := newClock()
	u := db(t)
	q := openQueue(t, u, clock)
	var all []int64
	for range 3 {
		id, _ := enqueue(t, q, &state.Delivery{Pipeline: "orders"})
		all = append(all, id)
	}
	claimQ(t, q, "orders", 3, time.Hour)
	if err := q.Release(ctx, all[:2], clock.Now().Add(lease(u, time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(ctx, all[2:], time.Time{}); err != nil {
		t.Fatal(err)
	}
	ds := claimQ(t, q, "orders", 3, time.Hour)
	if len(ds) != 1 || ds[0].ID != all[2] || ds[0].Attempts != 2 {
		t.Fatalf("claimed before notBefore: %+v", ds)
	}
	pass(u, clock, time.Minute)
	if onJetStream(u) {
		time.Sleep(time.Second) // the server's timer, past the delay
	}
	ds = claimQ(t, q, "orders", 3, time.Hour)
	if !slices.Equal(ids(ds), all[:2]) || ds[0].Attempts != 2 {
		t.Errorf("claimed at notBefore: %v; want %v", ids(ds), all[:2])
	}
}

// testQueueRenew: a renewed lease keeps deliveries from other claimers
// past the lease they were claimed with; once it runs out they are
// claimable again.
func testQueueRenew(t *testing.T, db backend) {
	clock := newClock()
	u := db(t)
	q := openQueue(t, u, clock)
	// A JetStream lease is its consumer's AckWait, one for every claim.
	l, after := lease(u, 30*time.Second), 11*time.Second
	other := lease(u, time.Minute)
	if onJetStream(u) {
		// The server's clock runs the lease, and an empty Claim waits
		// 200 ms for a delivery: the scaled 750 ms lease left too little
		// room on a loaded machine, so this one is 2 s of real time
		// (pass sleeps 1 s for each 40 s).
		l = 2 * time.Second
		other, after = l, 80*time.Second
	}
	id, _ := enqueue(t, q, &state.Delivery{Pipeline: "orders"})
	claimQ(t, q, "orders", 1, l)
	pass(u, clock, 20*time.Second)
	if err := q.Renew(ctx, []int64{id}, l); err != nil {
		t.Fatal(err)
	}
	pass(u, clock, 20*time.Second) // 40 s after the claim, 20 s after the renewal
	if ds := claimQ(t, q, "orders", 1, other); len(ds) != 0 {
		t.Fatalf("claimed under a renewed lease: %+v", ds)
	}
	pass(u, clock, after)
	ds := claimQ(t, q, "orders", 1, other)
	for deadline := time.Now().Add(5 * time.Second); onJetStream(u) && len(ds) == 0 && time.Now().Before(deadline); {
		// The server redelivers on its own timer, which a loaded
		// machine may run late.
		ds = claimQ(t, q, "orders", 1, other)
	}
	if len(ds) != 1 || ds[0].ID != id {
		t.Fatalf("after the renewed lease ran out: %+v", ds)
	}
	if err := q.Renew(ctx, []int64{id + 100}, time.Minute); err != nil {
		t.Errorf("renewing a delivery that is not queued: %v", err)
	}
}

// testQueueTokens: tokens are kept with their hash, listed oldest first,
// revoked once (a second revoke keeps the first time), touched; a name is
// used once.
func testQueueTokens(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	t0 := clock.Now()
	a := &state.Token{ID: "aaaa", Name: "ops-laptop", Role: "operator", SecretHash: "h1", CreatedBy: "root"}
	if err := q.AddToken(ctx, a); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := q.AddToken(ctx, &state.Token{ID: "bbbb", Name: "grafana", Role: "viewer", SecretHash: "h2", CreatedBy: "root"}); err != nil {
		t.Fatal(err)
	}
	if err := q.AddToken(ctx, &state.Token{ID: "cccc", Name: "grafana", Role: "admin", SecretHash: "h3", CreatedBy: "root"}); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("a second token named grafana: %v", err)
	}
	got, err := q.Token(ctx, "aaaa")
	if err != nil || got.Name != "ops-laptop" || got.Role != "operator" || got.SecretHash != "h1" || !got.Created.Equal(t0) || !got.LastUsed.IsZero() || !got.Revoked.IsZero() {
		t.Fatalf("token aaaa: %+v %v", got, err)
	}
	if _, err := q.Token(ctx, "zzzz"); !errors.Is(err, state.ErrNoToken) {
		t.Errorf("an unknown token: %v", err)
	}
	clock.Advance(time.Minute)
	used := clock.Now()
	if err := q.TouchToken(ctx, "aaaa", used); err != nil {
		t.Fatal(err)
	}
	if err := q.RevokeToken(ctx, "bbbb", used); err != nil {
		t.Fatal(err)
	}
	if err := q.RevokeToken(ctx, "bbbb", used.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := q.RevokeToken(ctx, "zzzz", used); !errors.Is(err, state.ErrNoToken) {
		t.Errorf("revoking an unknown token: %v", err)
	}
	all, err := q.ListTokens(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "aaaa" || all[1].ID != "bbbb" {
		t.Fatalf("tokens: %+v %v", all, err)
	}
	if !all[0].LastUsed.Equal(used) || !all[0].Revoked.IsZero() || !all[1].Revoked.Equal(used) {
		t.Errorf("after touch and revoke: %+v, %+v", all[0], all[1])
	}
}

// testQueuePauses: a pause is kept until cleared; pausing twice keeps the
// first; a pipeline's pause and a trigger's are apart.
func testQueuePauses(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	t0 := clock.Now()
	if err := q.SetPause(ctx, &state.Pause{Pipeline: "orders", By: "ana", Reason: "WMS maintenance"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := q.SetPause(ctx, &state.Pause{Pipeline: "orders", By: "bo", Reason: "again"}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetPause(ctx, &state.Pause{Pipeline: "erp", Trigger: "nightly", By: "bo", Reason: "month end"}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetPause(ctx, &state.Pause{Pipeline: "erp"}); err == nil {
		t.Error("a pause without who made it was kept")
	}
	ps, err := q.ListPauses(ctx)
	if err != nil || len(ps) != 2 || ps[0].Pipeline != "erp" || ps[0].Trigger != "nightly" || ps[1].Pipeline != "orders" ||
		ps[1].By != "ana" || ps[1].Reason != "WMS maintenance" || !ps[1].At.Equal(t0) {
		t.Fatalf("pauses: %+v %v", ps, err)
	}
	if ok, err := q.ClearPause(ctx, "orders", ""); !ok || err != nil {
		t.Errorf("resume orders: %v %v", ok, err)
	}
	if ok, err := q.ClearPause(ctx, "orders", ""); ok || err != nil {
		t.Errorf("resume orders twice: %v %v", ok, err)
	}
	if ps, _ := q.ListPauses(ctx); len(ps) != 1 {
		t.Errorf("after resume: %+v", ps)
	}
}

// testQueueNodes: a heartbeat records a node or updates it in place; the
// list is most recently seen first; a clean stop removes a node and old
// ones are forgotten.
func testQueueNodes(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	t0 := clock.Now()
	a := &state.Node{Name: "web-1-100", Roles: "intake,worker", Listen: "127.0.0.1:8081", Queue: "postgres", Version: "dev", Started: t0}
	b := &state.Node{Name: "web-2-200", Roles: "worker", Listen: "127.0.0.1:8082", Queue: "postgres", Version: "dev", Started: t0}
	for _, n := range []*state.Node{a, b} {
		if err := q.Heartbeat(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(5 * time.Second)
	b.Seen = clock.Now()
	if err := q.Heartbeat(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := q.Heartbeat(ctx, &state.Node{}); err == nil {
		t.Error("a node without a name was kept")
	}
	ns, err := q.ListNodes(ctx)
	if err != nil || len(ns) != 2 || ns[0].Name != b.Name || !ns[0].Seen.Equal(b.Seen) || ns[1].Name != a.Name ||
		!ns[1].Seen.Equal(t0) || ns[1].Roles != "intake,worker" || ns[1].Listen != a.Listen || !ns[1].Started.Equal(t0) {
		t.Fatalf("nodes: %+v %v", ns, err)
	}
	if n, err := q.ForgetNodes(ctx, t0.Add(time.Second)); n != 1 || err != nil {
		t.Errorf("forget the node not seen for 5s: %d %v", n, err)
	}
	if err := q.RemoveNode(ctx, b.Name); err != nil {
		t.Fatal(err)
	}
	if ns, _ := q.ListNodes(ctx); len(ns) != 0 {
		t.Errorf("after forget and remove: %+v", ns)
	}
}

// testQueueOrderEvents: an order's events come back in the order they
// were added; events older than OrderEventsKept are dropped.
func testQueueOrderEvents(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	old := clock.Now()
	if err := q.AddOrderEvents(ctx, []state.OrderEvent{{Ref: "1001", Kind: "received", Detail: "order_created"}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(state.OrderEventsKept + time.Hour)
	if err := q.AddOrderEvents(ctx, []state.OrderEvent{{Ref: "1002", Kind: "received"}, {Ref: "1002", Kind: "processed", Detail: "wms"}}); err != nil {
		t.Fatal(err)
	}
	if es, err := q.OrderEventsOf(ctx, "1001"); err != nil || len(es) != 0 {
		t.Errorf("an event older than kept (%s): %+v %v", old, es, err)
	}
	es, err := q.OrderEventsOf(ctx, "1002")
	if err != nil || len(es) != 2 || es[0].Kind != "received" || es[1].Kind != "processed" || es[1].Detail != "wms" || !es[1].At.Equal(clock.Now()) {
		t.Errorf("events of 1002: %+v %v", es, err)
	}
}

// testQueueRetries: a retry is claimed when due, leased, tried again later
// with its attempts kept, delivered, or turned into a dead letter that
// carries its whole history.
func testQueueRetries(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	id, _ := enqueue(t, q, &state.Delivery{Pipeline: "orders"})
	claimQ(t, q, "orders", 1, time.Hour)
	t0 := clock.Now()
	first := state.Attempt{At: t0, Status: 503, Error: "unavailable"}
	hdr := http.Header{"Content-Type": {"application/json"}}
	err := q.Finish(ctx, []int64{id}, []*state.Retry{
		{Pipeline: "orders", Version: "v1", Sink: "erp", Record: []byte(`{"r":1}`), Origin: []byte(`{"o":1}`), Header: hdr, Delivery: id, Attempts: []state.Attempt{first}},
		{Pipeline: "orders", Version: "v1", Sink: "wms", Record: []byte(`{"r":2}`), Next: t0.Add(10 * time.Minute)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps, err := q.Pipelines(ctx); err != nil || !slices.Equal(ps, []string{"orders"}) {
		t.Errorf("pipelines with only retries: %v, %v", ps, err)
	}
	rs, err := q.ClaimRetries(ctx, "orders", t0, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []*state.Retry{{ID: 0, Pipeline: "orders", Version: "v1", Sink: "erp", Record: []byte(`{"r":1}`), Origin: []byte(`{"o":1}`),
		Header: hdr, Delivery: id, Attempts: []state.Attempt{first}, Created: t0, Next: t0}}
	if len(rs) == 1 {
		want[0].ID = rs[0].ID
	}
	if diff := cmp.Diff(want, rs); diff != "" {
		t.Fatalf("due retries (-want +got):\n%s", diff)
	}
	erp := rs[0].ID
	if again, _ := q.ClaimRetries(ctx, "orders", t0, 10, time.Minute); len(again) != 0 {
		t.Errorf("a leased retry claimed again: %+v", again)
	}
	second := state.Attempt{At: t0.Add(time.Second), Error: "timeout"}
	if err := q.RetryAgain(ctx, erp, second, t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if rs, _ := q.ClaimRetries(ctx, "orders", t0.Add(4*time.Minute), 10, time.Minute); len(rs) != 0 {
		t.Errorf("claimed before next: %+v", rs)
	}
	rs, err = q.ClaimRetries(ctx, "orders", t0.Add(10*time.Minute), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != erp || len(rs[0].Attempts) != 2 || rs[0].Attempts[1] != second || rs[1].Sink != "wms" {
		t.Fatalf("due after a retry: %+v", rs)
	}
	wms := rs[1].ID
	// A lease that ran out makes the retry claimable again.
	if rs, _ := q.ClaimRetries(ctx, "orders", t0.Add(11*time.Minute), 10, time.Minute); len(rs) != 2 {
		t.Errorf("after the lease: %+v", rs)
	}
	if err := q.RetryDelivered(ctx, wms); err != nil {
		t.Fatal(err)
	}
	if err := q.RetryDelivered(ctx, wms); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("delivered twice: %v", err)
	}
	last := state.Attempt{At: t0.Add(12 * time.Minute), Status: 400, Error: "rejected"}
	if err := q.RetryDead(ctx, erp, last, &state.DeadLetter{Trigger: "shopify", Error: "erp rejected the order"}); err != nil {
		t.Fatal(err)
	}
	if err := q.RetryDead(ctx, erp, last, nil); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("dead twice: %v", err)
	}
	if err := q.RetryAgain(ctx, erp, last, t0); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("retried after dying: %v", err)
	}
	if qd := depth(t, q, "orders"); qd.Retries != 0 {
		t.Errorf("retries left: %+v", qd)
	}
	dls, err := q.ListDeadLetters(ctx, state.DeadLetterFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 {
		t.Fatalf("%d dead letters", len(dls))
	}
	dl := dls[0]
	if dl.Pipeline != "orders" || dl.Version != "v1" || dl.Trigger != "shopify" || dl.Node != "erp" || dl.Error != "erp rejected the order" ||
		string(dl.Payload) != `{"o":1}` || string(dl.Record) != `{"r":1}` || dl.Delivery != id || dl.Status != state.DeadOpen ||
		!cmp.Equal(dl.Header, hdr) || !cmp.Equal(dl.Attempts, []state.Attempt{first, second, last}) {
		t.Errorf("dead letter of the retry: %+v", dl)
	}
}

// testDeadLetterEdit: an edit is kept beside the original payload, which
// stays as it arrived.
func testDeadLetterEdit(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	in := &state.DeadLetter{Pipeline: "orders", Version: "v1", Trigger: "shopify", Node: "map", Error: "sku missing",
		Payload: []byte(`{"sku": null}`), Header: http.Header{"X-Shopify-Topic": {"orders/create"}}, Record: []byte(`{"r":1}`),
		Delivery: 7, Attempts: []state.Attempt{{At: clock.Now(), Error: "sku missing"}}}
	added, err := q.AddDeadLetters(ctx, []*state.DeadLetter{in})
	if err != nil || len(added) != 1 {
		t.Fatalf("add: %v, %v", added, err)
	}
	want := *in
	want.ID, want.Status, want.Created, want.Updated = added[0], state.DeadOpen, clock.Now(), clock.Now()
	got, err := q.DeadLetter(ctx, added[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	clock.Advance(time.Hour)
	if err := q.EditDeadLetter(ctx, added[0], []byte(`{"sku":"A-1"}`)); err != nil {
		t.Fatal(err)
	}
	got, err = q.DeadLetter(ctx, added[0])
	if err != nil {
		t.Fatal(err)
	}
	want.Edited, want.Updated = []byte(`{"sku":"A-1"}`), clock.Now()
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("edited (-want +got):\n%s", diff)
	}
	if _, err := q.DeadLetter(ctx, 9999); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("missing entry: %v", err)
	}
	if err := q.EditDeadLetter(ctx, 9999, []byte(`{}`)); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("edit of a missing entry: %v", err)
	}
	if err := q.EditDeadLetter(ctx, added[0], nil); err == nil {
		t.Error("an empty edit accepted")
	}
}

// testDeadLetterMark: marking sets the status, appends the attempt and
// keeps the reason given; only open entries are counted.
func testDeadLetterMark(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	first := state.Attempt{At: clock.Now(), Error: "boom"}
	added, err := q.AddDeadLetters(ctx, []*state.DeadLetter{
		{Pipeline: "orders", Node: "erp", Attempts: []state.Attempt{first}},
		{Pipeline: "orders", Node: "erp"},
		{Pipeline: "stock", Node: "feed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	replay := state.Attempt{At: clock.Now(), Status: 200}
	if err := q.MarkDeadLetter(ctx, added[0], state.DeadReplayed, &replay, ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := q.MarkDeadLetter(ctx, added[0], state.DeadResolved, nil, "replayed by hand"); err != nil {
		t.Fatal(err)
	}
	got, err := q.DeadLetter(ctx, added[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != state.DeadResolved || got.Reason != "replayed by hand" || !got.Updated.Equal(clock.Now()) ||
		!cmp.Equal(got.Attempts, []state.Attempt{first, replay}) {
		t.Errorf("marked: %+v", got)
	}
	if err := q.MarkDeadLetter(ctx, added[0], state.DeadOpen, nil, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.DeadLetter(ctx, added[0]); got.Reason != "replayed by hand" || len(got.Attempts) != 2 {
		t.Errorf("a mark without reason or attempt changed them: %+v", got)
	}
	if err := q.MarkDeadLetter(ctx, added[1], state.DeadResolved, nil, "not ours"); err != nil {
		t.Fatal(err)
	}
	counts, err := q.CountDeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"orders": 1, "stock": 1}, counts); diff != "" {
		t.Errorf("open counts (-want +got):\n%s", diff)
	}
	if err := q.MarkDeadLetter(ctx, added[0], "gone", nil, ""); err == nil {
		t.Error("an unknown status accepted")
	}
	if err := q.MarkDeadLetter(ctx, 9999, state.DeadResolved, nil, ""); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("mark of a missing entry: %v", err)
	}
}

// testDeadLetterFilters: each field of the filter selects, newest first.
func testDeadLetterFilters(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	t0 := clock.Now()
	var all []int64
	for i, dl := range []state.DeadLetter{
		{Pipeline: "orders", Node: "map"},
		{Pipeline: "orders", Node: "erp"},
		{Pipeline: "stock", Node: "map"},
		{Pipeline: "orders", Node: "map", Status: state.DeadResolved},
		{Pipeline: "orders", Node: "map"},
	} {
		dl.Error = fmt.Sprint("e", i)
		added, err := q.AddDeadLetters(ctx, []*state.DeadLetter{&dl})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, added[0])
		clock.Advance(time.Hour)
	}
	rev := func(idx ...int) []int64 {
		var out []int64
		for _, i := range slices.Backward(idx) {
			out = append(out, all[i])
		}
		return out
	}
	for _, c := range []struct {
		f    state.DeadLetterFilter
		want []int64
	}{
		{state.DeadLetterFilter{}, rev(0, 1, 2, 3, 4)},
		{state.DeadLetterFilter{Pipeline: "orders"}, rev(0, 1, 3, 4)},
		{state.DeadLetterFilter{Pipeline: "orders", Node: "map"}, rev(0, 3, 4)},
		{state.DeadLetterFilter{Node: "map", Status: state.DeadOpen}, rev(0, 2, 4)},
		{state.DeadLetterFilter{Since: t0.Add(2 * time.Hour)}, rev(2, 3, 4)},
		{state.DeadLetterFilter{IDs: []int64{all[1], all[3], 9999}}, rev(1, 3)},
		{state.DeadLetterFilter{Pipeline: "orders", Limit: 2}, rev(3, 4)},
		{state.DeadLetterFilter{Pipeline: "nope"}, nil},
	} {
		dls, err := q.ListDeadLetters(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, dl := range dls {
			got = append(got, dl.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v; want %v", c.f, got, c.want)
		}
	}
}

// testQueueRuns: a run is recorded when it starts and completed when it
// ends; the history lists newest first.
func testQueueRuns(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	tick := clock.Now().Truncate(time.Hour)
	r1, err := q.StartRun(ctx, &state.RunRecord{Pipeline: "stock", Trigger: "nightly", Tick: tick})
	if err != nil {
		t.Fatal(err)
	}
	started := clock.Now()
	clock.Advance(time.Minute)
	r2, err := q.StartRun(ctx, &state.RunRecord{Pipeline: "orders", Trigger: "shopify"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Run(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	want := &state.RunRecord{ID: r1, Pipeline: "stock", Trigger: "nightly", Tick: tick, Started: started, Outcome: "running"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("running (-want +got):\n%s", diff)
	}
	clock.Advance(time.Minute)
	nodes := []byte(`{"feed":{"in":10,"out":9,"failed":1}}`)
	if err := q.EndRun(ctx, &state.RunRecord{ID: r1, Outcome: "failed", Error: "1 record failed", Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	want.Ended, want.Outcome, want.Error, want.Nodes = clock.Now(), "failed", "1 record failed", nodes
	if got, err = q.Run(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ended (-want +got):\n%s", diff)
	}
	r3, err := q.StartRun(ctx, &state.RunRecord{Pipeline: "stock", Trigger: "hourly"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    state.RunFilter
		want []int64
	}{
		{state.RunFilter{}, []int64{r3, r2, r1}},
		{state.RunFilter{Pipeline: "stock"}, []int64{r3, r1}},
		{state.RunFilter{Pipeline: "stock", Trigger: "nightly"}, []int64{r1}},
		{state.RunFilter{Limit: 1}, []int64{r3}},
	} {
		runs, err := q.ListRuns(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v; want %v", c.f, got, c.want)
		}
	}
	if _, err := q.Run(ctx, 9999); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("missing run: %v", err)
	}
	if err := q.EndRun(ctx, &state.RunRecord{ID: 9999, Outcome: "ok"}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("end of a missing run: %v", err)
	}
}

// testQueueTicks: ten claimers on two stores race for one tick; exactly
// one gets it. LastTick is the latest claimed.
func testQueueTicks(t *testing.T, db backend) {
	u := db(t)
	clock := newClock()
	a, b := openQueue(t, u, clock), openQueue(t, u, clock)
	if _, ok, err := a.LastTick(ctx, "stock", "nightly"); ok || err != nil {
		t.Errorf("last tick before any: %v, %v", ok, err)
	}
	tick := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 10 {
		q := []state.Queue{a, b}[i%2]
		wg.Go(func() {
			ok, err := q.ClaimTick(ctx, "stock", "nightly", tick)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d claimers got the tick; want 1", won)
	}
	if ok, err := b.ClaimTick(ctx, "stock", "hourly", tick); !ok || err != nil {
		t.Errorf("another trigger's tick: %v, %v", ok, err)
	}
	if ok, err := b.ClaimTick(ctx, "stock", "nightly", tick.Add(-24*time.Hour)); !ok || err != nil {
		t.Errorf("an earlier tick: %v, %v", ok, err)
	}
	at, ok, err := a.LastTick(ctx, "stock", "nightly")
	if err != nil || !ok || !at.Equal(tick) || at.Location() != time.UTC {
		t.Errorf("last tick: %v %v %v; want %v", at, ok, err, tick)
	}
}

func testQueueCheckpoints(t *testing.T, db backend) {
	q := openQueue(t, db(t), newClock())
	if _, ok, err := q.Checkpoint(ctx, "stock", "erp"); ok || err != nil {
		t.Errorf("before any: %v, %v", ok, err)
	}
	for _, v := range []string{"2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"} {
		if err := q.SaveCheckpoint(ctx, "stock", "erp", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.SaveCheckpoint(ctx, "stock", "wms", "cursor-9"); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := q.Checkpoint(ctx, "stock", "erp"); !ok || err != nil || v != "2026-03-01T01:00:00Z" {
		t.Errorf("erp: %q %v %v", v, ok, err)
	}
	if v, ok, err := q.Checkpoint(ctx, "stock", "wms"); !ok || err != nil || v != "cursor-9" {
		t.Errorf("wms: %q %v %v", v, ok, err)
	}
	if _, ok, _ := q.Checkpoint(ctx, "orders", "erp"); ok {
		t.Error("another pipeline's checkpoint read")
	}
}

func testQueueAudit(t *testing.T, db backend) {
	clock := newClock()
	q := openQueue(t, db(t), clock)
	entries := []*state.AuditEntry{
		{Actor: "ana", Action: "dlq.edit", Subject: "dlq/1", Reason: "fix sku", Detail: []byte(`{"diff":"sku"}`)},
		{Actor: "ana", Action: "dlq.replay", Subject: "dlq/1"},
		{Actor: "bo", Action: "reload", Subject: "orders", At: clock.Now().Add(time.Hour)},
	}
	for _, e := range entries {
		if err := q.AddAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	got, err := q.ListAudit(ctx, "dlq/1", 0)
	if err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now().Add(-3 * time.Minute)
	want := []*state.AuditEntry{
		{Actor: "ana", Action: "dlq.replay", Subject: "dlq/1", At: t0.Add(time.Minute)},
		{Actor: "ana", Action: "dlq.edit", Subject: "dlq/1", Reason: "fix sku", Detail: []byte(`{"diff":"sku"}`), At: t0},
	}
	for i := range min(len(want), len(got)) {
		want[i].ID = got[i].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dlq/1 (-want +got):\n%s", diff)
	}
	all, err := q.ListAudit(ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Subject != "orders" || !all[0].At.Equal(t0.Add(time.Hour)) {
		t.Errorf("newest two: %+v", all)
	}
	if err := q.AddAudit(ctx, &state.AuditEntry{Action: "reload"}); err == nil {
		t.Error("an entry without its actor accepted")
	}
}

// testQueueDepth: Depth counts queued (running included), running, the
// oldest received and retries, per pipeline and in sum.
func testQueueDepth(t *testing.T, db backend) {
	clock := newClock()
	u := db(t)
	q := openQueue(t, u, clock)
	if qd := depth(t, q, ""); qd != (state.QueueDepth{}) {
		t.Errorf("empty: %+v", qd)
	}
	t0 := clock.Now()
	enqueue(t, q, &state.Delivery{Pipeline: "orders"})
	clock.Advance(time.Minute)
	enqueue(t, q, &state.Delivery{Pipeline: "stock"})
	enqueue(t, q, &state.Delivery{Pipeline: "orders", Received: t0.Add(-time.Hour)})
	enqueue(t, q, &state.Delivery{Pipeline: "orders"})
	ds := claimQ(t, q, "orders", 1, time.Hour)
	if err := q.Finish(ctx, nil, []*state.Retry{{Pipeline: "orders", Sink: "erp"}, {Pipeline: "fulfil", Sink: "wms"}}, nil); err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 {
		t.Fatal("nothing claimed")
	}
	oldest := t0.Add(-time.Hour)
	if onJetStream(u) {
		// JetStream reports the first waiting in stream order.
		oldest = t0
	}
	if qd := depth(t, q, "orders"); qd != (state.QueueDepth{Queued: 3, Running: 1, Oldest: oldest, Retries: 1}) {
		t.Errorf("orders: %+v", qd)
	}
	if qd := depth(t, q, "stock"); qd != (state.QueueDepth{Queued: 1, Oldest: t0.Add(time.Minute)}) {
		t.Errorf("stock: %+v", qd)
	}
	if qd := depth(t, q, ""); qd != (state.QueueDepth{Queued: 4, Running: 1, Oldest: oldest, Retries: 2}) {
		t.Errorf("all: %+v", qd)
	}
	if ps, err := q.Pipelines(ctx); err != nil || !slices.Equal(ps, []string{"fulfil", "orders", "stock"}) {
		t.Errorf("pipelines: %v, %v", ps, err)
	}
}

// testQueueReopen: what was committed is there after closing and
// reopening, leases and dedupe included, and a second store open at the
// same time sees it too.
func testQueueReopen(t *testing.T, db backend) {
	u := db(t)
	clock := newClock()
	q := openQueue(t, u, clock)
	var want []int64
	for i := range 5 {
		id, _ := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: fmt.Sprint("e", i), Body: []byte(fmt.Sprint(i))})
		want = append(want, id)
	}
	ds := claimQ(t, q, "orders", 2, time.Hour)
	if err := q.Finish(ctx, ids(ds[:1]), []*state.Retry{{Pipeline: "orders", Sink: "erp"}}, []*state.DeadLetter{{Pipeline: "orders", Node: "map"}}); err != nil {
		t.Fatal(err)
	}
	if ok, err := q.ClaimTick(ctx, "stock", "nightly", clock.Now()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := q.SaveCheckpoint(ctx, "stock", "erp", "c1"); err != nil {
		t.Fatal(err)
	}
	other := openQueue(t, u, clock)
	if qd := depth(t, other, "orders"); qd.Queued != 4 || qd.Running != 1 || qd.Retries != 1 {
		t.Errorf("seen by a second store: %+v", qd)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	q = openQueue(t, u, clock)
	if qd := depth(t, q, "orders"); qd.Queued != 4 || qd.Running != 1 || qd.Retries != 1 {
		t.Errorf("reopened: %+v", qd)
	}
	if id, dup := enqueue(t, q, &state.Delivery{Pipeline: "orders", EventID: "e0"}); !dup || id != want[0] {
		t.Errorf("dedupe after reopening: %d %v", id, dup)
	}
	if got := ids(claimQ(t, q, "orders", 10, time.Hour)); !slices.Equal(got, want[2:]) {
		t.Errorf("claimable after reopening: %v; want %v (the lease of %d held)", got, want[2:], want[1])
	}
	if dls, err := q.ListDeadLetters(ctx, state.DeadLetterFilter{}); err != nil || len(dls) != 1 {
		t.Errorf("dead letters after reopening: %d, %v", len(dls), err)
	}
	if ok, _ := q.ClaimTick(ctx, "stock", "nightly", clock.Now()); ok {
		t.Error("a tick claimed before closing was claimed again")
	}
	if v, ok, _ := q.Checkpoint(ctx, "stock", "erp"); !ok || v != "c1" {
		t.Errorf("checkpoint after reopening: %q %v", v, ok)
	}
}
