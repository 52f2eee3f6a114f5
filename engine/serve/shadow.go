package serve

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
)

// A shadow is a candidate version of a pipeline's rules run beside the
// live one on the same orders: each order the live allocate step decides
// is decided again by the candidate's, against exactly the stock the live
// decision saw (its explanation), and the two outcomes compared. The
// candidate writes nothing and sends nothing; it lives in this process
// until stopped or the server stops.

// Comparer tells how a live decision and the candidate's differ: their
// outcomes and whether they are the same (explanations, as JSON).
type Comparer func(live, candidate []byte) (from, to string, same bool)

// ShadowReport is what a shadow has seen so far.
type ShadowReport struct {
	Hash        string         `json:"plan_hash"`
	Since       time.Time      `json:"since"`
	Orders      int            `json:"orders"`
	Differ      int            `json:"differ"`
	Failed      int            `json:"failed"`      // the candidate could not decide
	Transitions map[string]int `json:"transitions"` // "from → to"
	Samples     []ShadowSample `json:"samples"`
}

// ShadowSample is an order the candidate decided otherwise.
type ShadowSample struct {
	Ref      string `json:"ref"`
	From, To string
}

type shadow struct {
	mu       sync.Mutex
	report   ShadowReport
	decide   component.Redecider
	compare  Comparer
	pipeline string
}

// StartShadow runs candidate (the pipeline compiled with a rules change)
// in shadow of the pipeline's live version, replacing any shadow it had.
func (s *Server) StartShadow(pipeline, hash string, candidate *pipelines.Plan, compare Comparer) error {
	p, ok := s.Pipeline(pipeline)
	if !ok {
		return errors.New("no pipeline " + pipeline + " is served")
	}
	var step string
	for _, n := range candidate.Nodes {
		if n.Kind == "allocate" {
			step = n.Name
			break
		}
	}
	if step == "" {
		return errors.New(pipeline + " has no allocate step to shadow")
	}
	rt := s.runtime(p)
	rt.DryRun = true
	d, err := engine.Redecider(context.Background(), candidate, step, rt)
	if err != nil {
		return err
	}
	sh := &shadow{decide: d, compare: compare, pipeline: pipeline,
		report: ShadowReport{Hash: hash, Since: s.cfg.Clock.Now(), Transitions: map[string]int{}}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shadows == nil {
		s.shadows = map[string]*shadow{}
	}
	s.shadows[pipeline] = sh
	return nil
}

// StopShadow ends the pipeline's shadow, if it has one.
func (s *Server) StopShadow(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.shadows, pipeline)
}

// Shadow reports the pipeline's shadow, if it has one.
func (s *Server) Shadow(pipeline string) (ShadowReport, bool) {
	s.mu.Lock()
	sh := s.shadows[pipeline]
	s.mu.Unlock()
	if sh == nil {
		return ShadowReport{}, false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.report
	r.Transitions = map[string]int{}
	for k, v := range sh.report.Transitions {
		r.Transitions[k] = v
	}
	r.Samples = append([]ShadowSample(nil), sh.report.Samples...)
	return r, true
}

func (s *Server) shadowOf(pipeline string) *shadow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shadows[pipeline]
}

// explained is a live decision a run made, for its shadow.
type explained struct {
	ref  string
	data []byte
}

// compare decides the run's live decisions again with the candidate.
func (sh *shadow) compareAll(ctx context.Context, live []explained) {
	for _, e := range live {
		out, err := sh.decide.Redecide(ctx, e.data)
		sh.mu.Lock()
		sh.report.Orders++
		switch {
		case errors.Is(err, component.ErrNotInScope):
			// a pilot scope the order is not in: the live rules decide it
		case err != nil:
			sh.report.Failed++
		default:
			from, to, same := sh.compare(e.data, out.Explanation)
			if !same {
				sh.report.Differ++
				sh.report.Transitions[from+" → "+to]++
				if len(sh.report.Samples) < 10 {
					sh.report.Samples = append(sh.report.Samples, ShadowSample{Ref: e.ref, From: from, To: to})
				}
			}
		}
		sh.mu.Unlock()
	}
}
