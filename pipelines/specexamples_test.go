package pipelines_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

// TestSpecExamples loads every example snippet in the kinds' specs, which
// the reference documentation shows. A snippet is part of a pipeline, so
// references to nodes it does not declare are expected; anything else wrong
// with it (an unknown setting, a wrong type, an expression that does not
// parse) would teach users a mistake.
func TestSpecExamples(t *testing.T) {
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(name string) (string, bool) {
			// validate checks URLs, by the scheme each kind takes.
			switch {
			case strings.HasPrefix(name, "NATS_"):
				return "nats://example.com:4222", true
			case strings.Contains(name, "POSTGRES"):
				return "postgres://etl@example.com/staging", true
			case strings.HasSuffix(name, "_URL"):
				return "https://example.com", true
			}
			return "x", true
		}},
		Library:     exprs.NewLibrary(component.FixedClock(time.Unix(0, 0))),
		Schema:      schemas.Lookup,
		SchemaNames: schemas.Names(),
	}
	partial := []string{
		pipelines.CodeUnknownReference, pipelines.CodeMissingField, pipelines.CodeUnusedOutput,
		pipelines.CodeUnusedRule, pipelines.CodeUnusedTrigger, pipelines.CodeNoTrigger,
		exprs.CodeUnknownField, // snippets read fields of records they do not declare
	}
	var n int
	for _, sec := range component.Sections {
		for _, s := range reg.Specs(sec) {
			for _, ex := range s.Examples {
				n++
				src := "pipeline: example\n" + ex.YAML + "\n"
				f, ds := pipelines.LoadBytes("example.yaml", []byte(src), opts.LoadOptions)
				_, cds := pipelines.Compile(f, opts)
				for _, d := range append(ds, cds...) {
					if !slices.Contains(partial, d.Code) {
						t.Errorf("%s %s example %q: %s", sec, s.Kind, ex.Title, d)
					}
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d spec examples; every kind should show one", n)
	}
}
