package state_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// claim claims keys for a run of its own and settles it, kept.
func claim(t *testing.T, s component.KeyLog, scope string, at time.Time, ttl time.Duration, limit int, keys ...string) []bool {
	t.Helper()
	run := fmt.Sprintf("run-%d", at.UnixNano())
	fresh, err := s.ClaimKeys(context.Background(), scope, run, keys, at, ttl, limit)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SettleKeys(context.Background(), run, true); err != nil {
		t.Fatal(err)
	}
	return fresh
}

func seen(t *testing.T, s component.KeyLog, scope string, at time.Time, keys ...string) []bool {
	t.Helper()
	got, err := s.SeenKeys(context.Background(), scope, keys, at)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testKeyLogClaims: a key is new once per scope, also when repeated within
// one claim; scopes are independent; a reopened store still knows its
// keys; SeenKeys reads without recording.
func testKeyLogClaims(t *testing.T, db backend) {
	u := db(t)
	s := mustOpen(t, u, component.FixedClock(t0))
	if got := seen(t, s, "p/once", t0, "a"); !slices.Equal(got, []bool{false}) {
		t.Errorf("SeenKeys on an empty log = %v", got)
	}
	if got := claim(t, s, "p/once", t0, 0, 100, "a", "b", "a"); !slices.Equal(got, []bool{true, true, false}) {
		t.Errorf("first claim = %v, want [true true false]", got)
	}
	if got := claim(t, s, "p/once", t0.Add(time.Hour), 0, 100, "b", "c"); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("second claim = %v, want [false true]", got)
	}
	if got := claim(t, s, "q/once", t0, 0, 100, "a"); !slices.Equal(got, []bool{true}) {
		t.Errorf("a key of another scope = %v, want [true]", got)
	}
	if got := seen(t, s, "p/once", t0, "a", "d"); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("SeenKeys = %v, want [true false]", got)
	}
	if got := claim(t, s, "p/once", t0, 0, 100, "d"); !slices.Equal(got, []bool{true}) {
		t.Errorf("SeenKeys recorded d: claim = %v", got)
	}
	s.Close()
	s = mustOpen(t, u, component.FixedClock(t0))
	if got := claim(t, s, "p/once", t0.Add(48*time.Hour), 0, 100, "a", "e"); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("after reopening = %v, want [false true]", got)
	}
	if _, err := s.ClaimKeys(context.Background(), "", "r", []string{"a"}, t0, 0, 100); err == nil {
		t.Error("an empty scope is accepted")
	}
	if _, err := s.ClaimKeys(context.Background(), "p/once", "", []string{"a"}, t0, 0, 100); err == nil {
		t.Error("an unnamed run is accepted")
	}
	if _, err := s.ClaimKeys(context.Background(), "p/once", "r", []string{"a"}, t0, 0, 0); err == nil {
		t.Error("keeping at most 0 keys is accepted")
	}
}

// testKeyLogPruning: a key is forgotten ttl after it was first seen, and
// seeing it again meanwhile does not extend that; a scope keeps about its
// newest max keys, never fewer, and other scopes are untouched.
func testKeyLogPruning(t *testing.T, db backend) {
	s := db.open(t, component.FixedClock(t0))
	const ttl = time.Hour
	claim(t, s, "p/once", t0, ttl, 1000, "a")
	if got := claim(t, s, "p/once", t0.Add(59*time.Minute), ttl, 1000, "a"); got[0] {
		t.Error("a key younger than ttl is new again")
	}
	if got := seen(t, s, "p/once", t0.Add(ttl), "a"); got[0] {
		t.Error("a key ttl old still counts as seen")
	}
	if got := claim(t, s, "p/once", t0.Add(ttl), ttl, 1000, "a"); !got[0] {
		t.Error("a key ttl old is not new again")
	}

	// 100 keys, one a second, into a scope keeping 10; another scope
	// keeps its own.
	claim(t, s, "q/once", t0, 0, 10, "kept")
	for i := range 100 {
		claim(t, s, "p/many", t0.Add(time.Duration(i)*time.Second), 0, 10, fmt.Sprintf("k%03d", i))
	}
	at := t0.Add(time.Hour)
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	remembered := 0
	for i, was := range seen(t, s, "p/many", at, keys...) {
		if was {
			remembered++
		} else if i >= 90 {
			t.Errorf("k%03d, among the newest 10, was forgotten", i)
		}
	}
	// Pruned after the 64th claim since the first: 10 of the first 65
	// are left, plus the 35 since.
	if remembered < 10 || remembered > 10+64 {
		t.Errorf("%d of 100 keys remembered, want between 10 and 74", remembered)
	}
	if got := seen(t, s, "q/once", at, "kept"); !got[0] {
		t.Error("pruning one scope forgot another's key")
	}
}

// testKeyLogConcurrent: of 8 runs claiming the same 200 keys at once, in
// batches of 20, half of them in reverse order, exactly one finds each key
// new.
func testKeyLogConcurrent(t *testing.T, db backend) {
	s := db.open(t, component.FixedClock(t0))
	claimFromRuns(t, s, 8, 200, 20, false, func(g int, keys []string) {
		if g%2 == 1 {
			slices.Reverse(keys)
		}
	})
}

