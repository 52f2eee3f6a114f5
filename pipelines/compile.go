package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

// Diagnostic codes the compiler reports.
const (
	CodeUnknownReference = "unknown-reference"
	CodeUnknownOutput    = "unknown-output"
	CodeCycle            = "cycle"
	CodeUnusedOutput     = "unused-output"
	CodeUnusedTrigger    = "unused-trigger"
	CodeUnusedRule       = "unused-rule"
	CodeDuplicatePath    = "duplicate-webhook-path"
	CodeUnknownSchema    = "unknown-schema"
	CodeBadSchema        = "bad-schema"
	CodeTypeMismatch     = "type-mismatch"
	CodeTriggerMismatch  = "trigger-mismatch"
	CodeNoTrigger        = "missing-trigger"
	// CodeBuildFailed is a node that cannot be built for a reason that is
	// not one setting's (Options.Check reports it).
	CodeBuildFailed = "build-failed"
)

// Options are what compiling needs: the kinds, the function library, and
// where to find schemas.
type Options struct {
	LoadOptions
	Library *exprs.Library
	// Schema returns an embedded payload schema by name ("shopify/order").
	Schema func(name string) ([]byte, bool)
	// SchemaNames lists the embedded schemas, for did-you-mean.
	SchemaNames []string
	// Check, when set, builds the nodes of the compiled plan without
	// starting them and reports what that finds, at the settings at
	// fault (engine.Check): what a run would fail on before reading any
	// record. The compiler cannot build nodes itself: it knows kinds only
	// by their specs, and building some needs the engine's runtime.
	Check func(*Plan) diag.Diagnostics
}

// Validate loads and compiles a pipeline file and, with opts.Check, builds
// its nodes, returning the plan (nil when there are errors), the loaded
// file (for its sources) and every diagnostic, sorted.
func Validate(path string, opts Options) (*Plan, *File, diag.Diagnostics) {
	f, ds := Load(path, opts.LoadOptions)
	if f == nil {
		return nil, nil, ds.Sorted()
	}
	p, cds := Compile(f, opts)
	ds = append(ds, cds...)
	if opts.Check != nil {
		ds = append(ds, opts.Check(p)...)
	}
	if ds.HasErrors() {
		p = nil
	}
	return p, f, ds.Sorted()
}

// Compile resolves, orders and type-checks a loaded file. It reports every
// problem; the plan it returns is only meant to be run when there are no
// errors.
func Compile(f *File, opts Options) (*Plan, diag.Diagnostics) {
	c := &compiler{opts: opts, file: f, plan: &Plan{Name: f.Name, Description: f.Description, File: f.Path, Secrets: f.Secrets, Alerts: alertSettings(f.Alerts), byName: map[string]*Node{}}}
	c.nodes()
	c.triggers()
	c.edges()
	order := c.order()
	c.types(order)
	c.unused()
	maskSecrets(c.diags, f.Secrets)
	return c.plan, c.diags
}

type compiler struct {
	opts  Options
	file  *File
	plan  *Plan
	diags diag.Diagnostics
	// ruleUsers maps a rule set to the input types of the steps using it.
	ruleUsers map[string][]*component.Type
	read      map[string]map[string]bool // node -> outputs read downstream
}

func (c *compiler) nodes() {
	for _, e := range c.file.Entries {
		n := &Node{Name: e.Name, Section: e.Section, Kind: e.Kind, Spec: e.Spec, Config: e.Config, Common: e.Common, Range: e.NameRange,
			Outputs: map[string]*component.Type{}, Broken: e.Broken || e.Spec == nil}
		c.plan.byName[e.Name] = n
		switch e.Section {
		case component.TriggerSection:
			c.plan.Triggers = append(c.plan.Triggers, n)
		case component.RuleSection:
			c.plan.Rules = append(c.plan.Rules, n)
		default:
			c.plan.Nodes = append(c.plan.Nodes, n)
		}
	}
}

// names lists the nodes of the given sections, for did-you-mean.
func (c *compiler) names(secs ...component.Section) []string {
	var out []string
	for _, e := range c.file.Entries {
		if slices.Contains(secs, e.Section) {
			out = append(out, e.Name)
		}
	}
	return out
}

