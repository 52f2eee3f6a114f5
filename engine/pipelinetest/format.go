package pipelinetest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/record"
	"go.yaml.in/yaml/v3"
)

// Diagnostic codes for mistakes in test files.
const (
	CodeSyntax      = "test-yaml-syntax"
	CodeUnreadable  = "test-file-unreadable"
	CodeUnknownKey  = "test-unknown-key"
	CodeMissing     = "test-missing-field"
	CodeWrongType   = "test-wrong-type"
	CodeBadValue    = "test-invalid-value"
	CodeBadInput    = "test-bad-input"
	CodeUnknownNode = "test-unknown-node"
	CodeUnknownOut  = "test-unknown-output"
	CodeNotRunnable = "test-not-runnable"
	CodeDuplicate   = "test-duplicate-name"
	CodeRequires    = "test-requires-missing"
	CodePipeline    = "test-pipeline-unreadable"
)

// DefaultClock is now() in tests that do not set `clock:`, so no test
// depends on when it runs.
var DefaultClock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// file is a loaded test file.
type file struct {
	path     string
	src      []byte
	doc      *yaml.Node
	pipeline string // path of the pipeline under test
	env      map[string]string
	clock    time.Time
	lookups  map[string]table
	stock    *inventory // nil: an empty store, if the pipeline needs one
	skip     string     // why the whole file is skipped (a required path is absent)
	cases    []*testCase
}

type table struct {
	rows []map[string]any
	key  *yaml.Node
}

// testCase is one entry of `tests:`.
type testCase struct {
	name    string
	node    *yaml.Node // the case's mapping
	skip    string
	inputs  []input
	lookups map[string]table
	stock   *inventory // the file's unless the case gives its own
	env     map[string]string
	clock   time.Time
	expect  []*expectation
	// unhandled is the expectation on records that failed with nothing
	// reading the error output they went to; nil means there must be none.
	unhandled *expectation
}

type input struct {
	node  string
	key   *yaml.Node
	items []inputItem
	// records are the items' records, read once the pipeline is known
	// (a sample is read in its source's format); see binder.readInputs.
	records []*record.Record
}

// inputItem is one entry of a node's input: an inline record, or a sample
// (a file or text) in the format of the source it feeds.
type inputItem struct {
	record []byte
	sample *Sample
	at     *yaml.Node // the entry, or its file: or text: value
}

// expectation is what a test expects at a sink, a source's or step's
// output, or of the unhandled errors.
type expectation struct {
	target   string // as written: "wms", "by_speed.express"
	node     string
	output   string
	key      *yaml.Node // nil for the implied "no unhandled errors"
	value    *yaml.Node
	count    *int
	records  []any
	hasRecs  bool
	subset   []any
	hasSub   bool
	asserts  []assertion
	parent   *yaml.Node // the mapping holding key: value
	implicit bool
}

type assertion struct {
	src  string
	node *yaml.Node
}

// loader collects every mistake of a test file.
type loader struct {
	path string
	ds   diag.Diagnostics
	// noFiles skips reading input files: the file is skipped for want of a
	// required path, which its inputs are likely to be under.
	noFiles bool
}

func (l *loader) rng(n *yaml.Node) diag.Range {
	w := 1
	if n.Kind == yaml.ScalarNode {
		w = utf8.RuneCountInString(n.Value)
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			w += 2
		}
		if strings.Contains(n.Value, "\n") {
			w = 1
		}
	}
	return diag.At(diag.Pos{File: l.path, Line: n.Line, Col: n.Column}, w)
}

func (l *loader) errorf(n *yaml.Node, code, format string, args ...any) *diag.Diagnostic {
	return l.ds.Errorf(l.rng(n), code, format, args...)
}