// claimFromRuns has runs goroutines, each a run, claim the same n keys at
// once, batch keys at a time, each in the order reorder leaves them in,
// and settle their claims (kept) at the end when settle is set. Each key
// must be new to exactly one run.
func claimFromRuns(t *testing.T, s component.KeyLog, runs, n, batch int, settle bool, reorder func(g int, keys []string)) {
	t.Helper()
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("order-%03d", i))
	}
	var mu sync.Mutex
	firsts := map[string]int{}
	var wg sync.WaitGroup
	for g := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := fmt.Sprint("run-", g)
			mine := slices.Clone(keys)
			reorder(g, mine)
			for i := 0; i < len(mine); i += batch {
				fresh, err := s.ClaimKeys(context.Background(), "p/once", run, mine[i:i+batch], t0, 0, 1000)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, f := range fresh {
					if f {
						firsts[mine[i+j]]++
					}
				}
				mu.Unlock()
			}
			if settle {
				if err := s.SettleKeys(context.Background(), run, true); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, k := range keys {
		if firsts[k] != 1 {
			t.Errorf("%s was new to %d runs, want 1", k, firsts[k])
		}
	}
}

// testKeyLogSettling: a run's claims count as seen for other runs at once;
// settled kept they stay, settled dropped they go, so the records pass
// again; the claims of a run that never settles free their keys after
// component.ClaimLease. Each key expires by the ttl of the step that
// claimed it, also in a shared scope.
func testKeyLogSettling(t *testing.T, db backend) {
	s := db.open(t, component.FixedClock(t0))
	ctx := context.Background()
	claimFor := func(run string, at time.Time, keys ...string) []bool {
		t.Helper()
		fresh, err := s.ClaimKeys(ctx, "p/once", run, keys, at, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return fresh
	}
	settle := func(run string, keep bool) {
		t.Helper()
		if err := s.SettleKeys(ctx, run, keep); err != nil {
			t.Fatal(err)
		}
	}
	claimFor("ok", t0, "a", "b")
	claimFor("failed", t0, "c")
	claimFor("died", t0, "d")
	if got := claimFor("other", t0.Add(time.Minute), "a", "c", "d"); !slices.Equal(got, []bool{false, false, false}) {
		t.Errorf("unsettled claims of running runs: %v, want all seen", got)
	}
	if got := claimFor("ok", t0.Add(time.Minute), "a"); got[0] {
		t.Error("a run claimed its own key twice")
	}
	settle("ok", true)
	settle("failed", false)
	settle("other", true) // claimed nothing
	if got := seen(t, s, "p/once", t0.Add(2*time.Minute), "a", "b", "c", "d"); !slices.Equal(got, []bool{true, true, false, true}) {
		t.Errorf("after settling: seen %v, want [true true false true]", got)
	}
	if got := claimFor("next", t0.Add(2*time.Minute), "c"); !got[0] {
		t.Error("the key of a failed run's record is not new again")
	}
	later := t0.Add(component.ClaimLease)
	if got := seen(t, s, "p/once", later, "d"); got[0] {
		t.Error("a dead run's claim still holds its key after the lease")
	}
	if got := claimFor("after", later, "d", "a"); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("after the lease: %v, want [true false]", got)
	}
	settle("died", true) // too late: its key was taken over
	if got := claimFor("last", later.Add(time.Minute), "d"); got[0] {
		t.Error("a taken-over key was freed again")
	}

	// A run that goes on claiming keeps all its claims, however old: its
	// heartbeat, not each claim's age, tells it is alive.
	claimFor("long", t0, "long-1")
	claimFor("long", t0.Add(50*time.Minute), "long-2")
	claimFor("long", t0.Add(100*time.Minute), "long-3")
	if got := claimFor("rival", t0.Add(110*time.Minute), "long-1"); got[0] {
		t.Error("a live run's first claim was taken over")
	}
	if got := claimFor("rival", t0.Add(100*time.Minute+component.ClaimLease), "long-1"); !got[0] {
		t.Error("a run silent for the lease kept its claim")
	}

	// A shared scope: a key claimed with a week's ttl is not freed by a
	// step with an hour's, and the other way round.
	claim(t, s, "shared", t0, 168*time.Hour, 1000, "long")
	claim(t, s, "shared", t0, time.Hour, 1000, "short")
	for i := range 70 { // enough claims with an hour's ttl to prune
		claim(t, s, "shared", t0.Add(2*time.Hour), time.Hour, 1000, fmt.Sprint("k", i))
	}
	if got := seen(t, s, "shared", t0.Add(3*time.Hour), "long", "short"); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("shared scope: seen %v, want [true false]", got)
	}
}

// testKeyLogConcurrentSettling: runs claiming overlapping keys over several
// batches, in different orders, and settling while the others still
// claim, neither fail nor deadlock, and each key is new to exactly one.
func testKeyLogConcurrentSettling(t *testing.T, db backend) {
	s := db.open(t, component.FixedClock(t0))
	claimFromRuns(t, s, 8, 100, 10, true, func(g int, keys []string) {
		rand.New(rand.NewPCG(uint64(g), 1)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	})
}
