package component

import (
	"fmt"
	"io"
	"time"

	"github.com/pipectl/pipectl/pipelines/record"
)

// Section is the part of a pipeline file a kind belongs to.
type Section int

const (
	SourceSection Section = iota
	StepSection
	SinkSection
	TriggerSection
	RuleSection
)

var sectionNames = [...]string{"source", "step", "sink", "trigger", "rule"}

func (s Section) String() string { return sectionNames[s] }

// MarshalText writes a section by name ("source"), so run histories and
// JSON reports read as words, not numbers.
func (s Section) MarshalText() ([]byte, error) {
	if int(s) < 0 || int(s) >= len(sectionNames) {
		return nil, fmt.Errorf("section %d does not exist", int(s))
	}
	return []byte(sectionNames[s]), nil
}

// UnmarshalText reads a section's name.
func (s *Section) UnmarshalText(b []byte) error {
	for i, n := range sectionNames {
		if n == string(b) {
			*s = Section(i)
			return nil
		}
	}
	return fmt.Errorf("%q is not a section (source, step, sink, trigger, rule)", b)
}

// Plural is the section's key in a pipeline file ("sources", "steps", ...).
func (s Section) Plural() string {
	if s == RuleSection {
		return "rules"
	}
	return s.String() + "s"
}

// Sections lists every section in file order.
var Sections = []Section{TriggerSection, SourceSection, StepSection, SinkSection, RuleSection}

// FieldKind is the type of a setting as written in YAML.
type FieldKind int

const (
	StringField   FieldKind = iota // any string, ${VAR} interpolated
	IntField                       // an integer
	NumberField                    // an integer or decimal number
	BoolField                      // true or false
	DurationField                  // a Go duration: 30s, 5m, 1h30m
	EnumField                      // one of Enum
	ExprField                      // an expression, compiled against the node's input
	MappingField                   // output field -> expression, nested objects allowed
	ObjectField                    // fixed sub-settings (Fields)
	ListField                      // a list of Elem
	MapField                       // name -> Elem, user-chosen names
	CronField                      // a cron schedule, seconds optional
	TimezoneField                  // an IANA time zone name
	RefField                       // the name of another node or rule set in the file
)

var fieldKindNames = [...]string{"string", "integer", "number", "boolean", "duration", "enum", "expression", "mapping", "object", "list", "map", "cron", "timezone", "reference"}

func (k FieldKind) String() string { return fieldKindNames[k] }

// Field declares one setting of a kind.
type Field struct {
	Name     string
	Kind     FieldKind
	Doc      string
	Required bool
	Default  any      // applied when the setting is absent
	Examples []any    // shown in docs and editor completion
	Enum     []string // allowed values of an EnumField
	Fields   []*Field // sub-settings of an ObjectField
	Elem     *Field   // element of a ListField or MapField
	Secret   bool     // never printed: validate, dry-run and logs redact it
	// Shorthand, on an ObjectField, names the sub-setting a plain scalar sets:
	// `schema: shopify/order` instead of `schema: {name: shopify/order}`.
	Shorthand string
	// Partial, on an ObjectField, makes every setting under it optional and
	// default-free: the `set` of a rule override changes only what it names.
	Partial bool
	// Result is what an ExprField must evaluate to; nil accepts anything.
	Result *Type
	// RefTo is the section a RefField names, and RefKind, when set, the
	// kind the named entry must be (an allocate step names a fulfillment
	// rule set).
	RefTo   Section
	RefKind string
}

