package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// The policies component.Schedule reports; "" means the default.
const (
	CatchUpNone   = "none"
	CatchUpLatest = "latest" // the default
	CatchUpAll    = "all"

	OverlapSkip  = "skip" // the default
	OverlapQueue = "queue"
)

// Run outcomes the Scheduler records itself; the others come from Run.
const (
	OutcomeRunning = "running"
	OutcomeOK      = "ok"
	OutcomeError   = "error"
	OutcomeSkipped = "skipped"
)

// MaxCatchUp is the most missed ticks one catch-up runs with catch_up
// "all": after a long downtime of a frequent schedule only the latest
// MaxCatchUp run, and the older ones are counted as missed and logged.
const MaxCatchUp = 1000

// maxWait bounds one wait on the clock. Timers measure elapsed time, not
// wall time: a host that was suspended, or whose clock was stepped, would
// otherwise wake long after a tick. Waking at least once a minute to read
// the clock again keeps a tick at most that late.
const maxWait = time.Minute

// recordTimeout bounds writing a run's record once Run's context has
// ended (the run's end, ticks dropped at shutdown).
const recordTimeout = 10 * time.Second

// RunFunc runs the pipeline for one tick. tick is the tick's scheduled
// time (UTC, whole seconds), not the time it started. outcome is a
// state.RunRecord Outcome ("ok", "failed", "error"); "" means "ok" when err
// is nil and "error" otherwise. nodes is the run's per-node counts as
// JSON, for the run record.
type RunFunc func(ctx context.Context, tick time.Time) (outcome string, nodes []byte, err error)

// Config is what a Scheduler runs.
type Config struct {
	Pipeline string
	Trigger  string
	Schedule component.Schedule
	// Clock is SystemClock when nil.
	Clock Clock
	// Ticks claim each tick once across every process sharing the store;
	// Runs record each run, and each tick skipped because it overlapped.
	Ticks state.Ticks
	Runs  state.Runs
	Run   RunFunc
	// Logger is discarded when nil.
	Logger *slog.Logger
}

// Stats counts what a Scheduler did with its ticks.
type Stats struct {
	// Ran counts the runs that ended, whatever their outcome.
	Ran int64
	// Skipped counts ticks this process claimed but did not run because
	// the previous run was still going (overlap "skip", or a second tick
	// waiting with "queue"), or because it stopped before their turn.
	Skipped int64
	// Missed counts ticks that came while nothing served and that the
	// catch-up policy did not run; they are not claimed.
	Missed int64
	// ClaimedElsewhere counts ticks another process claimed first.
	ClaimedElsewhere int64
	// StoreErrors counts failed calls to the store. A tick whose claim
	// failed is not run: running it could run it twice.
	StoreErrors int64
	// Running is whether a run is going; Waiting how many ticks wait for
	// it to end (caught-up ticks, a queued one).
	Running bool
	Waiting int
	// Next is the next tick; zero when the schedule has none.
	Next time.Time
}

// Scheduler runs one pipeline trigger on its cron schedule. Build it with
// New and start it with Run.
type Scheduler struct {
	cfg      Config
	clock    Clock
	log      *slog.Logger
	catchUp  string
	overlap  string
	location *time.Location
	started  atomic.Bool

	mu    sync.Mutex
	stats Stats

	// The rest belongs to the goroutine in Run.
	running bool
	backlog []waiting
	done    chan ended
}

// waiting is a tick waiting for the run before it to end.
type waiting struct {
	tick time.Time
	// claimed is true for a tick that came while a run was going (overlap
	// "queue"): it was claimed when it came. Caught-up ticks are claimed
	// only when their turn comes, so that a process stopping part-way
	// leaves the rest unclaimed.
	claimed bool
}

// ended is a run that ended.
type ended struct {
	tick    time.Time
	outcome string
	err     error
}

