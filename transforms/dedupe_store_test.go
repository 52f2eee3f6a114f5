package transforms_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

func persistentDedupe(pipeline, settings string) string {
	return strings.Replace(source(""), "pipeline: t", "pipeline: "+pipeline, 1) + `steps:
  once:
    from: in
    dedupe: {key: id, persist: true` + settings + `}
sinks:
  passed:
    from: once
    stdout: {}
`
}

func keyStore(t *testing.T) state.Store {
	t.Helper()
	st, err := state.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// runStored runs a pipeline for real over inputs on stdin, at the given
// time, against st, and returns what reached stdout, a line each.
func runStored(t *testing.T, src string, st state.Store, at time.Time, workers int, inputs ...string) ([]string, *engine.Result) {
	t.Helper()
	var out bytes.Buffer
	rt := &component.Runtime{Clock: component.FixedClock(at), Stdin: strings.NewReader(strings.Join(inputs, "\n") + "\n"),
		Stdout: &out, Inventory: st, Keys: st}
	res, err := engine.Run(context.Background(), compile(t, src), engine.Options{Runtime: rt, Workers: workers, BatchSize: 3})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, n := range res.Nodes {
		if n.In != n.Out+n.Dropped+n.Errored {
			t.Errorf("node %s: in %d != out %d + dropped %d + errored %d", n.Name, n.In, n.Out, n.Dropped, n.Errored)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] == "" {
		lines = nil
	}
	return lines, res
}

// With persist, a key seen in one run is a duplicate in the next: a
// webhook delivered again after a restart is still dropped. Within a run
// the first record of a key passes, whatever the batch boundaries.
func TestDedupePersistRemembersAcrossRuns(t *testing.T) {
	st := keyStore(t)
	src := persistentDedupe("orders", "")
	for _, workers := range []int{1, 2} {
		st := st
		if workers == 2 {
			st = keyStore(t)
		}
		got, res := runStored(t, src, st, t0, workers, `{"id":1,"v":"a"}`, `{"id":2}`, `{"id":1,"v":"b"}`, `{"id":3}`, `{"id":2}`)
		want := []string{`{"id":1,"v":"a"}`, `{"id":2}`, `{"id":3}`}
		if !slices.Equal(got, want) {
			t.Errorf("workers %d, first run passed %v, want %v", workers, got, want)
		}
		wantCounts(t, res, "once", counts{In: 5, Out: 3, Dropped: 2, Emitted: 3})
		got, _ = runStored(t, src, st, t0.Add(time.Hour), workers, `{"id":3}`, `{"id":4}`, `{"id":1}`)
		if want := []string{`{"id":4}`}; !slices.Equal(got, want) {
			t.Errorf("workers %d, second run passed %v, want %v", workers, got, want)
		}
	}
}

// Keys are kept per pipeline and step unless a scope is shared; ttl
// forgets them in the store as in memory.
func TestDedupePersistScopesAndTTL(t *testing.T) {
	st := keyStore(t)
	runStored(t, persistentDedupe("a", ""), st, t0, 1, `{"id":1}`)
	if got, _ := runStored(t, persistentDedupe("b", ""), st, t0, 1, `{"id":1}`); len(got) != 1 {
		t.Errorf("another pipeline's step saw the key: passed %v", got)
	}
	runStored(t, persistentDedupe("a", ", scope: shopify-orders, ttl: 1h"), st, t0, 1, `{"id":7}`)
	if got, _ := runStored(t, persistentDedupe("b", ", scope: shopify-orders, ttl: 1h"), st, t0.Add(59*time.Minute), 1, `{"id":7}`); len(got) != 0 {
		t.Errorf("a shared scope did not drop the other pipeline's key: passed %v", got)
	}
	if got, _ := runStored(t, persistentDedupe("b", ", scope: shopify-orders, ttl: 1h"), st, t0.Add(time.Hour), 1, `{"id":7}`); len(got) != 1 {
		t.Errorf("a key ttl old was not forgotten: passed %v", got)
	}
}

// A dry run reads the store's keys but records none.
func TestDedupePersistDryRunRecordsNothing(t *testing.T) {
	st := keyStore(t)
	src := persistentDedupe("orders", "") + "  failed:\n    from: once.error\n    stdout: {}\n"
	runStored(t, persistentDedupe("orders", ""), st, t0, 1, `{"id":1}`)
	plan := compile(t, strings.Replace(src, "passed:", "to_once:", 1))
	res := run(t, plan, &component.Runtime{Keys: st, Inventory: st}, 1, `{"id":1}`, `{"id":5}`, `{"id":5}`)
	equal(t, "once", got(t, res, "once"), []string{`{"id":5}`})
	seen, err := st.SeenKeys(context.Background(), "orders/once", []string{`5`}, t0)
	if err != nil || seen[0] {
		t.Errorf("the dry run recorded its key: %v, %v", seen, err)
	}
}

// A key that cannot be computed sends its record to the error output, as
// in memory; a run without a store cannot build the step.
func TestDedupePersistFailures(t *testing.T) {
	st := keyStore(t)
	plan := compile(t, dedupePipeline("{key: missing.id, persist: true}"))
	res := run(t, plan, &component.Runtime{Keys: st, Inventory: st}, 1, `{"id":1}`)
	if e := got(t, res, "once.error"); len(e) != 1 || !strings.Contains(e[0], `"node":"once"`) || !strings.Contains(e[0], `"record":{"id":1}`) {
		t.Errorf("error output = %v", e)
	}
	if _, err := runErr(compile(t, dedupePipeline("{key: id, persist: true}")), nil, 1, `{"id":1}`); err == nil || !strings.Contains(err.Error(), "--state") {
		t.Errorf("a persistent dedupe without a store: %v", err)
	}
}

func TestDedupeScopeNeedsPersist(t *testing.T) {
	if got := codes(t, dedupePipeline("{key: id, scope: orders}")); !slices.Equal(got, []string{"invalid-value"}) {
		t.Errorf("scope without persist: %v", got)
	}
	if got := codes(t, dedupePipeline(`{key: id, persist: true, scope: " "}`)); !slices.Equal(got, []string{"invalid-value"}) {
		t.Errorf("an empty scope: %v", got)
	}
}

// What reaches a persistent dedupe late still passes it: records a group
// flushes at the end of the input, and error records of a sink's failed
// writes, also in the run's last batch.
func TestDedupePersistLateArrivals(t *testing.T) {
	st := keyStore(t)
	grouped := source("") + `steps:
  by_loc:
    from: in
    group: loc
  once:
    from: by_loc
    dedupe: {key: key, persist: true}
sinks:
  passed:
    from: once
    stdout: {}
`
	got, res := runStored(t, grouped, st, t0, 2, `{"loc":"a"}`, `{"loc":"b"}`, `{"loc":"a"}`)
	if len(got) != 2 {
		t.Errorf("the groups flushed at the end: passed %v, want 2", got)
	}
	wantCounts(t, res, "once", counts{In: 2, Out: 2, Emitted: 2})

	failing := source("") + `sinks:
  stock:
    from: in
    inventory: {sku: sku, location: loc, quantity: qty}
  passed:
    from: once
    stdout: {}
steps:
  once:
    from: stock.error
    dedupe: {key: record.loc, persist: true}
`
	var in []string
	for i := range 8 {
		in = append(in, fmt.Sprintf(`{"sku":"A","loc":"wh-%d","qty":1}`, i))
	}
	// The 2nd and the last (in batches of 3) have no SKU.
	in[1], in[7] = `{"loc":"wh-1","qty":1}`, `{"loc":"wh-7","qty":1}`
	got, res = runStored(t, failing, st, t0, 2, in...)
	if len(got) != 2 || !strings.Contains(got[0], `"record":{"loc":"wh-1","qty":1}`) || !strings.Contains(got[1], `"record":{"loc":"wh-7","qty":1}`) {
		t.Errorf("failed writes in input order with their payloads: passed %v", got)
	}
	wantCounts(t, res, "once", counts{In: 2, Out: 2, Emitted: 2})
}

// A run that fails keeps none of its keys, so its records pass again when
// delivered again; a run that succeeds keeps them all.
func TestDedupePersistFailedRunDropsItsClaims(t *testing.T) {
	st := keyStore(t)
	src := source("") + `steps:
  once:
    from: in
    dedupe: {key: id, persist: true}
  priced:
    from: once
    map: {id: id, cents: int(price) * 100}
sinks:
  passed:
    from: priced
    stdout: {}
`
	// The second record fails in map and nothing reads its error output:
	// the run fails.
	_, res := runStored(t, src, st, t0, 1, `{"id":1,"price":"2"}`, `{"id":2,"price":"x"}`)
	if len(res.Unhandled) != 1 {
		t.Fatalf("%d unhandled records, want 1", len(res.Unhandled))
	}
	got, _ := runStored(t, src, st, t0.Add(time.Minute), 1, `{"id":1,"price":"2"}`, `{"id":2,"price":"3"}`)
	if want := []string{`{"id":1,"cents":200}`, `{"id":2,"cents":300}`}; !slices.Equal(got, want) {
		t.Errorf("after a failed run: passed %v, want %v", got, want)
	}
	got, _ = runStored(t, src, st, t0.Add(2*time.Minute), 1, `{"id":1,"price":"2"}`, `{"id":2,"price":"3"}`)
	if len(got) != 0 {
		t.Errorf("after a successful run: passed %v, want none", got)
	}
}