// Sub returns the sub-setting with the given name.
func (f *Field) Sub(name string) *Field {
	for _, s := range f.Fields {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Output is a named output of a step, read downstream as `step.name`.
type Output struct {
	Name string
	Doc  string
}

// Example is a whole-pipeline snippet shown in the reference documentation.
type Example struct {
	Title string
	YAML  string
}

// TypeContext is what a kind's typing function sees: the type of the records
// arriving at the node and its decoded, compiled settings.
type TypeContext struct {
	Input  *Type
	Config *Value
}

// Spec declares a kind: what it is for, its settings, its outputs and how its
// output records are shaped.
type Spec struct {
	Kind        string
	Section     Section
	Summary     string // one line
	Description string // paragraphs, Markdown
	Config      *Field // the value under the kind's key
	// Outputs are the named outputs besides the default one. Every step and
	// sink also has an `error` output, added by the compiler.
	Outputs []Output
	// OutputsFrom, when set, names the MapField of Config whose keys are
	// further named outputs (a route's routes).
	OutputsFrom string
	// Input, when set, is the shape of record the kind needs; the compiler
	// reports upstream types that do not fit.
	Input *Type
	// OutputType computes the type of the records the node emits on its
	// default output and named outputs (by name). Nil means records pass
	// through unchanged. On a source, it refines the type of the records
	// read (Input: the schema's, or an open object).
	OutputType func(TypeContext) map[string]*Type
	// Triggers, on a source kind, lists the trigger kinds that may start it;
	// TriggerRequired says it cannot run without one (an event source has
	// nothing to read until a webhook or message arrives).
	Triggers        []string
	TriggerRequired bool
	// Validate checks settings that depend on each other. Pure: no I/O.
	Validate func(cfg *Value, report Reporter)
	Examples []Example

	// Run-time constructors: one of them, by section. Build must not do
	// I/O a dry run could observe; opening files and connections happens
	// here only for sources and sinks, which dry runs replace or read.
	NewStep   func(BuildContext) (Step, error)
	NewSource func(BuildContext) (Source, error)
	NewSink   func(BuildContext) (Sink, error)
	// NewTrigger builds a trigger kind for `pipectl serve` (Webhook or
	// Schedule). Pure like the others: no I/O.
	NewTrigger func(BuildContext) (Trigger, error)
	// ReadSample, on a source kind whose payloads have a format (file,
	// stdin, event), reads the records of a sample as a source with the
	// sample's settings reads its input, with the same parser: pipeline
	// tests and dry runs feed samples in the source's own format through
	// it (a CSV source's samples are CSV, read with its columns). Nil
	// means samples are JSON records.
	ReadSample func(s Sample, emit, emitErr func(*record.Record) error) error
	// Stateful steps remember across records (dedupe, group, allocate): the
	// engine runs them on one goroutine, in record order, so results do not
	// depend on the number of workers.
	Stateful bool
	// PassThrough steps emit the records they receive, unchanged (filter,
	// route, dedupe, validate): the engine decodes such records once for the
	// whole chain of steps reading them.
	PassThrough bool
	// UsesState says whether a node with these settings reads or changes
	// the state store (Runtime.Inventory, Runtime.Keys): a run opens one
	// only when some node does, so a plain transformation leaves no
	// ./.pipectl behind. Nil for kinds that never do.
	UsesState func(cfg *Value) bool
}

// Sample is sample input for a source, read by Spec.ReadSample.
type Sample struct {
	Node   string    // the source it is fed to
	Config *Value    // the source's settings
	Name   string    // the sample in messages: a file path
	Input  io.Reader // its text
	// Unwrap, when not empty, replaces the source's own unwrap: the
	// sample's envelope may not be the source's.
	Unwrap string
	// Seq numbers the records read, across samples.
	Seq *int64
}

// Always is a UsesState for kinds that always use the state store.
func Always(*Value) bool { return true }

// Reporter collects problems found while validating settings.
type Reporter interface {
	Errorf(v *Value, code, format string, args ...any)
}

// DefaultOutput is the name of a node's main output in type maps.
const DefaultOutput = ""

// ErrorOutput is the output every step and sink has for records that failed.
const ErrorOutput = "error"

// Expr is a compiled expression as the compiler hands it to kinds: its source
// and the type it yields.
type Expr interface {
	Source() string
	ResultType() *Type
}

// Redacted is what secret values print as.
const Redacted = "[redacted]"

// DefaultValue renders a field's default for docs and schema.
func (f *Field) DefaultValue() (any, bool) {
	switch d := f.Default.(type) {
	case nil:
		return nil, false
	case time.Duration:
		return d.String(), true
	default:
		return d, true
	}
}

// Validate checks a spec for mistakes a kind's author could make; the
// registry refuses invalid specs.
func (s *Spec) check() error {
	if s.Kind == "" || s.Summary == "" {
		return fmt.Errorf("spec %q: kind and summary are required", s.Kind)
	}
	if s.Config == nil {
		return fmt.Errorf("spec %q: config field is required", s.Kind)
	}
	var walk func(f *Field) error
	walk = func(f *Field) error {
		if f.Kind == EnumField && len(f.Enum) == 0 {
			return fmt.Errorf("spec %q: enum field %q has no values", s.Kind, f.Name)
		}
		if (f.Kind == ListField || f.Kind == MapField) && f.Elem == nil {
			return fmt.Errorf("spec %q: field %q needs an element", s.Kind, f.Name)
		}
		for _, sub := range f.Fields {
			if sub.Doc == "" {
				return fmt.Errorf("spec %q: field %q has no doc", s.Kind, sub.Name)
			}
			if err := walk(sub); err != nil {
				return err
			}
		}
		if f.Elem != nil {
			return walk(f.Elem)
		}
		return nil
	}
	return walk(s.Config)
}
