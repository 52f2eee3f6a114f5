package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"sync"
	"time"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Options control a run.
type Options struct {
	// Workers is how many goroutines run the stateless steps; 0 means 1.
	// Each source's record order is kept in the output whatever the number.
	Workers int
	Runtime *component.Runtime
	// DryRun replaces every sink with a capture and reads Inputs instead
	// of the sources: nothing outside the process changes.
	DryRun bool
	// Trace records each record's path through the DAG (dry runs).
	Trace bool
	// Inputs, by source or step name, are records injected instead of
	// reading the sources (dry runs and pipeline tests).
	Inputs []Input
	// Sources, when not nil, names the only sources a run reads: those a
	// cron tick starts, in serve. The others are not built.
	Sources []string
	// BatchSize is how many records travel together between stages
	// (default 64: a few hundred microseconds of work, so handing batches
	// over costs nothing measurable, while little sits in queues).
	BatchSize int
	// Progress, when set, is called every ProgressEvery with the run's
	// progress so far, from its own goroutine.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// RulesVersion names the rules the plan was compiled with
	// (pipelines.File.RulesVersion); steps record it in their explanations.
	RulesVersion string
	// Defer, when set, is offered every record a sink failed to deliver
	// with an error that may pass later (a component.DeliveryError with
	// Retryable: serve sets Runtime.RetryLater so sinks report them at
	// once). When it returns true the caller keeps the record to retry it
	// (serve stores it): it is counted as deferred and does not go to the
	// sink's error output. policy is the sink's (component.RetryPolicer)
	// or component.DefaultRetryPolicy. Called from the ordered stage's
	// goroutine.
	Defer func(sink string, policy component.RetryPolicy, rec *record.Record, err error) bool
	// Unhandled, when set, takes every error record no node reads, instead
	// of Result.Unhandled: serve makes each a dead letter, so they count as
	// handled (a persistent dedupe keeps its keys). Called from the ordered
	// stage's goroutine.
	Unhandled func(rec *record.Record)
	// Paths, when set, is told the path each record took through the DAG
	// as it ends: written to a sink or dropped by a step (an error record
	// goes to Unhandled or an error output, whose sink then reports it).
	// Serve keeps them as order timelines and compares a shadow version's
	// sink records with the live ones by them. Records carry their trace
	// as in a traced run, without the explanations and dropped records a
	// traced run keeps. Called from the ordered stage's goroutine.
	Paths func(Path)
}

// Path is where one record went: the nodes it passed (as Record.Trace
// lists them: a step's named output as "step.output") and how it ended.
type Path struct {
	Origin *record.Origin
	Steps  []string
	// Sink is the sink it was written to; "" when a step dropped it.
	Sink string
	// Dropped is why the last step emitted nothing for it.
	Dropped string
	// Record is the record: what the sink received, or what was dropped.
	Record *record.Record
}

// Input is a record injected at a source or step.
type Input struct {
	Node   string
	Record *record.Record
}

// Progress is a snapshot of a running pipeline.
type Progress struct {
	Records    int64 // source records read
	Bytes      int64 // source bytes read
	TotalBytes int64 // bytes the sources will read, when known
	Elapsed    time.Duration
	// InFlight and Retries are the sinks' deliveries under way and the
	// retries made so far (sinks that count them): a run whose input is
	// all read may still be delivering for minutes.
	InFlight, Retries int64
}

// NodeStats counts what happened at one node. Every record arriving is
// either passed on (Out), dropped (Dropped) or failed (Errored), so
// In == Out + Dropped + Errored. Emitted counts the records leaving, which
// differs from Out for steps that split or fan out.
type NodeStats struct {
	Name    string
	Section component.Section
	Kind    string
	In      int64
	Out     int64
	Dropped int64
	Errored int64
	Emitted int64
	// Time is the time the node took: for a sink that delivers in the
	// background (http), the wall time its deliveries were in flight.
	Time time.Duration
	// Attempts and Retries count a sink's delivery attempts (all of them,
	// and those after a first), for sinks that count them.
	Attempts, Retries int64
	// Undelivered counts records a sink was still delivering when the run
	// stopped early: they may or may not have reached the destination.
	Undelivered int64
	// Deferred counts records a sink failed to deliver that were handed to
	// Options.Defer to be retried later (counted in Errored too).
	Deferred int64
	// ByOutput counts the records a stateful step (the ordered stage:
	// allocate, dedupe, group) emitted, by output ("" the default): an
	// allocate step's shipments and backorders are its outcomes.
	ByOutput map[string]int64
}

