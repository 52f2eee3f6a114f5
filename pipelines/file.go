package pipelines

import (
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
)

// File is a loaded pipeline file: every entry decoded against its kind's spec
// and positioned. It may still hold reference and type errors; Compile finds
// those.
type File struct {
	Path        string
	Name        string
	NameRange   diag.Range
	Description string
	// RulesPath is the rules file the pipeline named, if any; its rule sets
	// are in Entries like inline ones.
	RulesPath string
	// RulesFailed is set when the rules file could not be read, so the
	// compiler does not also report every reference to its rule sets.
	RulesFailed bool
	Entries     []*Entry // in file order, triggers, sources, steps, sinks, rules
	// Sources holds the text of the pipeline file and every file it pulled
	// in, for rendering diagnostics.
	Sources diag.Sources
}

// Entry is one named trigger, source, step, sink or rule set.
type Entry struct {
	Section   component.Section
	Name      string
	NameRange diag.Range
	Kind      string
	KindRange diag.Range
	Spec      *component.Spec // nil when the kind is missing or unknown
	Config    *component.Value
	// Common holds the settings every entry of the section may have
	// (description, from, schema, trigger, when, overrides), by key.
	Common map[string]*component.Value
	// From lists the inputs of a step or sink.
	From []Ref
}

// Ref is a reference to a node's output: `name` or `name.output`.
type Ref struct {
	Node   string
	Output string // "" for the default output
	Range  diag.Range
}

func (r Ref) String() string {
	if r.Output == "" {
		return r.Node
	}
	return r.Node + "." + r.Output
}

// Entries returns the entries of one section, in file order.
func (f *File) EntriesOf(sec component.Section) []*Entry {
	var out []*Entry
	for _, e := range f.Entries {
		if e.Section == sec {
			out = append(out, e)
		}
	}
	return out
}
