package exprs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pipectl/pipectl/pipelines/component"
)

// TypeFromJSONSchema derives the record type expressions are checked against
// from a JSON Schema. An object schema that lists properties is closed: a
// field it does not list is reported as a typo, which is the point of
// declaring a schema. An object says `"additionalProperties": true` (or a
// schema) to stay open. Nullable types (["string", "null"]) take their
// non-null type; a union of different kinds is Any. A string or a number
// with `"format": "decimal"` is a decimal: money written as "19.99" or
// 19.99, read as the exact decimal it writes. Local $refs
// (#/$defs/..., #/definitions/...) are followed. doc names the type in
// messages ("the Shopify order"); when empty, the schema's title is used.
func TypeFromJSONSchema(raw []byte, doc string) (*component.Type, error) {
	return TypeFromJSONSchemaRefs(raw, doc, nil)
}

// TypeFromJSONSchemaRefs is TypeFromJSONSchema for a schema whose $refs
// may name other schemas: a $ref that does not start with # is
// "document#fragment", and lookup returns the document ("shopify/order",
// an embedded schema's $id), whose own local $refs are followed in it.
func TypeFromJSONSchemaRefs(raw []byte, doc string, lookup func(string) ([]byte, bool)) (*component.Type, error) {
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("read JSON Schema: %w", err)
	}
	c := &schemaConv{root: root, seen: map[string]*component.Type{}, lookup: lookup, docs: map[string]map[string]any{}}
	t := c.convert(root, 0)
	if title, ok := root["title"].(string); ok && title != "" && doc == "" {
		doc = "the " + title
	}
	if t.Kind == component.Object && doc != "" {
		cp := *t
		cp.Doc = doc
		t = &cp
	}
	return t, c.err
}

type schemaConv struct {
	root map[string]any
	seen map[string]*component.Type // by document and $ref
	err  error
	// lookup reads other documents; docs holds those read, and docKey
	// names the one being converted ("" for the schema itself).
	lookup func(string) ([]byte, bool)
	docs   map[string]map[string]any
	docKey string
}

const maxSchemaDepth = 64

func (c *schemaConv) convert(s map[string]any, depth int) *component.Type {
	if s == nil || depth > maxSchemaDepth {
		return component.AnyType
	}
	if ref, ok := s["$ref"].(string); ok {
		docKey, root, local := c.docKey, c.root, ref
		if !strings.HasPrefix(ref, "#") {
			name, frag, _ := strings.Cut(ref, "#")
			d, ok := c.document(name)
			if !ok {
				c.err = fmt.Errorf("JSON Schema $ref %q: no such schema (a $ref names a local #/$defs/... or an embedded schema such as shopify/order)", ref)
				return component.AnyType
			}
			docKey, root, local = name, d, "#"+frag
		}
		key := docKey + local
		if t, ok := c.seen[key]; ok {
			return t
		}
		prevKey, prevRoot := c.docKey, c.root
		c.docKey, c.root = docKey, root
		defer func() { c.docKey, c.root = prevKey, prevRoot }()
		target := c.resolve(local)
		if target == nil {
			c.err = fmt.Errorf("JSON Schema $ref %q: not found in the schema", ref)
			return component.AnyType
		}
		// Guard recursive definitions: a reference met again while being
		// converted is Any.
		c.seen[key] = component.AnyType
		t := c.convert(target, depth+1)
		c.seen[key] = t
		return t
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		if alts, ok := s[key].([]any); ok {
			var ts []*component.Type
			null := false
			for _, a := range alts {
				if m, ok := a.(map[string]any); ok {
					t := c.convert(m, depth+1)
					if t.Kind != component.Null {
						ts = append(ts, t)
					} else {
						null = true
					}
				}
			}
			if len(ts) == 1 {
				return nullable(ts[0], null)
			}
			return component.AnyType
		}
	}
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		if m, ok := all[0].(map[string]any); ok {
			return c.convert(m, depth+1)
		}
	}
	var kinds []string
	null := false
	switch t := s["type"].(type) {
	case string:
		kinds = []string{t}
	case []any:
		for _, k := range t {
			if ks, ok := k.(string); ok && ks != "null" {
				kinds = append(kinds, ks)
			} else if ok {
				null = true
			}
		}
		if len(kinds) == 0 {
			return component.NullType
		}
	}
	if len(kinds) == 0 {
		if _, ok := s["properties"]; ok {
			kinds = []string{"object"}
		} else if _, ok := s["items"]; ok {
			kinds = []string{"array"}
		}
	}
	if len(kinds) != 1 {
		return component.AnyType
	}
	if format, _ := s["format"].(string); format == "decimal" && (kinds[0] == "string" || kinds[0] == "number") {
		return nullable(component.DecimalType, null)
	}
	switch kinds[0] {
	case "string":
		return nullable(component.StringType, null)
	case "integer":
		return nullable(component.IntType, null)
	case "number":
		return nullable(component.NumberType, null)
	case "boolean":
		return nullable(component.BoolType, null)
	case "null":
		return component.NullType
	case "array":
		items, _ := s["items"].(map[string]any)
		return component.ArrayOf(c.convert(items, depth+1))
	case "object":
		props, _ := s["properties"].(map[string]any)
		obj := &component.Type{Kind: component.Object, Open: len(props) == 0}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			obj.Open = obj.Open && ap || ap
		case map[string]any:
			obj.Open = true
		}
		names := make([]string, 0, len(props))
		for k := range props {
			names = append(names, k)
		}
		slices.Sort(names)
		required := map[string]bool{}
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if name, ok := r.(string); ok {
					required[name] = true
				}
			}
		}
		for _, k := range names {
			m, _ := props[k].(map[string]any)
			obj.Fields = append(obj.Fields, component.Property{Name: k, Type: c.convert(m, depth+1), Required: required[k]})
		}
		return obj
	}
	return component.AnyType
}

// document reads another schema a $ref names, once.
func (c *schemaConv) document(name string) (map[string]any, bool) {
	if d, ok := c.docs[name]; ok {
		return d, true
	}
	if c.lookup == nil {
		return nil, false
	}
	raw, ok := c.lookup(name)
	if !ok {
		return nil, false
	}
	var d map[string]any
	if json.Unmarshal(raw, &d) != nil {
		return nil, false
	}
	c.docs[name] = d
	return d, true
}

// resolve follows a local JSON pointer ("#/$defs/address"); "#" is the
// document itself.
func (c *schemaConv) resolve(ref string) map[string]any {
	if ref == "#" {
		return c.root
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = c.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	m, _ := cur.(map[string]any)
	return m
}

// nullable marks a scalar type as one that may be null.
func nullable(t *component.Type, null bool) *component.Type {
	if !null || t.Nullable {
		return t
	}
	cp := *t
	cp.Nullable = true
	return &cp
}
