package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
)

// consuming is a message trigger being read: which version of its
// pipeline it queues for, and how to stop it.
type consuming struct {
	version string
	cancel  context.CancelFunc
	done    chan struct{}
}

// syncMessages keeps one reader per message trigger of the pipelines in
// force, on a process with the intake role: a new or changed trigger (a
// new version of its pipeline) gets a new reader once the old one has
// stopped, so that one process never reads a consumer twice; a trigger
// that is gone is stopped. Called with s.mu held.
func (s *Server) syncMessages(set *pipelineSet) {
	if s.cfg.Roles.NoIntake {
		return
	}
	if s.consuming == nil {
		s.consuming = map[string]*consuming{}
	}
	want := map[string]bool{}
	for _, name := range set.names {
		p := set.byName[name]
		for trig, m := range p.messages {
			key := name + "\x00" + trig
			want[key] = true
			prev, ok := s.consuming[key]
			if ok {
				if prev.version == p.Version {
					continue
				}
				prev.cancel()
			}
			s.startConsuming(key, p, trig, m, prev)
		}
	}
	for key, cur := range s.consuming {
		if !want[key] {
			cur.cancel()
			delete(s.consuming, key)
		}
	}
}

// startConsuming starts reading one message trigger, after prev (when not
// nil) has stopped. Called with s.mu held.
func (s *Server) startConsuming(key string, p *served, trigger string, m component.Messages, prev *consuming) {
	ctx, cancel := context.WithCancel(context.Background())
	cur := &consuming{version: p.Version, cancel: cancel, done: make(chan struct{})}
	s.consuming[key] = cur
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(cur.done)
		if prev != nil {
			<-prev.done
		}
		go func() {
			select {
			case <-s.stopClaim:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := m.Consume(ctx, func(_ context.Context, msg component.Message) error {
			return s.takeMessage(p, trigger, msg)
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("message trigger stopped", "pipeline", p.Plan.Name, "trigger", trigger, "source", m.Source(), "error", err.Error())
		}
	}()
}

// takeMessage queues one message as a delivery, as the intake queues a
// webhook: nil once it is durably queued (or was already), when the
// trigger may acknowledge it. A body that is not JSON is kept as a dead
// letter, raw, and acknowledged: sending it again cannot mend it. The
// enqueue is not cut short by a drain, so a message being taken is
// queued and acknowledged rather than left to come again.
func (s *Server) takeMessage(p *served, trigger string, msg component.Message) error {
	start := time.Now()
	name := p.Plan.Name
	now := s.cfg.Clock.Now()
	header := http.Header{}
	for k, v := range msg.Header {
		header[k] = v
	}
	header.Set("Nats-Subject", msg.Subject)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.EnqueueTimeout)
	defer cancel()
	if !json.Valid(msg.Body) {
		s.metrics.refused(name, trigger, refusedNotJSON)
		dl := &state.DeadLetter{Pipeline: name, Version: p.Version, Trigger: trigger, Node: trigger,
			Error: "the message is not JSON", Payload: msg.Body, Header: header, Status: state.DeadOpen, Created: now, Updated: now}
		if _, err := s.cfg.Queue.AddDeadLetters(ctx, []*state.DeadLetter{dl}); err != nil {
			return err
		}
		s.metrics.deadLetters(name, trigger, 1)
		p.alerts.deadLetter(now, trigger, dl.Error)
		s.log.Warn("message refused: not JSON; kept as a dead letter", "pipeline", name, "trigger", trigger, "subject", msg.Subject)
		return nil
	}
	d := &state.Delivery{Pipeline: name, Trigger: trigger, Version: p.Version, EventID: msg.EventID,
		Received: now, Header: header, Body: msg.Body}
	_, dup, err := s.cfg.Queue.Enqueue(ctx, d)
	if err != nil {
		s.metrics.refused(name, trigger, refusedUnavailable)
		return err
	}
	s.metrics.received(name, trigger, dup, time.Since(start))
	if !dup {
		s.wake(name)
	}
	return nil
}