// triggers checks webhook paths and links sources to their triggers.
func (c *compiler) triggers() {
	type firstUse struct {
		trigger string
		at      diag.Range
	}
	paths := map[string]firstUse{}
	for _, t := range c.plan.Triggers {
		if t.Kind != "webhook" || t.Config == nil {
			continue
		}
		pv := t.Config.Get("path")
		if pv == nil || pv.Str == "" {
			continue
		}
		key := pv.Str
		if first, dup := paths[key]; dup {
			d := c.diags.Errorf(pv.Range, CodeDuplicatePath, "webhook path %s is already used by trigger %q", pv.Display(), first.trigger)
			d.Detail = "first used at " + first.at.Start.String() + "; one path can deliver to one trigger only"
			continue
		}
		paths[key] = firstUse{t.Name, pv.Range}
	}
	used := map[string]bool{}
	for _, n := range c.plan.Nodes {
		if n.Section != component.SourceSection || n.Spec == nil {
			continue
		}
		tv := n.Common["trigger"]
		if tv == nil || tv.Str == "" {
			if n.Spec.TriggerRequired {
				d := c.diags.Errorf(n.Range, CodeNoTrigger, "source %q (%s) needs a trigger to deliver its records", n.Name, n.Kind)
				d.Hint = fmt.Sprintf("add `trigger: NAME` naming a trigger of kind %s", strings.Join(n.Spec.Triggers, " or "))
			}
			continue
		}
		t, ok := c.plan.byName[tv.Str]
		if !ok || t.Section != component.TriggerSection {
			d := c.diags.Errorf(tv.Range, CodeUnknownReference, "no trigger named %q", tv.Str)
			d.Hint = diag.DidYouMean(tv.Str, c.names(component.TriggerSection))
			continue
		}
		used[t.Name] = true
		n.Trigger = t
		if t.Kind != "" && len(n.Spec.Triggers) > 0 && !slices.Contains(n.Spec.Triggers, t.Kind) {
			d := c.diags.Errorf(tv.Range, CodeTriggerMismatch, "a %s source cannot be started by a %s trigger", n.Kind, t.Kind)
			d.Detail = fmt.Sprintf("%s sources are started by %s triggers", n.Kind, strings.Join(n.Spec.Triggers, " or "))
		}
	}
	for _, t := range c.plan.Triggers {
		if !used[t.Name] {
			d := c.diags.Warnf(t.Range, CodeUnusedTrigger, "trigger %q starts no source", t.Name)
			d.Hint = fmt.Sprintf("name it in a source: `trigger: %s`", t.Name)
		}
	}
}

// outputs lists the outputs a node offers downstream.
func outputsOf(n *Node) []string {
	var outs []string
	switch n.Section {
	case component.SourceSection, component.StepSection:
		outs = append(outs, component.DefaultOutput)
	}
	if n.Spec != nil {
		for _, o := range n.Spec.Outputs {
			outs = append(outs, o.Name)
		}
		if n.Spec.OutputsFrom != "" && n.Config != nil {
			if v := n.Config.Get(n.Spec.OutputsFrom); v != nil {
				outs = append(outs, v.Keys...)
			}
		}
	}
	return append(outs, component.ErrorOutput)
}

