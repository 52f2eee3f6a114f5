package pipelines

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"go.yaml.in/yaml/v3"
)

// Diagnostic codes the loader reports. Tests match on codes, never prose.
const (
	CodeYAMLSyntax      = "yaml-syntax"
	CodeUnknownKey      = "unknown-key"
	CodeUnknownField    = "unknown-field"
	CodeMissingField    = "missing-field"
	CodeWrongType       = "wrong-type"
	CodeInvalidValue    = "invalid-value"
	CodeInvalidName     = "invalid-name"
	CodeDuplicateName   = "duplicate-name"
	CodeDuplicateKey    = "duplicate-key"
	CodeMissingKind     = "missing-kind"
	CodeUnknownKind     = "unknown-kind"
	CodeMultipleKinds   = "multiple-kinds"
	CodeInvalidCron     = "invalid-cron"
	CodeInvalidTimezone = "invalid-timezone"
	CodeEnvUnset        = "env-unset"
	CodeSecretLiteral   = "secret-literal"
	CodeBadInterpolate  = "bad-interpolation"
	CodeRulesFile       = "rules-file"
	CodeStepNoInput     = "step-no-input"
	CodeSinkNoInput     = "sink-no-input"
	CodeBadReference    = "bad-reference"
)

// LoadOptions are what loading needs from the outside world.
type LoadOptions struct {
	Registry *component.Registry
	// LookupEnv reads ${VAR} interpolations; nil reads the process
	// environment.
	LookupEnv func(string) (string, bool)
	// ReadFile reads a referenced rules file; nil reads the file system.
	ReadFile func(string) ([]byte, error)
}

// Load reads and loads a pipeline file.
func Load(path string, opts LoadOptions) (*File, diag.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		var ds diag.Diagnostics
		ds.Errorf(diag.Range{Start: diag.Pos{File: path}}, "file-unreadable", "cannot read pipeline file: %v", unwrapPathError(err))
		return nil, ds
	}
	return LoadBytes(path, src, opts)
}

// LoadBytes loads a pipeline file from its text. It never panics, whatever
// the input, and reports every problem it finds rather than the first.
func LoadBytes(path string, src []byte, opts LoadOptions) (*File, diag.Diagnostics) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	l := &loader{opts: opts}
	f := &File{Path: path, Sources: diag.Sources{path: src}}
	root := l.parse(path, src)
	if root == nil {
		return f, l.diags
	}
	fl := l.files[path]
	l.top(fl, f, root)
	f.Secrets = compactSecrets(l.secrets)
	maskSecrets(l.diags, f.Secrets)
	for _, r := range l.literalSecrets {
		if src, ok := f.Sources[r.Start.File]; ok {
			f.Sources[r.Start.File] = maskSpan(src, r)
		}
	}
	return f, l.diags
}

