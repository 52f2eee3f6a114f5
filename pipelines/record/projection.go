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
type Projection struct {
	All    bool
	Fields map[string]*Projection
	Elem   *Projection
	// Float asks for numbers as float64 even when written as integers, for
	// values the schema types as number.
	Float bool
}

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
		return
	}
	p.All = p.All || q.All
	p.Float = p.Float || q.Float
	for name, fq := range q.Fields {
		p.Field(name).Merge(fq)
	}
	if q.Elem != nil {
		p.Element().Merge(q.Elem)
	}
}

// Covers reports whether everything q reads is decoded by p.
func (p *Projection) Covers(q *Projection) bool {
	switch {
	case p == nil || p.All:
		return true
	case q == nil || q.All:
		return false
	case q.Float && !p.Float:
		return false
	}
	for name, fq := range q.Fields {
		fp, ok := p.Fields[name]
		if !ok || !fp.Covers(fq) {
			return false
		}
	}
	if q.Elem != nil && (p.Elem == nil || !p.Elem.Covers(q.Elem)) {
		return false
	}
	return true
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