// edges resolves every `from:` reference.
func (c *compiler) edges() {
	c.read = map[string]map[string]bool{}
	for _, e := range c.file.Entries {
		n := c.plan.byName[e.Name]
		n.OutputNames = outputsOf(n)
		for _, r := range e.AlsoRead {
			if c.read[r.Node] == nil {
				c.read[r.Node] = map[string]bool{}
			}
			c.read[r.Node][r.Output] = true
		}
		for _, r := range e.From {
			src, ok := c.plan.byName[r.Node]
			if !ok {
				d := c.diags.Errorf(r.Range, CodeUnknownReference, "no source or step named %q", r.Node)
				names := c.names(component.SourceSection, component.StepSection, component.SinkSection)
				d.Hint = diag.DidYouMean(r.Node, names)
				// The node meant is read, as far as warnings go: one typo,
				// one diagnostic.
				if s := diag.Suggest(r.Node, names); s != "" {
					if c.read[s] == nil {
						c.read[s] = map[string]bool{}
					}
					c.read[s][r.Output] = true
				}
				continue
			}
			switch src.Section {
			case component.TriggerSection, component.RuleSection:
				d := c.diags.Errorf(r.Range, CodeBadReference, "%q is a %s, not a source or step", r.Node, src.Section)
				if src.Section == component.TriggerSection {
					d.Hint = "triggers start sources: name it in a source's `trigger:`"
				}
				continue
			case component.SinkSection:
				if r.Output != component.ErrorOutput {
					d := c.diags.Errorf(r.Range, CodeBadReference, "%q is a sink: only its `error` output can be read", r.Node)
					d.Hint = fmt.Sprintf("read `%s.error` for the records it failed to deliver", r.Node)
					continue
				}
			}
			if src == n {
				d := c.diags.Errorf(r.Range, CodeCycle, "%s %q reads its own output", n.Section, n.Name)
				d.Detail = "the pipeline must be a DAG: " + n.Name + " -> " + n.Name
				continue
			}
			outs := outputsOf(src)
			if !slices.Contains(outs, r.Output) {
				d := c.diags.Errorf(r.Range, CodeUnknownOutput, "%s %q has no output %q", src.Section, src.Name, r.Output)
				var named []string
				for _, o := range outs {
					if o != "" {
						named = append(named, o)
					}
				}
				d.Hint = diag.DidYouMean(r.Output, named)
				if d.Hint == "" {
					d.Detail = fmt.Sprintf("outputs of %s: %s (and the default output, read as `%s`)", src.Name, strings.Join(named, ", "), src.Name)
				}
				continue
			}
			n.Inputs = append(n.Inputs, Edge{From: src, Output: r.Output})
			if c.read[src.Name] == nil {
				c.read[src.Name] = map[string]bool{}
			}
			c.read[src.Name][r.Output] = true
		}
	}
}

