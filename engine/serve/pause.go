package serve

import (
	"context"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine/state"
)

// pauseRefresh is how long a read of the pauses in the store serves: a
// pause made by another process on the same store takes effect within it.
const pauseRefresh = time.Second

// pauseCache is the pauses in the store, read at most once a pauseRefresh.
type pauseCache struct {
	mu   sync.Mutex
	read time.Time
	set  map[[2]string]*state.Pause
}

// Paused reports whether the pipeline, or its trigger, is paused.
func (s *Server) Paused(pipeline, trigger string) bool {
	set := s.pauses()
	if set[[2]string{pipeline, ""}] != nil {
		return true
	}
	return trigger != "" && set[[2]string{pipeline, trigger}] != nil
}

// PausedBy returns the pause of the pipeline (trigger ""), or of its
// trigger, if there is one.
func (s *Server) PausedBy(pipeline, trigger string) *state.Pause {
	return s.pauses()[[2]string{pipeline, trigger}]
}

// PausesChanged drops the cached pauses, after this process changed them.
func (s *Server) PausesChanged() {
	s.paused.mu.Lock()
	s.paused.read = time.Time{}
	s.paused.mu.Unlock()
	for _, name := range s.Pipelines() {
		s.wake(name) // a resumed pipeline runs what queued at once
	}
}

func (s *Server) pauses() map[[2]string]*state.Pause {
	c := &s.paused
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.read) < pauseRefresh && c.set != nil {
		return c.set
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ps, err := s.cfg.Queue.ListPauses(ctx)
	if err != nil {
		s.log.Error("reading pauses", "error", err.Error())
		return c.set // the last known, rather than resume what was paused
	}
	set := map[[2]string]*state.Pause{}
	for _, p := range ps {
		set[[2]string{p.Pipeline, p.Trigger}] = p
	}
	c.set, c.read = set, time.Now()
	return set
}
