package component

import (
	"slices"
	"strings"
)

// TypeKind is the shape of a value flowing between nodes.
type TypeKind int

// The kinds of value records are made of. Int and Number are kept apart so
// that Shopify's 64-bit ids are never confused with floats; Decimal is money.
const (
	Any TypeKind = iota
	Null
	Bool
	Int
	Number
	String
	Decimal
	Time
	Duration
	Array
	Object
)

var kindNames = [...]string{"any", "null", "bool", "int", "number", "string", "decimal", "time", "duration", "array", "object"}

func (k TypeKind) String() string { return kindNames[k] }

// Type describes the records a node emits or expects. Object types list their
// fields in declaration order; an Open object may hold fields beyond those
// listed (they are typed Any), a closed one may not, which is what lets the
// compiler report a typo in a field name.
type Type struct {
	Kind   TypeKind
	Elem   *Type      // element type of an Array
	Fields []Property // fields of an Object, in order
	Open   bool       // an Object that may hold unlisted fields
	// Nullable values may be null as well: real payloads send null for
	// many fields their documentation types as strings.
	Nullable bool
	Doc      string // where the type came from, for messages ("the Shopify order")
}

// Property is one field of an object type. Required matters where the type
// says what a consumer needs (a sink's schema, a kind's input): a record
// without a required field does not fit; one without an optional field does.
type Property struct {
	Name     string
	Type     *Type
	Required bool
}

// Required returns a property that must be present.
func Required(name string, t *Type) Property { return Property{Name: name, Type: t, Required: true} }

// Basic types, shared because they carry no fields.
var (
	AnyType      = &Type{Kind: Any}
	NullType     = &Type{Kind: Null}
	BoolType     = &Type{Kind: Bool}
	IntType      = &Type{Kind: Int}
	NumberType   = &Type{Kind: Number}
	StringType   = &Type{Kind: String}
	DecimalType  = &Type{Kind: Decimal}
	TimeType     = &Type{Kind: Time}
	DurationType = &Type{Kind: Duration}
)

// ArrayOf returns the type of arrays of elem.
func ArrayOf(elem *Type) *Type { return &Type{Kind: Array, Elem: elem} }

// ObjectOf returns a closed object type with the given fields.
func ObjectOf(fields ...Property) *Type { return &Type{Kind: Object, Fields: fields} }

// OpenObject is the type of an object whose fields are not known: every field
// access type-checks and yields Any.
func OpenObject() *Type { return &Type{Kind: Object, Open: true} }

// Field returns the type of the named field and whether the object has it.
// Open objects have every field.
func (t *Type) Field(name string) (*Type, bool) {
	if t == nil || t.Kind == Any {
		return AnyType, true
	}
	if t.Kind != Object {
		return nil, false
	}
	for _, p := range t.Fields {
		if p.Name == name {
			return p.Type, true
		}
	}
	if t.Open {
		return AnyType, true
	}
	return nil, false
}

// FieldNames lists an object's declared field names in order.
func (t *Type) FieldNames() []string {
	if t == nil {
		return nil
	}
	names := make([]string, len(t.Fields))
	for i, p := range t.Fields {
		names[i] = p.Name
	}
	return names
}

// Known reports whether anything is known about t's shape.
func (t *Type) Known() bool {
	return t != nil && t.Kind != Any && !(t.Kind == Object && t.Open && len(t.Fields) == 0)
}

// String renders a compact description: "object{id: int, email: string}".
func (t *Type) String() string {
	var b strings.Builder
	t.write(&b, 0)
	return b.String()
}

func (t *Type) write(b *strings.Builder, depth int) {
	if t == nil {
		b.WriteString("any")
		return
	}
	switch t.Kind {
	case Array:
		b.WriteString("array<")
		t.Elem.write(b, depth+1)
		b.WriteString(">")
	case Object:
		if depth > 1 || len(t.Fields) == 0 {
			b.WriteString("object")
			return
		}
		b.WriteString("object{")
		for i, p := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(p.Name)
			b.WriteString(": ")
			p.Type.write(b, depth+1)
		}
		if t.Open {
			b.WriteString(", ...")
		}
		b.WriteString("}")
	default:
		b.WriteString(t.Kind.String())
		if t.Nullable {
			b.WriteString("?")
		}
	}
}

// AssignableTo reports whether every value of type t is acceptable where want
// is expected, and if not, the path of the first field that is not ("" for
// the value itself). Any on either side is acceptable: the compiler only
// rejects what it knows to be wrong.
func (t *Type) AssignableTo(want *Type) (bool, string) {
	if t == nil || want == nil || t.Kind == Any || want.Kind == Any {
		return true, ""
	}
	if t.Kind == Null {
		return true, ""
	}
	switch want.Kind {
	case Number:
		if t.Kind == Int || t.Kind == Number || t.Kind == Decimal {
			return true, ""
		}
	case Decimal:
		if t.Kind == Int || t.Kind == Decimal || t.Kind == String || t.Kind == Number {
			return true, ""
		}
	case Array:
		if t.Kind == Array {
			if ok, p := t.Elem.AssignableTo(want.Elem); !ok {
				return false, "[]" + p
			}
			return true, ""
		}
	case Object:
		if t.Kind != Object {
			return false, ""
		}
		for _, wp := range want.Fields {
			got, ok := t.Field(wp.Name)
			if !ok {
				if !wp.Required {
					continue
				}
				return false, wp.Name
			}
			if ok, p := got.AssignableTo(wp.Type); !ok {
				return false, joinPath(wp.Name, p)
			}
		}
		return true, ""
	default:
		if t.Kind == want.Kind {
			return true, ""
		}
	}
	return false, ""
}

func joinPath(a, b string) string {
	switch {
	case b == "":
		return a
	case strings.HasPrefix(b, "[]"):
		return a + b
	default:
		return a + "." + b
	}
}

// Common returns the type of records arriving from several inputs: the fields
// every input has, each typed as its inputs agree (Any where they do not).
func Common(ts ...*Type) *Type {
	switch len(ts) {
	case 0:
		return AnyType
	case 1:
		return ts[0]
	}
	first := ts[0]
	for _, t := range ts[1:] {
		if t.Kind != first.Kind || first.Kind == Any {
			return AnyType
		}
	}
	switch first.Kind {
	case Object:
		out := &Type{Kind: Object}
		for _, p := range first.Fields {
			types := []*Type{p.Type}
			inAll := true
			for _, t := range ts[1:] {
				ft, ok := t.Field(p.Name)
				if !ok {
					inAll = false
					break
				}
				types = append(types, ft)
			}
			if inAll {
				out.Fields = append(out.Fields, Property{Name: p.Name, Type: Common(types...)})
			}
		}
		out.Open = slices.ContainsFunc(ts, func(t *Type) bool { return t.Open })
		return out
	case Array:
		elems := make([]*Type, len(ts))
		for i, t := range ts {
			elems[i] = t.Elem
		}
		return ArrayOf(Common(elems...))
	}
	return first
}