func (l *loader) unknownKey(k *yaml.Node, where string, known []string) {
	d := l.errorf(k, CodeUnknownKey, "unknown key %q in %s", k.Value, where)
	if s := diag.Suggest(k.Value, known); s != "" {
		d.Hint = fmt.Sprintf("did you mean %q?", s)
	} else {
		d.Hint = "known keys: " + strings.Join(known, ", ")
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

func (l *loader) mapping(n *yaml.Node, what string) bool {
	if n.Kind == yaml.AliasNode {
		*n = *n.Alias
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, CodeWrongType, "%s must be a mapping, not %s", what, kindName(n))
		return false
	}
	return true
}

func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.errorf(n, CodeWrongType, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// pairs iterates a mapping's keys and values, reporting keys that are not
// scalars.
func (l *loader) pairs(m *yaml.Node, fn func(k, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, CodeWrongType, "keys must be names")
			continue
		}
		if seen[k.Value] {
			l.errorf(k, CodeDuplicate, "%q is given twice", k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k, v)
	}
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// loadFile reads and decodes a test file. The file is nil when it could
// not be read or parsed at all.
func loadFile(path string) (*file, diag.Diagnostics) {
	l := &loader{path: path}
	src, err := os.ReadFile(path)
	if err != nil {
		l.ds.Errorf(diag.Range{Start: diag.Pos{File: path}}, CodeUnreadable, "cannot read test file: %v", unwrapPathError(err))
		return nil, l.ds
	}
	f := &file{path: path, src: src, env: map[string]string{}, clock: DefaultClock}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		line := 1
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = regexp.MustCompile(`^line \d+: `).ReplaceAllString(msg, "")
		l.ds.Errorf(diag.At(diag.Pos{File: path, Line: line, Col: 1}, 1), CodeSyntax, "%s", msg)
		return nil, l.ds
	}
	if len(doc.Content) == 0 {
		l.ds.Errorf(diag.At(diag.Pos{File: path, Line: 1, Col: 1}, 1), CodeMissing, "the test file is empty: it needs `tests:`")
		return nil, l.ds
	}
	f.doc = &doc
	top := doc.Content[0]
	if !l.mapping(top, "a test file") {
		return nil, l.ds
	}
	dir := filepath.Dir(path)
	known := []string{"pipeline_file", "description", "env", "clock", "requires", "lookups", "inventory", "tests"}
	var tests *yaml.Node
	l.pairs(top, func(k, v *yaml.Node) {
		switch k.Value {
		case "pipeline_file":
			if s, ok := l.str(v, "`pipeline_file`"); ok {
				f.pipeline = filepath.Join(dir, filepath.FromSlash(s))
				if _, err := os.Stat(f.pipeline); err != nil {
					l.errorf(v, CodePipeline, "cannot read the pipeline %s: %v", s, unwrapPathError(err))
					f.pipeline = ""
				}
			}
		case "description":
			l.str(v, "`description`")
		case "env":
			f.env = l.env(v)
		case "clock":
			f.clock = l.clock(v, f.clock)
		case "requires":
			f.skip = l.requires(v, dir)
		case "lookups":
			f.lookups = l.lookups(v)
		case "inventory":
			f.stock = l.inventory(v)
		case "tests":
			tests = v
		case "pipeline":
			l.errorf(k, CodeUnknownKey, "a test file names its pipeline with `pipeline_file:`, not `pipeline:`").Hint =
				"`pipeline:` marks a pipeline file; write `pipeline_file: " + v.Value + "`"
		default:
			l.unknownKey(k, "a test file", known)
		}
	})
	if hasKey(top, "pipeline") {
		// A top-level `pipeline:` is what marks a pipeline file; a test
		// file names its pipeline with `pipeline_file:`, so `pipectl
		// validate` never mistakes one for the other.
		return f, l.ds
	}
	if f.pipeline == "" && !hasKey(top, "pipeline_file") {
		// pipeline_test.yaml tests pipeline.yaml; orders_test.yaml tests
		// orders.yaml.
		base := filepath.Base(path)
		ext := filepath.Ext(base)
		stem := strings.TrimSuffix(strings.TrimSuffix(base, ext), "_test")
		f.pipeline = filepath.Join(dir, stem+ext)
		if _, err := os.Stat(f.pipeline); err != nil {
			l.errorf(top, CodeMissing, "no `pipeline_file:` and no %s beside the test file", filepath.Base(f.pipeline)).Hint =
				"name the pipeline under test: `pipeline_file: pipeline.yaml`"
			f.pipeline = ""
		}
	}
	if tests == nil {
		l.errorf(top, CodeMissing, "the test file has no `tests:`")
		return f, l.ds
	}
	if tests.Kind != yaml.SequenceNode {
		l.errorf(tests, CodeWrongType, "`tests` must be a list of tests, not %s", kindName(tests))
		return f, l.ds
	}
	l.noFiles = f.skip != ""
	names := map[string]bool{}
	for _, tn := range tests.Content {
		c := l.testCase(tn, f, dir)
		if c == nil {
			continue
		}
		if names[c.name] {
			l.errorf(c.node, CodeDuplicate, "two tests are named %q", c.name)
		}
		names[c.name] = true
		f.cases = append(f.cases, c)
	}
	return f, l.ds
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (l *loader) env(v *yaml.Node) map[string]string {
	out := map[string]string{}
	if !l.mapping(v, "`env`") {
		return out
	}
	l.pairs(v, func(k, val *yaml.Node) {
		if val.Kind != yaml.ScalarNode {
			l.errorf(val, CodeWrongType, "the value of %s must be a string, not %s", k.Value, kindName(val))
			return
		}
		if val.ShortTag() == "!!null" {
			out[k.Value] = ""
			return
		}
		out[k.Value] = val.Value
	})
	return out
}

func (l *loader) clock(v *yaml.Node, def time.Time) time.Time {
	if v.Kind != yaml.ScalarNode {
		l.errorf(v, CodeWrongType, "`clock` must be a time such as 2026-11-27T12:00:00Z, not %s", kindName(v))
		return def
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v.Value); err == nil {
			return t
		}
	}
	l.errorf(v, CodeBadValue, "`clock` must be a time such as 2026-11-27T12:00:00Z, got %q", v.Value)
	return def
}

func (l *loader) requires(v *yaml.Node, dir string) string {
	var paths []*yaml.Node
	switch v.Kind {
	case yaml.ScalarNode:
		paths = []*yaml.Node{v}
	case yaml.SequenceNode:
		paths = v.Content
	default:
		l.errorf(v, CodeWrongType, "`requires` must be a path or a list of paths, not %s", kindName(v))
		return ""
	}
	for _, p := range paths {
		s, ok := l.str(p, "a required path")
		if !ok {
			continue
		}
		full := filepath.Join(dir, filepath.FromSlash(s))
		if _, err := os.Stat(full); err == nil {
			continue
		}
		abs, _ := filepath.Abs(full)
		if os.Getenv("PIPECTL_REQUIRE_SERVICES") == "1" {
			l.errorf(p, CodeRequires, "%s is required and absent (PIPECTL_REQUIRE_SERVICES=1)", abs)
			continue
		}
		return fmt.Sprintf("%s not found (set PIPECTL_REQUIRE_SERVICES=1 to fail instead)", abs)
	}
	return ""
}

func (l *loader) lookups(v *yaml.Node) map[string]table {
	out := map[string]table{}
	if !l.mapping(v, "`lookups`") {
		return out
	}
	l.pairs(v, func(k, val *yaml.Node) {
		if val.Kind != yaml.SequenceNode {
			l.errorf(val, CodeWrongType, "the table of %s must be a list of rows, not %s", k.Value, kindName(val))
			return
		}
		t := table{key: k}
		for _, row := range val.Content {
			if row.Kind != yaml.MappingNode {
				l.errorf(row, CodeWrongType, "a row of %s must be a mapping of columns, not %s", k.Value, kindName(row))
				continue
			}
			var m map[string]any
			if err := row.Decode(&m); err != nil {
				l.errorf(row, CodeBadValue, "a row of %s: %v", k.Value, err)
				continue
			}
			t.rows = append(t.rows, m)
		}
		out[k.Value] = t
	})
	return out
}

var caseKeys = []string{"name", "description", "skip", "input", "lookups", "inventory", "env", "clock", "expect", "unhandled_errors"}

func (l *loader) testCase(n *yaml.Node, f *file, dir string) *testCase {
	if !l.mapping(n, "a test") {
		return nil
	}
	c := &testCase{node: n, env: f.env, clock: f.clock, lookups: f.lookups, stock: f.stock}
	var nameNode *yaml.Node
	l.pairs(n, func(k, v *yaml.Node) {
		switch k.Value {
		case "name":
			nameNode = v
			c.name, _ = l.str(v, "`name`")
		case "description":
			l.str(v, "`description`")
		case "skip":
			switch {
			case v.ShortTag() == "!!bool" && v.Value == "true":
				c.skip = "skipped"
			case v.ShortTag() == "!!bool":
			default:
				c.skip, _ = l.str(v, "`skip`")
			}
		case "input":
			c.inputs = l.inputs(v, dir)
		case "lookups":
			merged := map[string]table{}
			for k, t := range f.lookups {
				merged[k] = t
			}
			for k, t := range l.lookups(v) {
				merged[k] = t
			}
			c.lookups = merged
		case "inventory":
			c.stock = l.inventory(v)
		case "env":
			merged := map[string]string{}
			for k, e := range f.env {
				merged[k] = e
			}
			for k, e := range l.env(v) {
				merged[k] = e
			}
			c.env = merged
		case "clock":
			c.clock = l.clock(v, f.clock)
		case "expect":
			if !l.mapping(v, "`expect`") {
				return
			}
			l.pairs(v, func(tk, tv *yaml.Node) {
				if e := l.expectation(tk, tv, v); e != nil {
					c.expect = append(c.expect, e)
				}
			})
		case "unhandled_errors":
			c.unhandled = l.expectation(k, v, n)
		default:
			l.unknownKey(k, "a test", caseKeys)
		}
	})
	if nameNode == nil {
		l.errorf(n, CodeMissing, "a test needs a `name:`")
		return nil
	}
	if c.name == "" {
		return nil
	}
	if len(c.inputs) == 0 && c.skip == "" {
		l.errorf(nameNode, CodeMissing, "test %q has no `input:`", c.name).Hint = "feed records to a source: `input: {orders: [{id: 1}]}`"
	}
	if len(c.expect) == 0 && c.unhandled == nil && c.skip == "" {
		l.errorf(nameNode, CodeMissing, "test %q expects nothing", c.name).Hint = "add `expect:` with a sink or step and its `count`, `records`, `subset` or `assert`"
	}
	return c
}

var sampleKeys = []string{"file", "text", "unwrap"}

// inputs decodes `input:`: per source or step, inline records, or samples
// {file: path, unwrap: path} and {text: ..., unwrap: path} in the format of
// the source they feed.
func (l *loader) inputs(v *yaml.Node, dir string) []input {
	if !l.mapping(v, "`input`") {
		return nil
	}
	var out []input
	l.pairs(v, func(k, val *yaml.Node) {
		in := input{node: k.Value, key: k}
		var items []*yaml.Node
		switch {
		case val.Kind == yaml.SequenceNode:
			items = val.Content
		case val.Kind == yaml.MappingNode:
			items = []*yaml.Node{val}
		default:
			l.errorf(val, CodeWrongType, "the input of %s must be a list of records, {file: path} or {text: ...}, not %s", k.Value, kindName(val))
			return
		}
		for _, it := range items {
			if isSampleRef(it) {
				if item, ok := l.sample(it, dir); ok {
					in.items = append(in.items, item)
				}
				continue
			}
			rec, err := fromYAML(it)
			if err != nil {
				l.yamlValueError(it, err)
				continue
			}
			in.items = append(in.items, inputItem{record: toJSON(rec), at: it})
		}
		out = append(out, in)
	})
	return out
}

// isSampleRef tells {file: path} and {text: ...} (with unwrap) from an
// inline record.
func isSampleRef(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode || !hasKey(n, "file") && !hasKey(n, "text") {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !slices.Contains(sampleKeys, n.Content[i].Value) {
			return false
		}
	}
	return true
}

// sample decodes {file: path} or {text: ...}. The file's path is kept as
// written, relative to the test file, for messages and records' origins.
func (l *loader) sample(n *yaml.Node, dir string) (inputItem, bool) {
	s := &Sample{}
	item := inputItem{sample: s, at: n}
	var file, text *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "file":
			file = v
			path, _ := l.str(v, "`file`")
			s.Path, s.Name = filepath.Join(dir, filepath.FromSlash(path)), path
		case "text":
			text = v
			t, _ := l.str(v, "`text`")
			s.Text, s.Name = []byte(t), "text"
		case "unwrap":
			s.Unwrap, _ = l.str(v, "`unwrap`")
		}
	}
	switch {
	case file != nil && text != nil:
		l.errorf(text, CodeBadInput, "an input gives `file` or `text`, not both")
		return item, false
	case file != nil:
		item.at = file
		if s.Name == "" || l.noFiles {
			return item, false
		}
		if _, err := os.Stat(s.Path); err != nil {
			l.errorf(file, CodeBadInput, "%v", unwrapPathError(err))
			return item, false
		}
	default:
		item.at = text
	}
	return item, true
}

