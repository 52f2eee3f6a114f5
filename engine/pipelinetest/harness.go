package pipelinetest

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/engine"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
)

// Tap is a source's or step's output whose records a dry run keeps, as it
// keeps what each sink would receive. Output "" is the default output.
type Tap struct {
	Node   string
	Output string
}

func (t Tap) String() string {
	if t.Output == "" {
		return t.Node
	}
	return t.Node + "." + t.Output
}

// DryRunOptions say what to feed a dry run and what to keep of it.
type DryRunOptions struct {
	// Runtime is handed to every node; DryRun is set on it.
	Runtime *component.Runtime
	// Inputs are fed at sources or steps, in order.
	Inputs []engine.Input
	// Taps are outputs of sources and steps to capture besides the sinks.
	Taps []Tap
	// Trace records each record's path (record.Trace).
	Trace bool
}

// DryRunResult is what a dry run did: the engine's result, with the taps'
// records beside the sinks' captures.
type DryRunResult struct {
	*engine.Result
	Taps map[Tap][]*record.Record
	// NotRun are the nodes left out because their kind, or the kind of a
	// node before them, cannot run yet.
	NotRun []NotRun
}

// NotRun is a node a dry run left out.
type NotRun struct {
	Node    string
	Section component.Section
	Kind    string
	// Because names the node whose kind cannot run: Node itself, or a node
	// every input of Node comes through.
	Because string
	// Records are those that reached Node when Because is Node itself:
	// what it would have been given.
	Records []*record.Record
}

// Records returns what reached a node's output in the run: a sink's
// captured records for a sink (output ""), the tap's records otherwise.
func (r *DryRunResult) Records(node, output string) []*record.Record {
	if c, ok := r.Captured[node]; ok && output == "" {
		return c.Records
	}
	return r.Taps[Tap{node, output}]
}

// DryRun runs a compiled plan on injected records with every sink replaced
// by a capture: nothing outside the process changes.
//
// Two things the engine does not do yet are done here, on a copy of the
// plan: steps whose kind has no run-time part
// are replaced by captures, so a pipeline can be dry-run and tested up to
// them, with the nodes only they feed left out (DryRunResult.NotRun says
// which); and taps are added as extra capturing sinks.
func DryRun(ctx context.Context, plan *pipelines.Plan, opts DryRunOptions) (*DryRunResult, error) {
	prep, err := prepare(plan, opts.Taps, fedNodes(opts.Inputs))
	if err != nil {
		return nil, err
	}
	for _, in := range opts.Inputs {
		if nr, ok := prep.notRun[in.Node]; ok {
			return nil, fmt.Errorf("cannot feed %s: %s", in.Node, prep.reason(nr))
		}
	}
	rt := &component.Runtime{Clock: component.SystemClock{}}
	if opts.Runtime != nil {
		c := *opts.Runtime
		rt = &c
	}
	rt.DryRun = true
	res, err := engine.Run(ctx, prep.plan, engine.Options{DryRun: true, Trace: opts.Trace, Inputs: opts.Inputs, Runtime: rt, Workers: 1})
	if res == nil {
		return nil, err
	}
	out := &DryRunResult{Result: res, Taps: map[Tap][]*record.Record{}}
	// Taps and left-out nodes are this harness's; the result reads as if
	// the plan had run as written.
	var nodes []engine.NodeStats
	for _, st := range res.Nodes {
		if t, ok := prep.taps[st.Name]; ok {
			if c := res.Captured[st.Name]; c != nil {
				out.Taps[t] = c.Records
			} else {
				out.Taps[t] = nil
			}
			delete(res.Captured, st.Name)
			continue
		}
		if nr, ok := prep.notRun[st.Name]; ok {
			if c := res.Captured[st.Name]; c != nil {
				nr.Records = c.Records
			}
			delete(res.Captured, st.Name)
			st.Section, st.Kind = nr.Section, nr.Kind
			prep.notRun[st.Name] = nr
		}
		nodes = append(nodes, st)
	}
	res.Nodes = nodes
	for _, n := range plan.Nodes {
		if nr, ok := prep.notRun[n.Name]; ok {
			out.NotRun = append(out.NotRun, nr)
		}
	}
	return out, err
}

type prepared struct {
	plan   *pipelines.Plan
	taps   map[string]Tap    // tap node name -> tap
	notRun map[string]NotRun // by node name
}

func (p *prepared) reason(nr NotRun) string {
	if nr.Because == nr.Node {
		return fmt.Sprintf("%s %s is of kind %s, which cannot run yet", nr.Section, nr.Node, nr.Kind)
	}
	return fmt.Sprintf("%s %s comes after %s, whose kind cannot run yet", nr.Section, nr.Node, nr.Because)
}