// compactSecrets sorts secret values longest first (so a value holding
// another is masked whole) without repeats, leaving out values too short
// to mask without masking ordinary words.
func compactSecrets(values []string) []string {
	var out []string
	for _, v := range values {
		if len(v) >= 4 && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

type loader struct {
	opts    LoadOptions
	diags   diag.Diagnostics
	files   map[string]*srcFile
	secrets []string // values of secret settings and variables, for File.Secrets
	// literalSecrets are the spans of secrets written in the file, masked
	// in File.Sources so no diagnostic quoting their line shows them.
	literalSecrets []diag.Range
}

// maskSpan returns src with the characters of r (on one line, quotes
// excepted) replaced by '*', so columns stay where they were.
func maskSpan(src []byte, r diag.Range) []byte {
	lines := strings.SplitAfter(string(src), "\n")
	if r.Start.Line < 1 || r.Start.Line > len(lines) {
		return src
	}
	line := []rune(lines[r.Start.Line-1])
	from, to := r.Start.Col-1, r.End.Col-1
	if r.End.Line != r.Start.Line {
		to = len(line)
	}
	if from >= 0 && from < len(line) && (line[from] == '"' || line[from] == '\'') {
		from, to = from+1, to-1
	}
	for i := max(from, 0); i < min(to, len(line)); i++ {
		if line[i] != '\n' && line[i] != '\r' {
			line[i] = '*'
		}
	}
	lines[r.Start.Line-1] = string(line)
	return []byte(strings.Join(lines, ""))
}

// srcFile is one file being loaded: the pipeline file or its rules file.
type srcFile struct {
	path  string
	lines [][]rune
}

// parse reads YAML into a node tree, reporting syntax errors with their line.
func (l *loader) parse(path string, src []byte) *yaml.Node {
	if l.files == nil {
		l.files = map[string]*srcFile{}
	}
	l.files[path] = &srcFile{path: path, lines: splitLines(src)}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		l.syntaxError(path, err)
		return nil
	}
	// A second document (after `---`) would be silently ignored.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		l.syntaxError(path, err)
		return nil
	case len(next.Content) > 0 && next.Content[0].Tag != "!!null":
		d := l.diags.Errorf(diag.At(diag.Pos{File: path, Line: next.Line, Col: max(next.Column, 1)}, 1), CodeYAMLSyntax, "a second YAML document: a pipeline file holds one")
		d.Hint = "remove the `---` line, or move the second document to its own file"
	}
	// "---" alone makes a document holding an empty scalar, placed on
	// the line after the marker.
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" && doc.Content[0].Value == "" {
		l.diags.Errorf(diag.At(diag.Pos{File: path, Line: 1, Col: 1}, 1), CodeWrongType, "file is empty: a pipeline file is a mapping with at least `pipeline:` and a sink")
		return nil
	}
	root := doc.Content[0]
	if at, ok := aliasesExplode(root); ok {
		d := l.diags.Errorf(l.rangeOf(path, at), CodeYAMLSyntax, "YAML aliases here expand the file beyond %d times its size, or into themselves", aliasGrowth)
		d.Hint = "write the repeated settings out, or anchor smaller pieces"
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.diags.Errorf(l.rangeOf(path, root), CodeWrongType, "expected a mapping at the top of the file, got %s", nodeKind(root))
		return nil
	}
	return root
}

// aliasGrowth bounds how much larger than its text aliases may make a file
// (past a floor of aliasFloor nodes). Everything after the parser follows
// aliases, so without a bound a few lines of anchors referring to anchors
// expand into billions of nodes, and an anchor containing its own alias
// into infinitely many.
const (
	aliasGrowth = 10
	aliasFloor  = 10_000
)

