package pipelines_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pipectl/pipectl/connectors"
	"github.com/pipectl/pipectl/pipelines"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/diag"
	"github.com/pipectl/pipectl/pipelines/exprs"
	"github.com/pipectl/pipectl/schemas"
	"github.com/pipectl/pipectl/transforms"
)

func validateText(t *testing.T, src string) diag.Diagnostics {
	t.Helper()
	reg := component.NewRegistry()
	transforms.Register(reg)
	connectors.Register(reg)
	opts := pipelines.Options{
		LoadOptions: pipelines.LoadOptions{Registry: reg, LookupEnv: func(string) (string, bool) { return "", false }},
		Library:     exprs.NewLibrary(component.FixedClock(time.Unix(0, 0))),
		Schema:      schemas.Lookup, SchemaNames: schemas.Names(),
	}
	f, ds := pipelines.LoadBytes("p.yaml", []byte(src), opts.LoadOptions)
	_, cds := pipelines.Compile(f, opts)
	return append(ds, cds...).Sorted()
}

// A plain scalar ends at " #": the rest of the expression becomes a YAML
// comment. The syntax error says so.
func TestHintCommentCutsExpression(t *testing.T) {
	ds := validateText(t, `pipeline: p
sources:
  o: {file: x.ndjson}
steps:
  m:
    from: o
    map:
      total: sum(line_items, #.quantity)
sinks:
  s: {from: m, stdout: {}}
`)
	if len(ds) != 1 || ds[0].Code != exprs.CodeSyntax || !strings.Contains(ds[0].Hint, "quote the whole expression") {
		t.Fatalf("diagnostics = %v (hint %q)", ds, ds[0].Hint)
	}
}

// One misspelt reference is one diagnostic: the node it meant is not also
// reported as unread.
func TestHintTypoInFromIsOneDiagnostic(t *testing.T) {
	ds := validateText(t, `pipeline: p
sources:
  o: {file: x.ndjson}
steps:
  tickets: {from: o, map: {a: a}}
sinks:
  s: {from: tickts, stdout: {}}
`)
	if len(ds) != 1 || ds[0].Code != pipelines.CodeUnknownReference || ds[0].Hint != `did you mean "tickets"?` {
		t.Fatalf("diagnostics = %v", ds)
	}
}

// An unknown setting names the entry it is in.
func TestUnknownSettingNamesTheEntry(t *testing.T) {
	ds := validateText(t, `pipeline: p
sources:
  o: {file: x.ndjson}
sinks:
  out: {from: o, stdout: {formt: csv}}
`)
	if len(ds) != 1 || ds[0].Summary != `unknown setting "formt" in the stdout sink "out"` || ds[0].Hint != `did you mean "format"?` {
		t.Fatalf("diagnostics = %v", ds)
	}
}
