package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/tidwall/gjson"
)

// worker runs one pipeline's queued deliveries and due retries, one run at
// a time, so a pipeline's deliveries reach its sinks in arrival order (a
// retry aside) and pipelines never wait for each other.
type worker struct {
	s      *Server
	name   string
	notify chan struct{}
	exited atomic.Bool
	// isolate: the last run of several deliveries failed as a whole, so
	// they are taken one at a time until one succeeds, to find the one at
	// fault and keep the others flowing.
	isolate bool
	// claimFailed: the last claim returned an error, so the loop waits
	// before the next rather than spinning.
	claimFailed bool
	// retriesIdle is when a look for due retries last found none (wall
	// time): the next look waits PollEvery, so a busy worker does not pay
	// a store write per batch for retries that are not there.
	retriesIdle time.Time
	// lastEmpty is when a claim last found the queue empty (wall time).
	lastEmpty time.Time
}

func (w *worker) loop() {
	defer w.exited.Store(true)
	tick := time.NewTicker(w.s.cfg.PollEvery)
	defer tick.Stop()
	for {
		select {
		case <-w.s.stopClaim:
			return
		default:
		}
		p := w.s.set.Load().byName[w.name]
		if p == nil {
			return // unloaded by a reload
		}
		p.alerts.poll(w.s.cfg.Clock.Now())
		if w.s.Paused(w.name, "") {
			// Paused by an operator: webhooks are still acknowledged and
			// queued; nothing runs until resumed.
			select {
			case <-w.s.stopClaim:
				return
			case <-w.notify:
			case <-tick.C:
			}
			continue
		}
		did := w.deliveries(p)
		if !did || time.Since(w.retriesIdle) >= w.s.cfg.PollEvery {
			if w.retries(p) {
				did = true
			} else {
				w.retriesIdle = time.Now()
			}
		}
		if did {
			continue
		}
		if w.claimWaits() && !w.claimFailed {
			// The empty claim already waited for work to arrive.
			continue
		}
		select {
		case <-w.s.stopClaim:
			return
		case <-w.notify:
		case <-tick.C:
		}
	}
}

// claimWaits reports whether the queue's Claim waits for work itself
// (state.WaitingClaimer), so that the worker need not poll.
func (w *worker) claimWaits() bool {
	wc, ok := w.s.cfg.Queue.(state.WaitingClaimer)
	return ok && wc.ClaimWaits()
}

// Intake first: while a burst of webhooks is being answered, a worker
// waits, so the acknowledgements a storefront times out on (Shopify: 5 s)
// get the CPU, and takes what queued meanwhile in bigger runs after it.
// It waits only while its queue's backlog is younger than
// Config.BurstLag: past that it runs flat out, as without a burst.
const (
	// burstInFlight is how many webhooks answered at once make a burst:
	// at 1,000 a second each takes about 2 ms, so two or three are in
	// flight; sixteen senders flat out keep sixteen.
	burstInFlight = 8
	// burstHold bridges the moments a group commit answers every
	// waiting request at once and the count drops to nothing.
	burstHold = 25 * time.Millisecond
	burstPoll = 5 * time.Millisecond
)

// yield waits while the intake is in a burst and the backlog young. The
// backlog is at most as old as the last time the worker found its queue
// empty: everything waiting arrived after that.
func (w *worker) yield() {
	lag := w.s.cfg.BurstLag
	if lag <= 0 {
		return
	}
	var t *time.Ticker
	for time.Now().UnixNano() < w.s.burstUntil.Load() && time.Since(w.lastEmpty) < lag {
		if t == nil {
			t = time.NewTicker(burstPoll)
			defer t.Stop()
		}
		select {
		case <-w.s.stopClaim:
			return
		case <-t.C:
		}
	}
}

// deliveries claims what waits in the pipeline's queue and runs it; false
// when nothing waited.
func (w *worker) deliveries(p *served) bool {
	w.yield()
	q := w.s.cfg.Queue
	max := w.s.cfg.BatchSize
	if w.isolate {
		max = 1
	}
	ds, err := q.Claim(w.s.runCtx, w.name, max, w.s.cfg.Lease)
	w.claimFailed = err != nil
	if err != nil {
		if w.s.runCtx.Err() == nil {
			w.s.log.Error("claiming deliveries", "pipeline", w.name, "error", err.Error())
		}
		return false
	}
	if len(ds) == 0 {
		w.lastEmpty = time.Now()
		return false
	}
	w.runDeliveries(p, ds)
	return true
}

