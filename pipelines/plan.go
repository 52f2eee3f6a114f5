package pipelines

import (
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// Plan is a compiled pipeline: every reference resolved, every expression
// compiled and type-checked, the DAG acyclic. A Plan is never modified after
// Compile returns it, so the engine may share it between workers.
type Plan struct {
	Name        string
	Description string
	File        string
	// Nodes are the sources, steps and sinks in file order.
	Nodes    []*Node
	Triggers []*Node
	Rules    []*Node
	// Secrets are File.Secrets: the values to mask in what is printed.
	Secrets []string
	// Alerts are the `alerts:` settings `pipectl serve` posts with; nil
	// when the file has none.
	Alerts *AlertSettings
	byName map[string]*Node
}

// Node is a compiled trigger, source, step, sink or rule set.
type Node struct {
	Name    string
	Section component.Section
	Kind    string
	Spec    *component.Spec
	Config  *component.Value
	Common  map[string]*component.Value
	Range   diag.Range
	Inputs  []Edge
	Trigger *Node // the trigger of a source, if any
	// Input is the type of the records arriving at the node.
	Input *component.Type
	// Outputs maps output names ("" for the default output, "error", named
	// outputs) to the type of the records leaving through them.
	Outputs map[string]*component.Type
	// OutputNames lists the outputs in a stable order: default, named, error.
	OutputNames []string
	// Broken is set when the node's kind is missing or unknown or its
	// settings did not decode; such a plan never runs, and its outputs are
	// of unknown type so that nothing downstream is reported for it.
	Broken bool
}

// Edge is an input of a node: which node, which of its outputs.
type Edge struct {
	From   *Node
	Output string // "" for the default output
}

// Label is the edge's reference as written in the file.
func (e Edge) Label() string {
	if e.Output == "" {
		return e.From.Name
	}
	return e.From.Name + "." + e.Output
}

// Node returns a node (source, step, sink, trigger or rule set) by name.
func (p *Plan) Node(name string) (*Node, bool) {
	n, ok := p.byName[name]
	return n, ok
}

// ErrorRecordType is the shape of records on every `error` output: the node
// that failed, the error, and the original record.
func ErrorRecordType(input *component.Type) *component.Type {
	return component.ObjectOf(
		component.Property{Name: "node", Type: component.StringType},
		component.Property{Name: "error", Type: component.StringType},
		component.Property{Name: "record", Type: input},
	)
}

// UsesState reports whether running the plan needs a state store: some
// node reads or changes it (component.Spec.UsesState).
func (p *Plan) UsesState() bool {
	for _, n := range p.Nodes {
		if n.Spec != nil && n.Spec.UsesState != nil && n.Spec.UsesState(n.Config) {
			return true
		}
	}
	return false
}
