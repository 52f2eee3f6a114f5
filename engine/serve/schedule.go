package serve

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/schedule"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// scheduled is a cron trigger being kept: its scheduler and how to stop it.
type scheduled struct {
	version string
	sched   *schedule.Scheduler
	cancel  context.CancelFunc
	done    chan struct{}
}

// syncSchedules keeps one scheduler per cron trigger of the pipelines in
// force: a new or changed trigger (a new version of its pipeline) gets a
// new scheduler, once the old one's run in flight has ended; a trigger
// that is gone is stopped. Called with s.mu held.
func (s *Server) syncSchedules(set *pipelineSet) {
	if s.cfg.Roles.NoSchedules {
		return
	}
	if s.schedules == nil {
		s.schedules = map[string]*scheduled{}
	}
	want := map[string]bool{}
	for _, name := range set.names {
		p := set.byName[name]
		for trig, sch := range p.schedules {
			key := name + "\x00" + trig
			want[key] = true
			if cur, ok := s.schedules[key]; ok {
				if cur.version == p.Version {
					continue
				}
				cur.cancel()
			}
			s.startSchedule(key, p, trig, sch, s.schedules[key])
		}
	}
	for key, cur := range s.schedules {
		if !want[key] {
			cur.cancel()
			delete(s.schedules, key)
		}
	}
}

// startSchedule starts keeping one cron trigger; after, when not nil, is
// the scheduler it replaces, which must have stopped first so that two
// never run the same trigger at once. Called with s.mu held.
func (s *Server) startSchedule(key string, p *served, trigger string, sch component.Schedule, after *scheduled) {
	sc, err := schedule.New(schedule.Config{
		Pipeline: p.Plan.Name, Trigger: trigger, Schedule: sch, Clock: s.cfg.ScheduleClock,
		Ticks: s.cfg.Queue, Runs: s.cfg.Queue, Logger: s.log,
		Run: func(ctx context.Context, tick time.Time) (string, []byte, error) {
			return s.runTick(p, trigger)
		},
	})
	if err != nil {
		s.log.Error("cron trigger not kept", "pipeline", p.Plan.Name, "trigger", trigger, "error", err.Error())
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cur := &scheduled{version: p.Version, sched: sc, cancel: cancel, done: make(chan struct{})}
	s.schedules[key] = cur
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(cur.done)
		if after != nil {
			<-after.done
		}
		// Stop with the drain: the run in flight is given s.runCtx by
		// runTick, so it finishes and commits unless the drain runs out.
		go func() {
			select {
			case <-s.stopClaim:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := sc.Run(ctx); err != nil {
			s.log.Error("cron trigger stopped", "pipeline", p.Plan.Name, "trigger", trigger, "error", err.Error())
		}
	}()
}

// runTick runs the sources a cron trigger starts, once: a nightly export,
// a reconciliation poll. Its retries and dead letters are stored as a
// delivery's are.
func (s *Server) runTick(p *served, trigger string) (result string, nodes []byte, err error) {
	srcs := p.sources[trigger]
	if len(srcs) == 0 {
		return schedule.OutcomeSkipped, nil, nil
	}
	if s.Paused(p.Plan.Name, trigger) {
		s.metrics.tick(p.Plan.Name, trigger, "paused")
		return schedule.OutcomeSkipped, nil, nil
	}
	now := s.cfg.Clock.Now()
	o := &outcome{p: p, now: now, byOrigin: map[*record.Origin]*state.Delivery{}}
	var mu sync.Mutex
	res, err := engine.Run(s.runCtx, p.Plan, engine.Options{
		Runtime: s.runtime(p.Pipeline), Sources: srcs, RulesVersion: p.RulesVersion,
		Defer: func(sink string, policy component.RetryPolicy, rec *record.Record, err error) bool {
			mu.Lock()
			defer mu.Unlock()
			return o.deferRetry(sink, policy, rec, err)
		},
		Unhandled: func(rec *record.Record) {
			mu.Lock()
			defer mu.Unlock()
			o.deadLetter(rec)
		},
	})
	if res != nil {
		nodes, _ = json.Marshal(res.Nodes)
		s.metrics.nodes(p.Plan.Name, res.Nodes)
	}
	if err == nil && !res.Committed {
		err = errors.New("the run did not commit")
	}
	if err != nil {
		s.metrics.tick(p.Plan.Name, trigger, "error")
		return schedule.OutcomeError, nodes, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.runCtx), 30*time.Second)
	defer cancel()
	if len(o.retries) > 0 || len(o.dead) > 0 {
		if err := s.cfg.Queue.Finish(ctx, nil, o.retries, o.dead); err != nil {
			return schedule.OutcomeError, nodes, err
		}
	}
	s.metrics.tick(p.Plan.Name, trigger, "run")
	for _, dl := range o.dead {
		s.metrics.deadLetters(p.Plan.Name, dl.Node, 1)
		p.alerts.deadLetter(o.now, dl.Node, dl.Error)
	}
	if res.Failed > 0 {
		return "failed", nodes, nil
	}
	return schedule.OutcomeOK, nodes, nil
}
