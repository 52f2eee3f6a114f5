package component

import (
	"fmt"
	"slices"
)

// Registry holds the kinds a pipeline may use. Each package that provides
// kinds exports Register(*Registry); cmd/pipectl builds the full registry and
// tests build small ones.
type Registry struct {
	kinds map[Section]map[string]*Spec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{kinds: map[Section]map[string]*Spec{}}
}

// Add registers a kind. A duplicate or malformed spec is a programming error
// in the kind's package, so Add panics.
func (r *Registry) Add(s *Spec) {
	if err := s.check(); err != nil {
		panic(err)
	}
	m := r.kinds[s.Section]
	if m == nil {
		m = map[string]*Spec{}
		r.kinds[s.Section] = m
	}
	if _, dup := m[s.Kind]; dup {
		panic(fmt.Sprintf("component: %s kind %q registered twice", s.Section, s.Kind))
	}
	m[s.Kind] = s
}

// Lookup returns the spec of a kind in a section.
func (r *Registry) Lookup(sec Section, kind string) (*Spec, bool) {
	s, ok := r.kinds[sec][kind]
	return s, ok
}

// Kinds lists the kind names of a section, sorted.
func (r *Registry) Kinds(sec Section) []string {
	names := make([]string, 0, len(r.kinds[sec]))
	for k := range r.kinds[sec] {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Specs lists the specs of a section, sorted by kind.
func (r *Registry) Specs(sec Section) []*Spec {
	var out []*Spec
	for _, k := range r.Kinds(sec) {
		out = append(out, r.kinds[sec][k])
	}
	return out
}
