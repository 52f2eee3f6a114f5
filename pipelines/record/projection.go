package record

import (
	"maps"
	"slices"
	"strings"
)

// Projection says which parts of a JSON value a pipeline reads. Fields
// lists the object fields read, each with its own projection; Elem is the
// projection of an array's elements; All means the whole value. A nil
// Projection reads everything. An empty, non-All projection reads the value's
// shape only: an array's length, whether a field is there.
//
// The parts of an All value are read whole too. Fields and Elem of an All
// projection only carry the flags below for the parts the record type
// knows, and are All themselves (Merge keeps it so).
type Projection struct {
	All    bool
	Fields map[string]*Projection
	Elem   *Projection
	// Float asks for numbers as float64 even when written as integers, for
	// values the record type says are numbers.
	Float bool
	// Decimal asks for a number, or a string of decimal text, as an exact
	// decimal.Decimal with the digits and scale it is written with (478.20
	// stays 478.20), for values the record type says are decimals.
	Decimal bool
	// DecimalArg marks a value of no known type that an expression hands
	// to decimal(): a number there decodes as an exact decimal too, so
	// decimal(price) keeps every digit of 12345678901234567.89, unless
	// Plain says an expression also computes with the value as it is,
	// where a decimal would not do.
	DecimalArg bool
	// Plain marks a value of no known type that an expression computes
	// with, or passes to a function, other than decimal().
	Plain bool
}

// decimal reports whether p's value decodes as an exact decimal.
func (p *Projection) decimal() bool { return p.Decimal || p.DecimalArg && !p.Plain }

// AllFields is the projection that decodes everything.
var AllFields = &Projection{All: true}

// Field returns the projection of a field, adding it.
func (p *Projection) Field(name string) *Projection {
	if p.Fields == nil {
		p.Fields = map[string]*Projection{}
	}
	f, ok := p.Fields[name]
	if !ok {
		f = &Projection{}
		p.Fields[name] = f
	}
	return f
}

// Element returns the projection of array elements, adding it.
func (p *Projection) Element() *Projection {
	if p.Elem == nil {
		p.Elem = &Projection{}
	}
	return p.Elem
}

// Merge adds what q reads to p.
func (p *Projection) Merge(q *Projection) {
	if q == nil {
		p.All = true
		p.Normalize()
		return
	}
	p.All = p.All || q.All
	p.Float = p.Float || q.Float
	p.Decimal = p.Decimal || q.Decimal
	p.DecimalArg = p.DecimalArg || q.DecimalArg
	p.Plain = p.Plain || q.Plain
	for name, fq := range q.Fields {
		p.Field(name).Merge(fq)
	}
	if q.Elem != nil {
		p.Element().Merge(q.Elem)
	}
	p.Normalize()
}

// Normalize marks every part of an All projection All, so that the flags
// its parts carry apply to whole values: a projection built by hand, or by
// reading `customer.name` and then `customer` whole, reads customer whole.
func (p *Projection) Normalize() {
	if p == nil {
		return
	}
	for _, f := range p.Fields {
		if p.All {
			f.All = true
		}
		f.Normalize()
	}
	if p.Elem != nil {
		if p.All {
			p.Elem.All = true
		}
		p.Elem.Normalize()
	}
}

// Covers reports whether everything q reads is decoded by p, as q wants
// it decoded: numbers q wants as floats or decimals must be so in p. A nil
// p, like a part of an All projection it says nothing of, decodes
// everything with no type: integers as int, other numbers as float64.
func (p *Projection) Covers(q *Projection) bool {
	switch {
	case q == nil:
		return p == nil || p.All
	case p == nil:
		return !q.typed()
	case q.All && !p.All,
		q.Float && !p.Float,
		q.decimal() && !p.decimal():
		return false
	}
	for name, fq := range q.Fields {
		if !p.coversPart(p.Fields[name], fq) {
			return false
		}
	}
	return q.Elem == nil || p.coversPart(p.Elem, q.Elem)
}

// coversPart reports whether p, whose part fp is (nil when p does not list
// it), covers the part fq of another projection. A part an All projection
// does not list is decoded whole with no type.
func (p *Projection) coversPart(fp, fq *Projection) bool {
	switch {
	case fp != nil:
		return fp.Covers(fq)
	case p.All:
		return !fq.typed()
	}
	return false
}

// typed reports whether p, or any part of it, asks for floats or decimals.
func (p *Projection) typed() bool {
	if p == nil {
		return false
	}
	if p.Float || p.decimal() {
		return true
	}
	for _, f := range p.Fields {
		if f.typed() {
			return true
		}
	}
	return p.Elem.typed()
}

// String renders the projection as sorted paths, for tests and --trace:
// "customer.first_name, line_items[].sku". A path read whole, or only for
// its shape, ends the path; "*" is the whole record.
func (p *Projection) String() string {
	var paths []string
	var walk func(q *Projection, prefix string)
	walk = func(q *Projection, prefix string) {
		if (q == nil || q.All) && prefix == "" {
			paths = append(paths, "*")
			return
		}
		if q == nil || q.All || len(q.Fields) == 0 && q.Elem == nil {
			paths = append(paths, strings.TrimSuffix(prefix, "."))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(q.Fields)) {
			walk(q.Fields[k], prefix+k+".")
		}
		if q.Elem != nil {
			walk(q.Elem, strings.TrimSuffix(prefix, ".")+"[].")
		}
	}
	walk(p, "")
	return strings.Join(paths, ", ")
}