// aliasesExplode reports whether following the aliases under root would
// visit more than aliasGrowth times its nodes (plus aliasFloor), or loop;
// at is the alias where the expansion passes the bound.
func aliasesExplode(root *yaml.Node) (at *yaml.Node, explodes bool) {
	count := 0
	var countNodes func(n *yaml.Node)
	countNodes = func(n *yaml.Node) {
		count++
		for _, c := range n.Content {
			countNodes(c)
		}
	}
	countNodes(root)
	limit := aliasGrowth*count + aliasFloor
	memo := map[*yaml.Node]int{}
	active := map[*yaml.Node]bool{}
	var size func(n *yaml.Node) int
	size = func(n *yaml.Node) int {
		if n == nil {
			return 0
		}
		if v, ok := memo[n]; ok {
			return v
		}
		if active[n] {
			return limit + 1 // an anchor containing its own alias
		}
		active[n] = true
		total := 1
		if n.Kind == yaml.AliasNode {
			total += size(n.Alias)
			if total > limit && at == nil {
				at = n
			}
		}
		for _, c := range n.Content {
			if total += size(c); total > limit {
				break
			}
		}
		total = min(total, limit+1)
		delete(active, n)
		memo[n] = total
		return total
	}
	if size(root) <= limit {
		return nil, false
	}
	if at == nil {
		at = root
	}
	return at, true
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) syntaxError(path string, err error) {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 numbers the lines of parser errors from 0 (those of
		// scanner errors from 1).
		if isYAMLParserProblem(msg) {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	// An error at the end of a file without a final line break is on
	// its last line, not on the parser's next one.
	fl := l.files[path]
	if fl != nil {
		line = max(1, min(line, len(fl.lines)))
	}
	col := 1
	if fl != nil && line <= len(fl.lines) {
		if spot, ok := syntaxHint(fl.lines, line, msg); ok {
			d := l.diags.Errorf(diag.At(diag.Pos{File: path, Line: spot.line, Col: spot.col}, 1), CodeYAMLSyntax, "YAML syntax error: %s", spot.summary)
			d.Hint = spot.hint
			d.Detail = "the YAML parser says: " + msg
			return
		}
		col = indentOf(fl.lines[line-1]) + 1
	}
	l.diags.Errorf(diag.At(diag.Pos{File: path, Line: line, Col: col}, 1), CodeYAMLSyntax, "YAML syntax error: %s", msg)
}

// isYAMLParserProblem tells yaml.v3's parser errors from its scanner errors
// by their text, the only thing its error values expose.
func isYAMLParserProblem(msg string) bool {
	switch msg {
	case "did not find expected <stream-start>", "did not find expected <document start>",
		"found undefined tag handle", "did not find expected node content",
		"did not find expected '-' indicator", "did not find expected key",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"found duplicate %YAML directive", "found incompatible YAML document",
		"found duplicate %TAG directive":
		return true
	}
	return strings.HasPrefix(msg, "expected ") && strings.Contains(msg, " event but got ")
}

// topKeys are the keys a pipeline file may have at its top level.
var topKeys = []string{"pipeline", "description", "rules", "triggers", "sources", "steps", "sinks", "alerts"}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (l *loader) top(fl *srcFile, f *File, root *yaml.Node) {
	seen := l.keys(fl, root)
	names := map[string]diag.Range{}
	var rulesNode *yaml.Node
	sectionNodes := map[component.Section][2]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		switch k.Value {
		case "pipeline":
			f.Name = l.plainString(fl, k, v, "pipeline")
			f.NameRange = l.rangeOf(fl.path, v)
			if f.Name != "" && !nameRE.MatchString(f.Name) && !regexp.MustCompile(`^[a-z][a-z0-9_-]*$`).MatchString(f.Name) {
				l.diags.Errorf(f.NameRange, CodeInvalidName, "pipeline name %q must be lower-case letters, digits, '-' and '_', starting with a letter", f.Name)
			}
		case "description":
			f.Description = l.plainString(fl, k, v, "description")
		case "rules":
			rulesNode = v
		case "triggers":
			sectionNodes[component.TriggerSection] = [2]*yaml.Node{k, v}
		case "sources":
			sectionNodes[component.SourceSection] = [2]*yaml.Node{k, v}
		case "steps":
			sectionNodes[component.StepSection] = [2]*yaml.Node{k, v}
		case "sinks":
			sectionNodes[component.SinkSection] = [2]*yaml.Node{k, v}
		case "alerts":
			if f.AlertsRange.Start.Line != 0 {
				continue // a second `alerts:`, reported by keys
			}
			f.AlertsRange = l.rangeOf(fl.path, k)
			l.alerts(fl, f, k, v)
		default:
			d := l.diags.Errorf(l.rangeOf(fl.path, k), CodeUnknownKey, "unknown top-level key %q", k.Value)
			d.Hint = diag.DidYouMean(k.Value, topKeys)
			if d.Hint == "" {
				d.Detail = "a pipeline file has the keys " + strings.Join(topKeys, ", ")
			}
		}
	}
	if _, ok := seen["pipeline"]; !ok {
		d := l.diags.Errorf(diag.At(diag.Pos{File: fl.path, Line: root.Line, Col: root.Column}, 1), CodeMissingField, "missing `pipeline:`, the pipeline's name")
		d.Hint = "add `pipeline: my-pipeline` at the top of the file"
	}
	for _, sec := range []component.Section{component.TriggerSection, component.SourceSection, component.StepSection, component.SinkSection} {
		if kv := sectionNodes[sec]; kv[1] != nil {
			l.section(fl, f, sec, kv[0], kv[1], names)
		}
	}
	if rulesNode != nil {
		l.rules(fl, f, rulesNode, names)
	}
	if len(sectionNodes[component.SinkSection]) == 0 || sectionNodes[component.SinkSection][1] == nil {
		d := l.diags.Errorf(diag.At(diag.Pos{File: fl.path, Line: root.Line, Col: root.Column}, 1), CodeMissingField, "the pipeline has no sinks: records would go nowhere")
		d.Hint = "add a `sinks:` section, e.g. `sinks: {out: {from: my_step, stdout: {}}}`"
	}
}

// rules loads the `rules:` key: a path to a rules file, or inline rule sets.
func (l *loader) rules(fl *srcFile, f *File, v *yaml.Node, names map[string]diag.Range) {
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		rel := v.Value
		f.RulesPath = rel
		p := rel
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(fl.path), rel)
		}
		src, err := l.opts.ReadFile(p)
		if err != nil {
			l.diags.Errorf(l.rangeOf(fl.path, v), CodeRulesFile, "cannot read rules file %q: %v", rel, unwrapPathError(err))
			f.RulesFailed = true
			return
		}
		f.Sources[p] = src
		root := l.parse(p, src)
		if root == nil {
			f.RulesFailed = true // its rule sets are unknown, not missing
			return
		}
		rfl := l.files[p]
		l.keys(rfl, root)
		found := false
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, rv := root.Content[i], resolveAlias(root.Content[i+1])
			if k.Value == "rules" {
				found = true
				l.section(rfl, f, component.RuleSection, k, rv, names)
				continue
			}
			d := l.diags.Errorf(l.rangeOf(p, k), CodeUnknownKey, "unknown key %q in a rules file", k.Value)
			d.Hint = diag.DidYouMean(k.Value, []string{"rules"})
			d.Detail = "a rules file holds one key, `rules:`, mapping rule set names to their settings"
		}
		if !found {
			l.diags.Errorf(diag.At(diag.Pos{File: p, Line: root.Line, Col: root.Column}, 1), CodeMissingField, "rules file has no `rules:` key")
		}
		return
	}
	if v.Kind != yaml.MappingNode {
		l.diags.Errorf(l.rangeOf(fl.path, v), CodeWrongType, "`rules:` must be a rules file path or a mapping of rule sets, got %s", nodeKind(v))
		return
	}
	l.section(fl, f, component.RuleSection, nil, v, names)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// section loads the named entries of one section.
