package diag

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Severity says whether a diagnostic stops a pipeline from running.
type Severity int

const (
	// Error diagnostics make validate exit 1 and keep a pipeline from running.
	Error Severity = iota
	// Warning diagnostics are reported but fail only under --strict.
	Warning
)

func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// MarshalText renders the severity as "error" or "warning" in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Pos is a position in a file. Line and Col are 1-based; Col counts
// characters (runes), as editors do.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

// IsValid reports whether p points somewhere.
func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) String() string {
	switch {
	case !p.IsValid():
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Compare orders positions by file, line and column.
func (p Pos) Compare(q Pos) int {
	if c := cmp.Compare(p.File, q.File); c != 0 {
		return c
	}
	if c := cmp.Compare(p.Line, q.Line); c != 0 {
		return c
	}
	return cmp.Compare(p.Col, q.Col)
}

// Range is a span of source text; End is exclusive. A range on one line is
// underlined with carets; a range spanning lines is underlined to the end of
// its first line.
type Range struct {
	Start Pos `json:"start"`
	End   Pos `json:"end"`
}

// At returns a range of width characters starting at p.
func At(p Pos, width int) Range {
	if width < 1 {
		width = 1
	}
	return Range{Start: p, End: Pos{File: p.File, Line: p.Line, Col: p.Col + width}}
}

// Diagnostic is one problem found in a pipeline. Code is a stable kebab-case
// identifier that tests and tools match on; Summary and Detail are prose for
// people and may change.
type Diagnostic struct {
	Severity Severity `json:"severity"`
	Code     string   `json:"code"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
	Hint     string   `json:"hint,omitempty"`
	Subject  Range    `json:"subject"`
}

func (d Diagnostic) String() string {
	return fmt.Sprintf("%s: %s: %s [%s]", d.Subject.Start, d.Severity, d.Summary, d.Code)
}

// Diagnostics is a list of problems. The zero value is ready to use.
type Diagnostics []Diagnostic

// Add appends a diagnostic.
func (ds *Diagnostics) Add(d Diagnostic) { *ds = append(*ds, d) }

// Errorf appends an error with the given code at r.
func (ds *Diagnostics) Errorf(r Range, code, format string, args ...any) *Diagnostic {
	*ds = append(*ds, Diagnostic{Severity: Error, Code: code, Summary: fmt.Sprintf(format, args...), Subject: r})
	return &(*ds)[len(*ds)-1]
}

// Warnf appends a warning with the given code at r.
func (ds *Diagnostics) Warnf(r Range, code, format string, args ...any) *Diagnostic {
	*ds = append(*ds, Diagnostic{Severity: Warning, Code: code, Summary: fmt.Sprintf(format, args...), Subject: r})
	return &(*ds)[len(*ds)-1]
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	return slices.ContainsFunc(ds, func(d Diagnostic) bool { return d.Severity == Error })
}

// Count returns the number of errors and warnings.
func (ds Diagnostics) Count() (errors, warnings int) {
	for _, d := range ds {
		if d.Severity == Error {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}

// Sorted returns the diagnostics ordered by position, then code, with exact
// duplicates (same position, code and summary) removed.
func (ds Diagnostics) Sorted() Diagnostics {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b Diagnostic) int {
		if c := a.Subject.Start.Compare(b.Subject.Start); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Code, b.Code); c != 0 {
			return c
		}
		return cmp.Compare(a.Summary, b.Summary)
	})
	return slices.CompactFunc(out, func(a, b Diagnostic) bool {
		return a.Subject.Start == b.Subject.Start && a.Code == b.Code && a.Summary == b.Summary
	})
}

// Err returns the diagnostics as an error when any of them is an error, nil
// otherwise.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return ErrorList(ds.Sorted())
}

// ErrorList is Diagnostics used as an error value.
type ErrorList Diagnostics

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}
