package pipelinetest

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
	"github.com/tidwall/gjson"
	"go.yaml.in/yaml/v3"
)

// Values compared and rewritten by tests are JSON values that keep what
// matters to a consultant reading a diff: object keys in the order written,
// numbers as exact decimals with their text. They are nil, bool, string,
// number, []any and *object.

// number is a JSON number: its exact value, and its text as written.
type number struct {
	d    decimal.Decimal
	text string
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	m    map[string]any
}

func (o *object) set(k string, v any) {
	if o.m == nil {
		o.m = map[string]any{}
	}
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

// fromJSON converts parsed JSON into a value.
func fromJSON(r gjson.Result) any {
	switch r.Type {
	case gjson.Null:
		return nil
	case gjson.True:
		return true
	case gjson.False:
		return false
	case gjson.String:
		return r.Str
	case gjson.Number:
		d, err := decimal.NewFromString(r.Raw)
		if err != nil {
			return number{d: decimal.NewFromFloat(r.Num), text: r.Raw}
		}
		return number{d: d, text: r.Raw}
	}
	if r.IsArray() {
		out := []any{}
		r.ForEach(func(_, v gjson.Result) bool {
			out = append(out, fromJSON(v))
			return true
		})
		return out
	}
	if r.IsObject() {
		o := &object{m: map[string]any{}}
		r.ForEach(func(k, v gjson.Result) bool {
			o.set(k.Str, fromJSON(v))
			return true
		})
		return o
	}
	return nil
}

// fromRaw converts a record's JSON text into a value.
func fromRaw(raw []byte) any { return fromJSON(gjson.ParseBytes(raw)) }

// yamlError is a value in a test file that is not JSON: reported where it is.
type yamlError struct {
	node *yaml.Node
	msg  string
}

func (e *yamlError) Error() string { return e.msg }

// fromYAML converts a YAML node of a test file into a value. Numbers keep
// the digits written; unquoted timestamps stay the strings they look like,
// since JSON has no time type.
func fromYAML(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return fromYAML(n.Content[0])
	case yaml.AliasNode:
		return fromYAML(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromYAML(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		o := &object{m: map[string]any{}}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" || (k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Style == 0) {
				merged, err := fromYAML(v)
				if err != nil {
					return nil, err
				}
				if mo, ok := merged.(*object); ok {
					for _, mk := range mo.keys {
						if _, exists := o.m[mk]; !exists {
							o.set(mk, mo.m[mk])
						}
					}
					continue
				}
				return nil, &yamlError{k, "a merge key (<<) must merge a mapping"}
			}
			if k.Kind != yaml.ScalarNode {
				return nil, &yamlError{k, "record keys must be strings"}
			}
			val, err := fromYAML(v)
			if err != nil {
				return nil, err
			}
			o.set(k.Value, val)
		}
		return o, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, &yamlError{n, err.Error()}
			}
			return b, nil
		case "!!int", "!!float":
			text := strings.ReplaceAll(n.Value, "_", "")
			if d, err := decimal.NewFromString(text); err == nil && jsonNumber.MatchString(text) {
				return number{d: d, text: text}, nil
			}
			if d, err := decimal.NewFromString(text); err == nil {
				return number{d: d, text: d.String()}, nil
			}
			var i int64
			if err := n.Decode(&i); err == nil {
				return number{d: decimal.NewFromInt(i), text: strconv.FormatInt(i, 10)}, nil
			}
			return nil, &yamlError{n, fmt.Sprintf("%s is not a number JSON can hold", n.Value)}
		case "!!binary":
			return nil, &yamlError{n, "binary values cannot be records: write the text"}
		}
		return n.Value, nil
	}
	return nil, &yamlError{n, "unexpected YAML"}
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// appendJSON appends v as JSON text, keys in order, numbers as written.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return record.AppendString(b, x)
	case number:
		if jsonNumber.MatchString(x.text) {
			return append(b, x.text...)
		}
		return append(b, x.d.String()...)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case *object:
		b = append(b, '{')
		for i, k := range x.keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = record.AppendString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x.m[k])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

func toJSON(v any) []byte { return appendJSON(nil, v) }

