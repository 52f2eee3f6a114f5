package pipelines

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
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

// Check validates a pipeline file's text and returns schema violations at
// lines where known holds no error yet.
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
	idx := map[string]*yaml.Node{}
	value := toJSONValue(doc.Content[0], "", idx, 0)
	err := c.schema.Validate(value)
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil
	}
	busy := map[int]bool{}
	for _, d := range known {
		if d.Severity == diag.Error && d.Subject.Start.File == path {
			busy[d.Subject.Start.Line] = true
		}
	}
	var ds diag.Diagnostics
	for _, leaf := range leaves(verr) {
		n := nearest(idx, leaf.InstanceLocation)
		if n == nil || busy[n.Line] {
			continue
		}
		busy[n.Line] = true
		where := strings.TrimPrefix(leaf.InstanceLocation, "/")
		if where == "" {
			where = "the file"
		}
		d := ds.Errorf(diag.At(diag.Pos{File: path, Line: n.Line, Col: n.Column}, 1), CodeSchemaViolation, "%s: %s", strings.ReplaceAll(where, "/", "."), leaf.Message)
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

func nearest(idx map[string]*yaml.Node, loc string) *yaml.Node {
	for {
		if n, ok := idx[loc]; ok {
			return n
		}
		i := strings.LastIndexByte(loc, '/')
		if i < 0 {
			return idx[""]
		}
		loc = loc[:i]
	}
}

// toJSONValue converts a YAML node into the value jsonschema validates,
// recording each node under its JSON pointer.
func toJSONValue(n *yaml.Node, ptr string, idx map[string]*yaml.Node, depth int) any {
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
			p := ptr + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			idx[p] = n.Content[i]
			m[k] = toJSONValue(n.Content[i+1], p, idx, depth+1)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = toJSONValue(c, ptr+"/"+strconv.Itoa(i), idx, depth+1)
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
