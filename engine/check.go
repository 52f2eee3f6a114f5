package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Check builds every step and sink of a compiled plan the way a run builds
// them, without starting anything, and reports what building them found,
// at the settings at fault: a lookup table or schema file that is not
// there, a `$keep` field the records cannot have, anything a kind can only
// find when it is built. So `pipectl validate` finds what `pipectl run`
// would fail on at load (DESIGN.md §3), and validate, graph, dry-run, test
// and run all check through it (pipelines.Options.Check).
//
// Building happens with a Runtime that does no observable I/O: a dry run's,
// with no standard streams, and a state store that is never called (kinds
// only keep it when they are built). What building makes is let go without
// being started or closed, since closing a sink may write (an empty file
// sink writes its empty file). Sources are not built: building one reads
// the data it will run on (a file source globs its input), which is not
// there where a pipeline is validated, and unlike the files a pipeline
// ships with, not missing.
//
// A node that already has an error (its kind, its settings, its
// expressions, the rule sets it names) is not built: it would only fail
// for the reason already reported. Nor does an error count that may come
// from a ${VAR} not set where validate runs.
func Check(p *pipelines.Plan) diag.Diagnostics { return CheckWith(p, nil) }

// CheckWith is Check for a run whose lookup steps read tables given by step
// name (Runtime.Tables), as pipeline tests give them: those steps read no
// table file, so none needs to be there.
func CheckWith(p *pipelines.Plan, tables map[string][]map[string]any) diag.Diagnostics {
	rt := &component.Runtime{
		Tables:    tables,
		Clock:     component.SystemClock{},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Dir:       filepath.Dir(p.File),
		LookupEnv: func(string) (string, bool) { return "", false },
		Stdin:     strings.NewReader(""),
		Stdout:    io.Discard,
		DryRun:    true,
		Inventory: unusedStore{},
		Keys:      unusedStore{},
	}
	g := buildGraph(p)
	ruleSet := ruleSets(p)
	var ds diag.Diagnostics
	for _, n := range g.nodes {
		pn := n.plan
		if pn.Section == component.SourceSection || !buildable(p, pn) {
			continue
		}
		ctx := component.BuildContext{Name: pn.Name, Config: pn.Config, Input: pn.Input, Runtime: rt, Decode: n.decode,
			RuleSet: ruleSet, Pipeline: p.Name, Fail: func(*record.Record, error) {}}
		ds = append(ds, diagnose(pn, buildNode(pn, ctx))...)
	}
	return ds
}

// buildNode builds one step or sink. A kind that panics while being built
// is reported as an error of the node rather than taking validate down.
func buildNode(n *pipelines.Node, ctx component.BuildContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error while building it: %v", r)
		}
	}()
	switch n.Section {
	case component.StepSection:
		if n.Spec.NewStep != nil {
			_, err = n.Spec.NewStep(ctx)
		}
	case component.SinkSection:
		if n.Spec.NewSink != nil {
			_, err = n.Spec.NewSink(ctx)
		}
	}
	return err
}

// buildable reports whether a node can be built without failing for a
// reason already reported: its kind and settings decoded, every expression
// in it and in the rule sets it names compiled, every name it references
// exists.
func buildable(p *pipelines.Plan, n *pipelines.Node) bool {
	if n.Broken || n.Spec == nil || n.Config == nil {
		return false
	}
	ok := true
	var walk func(v *component.Value, depth int)
	walk = func(v *component.Value, depth int) {
		v.Walk(func(x *component.Value) {
			if x.IsExpr && x.Field != nil && x.Expr == nil {
				ok = false
			}
			if x.Field == nil || x.Field.Kind != component.RefField || x.Str == "" {
				return
			}
			target, found := p.Node(x.Str)
			if !found || target.Section != x.Field.RefTo {
				ok = false
				return
			}
			if target.Section == component.RuleSection && depth == 0 {
				if target.Broken || target.Config == nil {
					ok = false
					return
				}
				walk(target.Config, 1)
				walk(target.Common["when"], 1)
				walk(target.Common["overrides"], 1)
			}
		})
	}
	walk(n.Config, 0)
	return ok
}

// diagnose turns what building a node returned into diagnostics: a
// SettingError at its setting, anything else at the node's name.
func diagnose(n *pipelines.Node, err error) diag.Diagnostics {
	if err == nil {
		return nil
	}
	var ds diag.Diagnostics
	unresolved := false
	n.Config.Walk(func(v *component.Value) { unresolved = unresolved || v.Unresolved })
	for _, e := range leaves(err) {
		var se *component.SettingError
		if errors.As(e, &se) && se.Value != nil {
			if se.Value.Unresolved {
				continue // its value is known only where the pipeline runs
			}
			code := se.Code
			if code == "" {
				code = component.CodeInvalidSetting
			}
			d := ds.Errorf(se.Value.Range, code, "%s", se.Err)
			d.Hint = se.Hint
			continue
		}
		if unresolved {
			continue // may well come from the ${VAR} not set here
		}
		d := ds.Errorf(n.Range, pipelines.CodeBuildFailed, "%s %q cannot be built: %v", n.Section, n.Name, e)
		d.Detail = "a run would stop here, before reading any record"
	}
	return ds
}

// leaves flattens errors joined with errors.Join.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// unusedStore is the state store of a check: kinds keep the store they are
// given when they are built and use it only once they run, which a check
// never does. Calling it would be a kind doing I/O while being built; the
// nil interfaces make that a panic, which buildNode reports.
type unusedStore struct {
	component.Inventory
	component.KeyLog
}
