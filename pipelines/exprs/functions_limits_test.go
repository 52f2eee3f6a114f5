package exprs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/pipectl/pipectl/pipelines/exprs"
)

func TestMaxNodes(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	n := int(lib.Limits().MaxNodes)
	small := "1" + strings.Repeat(" + 1", n/4)
	if _, probs := lib.Compile(small, nil, nil); len(probs) > 0 {
		t.Fatalf("an expression of %d nodes is refused: %+v", n/2, probs)
	}
	big := "1" + strings.Repeat(" + 1", n)
	_, probs := lib.Compile(big, nil, nil)
	if len(probs) != 1 || probs[0].Code != exprs.CodeTooComplex {
		t.Fatalf("an expression of %d nodes: got %+v, want %s", 2*n+1, probs, exprs.CodeTooComplex)
	}
	nested := strings.Repeat("lower(", n) + `"A"` + strings.Repeat(")", n)
	if _, probs := lib.Compile(nested, nil, nil); len(probs) != 1 || probs[0].Code != exprs.CodeTooComplex {
		t.Fatalf("%d nested calls: got %+v, want %s", n, probs, exprs.CodeTooComplex)
	}
	lower := lib.WithLimits(exprs.Limits{MaxNodes: 10, MemoryBudget: 1000})
	if _, probs := lower.Compile(small, nil, nil); len(probs) != 1 || probs[0].Code != exprs.CodeTooComplex {
		t.Errorf("WithLimits(MaxNodes: 10): got %+v, want %s", probs, exprs.CodeTooComplex)
	}
}

// TestMemoryBudget checks that expressions building huge values fail fast
// at run time instead of exhausting memory or hanging a worker.
func TestMemoryBudget(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	for _, src := range []string{
		`map(1..100000000, #)`,
		`len(map(1..100000000, #)) > 0`,
		`sum_decimal(map(1..100000000, decimal("0.01")))`,
		`len(join(map(1..100000000, "x"), ""))`,
		`repeat("x", 100000000)`,
		`unique(map(1..100000000, # % 2))`,
		`len(pad_left("", 10000, "x") + repeat(pad_left("", 10000, "x"), 100000))`,
		`filter(1..100000000, # > 0)`,
		`group(map(1..100000000, {"k": #}), "k")`,
		`reduce(1..100000000, #acc + 1, 0)`,
	} {
		t.Run(src, func(t *testing.T) {
			p, probs := lib.Compile(src, nil, nil)
			if len(probs) > 0 {
				t.Fatal(probs)
			}
			start := time.Now()
			out, err := p.Run(&vm.VM{}, map[string]any{})
			if err == nil {
				t.Fatalf("= %.40v, want the memory budget exceeded", out)
			}
			if !strings.Contains(err.Error(), "memory budget exceeded") {
				t.Errorf("error %q, want memory budget exceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}
}