func (l *loader) section(fl *srcFile, f *File, sec component.Section, key, v *yaml.Node, names map[string]diag.Range) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return
	}
	if v.Kind != yaml.MappingNode {
		l.diags.Errorf(l.rangeOf(fl.path, v), CodeWrongType, "`%s:` must be a mapping of names to %s settings, got %s", sec.Plural(), sec, nodeKind(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, ev := v.Content[i], resolveAlias(v.Content[i+1])
		r := l.rangeOf(fl.path, k)
		name := k.Value
		if !nameRE.MatchString(name) {
			d := l.diags.Errorf(r, CodeInvalidName, "%s name %q must be lower-case letters, digits and '_', starting with a letter", sec, name)
			d.Detail = "names are referenced as `name` or `name.output`, so they cannot hold '.', '-' or spaces"
		}
		if first, dup := names[name]; dup {
			d := l.diags.Errorf(r, CodeDuplicateName, "%q is declared twice", name)
			d.Detail = "first declared at " + first.Start.String()
			continue
		}
		names[name] = r
		e := &Entry{Section: sec, Name: name, NameRange: r}
		l.entry(fl, e, k, ev)
		f.Entries = append(f.Entries, e)
	}
}

// entry loads one named entry: its common settings and exactly one kind key.
func (l *loader) entry(fl *srcFile, e *Entry, key, v *yaml.Node) {
	sec := e.Section
	if v.Kind != yaml.MappingNode {
		kinds := l.opts.Registry.Kinds(sec)
		d := l.diags.Errorf(l.rangeOf(fl.path, v), CodeWrongType, "%s %q must be a mapping with one of the kinds %s, got %s", sec, e.Name, strings.Join(kinds, ", "), nodeKind(v))
		d.Hint = fmt.Sprintf("e.g. `%s: {%s: ...}`", e.Name, first(kinds))
		return
	}
	l.keys(fl, v)
	common := CommonFields(sec)
	e.Common = map[string]*component.Value{}
	var kindKeys []*yaml.Node
	var kindVals []*yaml.Node
	var unknown []*yaml.Node
	badFrom := false // `from:` is there but malformed, and reported
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, cv := v.Content[i], resolveAlias(v.Content[i+1])
		isFrom := k.Value == "from" && (sec == component.StepSection || sec == component.SinkSection)
		if seen[k.Value] {
			// A key given twice is reported by keys; its second value
			// is not read, but the nodes a second `from:` names count as
			// read, so they are not also reported as unused.
			if isFrom {
				e.AlsoRead = append(e.AlsoRead, l.from(fl, cv)...)
			}
			continue
		}
		seen[k.Value] = true
		if isFrom {
			before := len(l.diags)
			e.From = l.from(fl, cv)
			badFrom = len(l.diags) > before
			continue
		}
		if cf := fieldNamed(common, k.Value); cf != nil {
			if k.Value == "overrides" {
				continue // decoded against the kind once it is known
			}
			e.Common[k.Value] = l.decode(fl, cv, cf, l.rangeOf(fl.path, k), false)
			continue
		}
		if _, ok := l.opts.Registry.Lookup(sec, k.Value); ok {
			kindKeys = append(kindKeys, k)
			kindVals = append(kindVals, cv)
			continue
		}
		unknown = append(unknown, k)
	}
	kinds := l.opts.Registry.Kinds(sec)
	for _, k := range unknown {
		if len(kindKeys) == 0 && len(unknown) == 1 {
			d := l.diags.Errorf(l.rangeOf(fl.path, k), CodeUnknownKind, "unknown %s kind %q", sec, k.Value)
			d.Hint = diag.DidYouMean(k.Value, append(append([]string{}, kinds...), fieldNames(common)...))
			if d.Hint == "" {
				d.Detail = fmt.Sprintf("%s kinds: %s", sec, strings.Join(kinds, ", "))
			}
			continue
		}
		d := l.diags.Errorf(l.rangeOf(fl.path, k), CodeUnknownKey, "unknown key %q in %s %q", k.Value, sec, e.Name)
		d.Hint = diag.DidYouMean(k.Value, append(append([]string{}, kinds...), fieldNames(common)...))
	}
	switch {
	case len(kindKeys) == 0 && len(unknown) == 0:
		d := l.diags.Errorf(l.rangeOf(fl.path, key), CodeMissingKind, "%s %q has no kind", sec, e.Name)
		d.Detail = fmt.Sprintf("add one of: %s", strings.Join(kinds, ", "))
	case len(kindKeys) > 1:
		for _, k := range kindKeys[1:] {
			d := l.diags.Errorf(l.rangeOf(fl.path, k), CodeMultipleKinds, "%s %q has two kinds, %q and %q", sec, e.Name, kindKeys[0].Value, k.Value)
			d.Hint = "split it into two " + sec.Plural() + " connected with `from:`"
		}
	}
	if len(kindKeys) > 0 {
		e.Kind = kindKeys[0].Value
		e.KindRange = l.rangeOf(fl.path, kindKeys[0])
		e.Spec, _ = l.opts.Registry.Lookup(sec, e.Kind)
		// The kind's settings are named after the entry in messages:
		// `unknown setting "formt" in the stdout sink "out"`.
		cfg := *e.Spec.Config
		cfg.Name = fmt.Sprintf("%s %s %q", e.Kind, sec, e.Name)
		errs, _ := l.diags.Count()
		e.Config = l.decode(fl, kindVals[0], &cfg, e.KindRange, false)
		if e.Config != nil {
			e.Config.Field = e.Spec.Config
		}
		if e.Spec.Validate != nil && e.Config != nil {
			e.Spec.Validate(e.Config, reporter{&l.diags})
		}
		// Settings that are wrong leave the kind unable to say what it
		// emits, or to be built: the compiler types its output as
		// unknown, and it is not built to be checked further.
		after, _ := l.diags.Count()
		e.Broken = after > errs
	}
	if sec == component.RuleSection {
		for i := 0; i+1 < len(v.Content); i += 2 {
			if v.Content[i].Value == "overrides" {
				l.overrides(fl, e, v.Content[i], resolveAlias(v.Content[i+1]))
			}
		}
	}
	if (sec == component.StepSection || sec == component.SinkSection) && len(e.From) == 0 && !badFrom {
		code, what := CodeStepNoInput, "step"
		if sec == component.SinkSection {
			code, what = CodeSinkNoInput, "sink"
		}
		d := l.diags.Errorf(l.rangeOf(fl.path, key), code, "%s %q has no input", what, e.Name)
		d.Hint = "add `from:` naming the source or step it reads"
	}
}