// New checks cfg and returns its Scheduler.
func New(cfg Config) (*Scheduler, error) {
	name := fmt.Sprintf("pipeline %q trigger %q", cfg.Pipeline, cfg.Trigger)
	switch {
	case cfg.Pipeline == "" || cfg.Trigger == "":
		return nil, fmt.Errorf("schedule for %s: the pipeline and trigger names are required", name)
	case cfg.Schedule == nil:
		return nil, fmt.Errorf("schedule for %s: no schedule", name)
	case cfg.Ticks == nil || cfg.Runs == nil:
		return nil, fmt.Errorf("schedule for %s: no state store for ticks and runs", name)
	case cfg.Run == nil:
		return nil, fmt.Errorf("schedule for %s: nothing to run", name)
	}
	s := &Scheduler{
		cfg:      cfg,
		clock:    cfg.Clock,
		catchUp:  cfg.Schedule.CatchUp(),
		overlap:  cfg.Schedule.Overlap(),
		location: cfg.Schedule.Location(),
		done:     make(chan ended, 1),
	}
	switch s.catchUp {
	case "":
		s.catchUp = CatchUpLatest
	case CatchUpNone, CatchUpLatest, CatchUpAll:
	default:
		return nil, fmt.Errorf("schedule for %s: catch_up %q is not one of none, latest, all", name, s.catchUp)
	}
	switch s.overlap {
	case "":
		s.overlap = OverlapSkip
	case OverlapSkip, OverlapQueue:
	default:
		return nil, fmt.Errorf("schedule for %s: overlap %q is not one of skip, queue", name, s.overlap)
	}
	if s.clock == nil {
		s.clock = SystemClock{}
	}
	if s.location == nil {
		s.location = time.UTC
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.log = log.With("pipeline", cfg.Pipeline, "trigger", cfg.Trigger)
	return s, nil
}

// Stats returns what the Scheduler has done so far. It is safe to call
// from any goroutine.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run schedules until ctx ends: it catches up the ticks missed since the
// last one claimed, then waits for each tick, claims it and runs it. When
// ctx ends it stops waiting and returns once the run going, if any, has
// returned (that run's context is ctx, so it ends too: a caller that
// wants the run to finish gives RunFunc a context of its own). It returns
// nil then, and an error only when it could not start: the store could
// not tell the last tick claimed, or Run was called before.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("schedule for pipeline %q trigger %q: Run called twice", s.cfg.Pipeline, s.cfg.Trigger)
	}
	now := s.clock.Now()
	last, ok, err := s.cfg.Ticks.LastTick(ctx, s.cfg.Pipeline, s.cfg.Trigger)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("schedule for pipeline %q trigger %q: reading the last tick claimed: %w", s.cfg.Pipeline, s.cfg.Trigger, err)
	}
	// With no tick ever claimed there is nothing to catch up: the schedule
	// starts now, and never runs a tick from before it was first served.
	if ok {
		if missed, total := s.due(last, now); total > 0 {
			s.caughtUp(missed, total)
		}
	}
	prev := now // ticks up to prev have been dealt with
	next := s.next(prev)
	wake := s.wait(next)
	for {
		s.startWaiting(ctx)
		s.publish(next)
		select {
		case <-ctx.Done():
			s.stop(ctx)
			s.publish(next)
			return nil
		case e := <-s.done:
			s.ended(e)
		case <-wake:
			now := s.clock.Now()
			if now.Before(next) {
				// A capped wait (maxWait), or a clock stepped back.
				wake = s.wait(next)
				continue
			}
			ticks, total := s.due(prev, now)
			if now.After(prev) {
				prev = now
			}
			switch {
			case total == 1:
				s.onTime(ctx, ticks[0])
			case total > 1:
				// Several ticks at once: the process was suspended, or a
				// store call or the clock stalled it. The ones it did not
				// see come are missed, as after a downtime.
				s.caughtUp(ticks, total)
			}
			next = s.next(prev)
			wake = s.wait(next)
		}
	}
}

// key is the tick's claim key: its instant in UTC, to the second, so that
// every process computes the same one whatever its time zone, and a wall
// clock that repeats an hour (daylight saving ending) repeats no key.
func key(t time.Time) time.Time {
	return t.Truncate(time.Second).UTC()
}

// next is the first tick after t, zero when there is none.
func (s *Scheduler) next(t time.Time) time.Time {
	n := s.cfg.Schedule.Next(t.In(s.location))
	if n.IsZero() {
		return time.Time{}
	}
	if !n.After(t) {
		s.log.Error("the schedule's next tick is not after the time asked for: no more ticks", "after", t, "next", n)
		return time.Time{}
	}
	return n
}

// due returns the ticks in (after, until], as claim keys: the latest
// MaxCatchUp of them, and how many there are.
func (s *Scheduler) due(after, until time.Time) (ticks []time.Time, total int) {
	for t := s.next(after); !t.IsZero() && !t.After(until); t = s.next(t) {
		total++
		// Keep the latest MaxCatchUp, dropping older ones MaxCatchUp at a
		// time so that a long downtime of a frequent schedule costs no
		// more than listing its ticks.
		if len(ticks) == 2*MaxCatchUp {
			ticks = append(ticks[:0], ticks[MaxCatchUp:]...)
		}
		ticks = append(ticks, key(t))
	}
	if len(ticks) > MaxCatchUp {
		ticks = ticks[len(ticks)-MaxCatchUp:]
	}
	return ticks, total
}

