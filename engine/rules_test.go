package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// The engine hands a step the rule set it names: settings, when and
// overrides, as the plan compiled them.
func TestBuildContextRuleSet(t *testing.T) {
	var probe struct {
		cfg, when, overrides *component.Value
		ok, absent           bool
	}
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	reg.Add(&component.Spec{
		Kind:    "rule_probe",
		Section: component.StepSection,
		Summary: "Reads a rule set when built.",
		Config: &component.Field{Kind: component.ObjectField, Doc: "Settings.", Fields: []*component.Field{
			{Name: "rules", Kind: component.RefField, RefTo: component.RuleSection, RefKind: "fulfillment", Required: true, Doc: "The rule set."},
		}},
		NewStep: func(ctx component.BuildContext) (component.Step, error) {
			probe.cfg, probe.when, probe.overrides, probe.ok = ctx.RuleSet(ctx.Config.Get("rules").Str)
			_, _, _, probe.absent = ctx.RuleSet("absent")
			return nil, errors.New("probe only")
		},
	})
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.SystemClock{}),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(),
	}
	src := `pipeline: p
rules:
  f:
    fulfillment: {split: {max_shipments: 2}}
    when: 'x > 1'
    overrides:
      - when: 'x > 5'
        set: {split: {max_shipments: 1}}
sources:
  in:
    stdin: {}
steps:
  probe:
    from: in
    rule_probe: {rules: f}
sinks:
  out:
    from: probe
    stdout: {}
`
	f, ds := pipelines.LoadBytes("p.yaml", []byte(src), opts.LoadOptions)
	plan, cds := pipelines.Compile(f, opts)
	if all := append(ds, cds...); all.HasErrors() {
		t.Fatalf("does not compile: %v", all.Err())
	}
	// The probe refuses to build, so the run stops there.
	if _, err := engine.Run(context.Background(), plan, engine.Options{DryRun: true}); err == nil {
		t.Fatal("run did not stop at the probe")
	}
	if !probe.ok || probe.absent {
		t.Fatalf("RuleSet found f: %v, found a rule set that does not exist: %v", probe.ok, probe.absent)
	}
	if got := probe.cfg.Get("split").Get("max_shipments"); got == nil || got.Int != 2 {
		t.Errorf("config split.max_shipments = %v, want 2", got)
	}
	if probe.when == nil || probe.when.Str != "x > 1" || probe.when.Expr == nil {
		t.Errorf("when = %+v, want the compiled x > 1", probe.when)
	}
	if probe.overrides == nil || len(probe.overrides.List) != 1 {
		t.Errorf("overrides = %+v, want one", probe.overrides)
	}
}
