package serve

import (
	"errors"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/engine/state"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// A shadow version is a candidate version of a pipeline's files (a
// changed mapping, a new step) run on the same deliveries as the live
// version, before it: as a dry run, so its sinks are captured and not
// delivered, and allocate decides against the same stock the live run
// then commits against, without committing. What each sink would have
// received is compared, per sink, with what the live version sent.

// VersionShadowReport is what a shadow version has seen so far.
type VersionShadowReport struct {
	Version    string               `json:"version"`
	Since      time.Time            `json:"since"`
	Deliveries int                  `json:"deliveries"`
	Failed     int                  `json:"failed_runs"`
	Sinks      map[string]SinkTally `json:"sinks"`
}

// SinkTally is how many records a sink received from the live version and
// would have from the candidate.
type SinkTally struct {
	Live      int64 `json:"live"`
	Candidate int64 `json:"candidate"`
}

type versionShadow struct {
	p      *served
	mu     sync.Mutex
	report VersionShadowReport
}

// ShadowVersion runs p, a candidate version of one of the served
// pipelines (the same name), in shadow of the live one.
func (s *Server) ShadowVersion(p *Pipeline) error {
	if _, ok := s.Pipeline(p.Plan.Name); !ok {
		return errors.New("no pipeline " + p.Plan.Name + " is served to shadow")
	}
	// Only its sources are needed: the live version's triggers take the
	// deliveries.
	sp := &served{Pipeline: p, sources: map[string][]string{}}
	for _, n := range p.Plan.Nodes {
		if n.Section == component.SourceSection && n.Trigger != nil {
			sp.sources[n.Trigger.Name] = append(sp.sources[n.Trigger.Name], n.Name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.versionShadows == nil {
		s.versionShadows = map[string]*versionShadow{}
	}
	s.versionShadows[p.Plan.Name] = &versionShadow{p: sp, report: VersionShadowReport{Version: p.Version, Since: s.cfg.Clock.Now(), Sinks: map[string]SinkTally{}}}
	return nil
}

// StopShadowVersion ends the pipeline's shadow version, if any.
func (s *Server) StopShadowVersion(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.versionShadows, pipeline)
}

// VersionShadow reports the pipeline's shadow version, if it has one.
func (s *Server) VersionShadow(pipeline string) (VersionShadowReport, bool) {
	s.mu.Lock()
	vs := s.versionShadows[pipeline]
	s.mu.Unlock()
	if vs == nil {
		return VersionShadowReport{}, false
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	r := vs.report
	r.Sinks = map[string]SinkTally{}
	for k, v := range vs.report.Sinks {
		r.Sinks[k] = v
	}
	return r, true
}

// runShadowVersion runs the deliveries through the candidate as a dry run
// and tallies what each sink would receive; called before the live run.
func (s *Server) runShadowVersion(pipeline string, ds []*state.Delivery) {
	s.mu.Lock()
	vs := s.versionShadows[pipeline]
	s.mu.Unlock()
	if vs == nil {
		return
	}
	var inputs []engine.Input
	for _, d := range ds {
		for _, src := range vs.p.sources[d.Trigger] {
			inputs = append(inputs, payloadRecords(vs.p, src, d, &record.Origin{Source: src, Seq: d.ID, Raw: d.Body})...)
		}
	}
	rt := s.runtime(vs.p.Pipeline)
	rt.DryRun, rt.RetryLater = true, false
	res, err := engine.Run(s.runCtx, vs.p.Plan, engine.Options{Runtime: rt, DryRun: true, Inputs: inputs, RulesVersion: vs.p.RulesVersion,
		Unhandled: func(*record.Record) {}})
	vs.mu.Lock()
	defer vs.mu.Unlock()
	vs.report.Deliveries += len(ds)
	if err != nil {
		vs.report.Failed++
		return
	}
	for name, c := range res.Captured {
		t := vs.report.Sinks[name]
		t.Candidate += int64(len(c.Records))
		vs.report.Sinks[name] = t
	}
}

// tallyLive adds what the live run's sinks received to the shadow's report.
func (s *Server) tallyLive(pipeline string, nodes []engine.NodeStats) {
	s.mu.Lock()
	vs := s.versionShadows[pipeline]
	s.mu.Unlock()
	if vs == nil {
		return
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for _, n := range nodes {
		if n.Section == component.SinkSection {
			t := vs.report.Sinks[n.Name]
			t.Live += n.In
			vs.report.Sinks[n.Name] = t
		}
	}
}
