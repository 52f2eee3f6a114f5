package serve

import (
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
)

// This file is what the console reads of a running server: the
// pipelines in force and what their nodes have done since it started.

// Pipeline returns the version of the pipeline named name in force.
func (s *Server) Pipeline(name string) (*Pipeline, bool) {
	p := s.set.Load().byName[name]
	if p == nil {
		return nil, false
	}
	return p.Pipeline, true
}

// Queue is the serve state the server runs on.
func (s *Server) Queue() state.Queue { return s.cfg.Queue }

// Draining reports whether a drain has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

// NodeTotals are a pipeline's per-node counts since the server started,
// by node name, added up over every run.
func (s *Server) NodeTotals(pipeline string) map[string]engine.NodeStats {
	return s.totals.of(pipeline)
}

// LastRun is when a run of the pipeline last committed; zero when none
// has since the server started.
func (s *Server) LastRun(pipeline string) time.Time {
	return s.totals.last(pipeline)
}

// nodeTotals keeps the per-node counts of every run, by pipeline.
type nodeTotals struct {
	mu    sync.Mutex
	by    map[string]map[string]engine.NodeStats
	lastT map[string]time.Time
}

func (t *nodeTotals) add(pipeline string, at time.Time, ns []engine.NodeStats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.by == nil {
		t.by, t.lastT = map[string]map[string]engine.NodeStats{}, map[string]time.Time{}
	}
	m := t.by[pipeline]
	if m == nil {
		m = map[string]engine.NodeStats{}
		t.by[pipeline] = m
	}
	for _, n := range ns {
		cur := m[n.Name]
		cur.Name, cur.Kind, cur.Section = n.Name, n.Kind, n.Section
		cur.In += n.In
		cur.Out += n.Out
		cur.Dropped += n.Dropped
		cur.Errored += n.Errored
		cur.Deferred += n.Deferred
		m[n.Name] = cur
	}
	t.lastT[pipeline] = at
}

func (t *nodeTotals) of(pipeline string) map[string]engine.NodeStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]engine.NodeStats{}
	for k, v := range t.by[pipeline] {
		out[k] = v
	}
	return out
}

func (t *nodeTotals) last(pipeline string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastT[pipeline]
}

// TriggerInfo is one trigger of a pipeline in force, for the console.
type TriggerInfo struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // webhook, cron, ...
	// Cron triggers: the next tick from now, in the schedule's zone.
	Next time.Time `json:"next,omitzero"`
	Zone string    `json:"zone,omitempty"`
}

// Triggers lists the pipeline's triggers, in file order.
func (s *Server) Triggers(pipeline string, now time.Time) []TriggerInfo {
	p := s.set.Load().byName[pipeline]
	if p == nil {
		return nil
	}
	var out []TriggerInfo
	for _, t := range p.Plan.Triggers {
		ti := TriggerInfo{Name: t.Name, Kind: t.Kind}
		if sch, ok := p.schedules[t.Name]; ok {
			ti.Next = sch.Next(now.In(sch.Location()))
			ti.Zone = sch.Location().String()
		}
		out = append(out, ti)
	}
	return out
}

// Inventory is the inventory store the server's pipelines allocate
// against; nil when none uses one.
func (s *Server) Inventory() state.Store { return s.cfg.Inventory }