// order sorts the nodes topologically (file order among independent nodes)
// and reports cycles, printing the cycle.
func (c *compiler) order() []*Node {
	indeg := map[*Node]int{}
	down := map[*Node][]*Node{}
	for _, n := range c.plan.Nodes {
		for _, e := range n.Inputs {
			indeg[n]++
			down[e.From] = append(down[e.From], n)
		}
	}
	var out []*Node
	done := map[*Node]bool{}
	for len(out) < len(c.plan.Nodes) {
		progress := false
		for _, n := range c.plan.Nodes {
			if !done[n] && indeg[n] == 0 {
				done[n] = true
				out = append(out, n)
				for _, d := range down[n] {
					indeg[d]--
				}
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	reported := map[*Node]bool{}
	for _, n := range c.plan.Nodes {
		if done[n] || reported[n] {
			continue
		}
		cycle := c.findCycle(n, done)
		if cycle == nil {
			continue
		}
		for _, m := range cycle {
			reported[m] = true
		}
		names := make([]string, 0, len(cycle)+1)
		for _, m := range cycle {
			names = append(names, m.Name)
		}
		names = append(names, cycle[0].Name)
		d := c.diags.Errorf(cycle[0].Range, CodeCycle, "%s form a cycle: %s", joinKinds(cycle), strings.Join(names, " -> "))
		d.Detail = "a pipeline is a DAG: records flow from sources to sinks and never come back"
	}
	for _, n := range c.plan.Nodes {
		if !done[n] {
			out = append(out, n)
		}
	}
	return out
}

func joinKinds(ns []*Node) string {
	secs := map[component.Section]bool{}
	for _, n := range ns {
		secs[n.Section] = true
	}
	if len(secs) == 1 {
		return ns[0].Section.Plural()
	}
	return "nodes"
}

// findCycle returns a cycle through the inputs reachable from n among the
// nodes not yet ordered, starting at its earliest node in file order.
func (c *compiler) findCycle(n *Node, done map[*Node]bool) []*Node {
	var path []*Node
	onPath := map[*Node]int{}
	visited := map[*Node]bool{}
	var walk func(m *Node) []*Node
	walk = func(m *Node) []*Node {
		if i, ok := onPath[m]; ok {
			cyc := slices.Clone(path[i:])
			// Rotate so the cycle starts at the node declared first, and
			// reverse input edges into data-flow order.
			slices.Reverse(cyc)
			first := 0
			for j, x := range cyc {
				if c.index(x) < c.index(cyc[first]) {
					first = j
				}
			}
			return append(cyc[first:], cyc[:first]...)
		}
		if visited[m] || done[m] {
			return nil
		}
		visited[m] = true
		onPath[m] = len(path)
		path = append(path, m)
		for _, e := range m.Inputs {
			if cyc := walk(e.From); cyc != nil {
				return cyc
			}
		}
		path = path[:len(path)-1]
		delete(onPath, m)
		return nil
	}
	return walk(n)
}

func (c *compiler) index(n *Node) int { return slices.Index(c.plan.Nodes, n) }

// types computes every node's input and output types in topological order,
// compiling expressions against the records they will see.
func (c *compiler) types(order []*Node) {
	c.ruleUsers = map[string][]*component.Type{}
	for _, n := range order {
		switch n.Section {
		case component.SourceSection:
			n.Input = component.AnyType
			n.Outputs[component.DefaultOutput] = c.sourceType(n)
			if n.Broken {
				n.Outputs[component.DefaultOutput] = component.AnyType
			}
			n.Outputs[component.ErrorOutput] = ErrorRecordType(component.StringType)
		case component.StepSection, component.SinkSection:
			var ins []*component.Type
			for _, e := range n.Inputs {
				t := e.From.Outputs[e.Output]
				if t == nil {
					t = component.AnyType
				}
				ins = append(ins, t)
			}
			n.Input = component.Common(ins...)
			if len(ins) == 0 {
				n.Input = component.AnyType
			}
			c.compileExprs(n.Config, n.Input)
			c.refs(n)
			c.checkInput(n)
			if n.Section == component.StepSection {
				c.stepOutputs(n)
			}
			n.Outputs[component.ErrorOutput] = ErrorRecordType(n.Input)
		}
	}
	for _, t := range c.plan.Triggers {
		c.compileExprs(t.Config, component.OpenObject())
	}
	for _, r := range c.plan.Rules {
		users := c.ruleUsers[r.Name]
		if len(users) == 0 {
			users = []*component.Type{component.OpenObject()}
		}
		// A rule set used by several steps must fit each of them.
		for _, in := range users {
			c.compileExprs(r.Config, in)
			c.compileExprs(r.Common["when"], in)
			c.compileExprs(r.Common["overrides"], in)
		}
	}
}

// sourceType is the type of a source's records: its schema's, or an
// object of unknown fields without one, refined by its kind's OutputType (a
// CSV source's typed columns); unknown when the schema is broken (and
// reported), so that nothing downstream is checked against a guess.
func (c *compiler) sourceType(n *Node) *component.Type {
	t := component.OpenObject()
	if sv := n.Common["schema"]; sv != nil && sv.Str != "" {
		st := c.schemaType(sv)
		if st == nil {
			return component.AnyType
		}
		t = st
	}
	if n.Spec != nil && n.Spec.OutputType != nil && n.Config != nil {
		if typed := n.Spec.OutputType(component.TypeContext{Input: t, Config: n.Config})[component.DefaultOutput]; typed != nil {
			t = typed
		}
	}
	return t
}

// schemaType loads a schema named by an embedded name or a file path.
func (c *compiler) schemaType(sv *component.Value) *component.Type {
	name := sv.Str
	var raw []byte
	doc := ""
	if strings.HasSuffix(name, ".json") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(c.file.Path), name)
		}
		b, err := c.readFile(p)
		if err != nil {
			c.diags.Errorf(sv.Range, CodeUnknownSchema, "cannot read schema %q: %v", name, unwrapPathError(err))
			return nil
		}
		raw = b
	} else {
		b, ok := c.opts.Schema(name)
		if !ok {
			d := c.diags.Errorf(sv.Range, CodeUnknownSchema, "no embedded schema named %q", name)
			d.Hint = diag.DidYouMean(name, c.opts.SchemaNames)
			if d.Hint == "" {
				d.Detail = "embedded schemas: " + strings.Join(c.opts.SchemaNames, ", ") + "; or give a path to a .json file"
			}
			return nil
		}
		raw = b
		doc = ""
	}
	t, err := exprs.TypeFromJSONSchemaRefs(raw, doc, c.opts.Schema)
	if err != nil {
		c.diags.Errorf(sv.Range, CodeBadSchema, "schema %q: %v", name, err)
		return nil
	}
	return t
}

