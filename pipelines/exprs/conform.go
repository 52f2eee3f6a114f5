package exprs

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/record"
	"github.com/shopspring/decimal"
)

// Conformance checks the records of a source that declares `schema:`
// against the type the schema gives, as far as the pipeline reads them.
// Expressions were type-checked against that type, so a record that does
// not fit it would fail somewhere downstream in Go's terms, or worse pass
// a wrong value on; checked at the source, it leaves through the source's
// error output with what is wrong, in the schema's terms
// (`/test: expected boolean, but got null`).
//
// Only the fields the pipeline reads are checked, on the values decoded
// for the steps anyway: a full JSON Schema validation of every record would
// cost a pipeline most of its speed, and a field nobody reads cannot make a
// step fail. A field the schema does not list is not a violation: payloads
// carry more than their documentation says. A field absent is one only
// when the schema requires it.
type Conformance struct {
	root *shape
	what string // "schema shopify/order", for messages
}

// NewConformance returns the check of records of type t read as far as
// reads says, or nil when nothing would be checked. what names the schema
// in messages.
func NewConformance(t *component.Type, reads *record.Projection, what string) *Conformance {
	if t == nil || t.Kind != component.Object || reads == nil {
		return nil
	}
	root := newShape(t, reads, 0)
	if len(root.fields) == 0 && root.all == nil {
		return nil
	}
	return &Conformance{root: root, what: what}
}

// shape is the check of one value: its kind, and for objects and arrays,
// of what is read of them.
type shape struct {
	kind     component.TypeKind
	nullable bool
	// fields are the object fields read, by name; all, for an object read
	// whole, is every field its type declares.
	fields []shapeField
	all    map[string]*shape
	req    []string // required fields, checked when the object is read whole
	elem   *shape   // array elements, nil when only the length is read
}

type shapeField struct {
	name     string
	required bool
	shape    *shape
}

// maxShapeDepth bounds the check of recursive types read whole.
const maxShapeDepth = 32

func newShape(t *component.Type, p *record.Projection, depth int) *shape {
	s := &shape{kind: t.Kind, nullable: t.Nullable}
	if depth > maxShapeDepth {
		s.kind = component.Any
		return s
	}
	whole := p == nil || p.All
	switch t.Kind {
	case component.Object:
		if whole {
			s.all = map[string]*shape{}
			for _, f := range t.Fields {
				s.all[f.Name] = newShape(f.Type, nil, depth+1)
				if f.Required {
					s.req = append(s.req, f.Name)
				}
			}
			return s
		}
		for _, name := range slices.Sorted(maps.Keys(p.Fields)) {
			for _, f := range t.Fields {
				if f.Name == name && f.Type.Kind != component.Any {
					s.fields = append(s.fields, shapeField{name: name, required: f.Required, shape: newShape(f.Type, p.Fields[name], depth+1)})
				}
			}
		}
	case component.Array:
		if t.Elem == nil {
			return s
		}
		switch {
		case whole:
			s.elem = newShape(t.Elem, nil, depth+1)
		case p.Elem != nil:
			s.elem = newShape(t.Elem, p.Elem, depth+1)
		}
	}
	return s
}

// Check reports the violations in a record's decoded fields, or nil. raw is
// the record's JSON, for records that are not objects at all.
func (c *Conformance) Check(raw []byte, fields map[string]any) error {
	if first := firstByte(raw); first != '{' {
		return fmt.Errorf("does not fit %s: expected object, but got %s", c.what, jsonType(first))
	}
	var w walker
	w.object(c.root, fields)
	if len(w.list) == 0 {
		return nil
	}
	msg := strings.Join(w.list, "; ")
	if w.more > 0 {
		msg += fmt.Sprintf("; and %d more", w.more)
	}
	return errors.New("does not fit " + c.what + ": " + msg)
}

// walker goes through a record's values with their shapes, keeping the
// path it is at on a stack of its own, written out only for a violation:
// a record that fits costs no allocation.
type walker struct {
	path [maxShapeDepth + 2]step
	n    int
	list []string
	more int
}

// step is one step of a path: a field name, or an array index when name
// is "".
type step struct {
	name  string
	index int
}

