package engine

import (
	"errors"
	"fmt"
	"sync"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// Running is a run in progress (Start). Its rules can be swapped while
// records flow (ReloadRules); Wait returns what Run would have.
type Running struct {
	plan *pipelines.Plan
	g    *graph
	rt   *component.Runtime

	mu      sync.Mutex // serialises reloads
	version string

	done chan struct{}
	res  *Result
	err  error
}

// Wait waits for the run to end and returns its result.
func (x *Running) Wait() (*Result, error) {
	<-x.done
	return x.res, x.err
}

// RulesVersion is the version of the rules in force: Options.RulesVersion,
// then that of the last rules ReloadRules swapped in.
func (x *Running) RulesVersion() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.version
}

// ErrRulesRejected is returned, wrapped, when ReloadRules keeps the rules
// in force.
var ErrRulesRejected = errors.New("rules rejected; the previous rules stay in force")

// ReloadRules loads the pipeline file again, with its rules file as it is
// now, and swaps the new rule sets in while the run goes on. The whole
// pipeline is loaded and compiled with the new rules first; only when that
// finds no errors, and every step using rule sets has compiled its new
// ones, are they all put in force, each step's at once: an order is decided
// by the rules before the swap or by those after it, never by a mix.
// Otherwise the error wraps ErrRulesRejected and the previous rules stay
// in force. The diagnostics, and the file loaded (for its sources, to
// render them), are returned either way.
//
// Only rule sets are swapped: the steps, sources and sinks are compiled to
// check the rules against them, but a change to them needs a new run. New
// rules that read fields of the order the running steps do not decode (an
// override on a field nothing read before) are rejected for the same
// reason.
func (x *Running) ReloadRules(opts pipelines.Options) (*pipelines.File, diag.Diagnostics, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	f, ds := pipelines.Load(x.plan.File, opts.LoadOptions)
	if f == nil || ds.HasErrors() {
		return f, ds.Sorted(), fmt.Errorf("the pipeline or its rules file has errors: %w", ErrRulesRejected)
	}
	plan, cds := pipelines.Compile(f, opts)
	ds = append(ds, cds...).Sorted()
	if ds.HasErrors() {
		return f, ds, fmt.Errorf("the pipeline with the new rules has errors: %w", ErrRulesRejected)
	}
	version := f.RulesVersion()
	ruleSet := ruleSets(plan)
	var commits []func()
	for _, n := range x.g.nodes {
		ru, ok := n.step.(component.RuleUser)
		if !ok {
			continue
		}
		if !n.decode.Covers(reads(plan, n.plan)) {
			return f, ds, fmt.Errorf("step %q: the new rules read fields of the record the running step does not decode (restart the run to use them): %w", n.name(), ErrRulesRejected)
		}
		commit, err := ru.PrepareRules(component.BuildContext{
			Name: n.name(), Config: n.plan.Config, Input: n.plan.Input, Runtime: x.rt, Decode: n.decode,
			RuleSet: ruleSet, RulesVersion: version, Pipeline: plan.Name,
		})
		if err != nil {
			return f, ds, fmt.Errorf("step %q: %v: %w", n.name(), err, ErrRulesRejected)
		}
		commits = append(commits, commit)
	}
	for _, c := range commits {
		c()
	}
	x.version = version
	return f, ds, nil
}