func (l *loader) yamlValueError(n *yaml.Node, err error) {
	if ye, ok := err.(*yamlError); ok {
		l.errorf(ye.node, CodeBadValue, "%s", ye.msg)
		return
	}
	l.errorf(n, CodeBadValue, "%v", err)
}

var expectKeys = []string{"count", "records", "subset", "assert"}

// expectation decodes what is expected at one target: a count (`wms: 2`),
// records (`wms: [...]`), or a mapping of count, records, subset and
// assert.
func (l *loader) expectation(k, v, parent *yaml.Node) *expectation {
	e := &expectation{target: k.Value, key: k, value: v, parent: parent}
	e.node, e.output, _ = strings.Cut(k.Value, ".")
	switch v.Kind {
	case yaml.ScalarNode:
		n, ok := l.count(v)
		if !ok {
			return nil
		}
		e.count = &n
		return e
	case yaml.SequenceNode:
		e.records, e.hasRecs = l.recordList(v), true
		return e
	case yaml.MappingNode:
	default:
		l.errorf(v, CodeWrongType, "the expectation for %s must be a count, a list of records or a mapping, not %s", k.Value, kindName(v))
		return nil
	}
	l.pairs(v, func(ek, ev *yaml.Node) {
		switch ek.Value {
		case "count":
			if n, ok := l.count(ev); ok {
				e.count = &n
			}
		case "records":
			if ev.Kind != yaml.SequenceNode {
				l.errorf(ev, CodeWrongType, "`records` must be a list of records, not %s", kindName(ev))
				return
			}
			e.records, e.hasRecs = l.recordList(ev), true
		case "subset":
			if ev.Kind != yaml.SequenceNode {
				l.errorf(ev, CodeWrongType, "`subset` must be a list of partial records, not %s", kindName(ev))
				return
			}
			e.subset, e.hasSub = l.recordList(ev), true
		case "assert":
			var items []*yaml.Node
			switch ev.Kind {
			case yaml.ScalarNode:
				items = []*yaml.Node{ev}
			case yaml.SequenceNode:
				items = ev.Content
			default:
				l.errorf(ev, CodeWrongType, "`assert` must be an expression or a list of expressions, not %s", kindName(ev))
				return
			}
			for _, it := range items {
				if s, ok := l.str(it, "an assertion"); ok {
					e.asserts = append(e.asserts, assertion{src: s, node: it})
				}
			}
		default:
			l.unknownKey(ek, "an expectation", expectKeys)
		}
	})
	if e.hasRecs && e.hasSub {
		l.errorf(v, CodeBadValue, "the expectation for %s has both `records` and `subset`: keep one", k.Value)
	}
	if e.count == nil && !e.hasRecs && !e.hasSub && len(e.asserts) == 0 {
		l.errorf(v, CodeMissing, "the expectation for %s checks nothing", k.Value).Hint = "give `count`, `records`, `subset` or `assert`"
	}
	return e
}

func (l *loader) count(v *yaml.Node) (int, bool) {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" {
		if n, err := strconv.Atoi(v.Value); err == nil && n >= 0 {
			return n, true
		}
	}
	l.errorf(v, CodeWrongType, "a count must be a whole number, not %s", kindName(v))
	return 0, false
}

func (l *loader) recordList(v *yaml.Node) []any {
	out := []any{}
	for _, it := range v.Content {
		rec, err := fromYAML(it)
		if err != nil {
			l.yamlValueError(it, err)
			continue
		}
		out = append(out, rec)
	}
	return out
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
