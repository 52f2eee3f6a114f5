package exprs_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	_ "time/tzdata" // the examples name IANA zones; cmd embeds the database, tests must too

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/component"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

// run compiles src against an open record and evaluates it against env.
func run(t *testing.T, lib *exprs.Library, src string, env map[string]any) (any, error) {
	t.Helper()
	p, probs := lib.Compile(src, nil, nil)
	if len(probs) > 0 {
		t.Fatalf("compile %s: %+v", src, probs)
	}
	if env == nil {
		env = map[string]any{}
	}
	return p.Run(&vm.VM{}, env)
}

func TestLibraryExamples(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	fns := lib.Functions()
	if len(fns) == 0 {
		t.Fatal("library has no functions")
	}
	seen := map[string]bool{}
	for _, f := range fns {
		t.Run(f.Name, func(t *testing.T) {
			if seen[f.Name] {
				t.Errorf("function %s is defined twice", f.Name)
			}
			seen[f.Name] = true
			if f.Category == "" || f.Summary == "" || f.Signature == "" || len(f.Types) == 0 {
				t.Errorf("function %s has an incomplete spec: %+v", f.Name, f)
			}
			if !strings.HasPrefix(f.Signature, f.Name+"(") {
				t.Errorf("signature %q does not start with %s(", f.Signature, f.Name)
			}
			if len(f.Examples) < 2 {
				t.Errorf("function %s has %d examples, want at least 2", f.Name, len(f.Examples))
			}
			for _, ex := range f.Examples {
				p, probs := lib.Compile(ex.Expr, nil, nil)
				if len(probs) > 0 {
					t.Errorf("%s: does not compile: %+v", ex.Expr, probs)
					continue
				}
				out, err := p.Run(&vm.VM{}, map[string]any{})
				if err != nil {
					t.Errorf("%s: %v", ex.Expr, err)
					continue
				}
				got, err := json.Marshal(out)
				if err != nil {
					t.Errorf("%s: result %#v does not encode: %v", ex.Expr, out, err)
					continue
				}
				var want bytes.Buffer
				if err := json.Compact(&want, []byte(ex.Want)); err != nil {
					t.Errorf("%s: Want %s is not JSON: %v", ex.Expr, ex.Want, err)
					continue
				}
				if string(got) != want.String() {
					t.Errorf("%s = %s, want %s", ex.Expr, got, want.String())
				}
			}
		})
	}
	// The brief's functions must all be there, whichever file defines them.
	for _, name := range []string{
		"lower", "upper", "trim", "split", "join", "replace", "pad_left", "pad_right", "truncate",
		"round", "floor", "ceil", "parse_int", "parse_float", "clamp",
		"decimal", "round_money", "sum_decimal", "to_float", "format_money",
		"now", "parse_time", "format_time", "add_days", "to_timezone",
		"group", "unique", "pluck", "coalesce", "default", "lookup",
		"hash", "uuid5", "normalize_sku", "valid_gtin", "valid_upc", "valid_ean", "gtin14",
	} {
		if !seen[name] {
			t.Errorf("library lacks %s", name)
		}
	}
}

// TestNowReadsTheClock guards against now() falling back to expr's builtin,
// which reads the wall clock.
func TestNowReadsTheClock(t *testing.T) {
	lib := exprs.NewLibrary(component.FixedClock(exprs.ExampleClock.Now().AddDate(-10, 0, 0)))
	out, err := run(t, lib, `format_time(now(), "date")`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out != "2014-03-01" {
		t.Errorf("now() = %v, want the clock's 2014-03-01", out)
	}
}