// Result is what a run did.
type Result struct {
	Nodes []NodeStats
	// Committed says the sinks published what they were given (file sinks
	// renamed their files into place): the run reached the end of its
	// input without an error and was not interrupted. Otherwise every
	// file sink left its previous file as it was.
	Committed bool
	// Failed counts the records that left through an error output,
	// handled or not: a caller can tell a run where some records failed
	// from one where all went through.
	Failed int64
	// Unhandled are error records no node reads: each is reported, and the
	// run exits non-zero.
	Unhandled []*record.Record
	// Captured, in dry runs, is what each sink would have received.
	Captured map[string]*Captured
	// Dropped, in traced runs, are the records steps dropped, each with
	// the step and why, in the order they were dropped.
	Dropped []Dropped
	// Explanations, in traced runs, are the decisions steps explained (the
	// allocate step's, one per order), in the order they were made.
	Explanations []Explanation
	Elapsed      time.Duration
}

// Dropped is a record a step emitted nothing for: Record is the record as
// it reached Step, with its trace.
type Dropped struct {
	Step   string
	Reason string
	Record *record.Record
}

// Explanation is one decision a step explained: Data is the step's JSON
// (for allocate, an allocation.Explanation).
type Explanation struct {
	Step string          `json:"step"`
	Ref  string          `json:"ref"`
	Data json.RawMessage `json:"explanation"`
}

// Run executes a compiled plan once: every source is read to its end (or
// the injected inputs are fed in), records flow through the DAG, sinks are
// flushed and closed. An error is returned only when the run itself could
// not go on (a source that cannot be read, a sink that cannot be closed) or
// ctx ended it (the error then wraps ctx's); failing records go to error
// outputs and are counted. Sinks commit only when the run ends without an
// error: a failed or interrupted run leaves every file sink's previous file
// in place.
func Run(ctx context.Context, plan *pipelines.Plan, opts Options) (*Result, error) {
	x, err := Start(ctx, plan, opts)
	if err != nil {
		return nil, err
	}
	return x.Wait()
}

// Start builds every node of a compiled plan and starts running it, as Run
// does, returning at once: the Running it returns reloads the rules while
// the run goes on, and Wait waits for its end. An error means a node could
// not be built and nothing ran.
func Start(ctx context.Context, plan *pipelines.Plan, opts Options) (*Running, error) {
	start := time.Now()
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.BatchSize < 1 {
		opts.BatchSize = 64
	}
	if opts.Runtime == nil {
		opts.Runtime = &component.Runtime{Clock: component.SystemClock{}}
	}
	x := &Running{plan: plan, version: opts.RulesVersion, done: make(chan struct{})}
	rt := *opts.Runtime
	rt.DryRun = rt.DryRun || opts.DryRun
	var explMu sync.Mutex
	var expls []Explanation
	if opts.Trace && rt.Explain == nil {
		rt.Explain = func(step, ref string, data []byte) {
			explMu.Lock()
			expls = append(expls, Explanation{Step: step, Ref: ref, Data: append(json.RawMessage(nil), data...)})
			explMu.Unlock()
		}
	}
	x.rt = &rt
	g := buildGraph(plan)
	x.g = g
	injected := opts.DryRun || len(opts.Inputs) > 0
	if err := g.build(plan, &rt, injected, opts.RulesVersion, opts.Sources); err != nil {
		g.abandon()
		return nil, g.mask.error(err)
	}
	if !rt.DryRun {
		if err := g.start(ctx); err != nil {
			g.abandon()
			return nil, g.mask.error(err)
		}
	}
	r := &runner{g: g, opts: opts, stats: make([]NodeStats, len(g.nodes)), tracing: opts.Trace || opts.Paths != nil}
	for i, n := range g.nodes {
		r.stats[i] = NodeStats{Name: n.name(), Section: n.plan.Section, Kind: n.plan.Kind}
	}
	go func() {
		defer close(x.done)
		err := r.run(ctx)
		res := &Result{Nodes: r.stats, Unhandled: r.unhandled, Elapsed: time.Since(start), Committed: r.committed, Failed: r.failed, Dropped: r.dropped}
		explMu.Lock()
		res.Explanations = expls
		explMu.Unlock()
		if opts.DryRun {
			res.Captured = map[string]*Captured{}
			for _, n := range g.nodes {
				if c, ok := n.sink.(*capture); ok {
					res.Captured[n.name()] = &Captured{Records: c.records, Descriptions: c.described}
				}
			}
		}
		x.res, x.err = res, g.mask.error(err)
	}()
	return x, nil
}

