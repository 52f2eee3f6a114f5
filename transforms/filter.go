package transforms

import (
	"context"
	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var filterSpec = &component.Spec{
	Kind:    "filter",
	Section: component.StepSection,
	Summary: "Keeps the records for which a condition holds; drops the rest.",
	Description: "The condition must be a boolean expression. Kept records pass through unchanged; dropped ones " +
		"are counted in the run summary. A record whose condition fails to evaluate, or gives something other " +
		"than true or false (a field of a record of unknown shape holding text, or missing), goes to the " +
		"`error` output: it is never dropped silently.",
	Config: &component.Field{Kind: component.ExprField, Required: true, Result: component.BoolType,
		Doc: "Condition over the input record.", Examples: []any{"!test && len(line_items) > 0"}},
	PassThrough: true,
	NewStep: func(ctx component.BuildContext) (component.Step, error) {
		p, err := program(ctx.Config, "the condition")
		if err != nil {
			return nil, err
		}
		return &filterStep{name: ctx.Name, cond: p, decode: ctx.Decode}, nil
	},
	Examples: []component.Example{{
		Title: "Skip test orders",
		YAML: `steps:
  real_orders:
    from: orders
    filter: "!test && len(line_items) > 0"`,
	}},
}

type filterStep struct {
	name   string
	cond   *exprs.Program
	decode *record.Projection
}

func (s *filterStep) NewWorker() component.StepWorker { return &filterWorker{step: s} }

type filterWorker struct {
	step *filterStep
	vm   vm.VM
}

func (w *filterWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	keep, err := evalBool(w.step.cond, &w.vm, rec.Fields(w.step.decode))
	switch {
	case err != nil:
		emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
	case keep:
		emit(component.DefaultOutput, rec)
	}
}