func (w *walker) push(name string, index int) {
	if w.n < len(w.path) {
		w.path[w.n] = step{name, index}
	}
	w.n++
}

func (w *walker) pop() { w.n-- }

// pointer writes the path as a JSON Pointer.
func (w *walker) pointer() string {
	if w.n == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range w.path[:min(w.n, len(w.path))] {
		b.WriteByte('/')
		if s.name == "" {
			b.WriteString(strconv.Itoa(s.index))
			continue
		}
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(s.name, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

const maxViolations = 10

func (w *walker) add(format string, args ...any) {
	if len(w.list) == maxViolations {
		w.more++
		return
	}
	w.list = append(w.list, w.pointer()+": "+fmt.Sprintf(format, args...))
}

func (w *walker) object(s *shape, m map[string]any) {
	if s.all != nil {
		for _, name := range s.req {
			if _, ok := m[name]; !ok {
				w.add("missing required field %q", name)
			}
		}
		// Sorted, so the same record always gives the same message.
		for _, name := range slices.Sorted(maps.Keys(m)) {
			if fs, ok := s.all[name]; ok {
				w.push(name, 0)
				w.value(fs, m[name])
				w.pop()
			}
		}
		return
	}
	for i := range s.fields {
		f := &s.fields[i]
		val, ok := m[f.name]
		if !ok {
			if f.required {
				w.add("missing required field %q", f.name)
			}
			continue
		}
		w.push(f.name, 0)
		w.value(f.shape, val)
		w.pop()
	}
}

func (w *walker) value(s *shape, val any) {
	if val == nil {
		if !s.nullable && s.kind != component.Any && s.kind != component.Null {
			w.add("expected %s, but got null", schemaType(s.kind))
		}
		return
	}
	switch s.kind {
	case component.Any:
	case component.Object:
		m, ok := val.(map[string]any)
		if !ok {
			w.add("expected object, but got %s", valueType(val))
			return
		}
		w.object(s, m)
	case component.Array:
		arr, ok := val.([]any)
		if !ok {
			w.add("expected array, but got %s", valueType(val))
			return
		}
		if s.elem != nil {
			for i, e := range arr {
				w.push("", i)
				w.value(s.elem, e)
				w.pop()
			}
		}
	default:
		if !fits(s.kind, val) {
			w.add("expected %s, but got %s", schemaType(s.kind), valueType(val))
		}
	}
}

// fits reports whether a decoded scalar is of kind k.
func fits(k component.TypeKind, val any) bool {
	switch k {
	case component.String:
		_, ok := val.(string)
		return ok
	case component.Bool:
		_, ok := val.(bool)
		return ok
	case component.Int:
		switch n := val.(type) {
		case int, int64:
			return true
		case float64:
			return n == math.Trunc(n) && !math.IsInf(n, 0)
		}
		return false
	case component.Number:
		switch val.(type) {
		case int, int64, float64:
			return true
		}
		return false
	case component.Decimal:
		switch val.(type) {
		case decimal.Decimal, string, int, int64, float64:
			return true
		}
		return false
	case component.Time:
		switch val.(type) {
		case time.Time, string:
			return true
		}
		return false
	case component.Null:
		return false
	}
	return true
}

// schemaType names a kind as JSON Schema does.
func schemaType(k component.TypeKind) string {
	switch k {
	case component.Int:
		return "integer"
	case component.Bool:
		return "boolean"
	case component.Decimal, component.Time:
		return "string"
	}
	return k.String()
}

// valueType names a decoded value as JSON Schema does, with the value when
// it is short.
func valueType(val any) string {
	switch x := val.(type) {
	case string:
		if len(x) <= 20 {
			return "string " + strconv.Quote(x)
		}
		return "string"
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case int, int64, float64:
		s, _ := text(x)
		return "number " + s
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return kindOf(val)
}

func firstByte(raw []byte) byte {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func jsonType(first byte) string {
	switch {
	case first == '[':
		return "array"
	case first == '"':
		return "string"
	case first == 't' || first == 'f':
		return "boolean"
	case first == 'n':
		return "null"
	case first == 0:
		return "nothing"
	}
	return "number"
}