func (c *compiler) readFile(p string) ([]byte, error) {
	if c.opts.ReadFile != nil {
		return c.opts.ReadFile(p)
	}
	return os.ReadFile(p)
}

// compileExprs compiles every expression inside v against records of type
// env, reporting problems at their place in the file.
func (c *compiler) compileExprs(v *component.Value, env *component.Type) {
	v.Walk(func(x *component.Value) {
		if !x.IsExpr || x.Field == nil {
			return
		}
		var want *component.Type
		if x.Field.Kind == component.ExprField {
			want = x.Field.Result
		}
		prog, probs := c.opts.Library.Compile(x.Str, env, want)
		for _, p := range probs {
			r := x.Range
			if x.Locate != nil {
				r = x.Locate(p.Offset, p.Len)
			}
			hint := p.Hint
			if p.Code == exprs.CodeSyntax && strings.HasPrefix(x.Comment, "#") {
				hint = "the expression was cut at ` " + truncate(x.Comment, 20) + "`: a space and # start a YAML comment, so quote the whole expression"
			}
			c.diags.Add(diag.Diagnostic{Severity: diag.Error, Code: p.Code, Summary: p.Summary, Hint: hint, Subject: r})
		}
		if prog != nil {
			x.Expr = prog
		}
	})
}

// refs checks settings that name other entries (an allocate step's rule set).
func (c *compiler) refs(n *Node) {
	n.Config.Walk(func(x *component.Value) {
		if x.Field == nil || x.Field.Kind != component.RefField || x.Str == "" {
			return
		}
		target, ok := c.plan.byName[x.Str]
		if !ok && x.Field.RefTo == component.RuleSection && c.file.RulesFailed {
			return // the rules file's own error says it all
		}
		if !ok || target.Section != x.Field.RefTo {
			d := c.diags.Errorf(x.Range, CodeUnknownReference, "no %s named %q", x.Field.RefTo, x.Str)
			d.Hint = diag.DidYouMean(x.Str, c.names(x.Field.RefTo))
			return
		}
		if x.Field.RefTo == component.RuleSection {
			if k := x.Field.RefKind; k != "" && target.Kind != "" && target.Kind != k {
				c.diags.Errorf(x.Range, CodeTypeMismatch, "rule set %q is a %s rule set; %s %q needs a %s rule set", x.Str, target.Kind, n.Kind, n.Name, k)
			}
			c.ruleUsers[x.Str] = append(c.ruleUsers[x.Str], n.Input)
		}
	})
}

// checkInput reports upstream records that cannot be what the node needs.
func (c *compiler) checkInput(n *Node) {
	var want *component.Type
	var what string
	if sv := n.Common["schema"]; sv != nil && sv.Str != "" {
		want = c.schemaType(sv)
		what = "its schema " + sv.Str
	} else if n.Spec != nil && n.Spec.Input != nil {
		want = n.Spec.Input
		what = "a " + n.Kind + " " + n.Section.String()
	}
	if want == nil || len(n.Inputs) == 0 {
		return
	}
	for _, e := range n.Inputs {
		got := e.From.Outputs[e.Output]
		if ok, path := got.AssignableTo(want); !ok {
			var r diag.Range = n.Range
			for _, ref := range c.entry(n.Name).From {
				if ref.String() == e.Label() {
					r = ref.Range
				}
			}
			sub := "records"
			if path != "" {
				gt, wt := typeAt(got, path), typeAt(want, path)
				if gt == nil {
					sub = fmt.Sprintf("records lack field %q", path)
				} else {
					sub = fmt.Sprintf("field %q is %s, not %s", path, gt, wt)
				}
			} else {
				sub = fmt.Sprintf("records are %s, not %s", got, want)
			}
			d := c.diags.Errorf(r, CodeTypeMismatch, "%s %q cannot read %s: %s", n.Section, n.Name, e.Label(), sub)
			d.Detail = fmt.Sprintf("%s expects records that fit %s", n.Name, what)
		}
	}
}