// wait returns a channel that receives when next may have come; nil (wait
// forever) when there is no next tick.
func (s *Scheduler) wait(next time.Time) <-chan time.Time {
	if next.IsZero() {
		s.log.Warn("the schedule has no more ticks")
		return nil
	}
	return s.clock.After(min(next.Sub(s.clock.Now()), maxWait))
}

// caughtUp applies the catch-up policy to ticks missed while nothing
// served: ticks are the latest MaxCatchUp of total, oldest first.
func (s *Scheduler) caughtUp(ticks []time.Time, total int) {
	first, last := ticks[0], ticks[len(ticks)-1]
	switch s.catchUp {
	case CatchUpNone:
		s.count(func(st *Stats) { st.Missed += int64(total) })
		s.log.Info("missed ticks not caught up (catch_up: none)", "missed", total, "latest", last)
	case CatchUpLatest:
		s.count(func(st *Stats) { st.Missed += int64(total - 1) })
		s.backlog = append(s.backlog, waiting{tick: last})
		s.log.Info("catching up the latest missed tick (catch_up: latest)", "missed", total, "tick", last)
	case CatchUpAll:
		if total > len(ticks) {
			s.count(func(st *Stats) { st.Missed += int64(total - len(ticks)) })
			s.log.Warn("too many missed ticks: catching up the latest only", "missed", total, "caught_up", len(ticks), "from", first)
		} else {
			s.log.Info("catching up every missed tick (catch_up: all)", "missed", total, "from", first, "to", last)
		}
		for _, t := range ticks {
			s.backlog = append(s.backlog, waiting{tick: t})
		}
	}
}

// onTime deals with a tick that came while the process served. It claims
// the tick even when it will not run it, so that no other process runs it
// alongside the run still going here.
func (s *Scheduler) onTime(ctx context.Context, tick time.Time) {
	if !s.claim(ctx, tick) {
		return
	}
	switch {
	case !s.running && len(s.backlog) == 0:
		s.start(ctx, tick)
	case s.overlap == OverlapQueue && !s.queued():
		s.backlog = append(s.backlog, waiting{tick: tick, claimed: true})
		s.log.Info("tick queued: the previous run is still going", "tick", tick)
	default:
		s.skip(ctx, tick, "tick skipped: the previous run is still going")
	}
}

// queued is whether a tick that came during a run waits already.
func (s *Scheduler) queued() bool {
	for _, w := range s.backlog {
		if w.claimed {
			return true
		}
	}
	return false
}

// startWaiting starts the first waiting tick when no run is going.
func (s *Scheduler) startWaiting(ctx context.Context) {
	for !s.running && len(s.backlog) > 0 && ctx.Err() == nil {
		w := s.backlog[0]
		s.backlog = s.backlog[1:]
		if w.claimed || s.claim(ctx, w.tick) {
			s.start(ctx, w.tick)
		}
	}
}

// claim claims tick; false when another process has it or the store
// failed.
func (s *Scheduler) claim(ctx context.Context, tick time.Time) bool {
	ok, err := s.cfg.Ticks.ClaimTick(ctx, s.cfg.Pipeline, s.cfg.Trigger, tick)
	switch {
	case err != nil:
		s.count(func(st *Stats) { st.StoreErrors++ })
		if ctx.Err() == nil {
			s.log.Error("tick not run: claiming it failed", "tick", tick, "err", err)
		}
		return false
	case !ok:
		s.count(func(st *Stats) { st.ClaimedElsewhere++ })
		s.log.Debug("tick claimed by another process", "tick", tick)
		return false
	}
	return true
}

// start runs tick on a goroutine of its own, which reports on s.done.
func (s *Scheduler) start(ctx context.Context, tick time.Time) {
	s.running = true
	go func() { s.done <- s.execute(ctx, tick) }()
}