// batch is a run of consecutive records from one source (or injected
// input), processed by one worker, then handed to the ordered stage.
type batch struct {
	source *node // nil for records injected at a step
	at     *node // the step injected records arrive at
	seq    int
	recs   []*record.Record
	// ordered holds, in order, the records that reached nodes of the
	// ordered stage (sinks, stateful steps).
	ordered   []arrival
	unhandled []*record.Record
	stats     []NodeStats // deltas counted by the worker
	failed    int64       // records the worker sent to error outputs
	dropped   []Dropped   // traced runs: what the worker's steps dropped
}

type arrival struct {
	to  *node
	rec *record.Record
	// origin is the index, in its batch, of the input record rec came
	// from: the ordered stage uses it to keep sinks in input order.
	origin int
}

// heldWrite is a sink write held back until its batch is delivered.
type heldWrite struct {
	sink   *node
	rec    *record.Record
	origin int
}

// waiting is a record waiting for a batch worker.
type waiting struct {
	rec    *record.Record
	origin int
}

type runner struct {
	g         *graph
	opts      Options
	stats     []NodeStats
	unhandled []*record.Record
	// ctx is the run's: sink writes, flushes and what they start end with
	// it.
	ctx       context.Context
	committed bool
	failed    int64
	dropped   []Dropped // traced runs only
	// tracing says records carry their trace: a traced run, or one whose
	// paths are reported (Options.Paths).
	tracing bool

	mu        sync.Mutex
	progress  Progress
	sources   []component.Sized
	seqWorker map[*node]component.StepWorker
	// pending holds, by node index, the records waiting for a batch
	// worker until the batch they came with is delivered.
	pending [][]waiting
	// holdSinks says the ordered stage has a batch worker, whose outputs
	// come after the rest of their batch's: sink writes are then held
	// while a batch is delivered and written in input order (held) after.
	holdSinks, holding bool
	held               []heldWrite
	// origin is the input record, by index in its batch, whose effects
	// the ordered stage is delivering.
	origin int
}

// queuedPerWorker is how many batches per worker may wait in each queue.
const queuedPerWorker = 4

func (r *runner) run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	r.ctx = ctx
	// Queues hold a few batches per worker. With one, workers waited for
	// the reader or the ordered stage about a twentieth of a two-worker
	// run; with four they rarely do, and the reference workload's
	// two-worker speed-up rose from 1.69x to 1.77x (medians of 9 rounds,
	// alternating). Batches waiting in queues hold raw lines or finished
	// output, not decoded records, so the live heap and the number of
	// collections barely change.
	work := make(chan *batch, r.opts.Workers*queuedPerWorker)
	done := make(chan *batch, r.opts.Workers*queuedPerWorker)

	var readErr error
	var readers sync.WaitGroup
	readers.Add(1)
	go func() {
		defer readers.Done()
		defer close(work)
		readErr = r.read(ctx, work)
	}()

	var workers sync.WaitGroup
	for range r.opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			w := newWorker(ctx, r.g)
			w.trace = r.tracing
			w.log = r.opts.Runtime.Logger
			for b := range work {
				w.process(b)
				done <- b
			}
		}()
	}
	go func() { workers.Wait(); close(done) }()

	stopProgress := r.startProgress()
	defer stopProgress()

	r.startOrderedSteps()
	seqErr := r.sequence(ctx, done)
	if seqErr != nil {
		cancel()
		for range done {
		}
	}
	readers.Wait()
	if seqErr == nil && readErr == nil {
		seqErr = r.finish(ctx)
	}
	ok := readErr == nil && seqErr == nil && ctx.Err() == nil
	if err := r.closeSinks(ok); err != nil && seqErr == nil {
		seqErr = err
	}
	r.committed = ok && seqErr == nil
	if err := r.endSteps(r.committed && len(r.unhandled) == 0); err != nil && seqErr == nil {
		seqErr = err
	}
	if r.committed && seqErr == nil {
		seqErr = r.ackSources(ctx)
	}
	switch {
	case readErr != nil && !(stopped(parent) && errors.Is(readErr, context.Canceled)):
		return readErr
	case seqErr != nil && !(stopped(parent) && errors.Is(seqErr, context.Canceled)):
		return seqErr
	case stopped(parent):
		return fmt.Errorf("run stopped before the end of its input: %w", context.Cause(parent))
	}
	return nil
}

