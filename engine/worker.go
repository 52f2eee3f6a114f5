package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// worker runs the stateless steps of the DAG on one goroutine, with step
// workers (and their expression VMs) of its own.
type worker struct {
	// ctx is the run's: steps' store calls end with it.
	ctx context.Context
	g   *graph
	// child accumulates the time spent in nested arrivals, so each node's
	// time excludes the nodes after it.
	child time.Duration
	steps []component.StepWorker // by node index, created on first use
	b     *batch
	trace bool
	// origin is the index in b of the input record being processed.
	origin int
	// arena holds the fields decoded on this worker, reset between
	// batches; see record.Arena for the rule that makes it safe.
	arena *record.Arena
	// log receives the stack of a step that panicked; nil logs nothing.
	log *slog.Logger
}

func newWorker(ctx context.Context, g *graph) *worker {
	return &worker{ctx: ctx, g: g, steps: make([]component.StepWorker, len(g.nodes)), arena: record.NewArena()}
}

// process runs a batch through every node before the ordered stage.
func (w *worker) process(b *batch) {
	w.b = b
	w.arena.Reset()
	for _, rec := range b.recs {
		rec.DecodeIn(w.arena)
	}
	defer w.release(b)
	b.stats = make([]NodeStats, len(w.g.nodes))
	if b.source != nil {
		st := &b.stats[b.source.idx]
		st.In += int64(len(b.recs))
		for i, rec := range b.recs {
			w.origin = i
			if err := b.source.admit(rec); err != nil {
				rec = component.ErrorRecord(b.source.name(), rec, err)
			}
			if rec.Failed {
				st.Errored++
				w.error(b.source, rec)
				continue
			}
			st.Out++
			st.Emitted++
			if w.trace {
				rec.Trace = append(rec.Trace, b.source.name())
			}
			for _, d := range b.source.down[""] {
				w.arrive(d, rec)
			}
		}
		return
	}
	for i, rec := range b.recs {
		w.origin = i
		w.arrive(b.at, rec)
	}
}

// release lets go of what the worker decoded for b, which now waits for the
// ordered stage: records that reach it decode again there, on their own,
// and the input records (with their decoded fields) are garbage from now on
// rather than from when the batch is delivered.
func (w *worker) release(b *batch) {
	for _, a := range b.ordered {
		a.rec.Release()
	}
	for _, rec := range b.unhandled {
		rec.Release()
	}
	for _, d := range b.dropped {
		d.Record.Release()
	}
	b.recs = nil
}

// arrive processes rec at n, or queues it for the ordered stage.
func (w *worker) arrive(n *node, rec *record.Record) {
	if n.ordered {
		w.b.ordered = append(w.b.ordered, arrival{n, rec, w.origin})
		return
	}
	start := time.Now()
	c0 := w.child
	defer func() {
		total := time.Since(start)
		w.b.stats[n.idx].Time += total - (w.child - c0)
		w.child = c0 + total
	}()
	st := &w.b.stats[n.idx]
	st.In++
	if w.trace {
		rec.Trace = append(rec.Trace, n.name())
	}
	sw := w.steps[n.idx]
	if sw == nil {
		sw = n.step.NewWorker()
		w.steps[n.idx] = sw
	}
	failed, emitted, unread := false, false, ""
	err := processSafely(w.ctx, w.log, n, sw, rec, func(output string, o *record.Record) {
		if output == component.ErrorOutput {
			failed = true
			w.error(n, o)
			return
		}
		if len(n.down[output]) == 0 {
			unread = output
			return // an output nobody reads: the record is dropped here
		}
		emitted = true
		st.Emitted++
		for i, d := range n.down[output] {
			w.arrive(d, branch(o, n, output, i, w.trace))
		}
	})
	if err != nil {
		// The step's worker may be left half-way through a record: the
		// next record gets a new one.
		w.steps[n.idx] = nil
		failed = true
		w.error(n, component.ErrorRecord(n.name(), rec, err))
	}
	switch {
	case failed:
		st.Errored++
	case emitted:
		st.Out++
	default:
		st.Dropped++
		if w.trace {
			w.b.dropped = append(w.b.dropped, Dropped{n.name(), dropReason(n, sw, unread, rec), rec})
		}
	}
}

// error sends an error record to n's error output, or keeps it unhandled.
func (w *worker) error(n *node, rec *record.Record) {
	w.b.failed++
	rec = w.g.mask.record(rec)
	ds := n.down[component.ErrorOutput]
	if len(ds) == 0 {
		w.b.unhandled = append(w.b.unhandled, rec)
		return
	}
	for _, d := range ds {
		w.arrive(d, rec)
	}
}

// processSafely runs sw.Process on rec and turns a panic into an error, so
// a step's bug fails the record it met instead of the process: `pipectl
// serve` runs for days, and one odd payload must not stop every pipeline.
// Records the step emitted before it panicked stay emitted.
func processSafely(ctx context.Context, log *slog.Logger, n *node, sw component.StepWorker, rec *record.Record, emit component.Emit) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked(log, n, v)
		}
	}()
	sw.Process(ctx, rec, emit)
	return nil
}

// processBatchSafely is processSafely for a batch worker. The caller fails
// the records of recs the step had emitted nothing for when it panicked:
// their fate is unknown, and an error output is where unknown fates go.
func processBatchSafely(ctx context.Context, log *slog.Logger, n *node, bw component.BatchWorker, recs []*record.Record, emit func(i int, output string, rec *record.Record)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked(log, n, v)
		}
	}()
	bw.ProcessBatch(ctx, recs, emit)
	return nil
}

// writeSafely hands rec to sink n and turns a panic into the write's error,
// which sends the record to the sink's error output.
func writeSafely(ctx context.Context, log *slog.Logger, n *node, rec *record.Record) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked(log, n, v)
		}
	}()
	return n.sink.Write(ctx, rec)
}

// panicked is the error a recovered panic of node n becomes. It names the
// node and the panic's value only: the stack, which says nothing to whoever
// reads an error output, goes to log at error level. It must be called from
// the deferred function that recovered, whose stack still holds the
// panicking frames.
func panicked(log *slog.Logger, n *node, v any) error {
	err := fmt.Errorf("%s %q panicked: %v", n.plan.Section, n.name(), v)
	if log != nil {
		log.Error("recovered from a panic", "node", n.name(), "kind", n.plan.Kind, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}
	return err
}
