package transforms_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
)

func groupPipeline(settings string) string {
	return source("") + `steps:
  batches:
    from: in
    group: ` + settings + `
` + sinks("batches", "batches.error")
}

// Groups come out at the end of the input in the order their first records
// arrived, each with its records as received.
func TestGroupAtEndOfInputInFirstSeenOrder(t *testing.T) {
	plan := compile(t, groupPipeline("loc"))
	in := []string{
		`{"loc":"b","n":1}`,
		`{"loc":"a", "n":2}`,
		`{"loc":"b","n":3.50}`,
		`{"loc":"c","n":4}`,
		`{"loc":"a","n":5}`,
	}
	for _, workers := range []int{1, 3} {
		res := run(t, plan, nil, workers, in...)
		equal(t, "batches", got(t, res, "batches"), []string{
			`{"key":"b","records":[{"loc":"b","n":1},{"loc":"b","n":3.50}]}`,
			`{"key":"a","records":[{"loc":"a", "n":2},{"loc":"a","n":5}]}`,
			`{"key":"c","records":[{"loc":"c","n":4}]}`,
		})
		// Held records count as dropped when they arrive; the groups as
		// emitted at the end.
		wantCounts(t, res, "batches", counts{In: 5, Dropped: 5, Emitted: 3})
	}
}

func TestGroupMaxRecords(t *testing.T) {
	plan := compile(t, groupPipeline("{key: loc, max_records: 2}"))
	res := run(t, plan, nil, 1,
		`{"loc":"a","n":1}`,
		`{"loc":"b","n":2}`,
		`{"loc":"a","n":3}`, // fills a
		`{"loc":"a","n":4}`, // a new group a
		`{"loc":"b","n":5}`, // fills b
		`{"loc":"c","n":6}`,
	)
	equal(t, "batches", got(t, res, "batches"), []string{
		`{"key":"a","records":[{"loc":"a","n":1},{"loc":"a","n":3}]}`,
		`{"key":"b","records":[{"loc":"b","n":2},{"loc":"b","n":5}]}`,
		`{"key":"a","records":[{"loc":"a","n":4}]}`,
		`{"key":"c","records":[{"loc":"c","n":6}]}`,
	})
	wantCounts(t, res, "batches", counts{In: 6, Out: 2, Dropped: 4, Emitted: 4})

	plan = compile(t, groupPipeline("{key: loc, max_records: 1}"))
	res = run(t, plan, nil, 1, `{"loc":"a"}`, `{"loc":"a"}`)
	equal(t, "max_records 1", got(t, res, "batches"), []string{
		`{"key":"a","records":[{"loc":"a"}]}`, `{"key":"a","records":[{"loc":"a"}]}`,
	})
}

// Keys compare by JSON value: 1 and "1" differ, objects with the same
// fields in another order do not.
func TestGroupKeysAreCanonicalJSON(t *testing.T) {
	plan := compile(t, groupPipeline("k"))
	res := run(t, plan, nil, 1,
		`{"k":1}`, `{"k":"1"}`, `{"k":1.0}`, `{"k":{"a":1,"b":2}}`, `{"k":{"b":2,"a":1}}`, `{"k":820982911946154508}`)
	equal(t, "batches", got(t, res, "batches"), []string{
		`{"key":1,"records":[{"k":1},{"k":1.0}]}`,
		`{"key":"1","records":[{"k":"1"}]}`,
		`{"key":{"a":1,"b":2},"records":[{"k":{"a":1,"b":2}},{"k":{"b":2,"a":1}}]}`,
		`{"key":820982911946154508,"records":[{"k":820982911946154508}]}`,
	})
}

func TestGroupKeyFailures(t *testing.T) {
	tests := []struct {
		name, key, record string
		words             []string
	}{
		{"missing field", "loc", `{"n":1}`, []string{`key "loc" is null`}},
		{"null", "loc", `{"loc":null}`, []string{"is null"}},
		{"bad number", "int(loc)", `{"loc":"x7"}`, []string{`key "int(loc)"`}},
		{"NaN", "n == 1.5 ? n / 0.0 - n / 0.0 : loc", `{"n":1.5}`, []string{"cannot write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := compile(t, groupPipeline("'"+tt.key+"'"))
			good := `{"loc":"1","n":2}`
			res := run(t, plan, nil, 1, good, tt.record, good)
			errs := errorsAt(t, res, "batches.error")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1", len(errs))
			}
			wantError(t, errs[0], "batches", tt.record, tt.words...)
			if n := len(got(t, res, "batches")); n != 1 {
				t.Errorf("%d groups, want 1", n)
			}
			wantCounts(t, res, "batches", counts{In: 3, Dropped: 2, Errored: 1, Emitted: 1})
		})
	}
}