// outcome collects what one run did with its deliveries: the retries and
// dead letters to store with their completion.
type outcome struct {
	p        *served
	now      time.Time
	byOrigin map[*record.Origin]*state.Delivery
	retries  []*state.Retry
	dead     []*state.DeadLetter
	ackMu    sync.Mutex
	acks     []ack
	clock    func() time.Time // the server's, for the acknowledgements' times
	// paths are the distinct paths each delivery's records took, by
	// delivery, in the order first taken.
	paths map[int64][]stepPath
}

// stepPath is a path records of one delivery took (engine.Path), and how
// many did.
type stepPath struct {
	text string
	n    int
}

// path keeps where one of the run's records went, for its order's
// timeline (from the ordered stage's goroutine).
func (o *outcome) path(pa engine.Path) {
	if pa.Origin == nil {
		return
	}
	d := o.byOrigin[pa.Origin]
	if d == nil {
		return
	}
	text := strings.Join(pa.Steps, " → ")
	if pa.Sink == "" {
		text += ": dropped (" + pa.Dropped + ")"
	}
	if o.paths == nil {
		o.paths = map[int64][]stepPath{}
	}
	ps := o.paths[d.ID]
	for i := range ps {
		if ps[i].text == text {
			ps[i].n++
			return
		}
	}
	o.paths[d.ID] = append(ps, stepPath{text, 1})
}

func (o *outcome) deliveryOf(rec *record.Record) *state.Delivery {
	if rec.Origin == nil {
		return nil
	}
	return o.byOrigin[rec.Origin]
}

// acknowledged records, for its order's timeline, that a sink's far end
// acknowledged a record (from the sink's delivery goroutines).
func (o *outcome) acknowledged(sink string, rec *record.Record, detail string) {
	d := o.deliveryOf(rec)
	if d == nil {
		return
	}
	o.ackMu.Lock()
	defer o.ackMu.Unlock()
	at := time.Now()
	if o.clock != nil {
		at = o.clock()
	}
	o.acks = append(o.acks, ack{delivery: d.ID, at: at, what: sink + ": " + detail})
}

type ack struct {
	delivery int64
	at       time.Time
	what     string
}

// deferRetry keeps a record a sink could not deliver yet, to try again
// after the sink's backoff.
func (o *outcome) deferRetry(sink string, policy component.RetryPolicy, rec *record.Record, err error) bool {
	r := &state.Retry{Pipeline: o.p.Plan.Name, Version: o.p.Version, Sink: sink, Record: append([]byte(nil), rec.Raw...),
		Created: o.now, Attempts: []state.Attempt{attemptOf(o.now, err)}}
	if d := o.deliveryOf(rec); d != nil {
		r.Origin, r.Header, r.Delivery = d.Body, d.Header, d.ID
	}
	r.Next = o.now.Add(retryDelay(1, policy, err))
	o.retries = append(o.retries, r)
	return true
}

// deadLetter keeps an error record nothing reads.
func (o *outcome) deadLetter(rec *record.Record) {
	dl := deadLetterOf(o.p, o.now, rec)
	if d := o.deliveryOf(rec); d != nil {
		dl.Payload, dl.Header, dl.Delivery, dl.Trigger = d.Body, d.Header, d.ID, d.Trigger
	}
	o.dead = append(o.dead, dl)
}

// deadLetterOf is the dead letter an error record makes
// (component.ErrorRecord's fields).
func deadLetterOf(p *served, now time.Time, rec *record.Record) *state.DeadLetter {
	f := gjson.ParseBytes(rec.Raw)
	dl := &state.DeadLetter{Pipeline: p.Plan.Name, Version: p.Version, Node: f.Get("node").String(), Error: f.Get("error").String(),
		Status: state.DeadOpen, Created: now, Updated: now}
	if r := f.Get("record"); r.Exists() {
		dl.Record = []byte(r.Raw)
	}
	if o := rec.Origin; o != nil {
		dl.Payload = o.Raw
	}
	a := state.Attempt{At: now, Error: dl.Error, Status: int(f.Get("status").Int())}
	dl.Attempts = []state.Attempt{a}
	return dl
}

