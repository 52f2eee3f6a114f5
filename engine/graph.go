package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/pipelines/record"
)

// node is a plan node built for a run.
type node struct {
	plan    *pipelines.Node
	idx     int
	step    component.Step
	source  component.Source
	sink    component.Sink
	ordered bool // runs on the ordered stage: a sink, a stateful step, or after one
	// down maps an output name to the nodes reading it.
	down   map[string][]*node
	decode *record.Projection
	reads  *record.Projection
	// conform checks a source's records against its schema (admit), over
	// conformReads; nil when there is nothing to check.
	conform      *exprs.Conformance
	conformReads *record.Projection

	fails []failed // records a sink failed asynchronously, delivered after Close
}

type failed struct {
	rec *record.Record
	err error
}

func (n *node) name() string { return n.plan.Name }

// graph is the run-time DAG.
type graph struct {
	mask   *masker // nil when the pipeline has no secrets
	nodes  []*node // plan order
	topo   []*node // topological order
	byName map[string]*node
}

// reads is the projection of everything a node's expressions read of its
// input, including the rule sets it uses.
func reads(p *pipelines.Plan, n *pipelines.Node) *record.Projection {
	out := &record.Projection{}
	any := false
	var walk func(v *component.Value)
	walk = func(v *component.Value) {
		v.Walk(func(x *component.Value) {
			if prog, ok := x.Expr.(*exprs.Program); ok {
				out.Merge(prog.Reads())
				any = true
			}
			if x.Field != nil && x.Field.Kind == component.RefField && x.Field.RefTo == component.RuleSection {
				if r, ok := p.Node(x.Str); ok {
					walk(r.Config)
					walk(r.Common["when"])
					walk(r.Common["overrides"])
				}
			}
		})
	}
	walk(n.Config)
	if !any && n.Section == component.SinkSection {
		// A sink writes whole records.
		return record.AllFields
	}
	return out
}

func buildGraph(p *pipelines.Plan) *graph {
	g := &graph{byName: map[string]*node{}, mask: newMasker(p.Secrets)}
	for i, pn := range p.Nodes {
		n := &node{plan: pn, idx: i, down: map[string][]*node{}, reads: reads(p, pn)}
		g.nodes = append(g.nodes, n)
		g.byName[pn.Name] = n
	}
	for _, n := range g.nodes {
		for _, e := range n.plan.Inputs {
			up := g.byName[e.From.Name]
			up.down[e.Output] = append(up.down[e.Output], n)
		}
	}
	// Topological order (the compiler rejected cycles).
	indeg := map[*node]int{}
	for _, n := range g.nodes {
		indeg[n] = len(n.plan.Inputs)
	}
	for len(g.topo) < len(g.nodes) {
		progress := false
		for _, n := range g.nodes {
			if indeg[n] == 0 {
				indeg[n] = -1
				g.topo = append(g.topo, n)
				progress = true
				for _, ds := range n.down {
					for _, d := range ds {
						indeg[d]--
					}
				}
			}
		}
		if !progress {
			break
		}
	}
	for _, n := range g.topo {
		spec := n.plan.Spec
		n.ordered = n.plan.Section == component.SinkSection || (spec != nil && spec.Stateful)
		for _, e := range n.plan.Inputs {
			if g.byName[e.From.Name].ordered {
				n.ordered = true
			}
		}
	}
	// Decode projections: records flowing unchanged through pass-through
	// steps are decoded once, for everything the chain reads.
	for _, n := range g.nodes {
		n.decode = g.chainReads(n, map[*node]bool{})
	}
	// Steps after a pass-through step get the very projection it decoded
	// with when it covers theirs, so the decoded fields are found by
	// pointer, without comparing projections on every record.
	for _, n := range g.topo {
		if spec := n.plan.Spec; spec == nil || !spec.PassThrough {
			continue
		}
		for out, ds := range n.down {
			if out == component.ErrorOutput {
				continue
			}
			for _, d := range ds {
				if n.decode.Covers(d.decode) {
					d.decode = n.decode
				}
			}
		}
	}
	g.conformances()
	return g
}