// typeAt follows a dotted path ("lines[].sku") into a type.
func typeAt(t *component.Type, path string) *component.Type {
	for _, part := range strings.Split(path, ".") {
		name, arr := strings.CutSuffix(part, "[]")
		if name != "" {
			ft, ok := t.Field(name)
			if !ok {
				return nil
			}
			t = ft
		}
		if arr {
			if t.Kind != component.Array {
				return t
			}
			t = t.Elem
		}
	}
	return t
}

func (c *compiler) entry(name string) *Entry {
	for _, e := range c.file.Entries {
		if e.Name == name {
			return e
		}
	}
	return &Entry{}
}

// stepOutputs types a step's outputs through its kind, or passes the input
// through.
func (c *compiler) stepOutputs(n *Node) {
	if n.Broken {
		for _, o := range n.OutputNames {
			if o != component.ErrorOutput {
				n.Outputs[o] = component.AnyType
			}
		}
		return
	}
	var typed map[string]*component.Type
	if n.Spec != nil && n.Spec.OutputType != nil && n.Config != nil {
		typed = n.Spec.OutputType(component.TypeContext{Input: n.Input, Config: n.Config})
	}
	for _, o := range n.OutputNames {
		if o == component.ErrorOutput {
			continue
		}
		if t, ok := typed[o]; ok && t != nil {
			if t.Kind == component.Object && t.Doc == "" {
				named := *t
				named.Doc = fmt.Sprintf("the records of step %q", n.Name)
				if o != component.DefaultOutput {
					named.Doc = fmt.Sprintf("the records of %s.%s", n.Name, o)
				}
				t = &named
			}
			n.Outputs[o] = t
		} else {
			n.Outputs[o] = n.Input
		}
	}
}

// unused warns about outputs that nothing reads: records sent there would be
// produced for nobody, which is a mistake in a pipeline file.
func (c *compiler) unused() {
	for _, n := range c.plan.Nodes {
		if n.Section == component.SinkSection {
			continue
		}
		read := c.read[n.Name]
		anyRead := false
		for o := range read {
			if o != component.ErrorOutput {
				anyRead = true
			}
		}
		if !anyRead {
			d := c.diags.Warnf(n.Range, CodeUnusedOutput, "nothing reads the output of %s %q", n.Section, n.Name)
			d.Hint = fmt.Sprintf("add a step or sink with `from: %s`, or remove it", n.Name)
			continue
		}
		if n.Spec != nil && n.Spec.OutputsFrom != "" {
			routes := n.Config.Get(n.Spec.OutputsFrom)
			if routes == nil {
				continue // the setting is missing or malformed, and reported
			}
			for _, k := range routes.Keys {
				if !read[k] {
					d := c.diags.Warnf(routes.Map[k].Range, CodeUnusedOutput, "nothing reads output %s.%s: its records would be dropped", n.Name, k)
					d.Hint = fmt.Sprintf("add a step or sink with `from: %s.%s`", n.Name, k)
				}
			}
		}
	}
	used := map[string]bool{}
	for _, r := range c.plan.Rules {
		if len(c.ruleUsers[r.Name]) > 0 {
			used[r.Name] = true
		}
	}
	for _, r := range c.plan.Rules {
		if !used[r.Name] {
			c.diags.Warnf(r.Range, CodeUnusedRule, "no step uses rule set %q", r.Name)
		}
	}
}