// runDeliveries runs a batch of deliveries through the pipeline, as one
// run of the engine, and commits its outcome: the deliveries leave the
// queue together with the retries and dead letters they produced.
func (w *worker) runDeliveries(p *served, ds []*state.Delivery) {
	s := w.s
	now := s.cfg.Clock.Now()
	o := &outcome{p: p, now: now, byOrigin: map[*record.Origin]*state.Delivery{}, clock: s.cfg.Clock.Now}
	var inputs []engine.Input
	var ids []int64
	for _, d := range ds {
		ids = append(ids, d.ID)
		srcs := p.sources[d.Trigger]
		if len(srcs) == 0 {
			o.dead = append(o.dead, &state.DeadLetter{Pipeline: p.Plan.Name, Version: p.Version, Trigger: d.Trigger, Node: d.Trigger,
				Error: "trigger " + d.Trigger + " starts no source of this version of the pipeline", Payload: d.Body, Header: d.Header,
				Delivery: d.ID, Status: state.DeadOpen, Created: now, Updated: now})
			continue
		}
		for _, src := range srcs {
			org := &record.Origin{Source: src, Seq: d.ID, Raw: d.Body}
			o.byOrigin[org] = d
			inputs = append(inputs, payloadRecords(p, src, d, org)...)
		}
	}
	var res *engine.Result
	var err error
	var liveMu sync.Mutex
	var live []explained
	var shadowed *versionShadow
	var candidate, sent sinkRecords
	if len(inputs) > 0 {
		stopRenewing := w.renewWhileRunning(p.Plan.Name, ids)
		// A shadow version runs first, dry, against the stock the live
		// run is about to commit against.
		if vs := s.runningShadow(p.Plan.Name); vs != nil {
			shadowed, candidate, sent = vs, vs.run(s, ds), sinkRecords{}
		}
		rt := s.runtime(p.Pipeline)
		rt.Delivered = o.acknowledged
		sh := s.shadowOf(p.Plan.Name)
		if sh != nil {
			rt.Explain = func(step, ref string, exp []byte) {
				liveMu.Lock()
				live = append(live, explained{ref, append([]byte(nil), exp...)})
				liveMu.Unlock()
			}
		}
		res, err = engine.Run(s.runCtx, p.Plan, engine.Options{
			Runtime: rt, Inputs: inputs, RulesVersion: p.RulesVersion,
			Defer: o.deferRetry, Unhandled: o.deadLetter,
			Paths: func(pa engine.Path) {
				o.path(pa)
				if sent != nil {
					sent.keepSent(pa)
				}
			},
		})
		stopRenewing()
		if sh != nil && err == nil {
			// The candidate decides again what the live version just
			// decided (and committed to its sinks), writing nothing.
			sh.compareAll(s.runCtx, live)
		}
	}
	if err == nil && res != nil && !res.Committed {
		err = errors.New("the run did not commit")
	}
	// The outcome is committed even when the run was stopped meanwhile:
	// it did commit its sinks.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.runCtx), 30*time.Second)
	defer cancel()
	if err != nil {
		w.runFailed(ctx, p, ds, err)
		return
	}
	w.isolate = false
	if err := s.cfg.Queue.Finish(ctx, ids, o.retries, o.dead); err != nil {
		// The deliveries stay leased and run again when the lease ends;
		// idempotency keys keep that from doubling anything.
		s.log.Error("committing deliveries' outcome", "pipeline", p.Plan.Name, "deliveries", len(ids), "error", err.Error())
		return
	}
	s.recordEvents(ctx, p.Plan.Name, deliveryEvents(p, o, ds))
	if shadowed != nil {
		shadowed.compare(ds, sent, candidate)
	}
	done := s.cfg.Clock.Now()
	for _, d := range ds {
		s.metrics.delivered(p.Plan.Name, done.Sub(d.Received))
		s.kpis.delivered(p.Plan.Name, done.Sub(d.Received))
	}
	if res != nil {
		s.metrics.nodes(p.Plan.Name, res.Nodes)
		s.totals.add(p.Plan.Name, done, res.Nodes)
	}
	s.metrics.retriesQueued(p.Plan.Name, o.retries)
	for _, r := range o.retries {
		p.alerts.sinkFailed(o.now, r.Sink, r.Attempts[0].Error)
	}
	if res != nil {
		for _, n := range res.Nodes {
			if n.Section == component.SinkSection && n.In-n.Errored > 0 {
				p.alerts.sinkDelivered(o.now, n.Name)
			}
		}
	}
	for _, dl := range o.dead {
		s.metrics.deadLetters(p.Plan.Name, dl.Node, 1)
		p.alerts.deadLetter(o.now, dl.Node, dl.Error)
		s.log.Warn("dead letter", "pipeline", p.Plan.Name, "node", dl.Node, "delivery", dl.Delivery, "error", dl.Error)
	}
	s.log.Info("deliveries done", "pipeline", p.Plan.Name, "deliveries", len(ds), "retries", len(o.retries), "dead_letters", len(o.dead))
}