// overrides decodes a rule set's conditional overrides: each has a `when`
// condition and a `set` of settings of the rule's kind, all optional.
func (l *loader) overrides(fl *srcFile, e *Entry, key, v *yaml.Node) {
	if e.Spec == nil {
		return
	}
	f := &component.Field{Name: "overrides", Kind: component.ListField, Elem: &component.Field{
		Kind: component.ObjectField,
		Fields: []*component.Field{
			{Name: "when", Kind: component.ExprField, Required: true, Result: component.BoolType, Doc: "condition"},
			{Name: "set", Kind: component.ObjectField, Required: true, Partial: true, Fields: e.Spec.Config.Fields, Doc: "settings"},
		},
	}}
	e.Common["overrides"] = l.decode(fl, v, f, l.rangeOf(fl.path, key), false)
}

type reporter struct{ ds *diag.Diagnostics }

// Errorf reports a kind's own check, unless the value already has an error:
// a setting that failed to decode reads as its zero value, which the kind
// would only complain about again ("must be positive").
func (r reporter) Errorf(v *component.Value, code, format string, args ...any) {
	for _, d := range *r.ds {
		if d.Severity == diag.Error && d.Subject.Start == v.Range.Start {
			return
		}
	}
	r.ds.Errorf(v.Range, code, format, args...)
}

