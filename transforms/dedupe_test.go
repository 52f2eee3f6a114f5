package transforms_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

func dedupePipeline(settings string) string {
	return source("") + `steps:
  once:
    from: in
    dedupe: ` + settings + `
` + sinks("once", "once.error")
}

// The first record of each key passes unchanged; later ones are dropped,
// whatever the number of workers.
func TestDedupeKeepsTheFirst(t *testing.T) {
	plan := compile(t, dedupePipeline("id"))
	in := []string{
		`{"id":1,"v":"first"}`,
		`{"id": 2, "v":"first"}`,
		`{"id":1,"v":"second"}`,
		`{"id":3,"v":"first"}`,
		`{"id":2,"v":"second"}`,
		`{"id":1,"v":"third"}`,
	}
	for _, workers := range []int{1, 4} {
		res := run(t, plan, nil, workers, in...)
		equal(t, "once", got(t, res, "once"), []string{in[0], in[1], in[3]})
		wantCounts(t, res, "once", counts{In: 6, Out: 3, Dropped: 3, Emitted: 3})
	}
}

func TestDedupeKeysAreCanonicalJSON(t *testing.T) {
	plan := compile(t, dedupePipeline("k"))
	in := []string{
		`{"k":1}`, `{"k":"1"}`, `{"k":1.0}`, `{"k":true}`, `{"k":"true"}`,
		`{"k":{"a":1,"b":[2]}}`, `{"k":{"b":[2],"a":1}}`,
		`{"k":820982911946154508}`, `{"k":820982911946154509}`,
	}
	res := run(t, plan, nil, 1, in...)
	equal(t, "once", got(t, res, "once"), []string{in[0], in[1], in[3], in[4], in[5], in[7], in[8]})
}

// max_keys bounds memory: the oldest key is forgotten first, and its next
// record passes again.
func TestDedupeMaxKeysForgetsTheOldest(t *testing.T) {
	plan := compile(t, dedupePipeline("{key: id, max_keys: 2}"))
	in := []string{`{"id":1}`, `{"id":2}`, `{"id":2}`, `{"id":3}`, `{"id":1}`, `{"id":3}`, `{"id":2}`}
	res := run(t, plan, nil, 1, in...)
	// 3 pushes 1 out; 1 pushes 2 out; 3 is still remembered.
	equal(t, "once", got(t, res, "once"), []string{`{"id":1}`, `{"id":2}`, `{"id":3}`, `{"id":1}`, `{"id":2}`})
	wantCounts(t, res, "once", counts{In: 7, Out: 5, Dropped: 2, Emitted: 5})
}

// Many keys through a small window: the queue's compaction keeps the set
// and the queue in step.
func TestDedupeMaxKeysLongRun(t *testing.T) {
	plan := compile(t, dedupePipeline("{key: id, max_keys: 3, ttl: 0s}"))
	w := build(t, plan, "once", &component.Runtime{Clock: component.FixedClock(t0)})
	var in []string
	for i := range 5000 {
		in = append(in, `{"id":`+itoa(i)+`}`, `{"id":`+itoa(i)+`}`)
		if i >= 3 {
			in = append(in, `{"id":`+itoa(i-3)+`}`) // forgotten: passes again
		}
	}
	out := process(w, in...)
	if n := len(out[""]); n != 5000+4997 {
		t.Errorf("%d records passed, want %d", n, 5000+4997)
	}
}

// ttl counts from a key's first sighting; duplicates do not extend it.
func TestDedupeTTL(t *testing.T) {
	plan := compile(t, dedupePipeline("{key: id, ttl: 1h}"))
	clock := &manualClock{now: t0}
	w := build(t, plan, "once", &component.Runtime{Clock: clock})
	out := process(w, `{"id":1,"n":1}`)
	clock.set(t0.Add(59 * time.Minute))
	out.merge(process(w, `{"id":1,"n":2}`, `{"id":2,"n":3}`))
	clock.set(t0.Add(time.Hour))
	out.merge(process(w, `{"id":1,"n":4}`, `{"id":2,"n":5}`))
	clock.set(t0.Add(2*time.Hour - time.Minute))
	out.merge(process(w, `{"id":2,"n":6}`))
	equal(t, "passed", out[""], []string{`{"id":1,"n":1}`, `{"id":2,"n":3}`, `{"id":1,"n":4}`, `{"id":2,"n":6}`})
}

func TestDedupeTTLInARun(t *testing.T) {
	plan := compile(t, dedupePipeline("{key: id, ttl: 90s}"))
	clock := &steppingClock{next: t0, step: time.Minute}
	res := run(t, plan, &component.Runtime{Clock: clock}, 1, `{"id":1}`, `{"id":1}`, `{"id":1}`, `{"id":1}`)
	// Seen at 0m, dropped at 1m, passes at 2m (90s later), dropped at 3m.
	equal(t, "once", got(t, res, "once"), []string{`{"id":1}`, `{"id":1}`})
	wantCounts(t, res, "once", counts{In: 4, Out: 2, Dropped: 2, Emitted: 2})
}

// A key that is null or fails is an error, never a shared "null" key that
// would drop every keyless record after the first.
func TestDedupeKeyFailures(t *testing.T) {
	tests := []struct {
		name, key, record string
		words             []string
	}{
		{"missing field", "id", `{"n":1}`, []string{`key "id" is null`}},
		{"null", "id", `{"id":null}`, []string{"is null"}},
		{"bad number", "int(id)", `{"id":"x"}`, []string{`key "int(id)"`}},
		{"wrong type", "'id + 1'", `{"id":"7"}`, []string{`key "id + 1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := compile(t, dedupePipeline(tt.key))
			res := run(t, plan, nil, 1, `{"id":5}`, tt.record, tt.record, `{"id":5}`)
			errs := errorsAt(t, res, "once.error")
			if len(errs) != 2 {
				t.Fatalf("%d error records, want 2", len(errs))
			}
			for _, e := range errs {
				wantError(t, e, "once", tt.record, tt.words...)
			}
			equal(t, "once", got(t, res, "once"), []string{`{"id":5}`})
			wantCounts(t, res, "once", counts{In: 4, Out: 1, Dropped: 1, Errored: 2, Emitted: 1})
		})
	}
}

// Dedupe passes records through: the steps after it decode them once, and
// see them unchanged.
func TestDedupeThenFilter(t *testing.T) {
	plan := compile(t, source("shopify/order")+`steps:
  once:
    from: in
    dedupe: string(id)
  big:
    from: once
    filter: decimal(total_price) > decimal("100")
`+sinks("big"))
	in := []string{
		`{"id":820982911946154508,"total_price":"150.00"}`,
		`{"id":820982911946154508,"total_price":"150.00"}`,
		`{"id":820982911946154509,"total_price":"99.99"}`,
	}
	res := run(t, plan, nil, 2, in...)
	equal(t, "big", got(t, res, "big"), []string{in[0]})
	wantCounts(t, res, "once", counts{In: 3, Out: 2, Dropped: 1, Emitted: 2})
	wantCounts(t, res, "big", counts{In: 2, Out: 1, Dropped: 1, Emitted: 1})
}

func TestDedupeSettingsAreChecked(t *testing.T) {
	for _, settings := range []string{"{key: id, max_keys: 0}", "{key: id, ttl: -1s}"} {
		if got := codes(t, dedupePipeline(settings)); !slices.Contains(got, "invalid-value") {
			t.Errorf("%s: codes %v, want invalid-value", settings, got)
		}
	}
}