// renewWhileRunning renews the lease of a run's deliveries every third of
// the lease until the returned stop is called, so a run longer than its
// lease (a slow WMS, a big batch) keeps them: another worker on the same
// PostgreSQL would otherwise claim and run them too. Idempotency keys make
// that harmless; renewing makes it rare.
func (w *worker) renewWhileRunning(pipeline string, ids []int64) (stop func()) {
	s := w.s
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(s.runCtx), s.cfg.Lease/3)
			err := s.cfg.Queue.Renew(ctx, ids, s.cfg.Lease)
			cancel()
			if err != nil {
				s.log.Warn("renewing the lease of deliveries", "pipeline", pipeline, "deliveries", len(ids), "error", err.Error())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// payloadRecords reads a delivery's body as its source reads payloads:
// with the source's own reader (component.Spec.ReadSample: an event
// source's unwrap), exactly as pipeline tests and dry runs read samples,
// or as one JSON record. Every record carries org, so what becomes of it
// is traced back to the delivery.
func payloadRecords(p *served, src string, d *state.Delivery, org *record.Origin) []engine.Input {
	n, _ := p.Plan.Node(src)
	// An object with no envelope to take it out of is the one record the
	// reader would make: intake checked it is JSON, so it goes as it is.
	body := bytes.TrimLeft(d.Body, " \t\r\n")
	direct := n == nil || n.Spec == nil || n.Spec.ReadSample == nil ||
		(n.Config.Get("unwrap") == nil && len(body) > 0 && body[0] == '{')
	if direct {
		rec := record.New(d.Body, org)
		rec.Unchecked = true
		return []engine.Input{{Node: src, Record: rec}}
	}
	var out []engine.Input
	seq := int64(0)
	add := func(rec *record.Record) error {
		rec.Origin = org
		out = append(out, engine.Input{Node: src, Record: rec})
		return nil
	}
	err := n.Spec.ReadSample(component.Sample{Node: src, Config: n.Config, Name: "delivery " + strconv.FormatInt(d.ID, 10),
		Input: bytes.NewReader(d.Body), Seq: &seq}, add, add)
	if err != nil {
		out = append(out, engine.Input{Node: src, Record: component.ErrorRecord(src, record.New(d.Body, org), err)})
	}
	return out
}

// runFailed handles a run that failed as a whole: its deliveries go back to
// the queue, to run again after a backoff, and one that keeps failing on
// its own becomes a dead letter.
func (w *worker) runFailed(ctx context.Context, p *served, ds []*state.Delivery, runErr error) {
	s := w.s
	q := s.cfg.Queue
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	if s.runCtx.Err() != nil {
		// Stopped by a drain that ran out of time: run again at the next
		// start, at once.
		if err := q.Release(ctx, ids, time.Time{}); err != nil {
			s.log.Error("giving deliveries back", "pipeline", p.Plan.Name, "error", err.Error())
		}
		return
	}
	s.log.Error("run failed", "pipeline", p.Plan.Name, "deliveries", len(ds), "error", runErr.Error())
	now := s.cfg.Clock.Now()
	if len(ds) > 1 {
		w.isolate = true
		if err := q.Release(ctx, ids, time.Time{}); err != nil {
			s.log.Error("giving deliveries back", "pipeline", p.Plan.Name, "error", err.Error())
		}
		return
	}
	d := ds[0]
	if d.Attempts >= s.cfg.MaxRunAttempts {
		dl := &state.DeadLetter{Pipeline: p.Plan.Name, Version: p.Version, Trigger: d.Trigger, Node: p.Plan.Name,
			Error: runErr.Error(), Payload: d.Body, Header: d.Header, Delivery: d.ID,
			Attempts: []state.Attempt{{At: now, Error: runErr.Error()}}, Status: state.DeadOpen, Created: now, Updated: now}
		if err := q.Finish(ctx, ids, nil, []*state.DeadLetter{dl}); err != nil {
			s.log.Error("keeping a dead letter", "pipeline", p.Plan.Name, "error", err.Error())
			return
		}
		s.metrics.deadLetters(p.Plan.Name, p.Plan.Name, 1)
		p.alerts.deadLetter(now, p.Plan.Name, dl.Error)
		w.isolate = false
		return
	}
	next := now.Add(retryDelay(d.Attempts, component.DefaultRetryPolicy, nil))
	if err := q.Release(ctx, ids, next); err != nil {
		s.log.Error("giving a delivery back", "pipeline", p.Plan.Name, "error", err.Error())
	}
}

// retries runs the pipeline's due sink retries; false when none was due.
func (w *worker) retries(p *served) bool {
	s := w.s
	now := s.cfg.Clock.Now()
	rs, err := s.cfg.Queue.ClaimRetries(s.runCtx, w.name, now, s.cfg.BatchSize, s.cfg.Lease)
	if err != nil {
		if s.runCtx.Err() == nil {
			s.log.Error("claiming retries", "pipeline", w.name, "error", err.Error())
		}
		return false
	}
	if len(rs) == 0 {
		return false
	}
	w.runRetries(p, rs)
	return true
}

// retryState is what became of one retry in its run.
type retryState struct {
	r       *state.Retry
	again   bool
	attempt state.Attempt
	next    time.Time
	dead    *state.DeadLetter
}

// runRetries delivers due retries again, straight to their sinks, in one
// run. A retry that fails again waits longer; one whose attempts or age
// ran out goes to the sink's error output, or becomes a dead letter.
func (w *worker) runRetries(p *served, rs []*state.Retry) {
	s := w.s
	now := s.cfg.Clock.Now()
	byOrigin := map[*record.Origin]*retryState{}
	var states []*retryState
	var inputs []engine.Input
	for _, r := range rs {
		st := &retryState{r: r}
		states = append(states, st)
		if n, ok := p.Plan.Node(r.Sink); !ok || n.Section != component.SinkSection {
			st.attempt = state.Attempt{At: now, Error: "sink " + r.Sink + " is no longer in the pipeline"}
			st.dead = w.retryDeadLetter(p, r, st.attempt)
			continue
		}
		org := &record.Origin{Source: r.Sink, Seq: r.Delivery, Raw: r.Origin}
		if len(r.Origin) == 0 {
			org.Raw = r.Record
		}
		byOrigin[org] = st
		inputs = append(inputs, engine.Input{Node: r.Sink, Record: record.New(append([]byte(nil), r.Record...), org)})
	}
	of := func(rec *record.Record) *retryState {
		if rec.Origin == nil {
			return nil
		}
		return byOrigin[rec.Origin]
	}
	opts := engine.Options{
		Runtime: s.runtime(p.Pipeline), Inputs: inputs, RulesVersion: p.RulesVersion,
		Defer: func(sink string, policy component.RetryPolicy, rec *record.Record, err error) bool {
			st := of(rec)
			if st == nil {
				return false
			}
			n := len(st.r.Attempts) + 1
			if n >= policy.MaxAttempts || (policy.MaxAge > 0 && now.Sub(st.r.Created) >= policy.MaxAge) {
				return false // given up on: to the error output
			}
			st.again, st.attempt = true, attemptOf(now, err)
			st.next = now.Add(retryDelay(n, policy, err))
			return true
		},
		Unhandled: func(rec *record.Record) {
			st := of(rec)
			if st == nil {
				return
			}
			dl := deadLetterOf(p, now, rec)
			st.attempt = dl.Attempts[0]
			dl.Attempts = append(append([]state.Attempt(nil), st.r.Attempts...), st.attempt)
			dl.Payload, dl.Header, dl.Delivery = st.r.Origin, st.r.Header, st.r.Delivery
			st.dead = dl
		},
	}
	var err error
	if len(inputs) > 0 {
		var res *engine.Result
		res, err = engine.Run(s.runCtx, p.Plan, opts)
		if err == nil && !res.Committed {
			err = errors.New("the run did not commit")
		}
		if err == nil {
			s.metrics.nodes(p.Plan.Name, res.Nodes)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.runCtx), 30*time.Second)
	defer cancel()
	q := s.cfg.Queue
	var events []state.OrderEvent
	defer func() { s.recordEvents(ctx, p.Plan.Name, events) }()
	for _, st := range states {
		var serr error
		ref := orderRef(st.r.Origin)
		event := func(kind, detail string) {
			if ref != "" {
				events = append(events, state.OrderEvent{Ref: ref, At: now, Kind: kind, Detail: st.r.Sink + ": " + detail})
			}
		}
		switch {
		case st.dead != nil:
			serr = q.RetryDead(ctx, st.r.ID, st.attempt, st.dead)
			event("dead letter", st.dead.Error)
			if serr == nil {
				s.metrics.deadLetters(p.Plan.Name, st.dead.Node, 1)
				p.alerts.deadLetter(now, st.dead.Node, st.dead.Error)
				s.log.Warn("dead letter", "pipeline", p.Plan.Name, "node", st.dead.Node, "delivery", st.r.Delivery, "attempts", len(st.dead.Attempts), "error", st.dead.Error)
			}
		case err != nil:
			// The run itself failed: the retry is tried again after a
			// backoff, and the failure counts as an attempt.
			if s.runCtx.Err() != nil {
				continue // stopped by a drain: the lease brings it back
			}
			a := state.Attempt{At: now, Error: err.Error()}
			serr = q.RetryAgain(ctx, st.r.ID, a, now.Add(retryDelay(len(st.r.Attempts)+1, component.DefaultRetryPolicy, nil)))
		case st.again:
			serr = q.RetryAgain(ctx, st.r.ID, st.attempt, st.next)
			event("retried: failed again", st.attempt.Error)
			s.metrics.retried(p.Plan.Name, st.r.Sink, false)
			p.alerts.sinkFailed(now, st.r.Sink, st.attempt.Error)
		default:
			serr = q.RetryDelivered(ctx, st.r.ID)
			event("retried: delivered", fmt.Sprintf("attempt %d", len(st.r.Attempts)+1))
			s.metrics.retried(p.Plan.Name, st.r.Sink, true)
			p.alerts.sinkDelivered(now, st.r.Sink)
		}
		if serr != nil {
			s.log.Error("recording a retry's outcome", "pipeline", p.Plan.Name, "sink", st.r.Sink, "error", serr.Error())
		}
	}
}

func (w *worker) retryDeadLetter(p *served, r *state.Retry, a state.Attempt) *state.DeadLetter {
	return &state.DeadLetter{Pipeline: p.Plan.Name, Version: p.Version, Node: r.Sink, Error: a.Error, Payload: r.Origin, Header: r.Header,
		Record: r.Record, Delivery: r.Delivery, Attempts: append(append([]state.Attempt(nil), r.Attempts...), a),
		Status: state.DeadOpen, Created: a.At, Updated: a.At}
}

// attemptOf is the attempt a delivery error records.
func attemptOf(now time.Time, err error) state.Attempt {
	a := state.Attempt{At: now, Error: err.Error()}
	var de *component.DeliveryError
	if errors.As(err, &de) {
		a.Status = de.Status
	}
	return a
}

// retryDelay is the wait before attempt n+1 after n failed, by the sink's
// policy (component.RetryPolicy.Delay) and the Retry-After err carries; a
// policy without a backoff waits from 1s to 1m rather than retrying at
// every poll.
func retryDelay(n int, policy component.RetryPolicy, err error) time.Duration {
	if policy.Backoff <= 0 {
		policy.Backoff = time.Second
	}
	if policy.MaxBackoff <= 0 {
		policy.MaxBackoff = time.Minute
	}
	var retryAfter time.Duration
	var de *component.DeliveryError
	if errors.As(err, &de) {
		retryAfter = de.RetryAfter
	}
	return policy.Delay(n, retryAfter)
}