// max_wait is checked on each arrival against the run's clock: groups
// whose first record is max_wait old are emitted before the new record is
// placed, oldest first.
func TestGroupMaxWait(t *testing.T) {
	plan := compile(t, groupPipeline("{key: loc, max_wait: 10s}"))
	clock := &manualClock{now: t0}
	w := build(t, plan, "batches", &component.Runtime{Clock: clock})
	out := process(w, `{"loc":"a","n":1}`) // a opens at t0
	clock.set(t0.Add(5 * time.Second))
	out.merge(process(w, `{"loc":"b","n":2}`, `{"loc":"a","n":3}`)) // b opens at 5s
	equal(t, "before max_wait", out[""], []string(nil))
	clock.set(t0.Add(10 * time.Second))
	out.merge(process(w, `{"loc":"c","n":4}`)) // a is 10s old: emitted; c opens at 10s
	equal(t, "a after 10s", out[""], []string{`{"key":"a","records":[{"loc":"a","n":1},{"loc":"a","n":3}]}`})
	clock.set(t0.Add(time.Hour))
	out.merge(process(w, `{"loc":"a","n":5}`)) // b and c are old: emitted in order; a reopens
	w.(component.Flusher).Flush(context.Background(), out.emit)
	equal(t, "all", out[""], []string{
		`{"key":"a","records":[{"loc":"a","n":1},{"loc":"a","n":3}]}`,
		`{"key":"b","records":[{"loc":"b","n":2}]}`,
		`{"key":"c","records":[{"loc":"c","n":4}]}`,
		`{"key":"a","records":[{"loc":"a","n":5}]}`,
	})
}

// In a run, the engine's clock is the one max_wait reads.
func TestGroupMaxWaitInARun(t *testing.T) {
	plan := compile(t, groupPipeline("{key: loc, max_wait: 2m}"))
	clock := &steppingClock{next: t0, step: time.Minute} // records a minute apart
	res := run(t, plan, &component.Runtime{Clock: clock}, 1,
		`{"loc":"a","n":1}`, `{"loc":"b","n":2}`, `{"loc":"a","n":3}`, `{"loc":"b","n":4}`)
	equal(t, "batches", got(t, res, "batches"), []string{
		`{"key":"a","records":[{"loc":"a","n":1}]}`, // 2m old when n:3 arrives
		`{"key":"b","records":[{"loc":"b","n":2}]}`, // 2m old when n:4 arrives
		`{"key":"a","records":[{"loc":"a","n":3}]}`, // the end of the input
		`{"key":"b","records":[{"loc":"b","n":4}]}`,
	})
	wantCounts(t, res, "batches", counts{In: 4, Out: 2, Dropped: 2, Emitted: 4})
}

// Split then group by the parent gives the orders back.
func TestGroupUndoesSplit(t *testing.T) {
	plan := compile(t, source("")+`steps:
  lines:
    from: in
    split: {items: line_items, as: line}
  skus:
    from: lines
    map:
      order: parent.id
      sku: line.sku
  orders:
    from: skus
    group: order
`+sinks("orders"))
	res := run(t, plan, nil, 2,
		`{"id":1,"line_items":[{"sku":"A"},{"sku":"B"}]}`,
		`{"id":2,"line_items":[]}`,
		`{"id":3,"line_items":[{"sku":"C"}]}`)
	equal(t, "orders", got(t, res, "orders"), []string{
		`{"key":1,"records":[{"order":1,"sku":"A"},{"order":1,"sku":"B"}]}`,
		`{"key":3,"records":[{"order":3,"sku":"C"}]}`,
	})
	wantCounts(t, res, "lines", counts{In: 3, Out: 2, Dropped: 1, Emitted: 3})
	wantCounts(t, res, "orders", counts{In: 3, Dropped: 3, Emitted: 2})
}

func TestGroupSettingsAreChecked(t *testing.T) {
	for _, settings := range []string{"{key: loc, max_records: -1}", "{key: loc, max_wait: -5s}"} {
		if got := codes(t, groupPipeline(settings)); !slices.Contains(got, "invalid-value") {
			t.Errorf("%s: codes %v, want invalid-value", settings, got)
		}
	}
	// Downstream steps see the group's type.
	got := codes(t, source("shopify/order")+`steps:
  per_customer:
    from: in
    group: email
  emails:
    from: per_customer
    map:
      email: key
      count: len(records)
      first: records[0].nmae
`+sinks("emails"))
	equal(t, "codes", got, []string{"expr-unknown-field"})
}

func (e emitted) merge(o emitted) {
	for k, v := range o {
		e[k] = append(e[k], v...)
	}
}
