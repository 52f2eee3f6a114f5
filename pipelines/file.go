package pipelines

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

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
	// Alerts is the decoded `alerts:` section (AlertsField), nil when the
	// file has none or it has errors; AlertsRange is its key.
	Alerts      *component.Value
	AlertsRange diag.Range
	// Sources holds the text of the pipeline file and every file it pulled
	// in, for rendering diagnostics.
	Sources diag.Sources
	// Secrets are the values of secret settings and of the environment
	// variables whose names mark them secret, longest first: whatever
	// pipectl prints about this pipeline (run errors, error records) is
	// masked with them, wherever the value was interpolated.
	Secrets []string
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
	// AlsoRead lists the references of a second `from:` key, which is an
	// error and not an input: the nodes it names count as read, so one
	// mistake is reported once.
	AlsoRead []Ref
	// Broken is set when the kind is missing or unknown, or its settings
	// did not decode: what the entry emits is unknown, and nothing
	// downstream is checked against a guess.
	Broken bool
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

// RulesFile returns the path of the rules file the pipeline names,
// resolved against the pipeline file's directory as the loader resolves
// it; "" when the rule sets are inline or there are none.
func (f *File) RulesFile() string {
	if f.RulesPath == "" {
		return ""
	}
	if filepath.IsAbs(f.RulesPath) {
		return f.RulesPath
	}
	return filepath.Join(filepath.Dir(f.Path), f.RulesPath)
}

// RulesVersion names the version of the pipeline's rules: the first 12
// hex digits of the SHA-256 of the rules file's text, or of the pipeline
// file's when the rule sets are inline. Explanations record it, so a
// decision can be traced to the rules that made it.
func (f *File) RulesVersion() string {
	src, ok := f.Sources[f.RulesFile()]
	if f.RulesPath == "" || !ok {
		src = f.Sources[f.Path]
	}
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:6])
}