// from decodes `from:`, a reference or a list of references.
func (l *loader) from(fl *srcFile, v *yaml.Node) []Ref {
	var items []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil
		}
		items = []*yaml.Node{v}
	case yaml.SequenceNode:
		items = v.Content
	default:
		l.diags.Errorf(l.rangeOf(fl.path, v), CodeWrongType, "`from:` must be a name or a list of names, got %s", nodeKind(v))
		return nil
	}
	var refs []Ref
	for _, it := range items {
		it = resolveAlias(it)
		r := l.rangeOf(fl.path, it)
		if it.Kind != yaml.ScalarNode {
			l.diags.Errorf(r, CodeWrongType, "`from:` entries must be names, got %s", nodeKind(it))
			continue
		}
		node, out, _ := strings.Cut(it.Value, ".")
		if !nameRE.MatchString(node) || (out != "" && !nameRE.MatchString(out)) {
			d := l.diags.Errorf(r, CodeBadReference, "%q is not a reference: write `name` or `name.output`", it.Value)
			d.Hint = "e.g. `from: allocate.shipments`"
			continue
		}
		refs = append(refs, Ref{Node: node, Output: out, Range: r})
	}
	return refs
}

// keys reports duplicate keys in a mapping and returns the keys it has.
func (l *loader) keys(fl *srcFile, m *yaml.Node) map[string]diag.Range {
	seen := map[string]diag.Range{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		r := l.rangeOf(fl.path, k)
		if first, dup := seen[k.Value]; dup {
			d := l.diags.Errorf(r, CodeDuplicateKey, "key %q appears twice in this mapping", k.Value)
			d.Detail = "first at " + first.Start.String() + "; YAML keeps only one of them"
			continue
		}
		seen[k.Value] = r
	}
	return seen
}

// plainString reads a scalar setting that is not interpolated.
func (l *loader) plainString(fl *srcFile, k, v *yaml.Node, what string) string {
	if v.Kind != yaml.ScalarNode {
		l.diags.Errorf(l.rangeOf(fl.path, v), CodeWrongType, "`%s:` must be a string, got %s", what, nodeKind(v))
		return ""
	}
	return v.Value
}

// rangeOf is the span of a node: the whole token for scalars, the first
// character for collections.
func (l *loader) rangeOf(path string, n *yaml.Node) diag.Range {
	start := diag.Pos{File: path, Line: n.Line, Col: n.Column}
	// The parser places an empty node that ends the file on the line after
	// the last: point at the end of the last line instead.
	if fl := l.files[path]; fl != nil && len(fl.lines) > 0 && start.Line > len(fl.lines) {
		start.Line, start.Col = len(fl.lines), len(fl.lines[len(fl.lines)-1])+1
	}
	if n.Kind != yaml.ScalarNode {
		return diag.At(start, 1)
	}
	width := len([]rune(n.Value))
	switch {
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		if fl := l.files[path]; fl != nil {
			if pos, ok := scalarPositions(fl.lines, n); ok {
				end := pos[len(pos)-1]
				if end.line == n.Line {
					return diag.Range{Start: start, End: diag.Pos{File: path, Line: n.Line, Col: end.col + 1}}
				}
			}
		}
		width += 2
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		width = 1
	case strings.Contains(n.Value, "\n") || width == 0:
		width = 1
	}
	return diag.At(start, width)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!bool":
			return "a boolean"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		}
		return fmt.Sprintf("the string %q", truncate(n.Value, 40))
	}
	return "an alias"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func first(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}