// execute runs tick and records the run.
func (s *Scheduler) execute(ctx context.Context, tick time.Time) ended {
	rec := &state.RunRecord{
		Pipeline: s.cfg.Pipeline,
		Trigger:  s.cfg.Trigger,
		Tick:     tick,
		Started:  s.clock.Now(),
		Outcome:  OutcomeRunning,
	}
	id, err := s.cfg.Runs.StartRun(ctx, rec)
	if err != nil {
		// The run goes ahead: history is not worth a tick.
		s.count(func(st *Stats) { st.StoreErrors++ })
		s.log.Error("recording the run's start failed", "tick", tick, "err", err)
	}
	rec.ID = id
	s.log.Info("cron run started", "tick", tick)
	outcome, nodes, runErr := s.call(ctx, tick)
	switch {
	case runErr != nil && (outcome == "" || outcome == OutcomeOK || outcome == OutcomeRunning):
		outcome = OutcomeError
	case outcome == "" || outcome == OutcomeRunning:
		outcome = OutcomeOK
	}
	rec.Ended, rec.Outcome, rec.Nodes = s.clock.Now(), outcome, nodes
	if runErr != nil {
		rec.Error = runErr.Error()
	}
	if err == nil {
		if err := s.record(ctx, func(ctx context.Context) error { return s.cfg.Runs.EndRun(ctx, rec) }); err != nil {
			s.count(func(st *Stats) { st.StoreErrors++ })
			s.log.Error("recording the run's end failed", "tick", tick, "err", err)
		}
	}
	return ended{tick: tick, outcome: outcome, err: runErr}
}

// call calls Run, turning a panic into the run's error so that one bad
// run does not stop serve.
func (s *Scheduler) call(ctx context.Context, tick time.Time) (outcome string, nodes []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("cron run panicked", "tick", tick, "panic", p, "stack", string(debug.Stack()))
			outcome, nodes, err = OutcomeError, nil, fmt.Errorf("the run panicked: %v", p)
		}
	}()
	return s.cfg.Run(ctx, tick)
}

// ended takes a run's end.
func (s *Scheduler) ended(e ended) {
	s.running = false
	s.count(func(st *Stats) { st.Ran++ })
	if e.err != nil {
		s.log.Warn("cron run ended", "tick", e.tick, "outcome", e.outcome, "err", e.err)
	} else {
		s.log.Info("cron run ended", "tick", e.tick, "outcome", e.outcome)
	}
}

// skip records a claimed tick that will not run.
func (s *Scheduler) skip(ctx context.Context, tick time.Time, why string) {
	s.count(func(st *Stats) { st.Skipped++ })
	s.log.Info(why, "tick", tick)
	now := s.clock.Now()
	rec := &state.RunRecord{
		Pipeline: s.cfg.Pipeline,
		Trigger:  s.cfg.Trigger,
		Tick:     tick,
		Started:  now,
		Ended:    now,
		Outcome:  OutcomeSkipped,
	}
	// StartRun then EndRun: a store may keep only the start's Pipeline,
	// Trigger, Tick and Started, as for a run.
	err := s.record(ctx, func(ctx context.Context) error {
		id, err := s.cfg.Runs.StartRun(ctx, rec)
		if err != nil {
			return err
		}
		rec.ID = id
		return s.cfg.Runs.EndRun(ctx, rec)
	})
	if err != nil {
		s.count(func(st *Stats) { st.StoreErrors++ })
		s.log.Error("recording a skipped tick failed", "tick", tick, "err", err)
	}
}

// record writes to the store on ctx, or, once ctx has ended, on a context
// of its own: what happened must be written even while stopping.
func (s *Scheduler) record(ctx context.Context, write func(context.Context) error) error {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		defer cancel()
	}
	return write(ctx)
}

// stop waits for the run going and drops the waiting ticks: the claimed
// ones are recorded as skipped, the caught-up ones, never claimed, are
// missed (a later catch-up may run them).
func (s *Scheduler) stop(ctx context.Context) {
	if s.running {
		s.ended(<-s.done)
	}
	for _, w := range s.backlog {
		if w.claimed {
			s.skip(ctx, w.tick, "tick skipped: serve stopped before its turn")
		} else {
			s.count(func(st *Stats) { st.Missed++ })
		}
	}
	if n := len(s.backlog); n > 0 {
		s.log.Info("stopped with ticks waiting", "waiting", n)
	}
	s.backlog = nil
}

// publish updates what Stats reports of the loop's state.
func (s *Scheduler) publish(next time.Time) {
	s.count(func(st *Stats) {
		st.Running, st.Waiting = s.running, len(s.backlog)
		if next.IsZero() {
			st.Next = time.Time{}
		} else {
			st.Next = key(next)
		}
	})
}

func (s *Scheduler) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}