// short renders v as compact JSON for a message, cut at max characters.
func short(v any, max int) string {
	s := string(toJSON(v))
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case number:
		return "number"
	case []any:
		return "array"
	case *object:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// mismatch is one difference between an expected and an actual value.
type mismatch struct {
	path string
	msg  string
}

func (m mismatch) String() string {
	if m.path == "" {
		return m.msg
	}
	return m.path + ": " + m.msg
}

// compare reports how got differs from want. With subset, objects in want
// need only be contained in got (recursively, arrays elementwise);
// otherwise the values must be equal. Numbers compare as exact decimals, so
// 10 matches 10.0 but not "10".
func compare(want, got any, path string, subset bool, out *[]mismatch) {
	const width = 60
	if wo, ok := want.(*object); ok {
		g, ok := got.(*object)
		if !ok {
			*out = append(*out, mismatch{path, fmt.Sprintf("want an object, got %s %s", typeName(got), short(got, width))})
			return
		}
		for _, k := range wo.keys {
			gv, ok := g.m[k]
			if !ok {
				*out = append(*out, mismatch{joinPath(path, k), fmt.Sprintf("missing, want %s", short(wo.m[k], width))})
				continue
			}
			compare(wo.m[k], gv, joinPath(path, k), subset, out)
		}
		if !subset {
			for _, k := range g.keys {
				if _, ok := wo.m[k]; !ok {
					*out = append(*out, mismatch{joinPath(path, k), fmt.Sprintf("unexpected field, got %s", short(g.m[k], width))})
				}
			}
		}
		return
	}
	if wa, ok := want.([]any); ok {
		ga, ok := got.([]any)
		if !ok {
			*out = append(*out, mismatch{path, fmt.Sprintf("want an array, got %s %s", typeName(got), short(got, width))})
			return
		}
		if len(wa) != len(ga) {
			*out = append(*out, mismatch{path, fmt.Sprintf("want %d elements, got %d: %s", len(wa), len(ga), short(got, width))})
			return
		}
		for i := range wa {
			compare(wa[i], ga[i], fmt.Sprintf("%s[%d]", path, i), subset, out)
		}
		return
	}
	if !scalarEqual(want, got) {
		if typeName(want) != typeName(got) {
			*out = append(*out, mismatch{path, fmt.Sprintf("want %s %s, got %s %s", typeName(want), short(want, width), typeName(got), short(got, width))})
			return
		}
		*out = append(*out, mismatch{path, fmt.Sprintf("want %s, got %s", short(want, width), short(got, width))})
	}
}

func scalarEqual(want, got any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case string:
		g, ok := got.(string)
		return ok && g == w
	case number:
		g, ok := got.(number)
		return ok && g.d.Equal(w.d)
	}
	return false
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func joinPath(path, key string) string {
	if identifier.MatchString(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// project keeps of got what the subset want asserts: its keys, in its order,
// with got's values. It is what --update writes for a subset expectation,
// so the rewritten expectation checks the same fields with today's values.
func project(want, got any) any {
	switch w := want.(type) {
	case *object:
		g, ok := got.(*object)
		if !ok {
			return got
		}
		out := &object{m: map[string]any{}}
		for _, k := range w.keys {
			if gv, ok := g.m[k]; ok {
				out.set(k, project(w.m[k], gv))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(w) == 0 {
			return got
		}
		out := make([]any, len(g))
		for i := range g {
			out[i] = project(w[min(i, len(w)-1)], g[i])
		}
		return out
	}
	return got
}

// toNode renders a value as YAML for --update: records as block mappings,
// small nested values in flow style so a record stays readable.
func toNode(v any, top bool) *yaml.Node {
	switch x := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}
	case string:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
		if strings.ContainsAny(x, "\n\t") || x == "" || x != strings.TrimSpace(x) {
			n.Style = yaml.DoubleQuotedStyle
		}
		return n
	case number:
		text := x.text
		if !jsonNumber.MatchString(text) {
			text = x.d.String()
		}
		tag := "!!int"
		if strings.ContainsAny(text, ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: text}
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			n.Content = append(n.Content, toNode(e, false))
		}
		if !top && fitsFlow(v) {
			n.Style = yaml.FlowStyle
		}
		return n
	case *object:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range x.keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, toNode(x.m[k], false))
		}
		if !top && fitsFlow(v) {
			n.Style = yaml.FlowStyle
		}
		return n
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// fitsFlow reports whether a nested value is short enough to write on one
// line.
func fitsFlow(v any) bool {
	if a, ok := v.([]any); ok && len(a) == 0 {
		return true
	}
	if o, ok := v.(*object); ok && len(o.keys) == 0 {
		return true
	}
	return len(toJSON(v)) <= 72 && !bytes.ContainsAny(toJSON(v), "\n")
}

// recordsNode renders records as a YAML sequence: each record on one line
// when it fits, as a block mapping otherwise.
func recordsNode(recs []any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, r := range recs {
		n.Content = append(n.Content, toNode(r, !fitsFlow(r)))
	}
	if len(recs) == 0 {
		n.Style = yaml.FlowStyle
	}
	return n
}
