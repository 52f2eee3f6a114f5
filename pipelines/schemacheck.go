package pipelines

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/santhosh-tekuri/jsonschema/v5"
	"go.yaml.in/yaml/v3"
)

// CodeSchemaViolation marks a problem only the generated JSON Schema caught.
const CodeSchemaViolation = "schema-violation"

// SchemaChecker validates pipeline files against the generated JSON Schema:
// the same check an editor makes, so a file pipectl accepts is one the
// editor accepts. The loader's own diagnostics are more precise; a schema
// violation is reported only where the loader found nothing.
type SchemaChecker struct {
	once   sync.Once
	reg    *component.Registry
	schema *jsonschema.Schema
	err    error
}

// NewSchemaChecker returns a checker for the registry's pipeline schema.
func NewSchemaChecker(reg *component.Registry) *SchemaChecker { return &SchemaChecker{reg: reg} }

func (c *SchemaChecker) compile() {
	comp := jsonschema.NewCompiler()
	comp.Draft = jsonschema.Draft2020
	if err := comp.AddResource("pipeline.schema.json", bytes.NewReader(PipelineSchema(c.reg))); err != nil {
		c.err = err
		return
	}
	c.schema, c.err = comp.Compile("pipeline.schema.json")
}

// Check validates a pipeline file's text and returns schema violations in
// the entries (or top-level keys) where known holds no error yet: the
// loader's diagnostic for a mistake is more precise than the schema's, which
// often lands on another line of the same entry (a oneOf failure is reported
// at the entry's first setting, a missing kind where the kind key is absent).
func (c *SchemaChecker) Check(path string, src []byte, known diag.Diagnostics) diag.Diagnostics {
	c.once.Do(c.compile)
	if c.err != nil {
		var ds diag.Diagnostics
		ds.Errorf(diag.Range{Start: diag.Pos{File: path}}, CodeSchemaViolation, "pipeline schema does not compile: %v", c.err)
		return ds
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return nil // the loader reports syntax errors
	}
	if _, bomb := aliasesExplode(doc.Content[0]); bomb {
		return nil // and aliases it will not follow
	}
	idx := map[string]*yaml.Node{}
	keys := map[string]*yaml.Node{}
	value := toJSONValue(doc.Content[0], "", idx, keys, 0)
	err := c.schema.Validate(value)
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil
	}
	var errLines []int
	for _, d := range known {
		if d.Severity == diag.Error && d.Subject.Start.File == path {
			errLines = append(errLines, d.Subject.Start.Line)
		}
	}
	busy := map[int]bool{}
	lines := splitLines(src)
	var ds diag.Diagnostics
	ls := leaves(verr)
	// The validator collects errors while ranging over maps; sort them so
	// the same file always yields the same report.
	slices.SortStableFunc(ls, func(a, b *jsonschema.ValidationError) int {
		return cmp.Or(cmp.Compare(a.InstanceLocation, b.InstanceLocation), cmp.Compare(a.KeywordLocation, b.KeywordLocation), cmp.Compare(a.Message, b.Message))
	})
	for _, leaf := range ls {
		ptr, n := locate(idx, keys, leaf)
		if n == nil || busy[n.Line] {
			continue
		}
		first, last := scopeLines(idx, keys, ptr)
		if slices.ContainsFunc(errLines, func(l int) bool { return l >= first && l <= last }) {
			continue
		}
		busy[n.Line] = true
		where := strings.TrimPrefix(leaf.InstanceLocation, "/")
		if where == "" {
			where = "the file"
		}
		at := diag.Pos{File: path, Line: n.Line, Col: n.Column}
		if at.Line > len(lines) { // an empty node ending the file
			at.Line, at.Col = len(lines), len(lines[len(lines)-1])+1
		}
		d := ds.Errorf(diag.At(at, 1), CodeSchemaViolation, "%s: %s", strings.ReplaceAll(where, "/", "."), leaf.Message)
		d.Detail = "reported by the pipeline JSON Schema (" + leaf.KeywordLocation + ")"
	}
	return ds
}

// leaves returns the innermost validation errors, which name the actual
// problem rather than "doesn't validate with #/$defs/step".
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// locate returns the JSON pointer and the node a violation is about. An
// unknown or badly named key is reported at the key, not at the start of the
// mapping holding it (additionalProperties) or at its value (propertyNames).
func locate(idx, keys map[string]*yaml.Node, leaf *jsonschema.ValidationError) (string, *yaml.Node) {
	loc := leaf.InstanceLocation
	switch {
	case strings.Contains(leaf.KeywordLocation, "/propertyNames/"):
		if kn := keys[loc]; kn != nil {
			return loc, kn
		}
	case strings.HasSuffix(leaf.KeywordLocation, "/additionalProperties"):
		if m := idx[loc]; m != nil && m.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(m.Content); i += 2 {
				k := m.Content[i]
				p := loc + "/" + pointerToken(k.Value)
				if kn := keys[p]; kn != nil && strings.Contains(leaf.Message, validatorQuote(k.Value)) {
					return p, kn
				}
			}
		}
	}
	for {
		if n, ok := idx[loc]; ok {
			return loc, n
		}
		i := strings.LastIndexByte(loc, '/')
		if i < 0 {
			return "", idx[""]
		}
		loc = loc[:i]
	}
}

// scopeLines returns the lines of the entry (/steps/name) or top-level key
// holding the node at ptr: from its key to its last line. The whole file
// when ptr is the root.
func scopeLines(idx, keys map[string]*yaml.Node, ptr string) (first, last int) {
	parts := strings.SplitN(strings.TrimPrefix(ptr, "/"), "/", 3)
	scope := "/" + parts[0]
	switch {
	case ptr == "":
		return 1, math.MaxInt
	case len(parts) > 1 && slices.Contains([]string{"triggers", "sources", "steps", "sinks", "rules"}, parts[0]):
		scope += "/" + parts[1]
	}
	n, k := idx[scope], keys[scope]
	if n == nil || k == nil {
		return 1, math.MaxInt
	}
	return k.Line, lastLine(n)
}

// lastLine is the last line a node's text reaches (aliases not followed).
func lastLine(n *yaml.Node) int {
	l := n.Line
	for _, c := range n.Content {
		l = max(l, lastLine(c))
	}
	return l
}

// validatorQuote quotes a property name as the validator's messages do.
func validatorQuote(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	return "'" + strings.ReplaceAll(q, `'`, `\'`) + "'"
}

// pointerToken escapes a key as the validator does in instance locations.
func pointerToken(k string) string {
	return url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
}

// toJSONValue converts a YAML node into the value jsonschema validates,
// recording each node under its JSON pointer in idx, and each mapping key in
// keys.
func toJSONValue(n *yaml.Node, ptr string, idx, keys map[string]*yaml.Node, depth int) any {
	n = resolveAlias(n)
	if n == nil || depth > 100 {
		return nil
	}
	idx[ptr] = n
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := ptr + "/" + pointerToken(k)
			idx[p] = n.Content[i]
			keys[p] = n.Content[i]
			m[k] = toJSONValue(n.Content[i+1], p, idx, keys, depth+1)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = toJSONValue(c, ptr+"/"+strconv.Itoa(i), idx, keys, depth+1)
		}
		return out
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			b, _ := strconv.ParseBool(strings.ToLower(n.Value))
			return b
		case "!!int", "!!float":
			if r, ok := new(big.Rat).SetString(strings.ReplaceAll(n.Value, "_", "")); ok {
				return json.Number(ratString(r))
			}
			return n.Value
		}
		return n.Value
	}
	return nil
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return fmt.Sprint(f)
}
