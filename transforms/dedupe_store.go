package transforms

import (
	"context"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// storedDedupeWorker keeps a dedupe step's keys in the state store's key
// log. It is a batch worker: the keys of the records that reach it while
// a batch of input is delivered are claimed in one transaction, which
// costs about what claiming one does.
type storedDedupeWorker struct {
	step *dedupeStep
	vm   vm.VM
	kbuf []byte
}

func (w *storedDedupeWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	w.ProcessBatch(ctx, []*record.Record{rec}, func(_ int, output string, o *record.Record) { emit(output, o) })
}

// ProcessBatch passes the records whose keys the key log has not seen. A
// record whose key cannot be computed, or whose batch the store could not
// record, goes to the error output: nothing is dropped that was not seen.
func (w *storedDedupeWorker) ProcessBatch(ctx context.Context, recs []*record.Record, emit func(i int, output string, rec *record.Record)) {
	s := w.step
	keys := make([]string, 0, len(recs))
	at := make([]int, 0, len(recs)) // keys[j] is recs[at[j]]'s
	for i, rec := range recs {
		var err error
		w.kbuf, err = appendKey(w.kbuf[:0], s.key, &w.vm, rec.Fields(s.decode))
		if err != nil {
			emit(i, component.ErrorOutput, component.ErrorRecord(s.name, rec, err))
			continue
		}
		keys = append(keys, string(w.kbuf))
		at = append(at, i)
	}
	if len(keys) == 0 {
		return
	}
	fresh, err := s.keys.ClaimKeys(ctx, s.scope, s.run, keys, s.clock.Now(), s.ttl, s.maxKeys)
	for j, i := range at {
		switch {
		case err != nil:
			emit(i, component.ErrorOutput, component.ErrorRecord(s.name, recs[i], err))
		case fresh[j]:
			emit(i, component.DefaultOutput, recs[i])
		}
		// Otherwise a duplicate: dropped, and counted as such.
	}
}

// dryRunKeys stands in for the key log in a dry run: keys the store holds
// count as seen, and what the run claims is remembered here, never
// written.
type dryRunKeys struct {
	store   component.KeyLog
	mu      sync.Mutex
	expires map[[2]string]time.Time // the run's claims, by scope and key
}

func newDryRunKeys(store component.KeyLog) *dryRunKeys {
	return &dryRunKeys{store: store, expires: map[[2]string]time.Time{}}
}

func (d *dryRunKeys) ClaimKeys(ctx context.Context, scope, _ string, keys []string, at time.Time, ttl time.Duration, _ int) ([]bool, error) {
	seen, err := d.SeenKeys(ctx, scope, keys, at)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fresh := make([]bool, len(keys))
	for i, k := range keys {
		id := [2]string{scope, k}
		if seen[i] || d.claimed(id, at) {
			continue
		}
		d.expires[id] = time.Time{} // no expiry
		if ttl > 0 {
			d.expires[id] = at.Add(ttl)
		}
		fresh[i] = true
	}
	return fresh, nil
}

// SettleKeys settles nothing: a dry run's claims were never written.
func (d *dryRunKeys) SettleKeys(context.Context, string, bool) error { return nil }

func (d *dryRunKeys) SeenKeys(ctx context.Context, scope string, keys []string, at time.Time) ([]bool, error) {
	seen, err := d.store.SeenKeys(ctx, scope, keys, at)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, k := range keys {
		seen[i] = seen[i] || d.claimed([2]string{scope, k}, at)
	}
	return seen, nil
}

// claimed reports whether the run claimed id and it has not expired by at.
func (d *dryRunKeys) claimed(id [2]string, at time.Time) bool {
	exp, ok := d.expires[id]
	return ok && (exp.IsZero() || at.Before(exp))
}