// chainReads merges what n reads with what every pass-through step after it
// reads of the same records.
func (g *graph) chainReads(n *node, seen map[*node]bool) *record.Projection {
	out := &record.Projection{}
	out.Merge(n.reads)
	seen[n] = true
	if spec := n.plan.Spec; spec != nil && spec.PassThrough {
		for o, ds := range n.down {
			if o == component.ErrorOutput {
				continue
			}
			for _, d := range ds {
				if !seen[d] {
					out.Merge(g.chainReads(d, seen))
				}
			}
		}
	}
	return out
}

// ruleSets is BuildContext.RuleSet over the rule sets of p.
func ruleSets(p *pipelines.Plan) func(name string) (config, when, overrides *component.Value, ok bool) {
	return func(name string) (config, when, overrides *component.Value, ok bool) {
		r, ok := p.Node(name)
		if !ok || r.Section != component.RuleSection {
			return nil, nil, nil, false
		}
		return r.Config, r.Common["when"], r.Common["overrides"], true
	}
}

// build constructs every node's run-time part.
// Sources are built unless injected (records are fed instead) or not among
// sources (when not nil); sinks are captures in dry runs.
func (g *graph) build(p *pipelines.Plan, rt *component.Runtime, injected bool, rulesVersion string, sources []string) error {
	dryRun := rt.DryRun
	ruleSet := ruleSets(p)
	for _, n := range g.nodes {
		spec := n.plan.Spec
		if spec == nil {
			return fmt.Errorf("%s %q has no kind", n.plan.Section, n.name())
		}
		ctx := component.BuildContext{Name: n.name(), Config: n.plan.Config, Input: n.plan.Input, Runtime: rt, Decode: n.decode, RuleSet: ruleSet, RulesVersion: rulesVersion, Pipeline: p.Name}
		var err error
		switch n.plan.Section {
		case component.SourceSection:
			if !injected && (sources == nil || slices.Contains(sources, n.name())) {
				if spec.NewSource == nil {
					if len(spec.Triggers) > 0 && spec.TriggerRequired {
						return fmt.Errorf("source %q: kind %s reads what its trigger delivers (a webhook or a message), which only a long-running `pipectl serve` receives: serve it with `pipectl serve`, or try it on sample payloads with `pipectl dry-run --input` or `pipectl test`", n.name(), spec.Kind)
					}
					return fmt.Errorf("source %q: kind %s cannot run yet", n.name(), spec.Kind)
				}
				n.source, err = spec.NewSource(ctx)
			}
		case component.StepSection:
			if spec.NewStep == nil {
				return fmt.Errorf("step %q: kind %s cannot run yet", n.name(), spec.Kind)
			}
			n.step, err = spec.NewStep(ctx)
		case component.SinkSection:
			if dryRun {
				n.sink, err = newCapture(n, spec, ctx)
				break
			}
			if spec.NewSink == nil {
				return fmt.Errorf("sink %q: kind %s cannot run yet", n.name(), spec.Kind)
			}
			sn := n
			ctx.Fail = func(rec *record.Record, err error) { sn.fail(rec, err) }
			n.sink, err = spec.NewSink(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s %q: %w", n.plan.Section, n.name(), err)
		}
	}
	return nil
}

// start starts the nodes that have I/O to do before the run reads
// anything (component.Starter), in plan order; the first failure stops it.
func (g *graph) start(ctx context.Context) error {
	for _, n := range g.nodes {
		var part any
		switch {
		case n.source != nil:
			part = n.source
		case n.step != nil:
			part = n.step
		case n.sink != nil:
			part = n.sink
		}
		if s, ok := part.(component.Starter); ok {
			if err := s.Start(ctx); err != nil {
				return fmt.Errorf("%s %q: %w", n.plan.Section, n.name(), err)
			}
		}
	}
	return nil
}

// abandon releases what a build or start that failed part-way made: every
// sink built so far is closed without commit, so temporary files go and
// nothing is published.
func (g *graph) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range g.nodes {
		if n.sink != nil {
			n.sink.Close(ctx, false)
		}
	}
}