// cannotRun reports whether a node's kind has no run-time part a dry run
// needs. Sources are not read in dry runs and sinks are captured, so only
// steps count.
func cannotRun(n *pipelines.Node) bool {
	return n.Section == component.StepSection && (n.Spec == nil || n.Spec.NewStep == nil)
}

// TapName is the name a tap's capturing sink runs under: not a name a
// pipeline can use, since names cannot hold a colon.
func tapName(t Tap) string { return "tap:" + t.String() }

func fedNodes(inputs []engine.Input) map[string]bool {
	out := map[string]bool{}
	for _, in := range inputs {
		out[in.Node] = true
	}
	return out
}

// prepare copies the plan for a dry run: steps that cannot run become
// captures, the nodes only they feed are left out (unless records are fed
// to them directly), taps become capturing sinks.
func prepare(plan *pipelines.Plan, taps []Tap, fed map[string]bool) (*prepared, error) {
	p := &prepared{taps: map[string]Tap{}, notRun: map[string]NotRun{}}
	byName := map[string]*pipelines.Node{}
	for _, n := range plan.Nodes {
		byName[n.Name] = n
	}
	// Nodes whose kind cannot run, then the nodes every input of which
	// comes from one of those and that are not fed directly (to a
	// fixpoint).
	gone := map[string]string{} // node -> the node it is gone because of
	for _, n := range plan.Nodes {
		if cannotRun(n) {
			gone[n.Name] = n.Name
		}
	}
	for changed := len(gone) > 0; changed; {
		changed = false
		for _, n := range plan.Nodes {
			if _, ok := gone[n.Name]; ok || len(n.Inputs) == 0 || fed[n.Name] {
				continue
			}
			because := ""
			all := true
			for _, e := range n.Inputs {
				b, ok := gone[e.From.Name]
				if !ok {
					all = false
					break
				}
				if because == "" {
					because = b
				}
			}
			if all {
				gone[n.Name] = because
				changed = true
			}
		}
	}
	var nodes []*pipelines.Node
	for _, n := range plan.Nodes {
		because, isGone := gone[n.Name]
		if isGone {
			p.notRun[n.Name] = NotRun{Node: n.Name, Section: n.Section, Kind: n.Kind, Because: because}
			if because != n.Name {
				continue
			}
			// The node itself cannot run: a capture stands in for it, so the
			// records it would be given are kept.
			c := *n
			c.Section = component.SinkSection
			c.Spec = &component.Spec{Kind: n.Kind, Section: component.SinkSection}
			c.Inputs = keptInputs(n.Inputs, gone)
			if len(c.Inputs) == 0 {
				continue
			}
			nodes = append(nodes, &c)
			continue
		}
		c := n
		if kept := keptInputs(n.Inputs, gone); len(kept) != len(n.Inputs) {
			cp := *n
			cp.Inputs = kept
			c = &cp
		}
		if n.Section == component.SourceSection && n.Spec != nil && n.Spec.NewSource == nil {
			// Dry runs do not read sources, yet the engine refuses to build
			// a source kind without a reader (event sources, until serve).
			cp := *c
			spec := *n.Spec
			spec.NewSource = func(component.BuildContext) (component.Source, error) {
				return nil, fmt.Errorf("source kind %s is not read in dry runs", n.Kind)
			}
			cp.Spec = &spec
			c = &cp
		}
		nodes = append(nodes, c)
	}
	for _, t := range taps {
		name := tapName(t)
		if _, dup := p.taps[name]; dup {
			continue
		}
		n, ok := byName[t.Node]
		if !ok {
			return nil, fmt.Errorf("no source or step named %q", t.Node)
		}
		if nr, ok := p.notRun[t.Node]; ok {
			return nil, fmt.Errorf("cannot capture %s: %s", t, p.reason(nr))
		}
		if n.Section == component.SinkSection {
			return nil, fmt.Errorf("cannot tap sink %s: its captured records are the result", t.Node)
		}
		if !slices.Contains(n.OutputNames, t.Output) {
			return nil, fmt.Errorf("%s %s has no output %q (it has %s)", n.Section, n.Name, t.Output, strings.Join(n.OutputNames, ", "))
		}
		p.taps[name] = t
		nodes = append(nodes, &pipelines.Node{
			Name:    name,
			Section: component.SinkSection,
			Kind:    "tap",
			Spec:    &component.Spec{Kind: "tap", Section: component.SinkSection},
			Inputs:  []pipelines.Edge{{From: n, Output: t.Output}},
			Input:   n.Outputs[t.Output],
			Outputs: map[string]*component.Type{},
		})
	}
	cp := *plan
	cp.Nodes = nodes
	p.plan = &cp
	return p, nil
}

func keptInputs(in []pipelines.Edge, gone map[string]string) []pipelines.Edge {
	var out []pipelines.Edge
	for _, e := range in {
		if _, ok := gone[e.From.Name]; !ok {
			out = append(out, e)
		}
	}
	return out
}