func stopped(ctx context.Context) bool { return ctx.Err() != nil }

// endSteps tells the steps that want to know (component.RunEnder) how the
// run ended, now that every sink has closed. The run's context has often
// ended by now (an interrupted run), and settling must still happen, so
// it gets a few seconds of its own.
func (r *runner) endSteps(ok bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, n := range r.g.nodes {
		if e, isEnder := n.step.(component.RunEnder); isEnder {
			if err := e.EndRun(ctx, ok); err != nil {
				errs = append(errs, fmt.Errorf("step %q: %w", n.name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// ackSources tells the sources that want to know (component.Acker) that
// everything they emitted is committed: a polling source saves its
// checkpoint now, and only now.
func (r *runner) ackSources(ctx context.Context) error {
	var errs []error
	for _, n := range r.g.nodes {
		if a, ok := n.source.(component.Acker); ok {
			if err := a.Ack(ctx); err != nil {
				errs = append(errs, fmt.Errorf("source %q: %w", n.name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// startOrderedSteps creates the one worker of each step of the ordered
// stage before any record arrives, so the runner knows from the first
// batch whether one decides batches (and sink writes must wait for it).
func (r *runner) startOrderedSteps() {
	r.seqWorker = map[*node]component.StepWorker{}
	r.pending = make([][]waiting, len(r.g.nodes))
	for _, n := range r.g.topo {
		if !n.ordered || n.step == nil {
			continue
		}
		w := n.step.NewWorker()
		r.seqWorker[n] = w
		if _, ok := w.(component.BatchWorker); ok {
			r.holdSinks = true
		}
	}
}

// read feeds batches from every source (or the injected inputs), one source
// after another.
func (r *runner) read(ctx context.Context, work chan<- *batch) error {
	seq := 0
	send := func(b *batch) error {
		b.seq = seq
		seq++
		select {
		case work <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(r.opts.Inputs) > 0 || r.opts.DryRun {
		// Consecutive inputs for one node travel as one batch, as a
		// source's records do: serve hands a run many deliveries, and a
		// batch step (allocate) commits a batch in one transaction.
		var cur *batch
		var curNode *node
		for _, in := range r.opts.Inputs {
			n, ok := r.g.byName[in.Node]
			if !ok {
				return fmt.Errorf("no source or step named %q to feed", in.Node)
			}
			if cur != nil && (n != curNode || len(cur.recs) >= r.opts.BatchSize) {
				if err := send(cur); err != nil {
					return err
				}
				cur = nil
			}
			if cur == nil {
				cur, curNode = &batch{}, n
				if n.plan.Section == component.SourceSection {
					cur.source = n
				} else {
					cur.at = n
				}
			}
			cur.recs = append(cur.recs, in.Record)
		}
		if cur != nil {
			return send(cur)
		}
		return nil
	}
	for _, n := range r.g.nodes {
		if n.source == nil {
			continue
		}
		if s, ok := n.source.(component.Sized); ok {
			r.mu.Lock()
			r.sources = append(r.sources, s)
			r.mu.Unlock()
		}
		cur := &batch{source: n}
		flush := func() error {
			if len(cur.recs) == 0 {
				return nil
			}
			b := cur
			cur = &batch{source: n, recs: make([]*record.Record, 0, r.opts.BatchSize)}
			return send(b)
		}
		count := int64(0)
		emit := func(rec *record.Record) error {
			cur.recs = append(cur.recs, rec)
			count++
			if len(cur.recs) >= r.opts.BatchSize {
				r.mu.Lock()
				r.progress.Records += int64(len(cur.recs))
				r.mu.Unlock()
				return flush()
			}
			return nil
		}
		// Records a source could not parse travel in place, so error
		// outputs keep the input's order too.
		emitErr := emit
		if err := n.source.Read(ctx, emit, emitErr); err != nil {
			// What was read before the fault still goes through, so
			// its records are counted and its failures reported; the
			// run fails all the same, and nothing commits.
			if ctx.Err() == nil {
				r.mu.Lock()
				r.progress.Records += int64(len(cur.recs))
				r.mu.Unlock()
				flush()
			}
			return fmt.Errorf("source %q: %w", n.name(), err)
		}
		r.mu.Lock()
		r.progress.Records += int64(len(cur.recs))
		r.mu.Unlock()
		if err := flush(); err != nil {
			return err
		}
	}
	return nil
}

// sequence runs the ordered stage: batches in the order they were read,
// until ctx ends the run (what is left is abandoned: nothing commits).
func (r *runner) sequence(ctx context.Context, done <-chan *batch) error {
	pending := map[int]*batch{}
	next := 0
	for b := range done {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		pending[b.seq] = b
		for {
			b, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err := r.ordered(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// ordered delivers a finished batch's arrivals to the ordered stage.
func (r *runner) ordered(b *batch) error {
	for i := range b.stats {
		addStats(&r.stats[i], b.stats[i])
	}
	if r.opts.Unhandled != nil {
		for _, u := range b.unhandled {
			r.opts.Unhandled(u)
		}
	} else {
		r.unhandled = append(r.unhandled, b.unhandled...)
	}
	r.failed += b.failed
	for _, d := range b.dropped {
		r.drop(d)
	}
	r.holding = r.holdSinks
	defer func() { r.holding = false }()
	for _, a := range b.ordered {
		r.origin = a.origin
		if err := r.arriveOrdered(a.to, a.rec); err != nil {
			return err
		}
	}
	if err := r.settleOrdered(); err != nil {
		return err
	}
	// What background sinks failed meanwhile goes on now, not at the end
	// of the run: a dead-letter file or route sees it as it happens.
	return r.routeFails(nil)
}

// routeFails delivers what sinks reported through Fail since the last
// call (the sinks of only, or all when only is nil) to their error
// outputs. A record a sink stopped delivering because the run ended is
// counted as undelivered instead: the run did not decide its fate.
func (r *runner) routeFails(only *node) error {
	r.origin = 0
	for _, n := range r.g.topo {
		if n.sink == nil || only != nil && n != only {
			continue
		}
		fails := n.takeFails()
		if len(fails) == 0 {
			continue
		}
		st := &r.stats[n.idx]
		for _, f := range fails {
			st.Out--
			if errors.Is(f.err, component.ErrNotDelivered) {
				st.Undelivered++
				continue
			}
			st.Errored++
			if r.deferred(n, f.rec, f.err) {
				continue
			}
			if err := r.deliverError(n, component.ErrorRecord(n.name(), f.rec, f.err)); err != nil {
				return err
			}
		}
		if err := r.settleOrdered(); err != nil {
			return err
		}
	}
	return nil
}

// settleOrdered runs the batch workers on the records waiting for them and
// writes the sink writes held meanwhile, until nothing waits: a held write
// that fails sends its error record on, perhaps to a batch worker again,
// and what the end of a run flushes may reach one too.
func (r *runner) settleOrdered() error {
	for {
		r.holding = r.holdSinks
		err := r.drain()
		r.holding = false
		if err != nil {
			return err
		}
		if err := r.writeHeld(); err != nil {
			return err
		}
		if !slices.ContainsFunc(r.pending, func(w []waiting) bool { return len(w) > 0 }) {
			return nil
		}
	}
}

// writeHeld writes the sink writes held while a batch was delivered, in
// the order of the input records they came from; those of one input
// record keep the order they were made in.
func (r *runner) writeHeld() error {
	held := r.held
	r.held = nil
	slices.SortStableFunc(held, func(a, b heldWrite) int { return cmp.Compare(a.origin, b.origin) })
	for _, h := range held {
		// What a failed write sends on belongs to the same input record.
		r.origin = h.origin
		if err := r.write(h.sink, h.rec); err != nil {
			return err
		}
	}
	return nil
}

func addStats(dst *NodeStats, d NodeStats) {
	dst.In += d.In
	dst.Out += d.Out
	dst.Dropped += d.Dropped
	dst.Errored += d.Errored
	dst.Emitted += d.Emitted
	dst.Time += d.Time
}

// arriveOrdered processes a record at a node of the ordered stage.
func (r *runner) arriveOrdered(n *node, rec *record.Record) error {
	st := &r.stats[n.idx]
	st.In++
	if r.tracing {
		rec.Trace = append(rec.Trace, n.name())
	}
	if n.sink != nil {
		if r.holding {
			r.held = append(r.held, heldWrite{n, rec, r.origin})
			return nil
		}
		return r.write(n, rec)
	}
	w := r.seqWorker[n]
	if _, ok := w.(component.BatchWorker); ok {
		// Decided with the rest of the batch's records for n, in drain.
		r.pending[n.idx] = append(r.pending[n.idx], waiting{rec, r.origin})
		return nil
	}
	var oc outcome
	err := processSafely(r.ctx, r.opts.Runtime.Logger, n, w, rec, func(output string, o *record.Record) { r.collect(n, &oc, output, o) })
	if err != nil {
		// The worker keeps what it remembers across records: it stays.
		oc.failed = true
		oc.errs = append(oc.errs, component.ErrorRecord(n.name(), rec, err))
	}
	return r.settle(n, &oc, rec)
}

// drop keeps a record a step dropped (traced runs) or reports its path.
func (r *runner) drop(d Dropped) {
	if r.opts.Trace {
		r.dropped = append(r.dropped, d)
	}
	if r.opts.Paths != nil {
		r.opts.Paths(Path{Origin: d.Record.Origin, Steps: d.Record.Trace, Dropped: d.Reason, Record: d.Record})
	}
}

// write hands rec to sink n; a failed write goes to n's error output.
func (r *runner) write(n *node, rec *record.Record) error {
	st := &r.stats[n.idx]
	start := time.Now()
	err := writeSafely(r.ctx, r.opts.Runtime.Logger, n, rec)
	st.Time += time.Since(start)
	if err != nil {
		if errors.Is(err, component.ErrNotDelivered) && r.ctx.Err() != nil {
			st.Undelivered++
			return nil
		}
		st.Errored++
		if r.deferred(n, rec, err) {
			return nil
		}
		return r.deliverError(n, component.ErrorRecord(n.name(), rec, err))
	}
	st.Out++
	if r.opts.Paths != nil {
		r.opts.Paths(Path{Origin: rec.Origin, Steps: rec.Trace, Sink: n.name(), Record: rec})
	}
	return nil
}

// outcome is what a step of the ordered stage emitted for one record.
type outcome struct {
	failed, emitted bool
	errs            []*record.Record
	out             []arrival
	// unread names an output the step emitted on that no node reads.
	unread string
}

// collect records one record a step emitted.
func (r *runner) collect(n *node, oc *outcome, output string, o *record.Record) {
	if output == component.ErrorOutput {
		oc.failed = true
		oc.errs = append(oc.errs, o)
		return
	}
	if len(n.down[output]) == 0 {
		oc.unread = output
		return // an output nobody reads: the record is dropped here
	}
	oc.emitted = true
	st := &r.stats[n.idx]
	st.Emitted++
	if st.ByOutput == nil {
		st.ByOutput = map[string]int64{}
	}
	st.ByOutput[output]++
	for i, d := range n.down[output] {
		oc.out = append(oc.out, arrival{d, branch(o, n, output, i, r.tracing), r.origin})
	}
}

// settle counts how rec left n and delivers what it emitted.
func (r *runner) settle(n *node, oc *outcome, rec *record.Record) error {
	st := &r.stats[n.idx]
	switch {
	case oc.failed:
		st.Errored++
	case oc.emitted:
		st.Out++
	default:
		st.Dropped++
		if r.tracing {
			r.drop(Dropped{n.name(), dropReason(n, r.seqWorker[n], oc.unread, rec), rec})
		}
	}
	for _, e := range oc.errs {
		if err := r.deliverError(n, e); err != nil {
			return err
		}
	}
	for _, a := range oc.out {
		if err := r.arriveOrdered(a.to, a.rec); err != nil {
			return err
		}
	}
	return nil
}

// drain runs the batch workers on the records that reached them while a
// batch was delivered, in topological order, so what one emits towards
// another is decided in the same pass. Each record's outputs are then
// delivered in the order the records arrived.
func (r *runner) drain() error {
	for _, n := range r.g.topo {
		ws := r.pending[n.idx]
		if len(ws) == 0 {
			continue
		}
		r.pending[n.idx] = nil
		recs := make([]*record.Record, len(ws))
		for i, w := range ws {
			recs[i] = w.rec
		}
		ocs := make([]outcome, len(recs))
		err := processBatchSafely(r.ctx, r.opts.Runtime.Logger, n, r.seqWorker[n].(component.BatchWorker), recs, func(i int, output string, o *record.Record) {
			r.origin = ws[i].origin
			r.collect(n, &ocs[i], output, o)
		})
		if err != nil {
			// What the step emitted nothing for may or may not have
			// happened: each such record goes to the error output.
			for i := range ocs {
				if !ocs[i].failed && !ocs[i].emitted && ocs[i].unread == "" {
					ocs[i].failed = true
					ocs[i].errs = append(ocs[i].errs, component.ErrorRecord(n.name(), recs[i], err))
				}
			}
		}
		for i := range ocs {
			r.origin = ws[i].origin
			if err := r.settle(n, &ocs[i], recs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// deferred offers a record sink n failed to deliver to Options.Defer, when
// the failure may pass later; true when the caller took it.
func (r *runner) deferred(n *node, rec *record.Record, err error) bool {
	var de *component.DeliveryError
	if r.opts.Defer == nil || !errors.As(err, &de) || !de.Retryable {
		return false
	}
	policy := component.DefaultRetryPolicy
	if p, ok := n.sink.(component.RetryPolicer); ok {
		policy = p.RetryPolicy()
	}
	if !r.opts.Defer(n.name(), policy, rec, err) {
		return false
	}
	r.stats[n.idx].Deferred++
	return true
}

// deliverError sends an error record to whatever reads n's error output,
// or keeps it as unhandled.
func (r *runner) deliverError(n *node, rec *record.Record) error {
	r.failed++
	rec = r.g.mask.record(rec)
	ds := n.down[component.ErrorOutput]
	if len(ds) == 0 {
		if r.opts.Unhandled != nil {
			r.opts.Unhandled(rec)
			return nil
		}
		r.unhandled = append(r.unhandled, rec)
		return nil
	}
	for _, d := range ds {
		if err := r.arriveOrdered(d, rec); err != nil {
			return err
		}
	}
	return nil
}

// finish flushes holding steps and sinks in topological order, so what
// a step flushes reaches the sinks after it, and a sink's late failures
// reach the sinks reading its error output, before those flush. Nothing
// is committed yet: closeSinks decides that once every sink has flushed.
func (r *runner) finish(ctx context.Context) error {
	// What is flushed or fails now comes from no one input record: it
	// keeps the order it is made in.
	r.origin = 0
	for _, n := range r.g.topo {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if n.step != nil {
			if w, ok := r.seqWorker[n].(component.Flusher); ok {
				var firstErr error
				w.Flush(ctx, func(output string, o *record.Record) {
					r.stats[n.idx].Emitted++
					var err error
					if output == component.ErrorOutput {
						err = r.deliverError(n, o)
					} else {
						for _, d := range n.down[output] {
							if e := r.arriveOrdered(d, o); e != nil && err == nil {
								err = e
							}
						}
					}
					if err != nil && firstErr == nil {
						firstErr = err
					}
				})
				if firstErr != nil {
					return firstErr
				}
				// Before the sinks after n flush: batch workers after it
				// decide what it flushed.
				if err := r.settleOrdered(); err != nil {
					return err
				}
			}
		}
		if n.sink == nil {
			continue
		}
		if err := n.sink.Flush(ctx); err != nil {
			return fmt.Errorf("sink %q: %w", n.name(), err)
		}
		if err := r.routeFails(n); err != nil {
			return err
		}
	}
	return nil
}

// closeSinks closes every sink, committing what each was given when
// commit is set and discarding it otherwise, and takes the sinks' delivery
// counts into the stats. Closing without commit must not wait on the run's
// context, which has usually ended.
func (r *runner) closeSinks(commit bool) error {
	var errs []error
	ctx := r.ctx
	if !commit {
		c, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
		defer cancel()
		ctx = c
	}
	for _, n := range r.g.topo {
		if n.sink == nil {
			continue
		}
		if err := n.sink.Close(ctx, commit); err != nil {
			errs = append(errs, fmt.Errorf("sink %q: %w", n.name(), err))
		}
		st := &r.stats[n.idx]
		for _, f := range n.takeFails() {
			// Reported while closing: too late to route anywhere.
			st.Out--
			if errors.Is(f.err, component.ErrNotDelivered) {
				st.Undelivered++
			} else {
				st.Errored++
				r.failed++
				u := r.g.mask.record(component.ErrorRecord(n.name(), f.rec, f.err))
				if r.opts.Unhandled != nil {
					r.opts.Unhandled(u)
				} else {
					r.unhandled = append(r.unhandled, u)
				}
			}
		}
		if d, ok := n.sink.(component.DeliveryStats); ok {
			ds := d.Delivery()
			st.Attempts, st.Retries, st.Time = ds.Attempts, ds.Retries, ds.Busy
		}
	}
	return errors.Join(errs...)
}

var failMu sync.Mutex

func (n *node) fail(rec *record.Record, err error) {
	failMu.Lock()
	n.fails = append(n.fails, failed{rec, err})
	failMu.Unlock()
}

func (n *node) takeFails() []failed {
	failMu.Lock()
	defer failMu.Unlock()
	f := n.fails
	n.fails = nil
	return f
}

func (r *runner) startProgress() func() {
	if r.opts.Progress == nil {
		return func() {}
	}
	every := r.opts.ProgressEvery
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				r.opts.Progress(r.snapshot(start))
				return
			case <-t.C:
				r.opts.Progress(r.snapshot(start))
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}

func (r *runner) snapshot(start time.Time) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.progress
	for _, s := range r.sources {
		p.Bytes += s.BytesRead()
		p.TotalBytes += s.Size()
	}
	for _, n := range r.g.nodes {
		if d, ok := n.sink.(component.DeliveryStats); ok {
			ds := d.Delivery()
			p.InFlight += ds.InFlight
			p.Retries += ds.Retries
		}
	}
	p.Elapsed = time.Since(start)
	return p
}

// branch is the record as it leaves n through output towards its i-th
// reader. When tracing, each branch gets its own copy of the trace, and a
// named output is written into it (`by_speed.express`), so a record that fans
// out shows each path separately.
func branch(rec *record.Record, n *node, output string, i int, trace bool) *record.Record {
	if !trace {
		return rec
	}
	cp := *rec
	cp.Trace = append([]string(nil), rec.Trace...)
	if output != "" && len(cp.Trace) > 0 && cp.Trace[len(cp.Trace)-1] == n.name() {
		cp.Trace[len(cp.Trace)-1] = n.name() + "." + output
	}
	return &cp
}

// dropReason says why step n emitted nothing for rec: the output it chose
// that nobody reads, or what the step says (component.DropReasoner).
func dropReason(n *node, w component.StepWorker, unread string, rec *record.Record) string {
	if dr, ok := w.(component.DropReasoner); ok {
		if why := dr.DropReason(rec); why != "" {
			return why
		}
	}
	if unread != "" {
		return fmt.Sprintf("%s: it left through output %s, which no node reads", n.name(), unread)
	}
	return n.name() + ": the step emitted nothing for it"
}
