package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Redecider builds the step named step of p (an allocate step, say) on
// rt, for deciding recorded inputs again (component.Redecider): the
// console's rules backtest builds the candidate plan's step and asks it
// about the last orders, changing nothing.
func Redecider(ctx context.Context, p *pipelines.Plan, step string, rt *component.Runtime) (component.Redecider, error) {
	n, ok := p.Node(step)
	if !ok || n.Section != component.StepSection || n.Spec == nil || n.Spec.NewStep == nil {
		return nil, fmt.Errorf("%s has no step %q", p.Name, step)
	}
	g := buildGraph(p)
	var decode *record.Projection
	for _, gn := range g.nodes {
		if gn.plan == n {
			decode = gn.decode
		}
	}
	bctx := component.BuildContext{Name: n.Name, Config: n.Config, Input: n.Input, Runtime: rt, Decode: decode,
		RuleSet: ruleSets(p), Pipeline: p.Name, Fail: func(*record.Record, error) {}}
	s, err := n.Spec.NewStep(bctx)
	if err != nil {
		return nil, err
	}
	r, ok := s.(component.Redecider)
	if !ok {
		return nil, errors.New("a " + n.Kind + " step cannot decide recorded inputs again")
	}
	return r, nil
}
