package transforms

import (
	"context"
	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

var routeSpec = &component.Spec{
	Kind:    "route",
	Section: component.StepSection,
	Summary: "Sends each record to named outputs by condition.",
	Description: "Each entry under `routes:` is a named output and its condition; downstream nodes read " +
		"`step.name`. With `mode: first` a record takes the first route whose condition holds; with " +
		"`mode: all` it takes every one. Records no route takes leave through `unmatched`. Records pass through unchanged.\n\n" +
		"Conditions are evaluated in the order written (with `mode: first`, up to the first that holds) before " +
		"the record is sent anywhere, so a record whose condition fails to evaluate, or is not a boolean, goes to " +
		"the `error` output only, never down some routes and not others.",
	Config: &component.Field{Kind: component.ObjectField, Required: true, Doc: "Routing settings.",
		Fields: []*component.Field{
			{Name: "routes", Kind: component.MapField, Required: true,
				Doc:      "Output name -> condition over the record.",
				Elem:     &component.Field{Kind: component.ExprField, Result: component.BoolType, Doc: "condition"},
				Examples: []any{map[string]any{"express": `shipping_lines[0].code == "EXPRESS"`}}},
			{Name: "mode", Kind: component.EnumField, Enum: []string{"first", "all"}, Default: "first",
				Doc: "`first`: the first matching route only; `all`: every matching route."},
		}},
	Outputs:     []component.Output{{Name: "unmatched", Doc: "Records that matched no route."}},
	OutputsFrom: "routes",
	PassThrough: true,
	NewStep:     newRoute,
	Examples: []component.Example{{
		Title: "Express orders to their own sink",
		YAML: `steps:
  by_speed:
    from: orders
    route:
      routes:
        express: 'len(shipping_lines) > 0 && shipping_lines[0].code == "EXPRESS"'
        international: shipping_address.country_code != "US"
sinks:
  express_wms:
    from: by_speed.express
    stdout: {}`,
	}},
}

type route struct {
	name string
	cond *exprs.Program
}

type routeStep struct {
	name   string
	routes []route
	all    bool
	decode *record.Projection
}

func newRoute(ctx component.BuildContext) (component.Step, error) {
	s := &routeStep{name: ctx.Name, decode: ctx.Decode, all: ctx.Config.Get("mode").Str == "all"}
	routes := ctx.Config.Get("routes")
	for _, k := range routes.Keys {
		p, err := program(routes.Map[k], "route "+k)
		if err != nil {
			return nil, err
		}
		s.routes = append(s.routes, route{name: k, cond: p})
	}
	return s, nil
}

func (s *routeStep) NewWorker() component.StepWorker { return &routeWorker{step: s} }

type routeWorker struct {
	step *routeStep
	vm   vm.VM
}

// Process evaluates every condition before emitting anything, so a record
// whose condition fails goes to the error output only, never half-routed.
func (w *routeWorker) Process(ctx context.Context, rec *record.Record, emit component.Emit) {
	env := rec.Fields(w.step.decode)
	var matched []string
	for _, r := range w.step.routes {
		ok, err := evalBool(r.cond, &w.vm, env)
		if err != nil {
			emit(component.ErrorOutput, component.ErrorRecord(w.step.name, rec, err))
			return
		}
		if ok {
			matched = append(matched, r.name)
			if !w.step.all {
				break
			}
		}
	}
	if len(matched) == 0 {
		emit("unmatched", rec)
		return
	}
	for _, m := range matched {
		emit(m, rec)
	}
}
