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
// at run time instead of exhausting memory or hanging a worker: expr's
// budget stops its own loops and literals, our functions stop what they
// would build themselves.
func TestMemoryBudget(t *testing.T) {
	lib := exprs.NewLibrary(exprs.ExampleClock)
	const budget = "memory budget exceeded"
	tests := []struct{ src, msg string }{
		{`map(1..100000000, #)`, budget},
		{`len(map(1..100000000, #)) > 0`, budget},
		{`filter(1..100000000, # > 0)`, budget},
		{`reduce(1..100000000, #acc + 1, 0)`, budget},
		{`map(1..1000, map(1..1000, #))`, budget},
		{`sum_decimal(map(1..100000000, decimal("0.01")))`, budget},
		{`unique(map(1..100000000, # % 2))`, budget},
		{`group(map(1..100000000, ({"k": #})), "k")`, budget},
		{`repeat("x", 100000000)`, "repeat: " + budget},
		{`len(repeat(pad_left("", 10000, "x"), 100000))`, "repeat: " + budget},
		{`len(replace(repeat("x", 100000), "x", repeat("y", 1000)))`, "replace: 100000 replacements of 1000 bytes"},
		{`len(replace(repeat("x", 1000), "", repeat("y", 10000)))`, "replace: 1001 replacements"},
		{`len(join(map(1..100000, ""), repeat("-", 1000)))`, "join: 99999 separators of 1000 bytes"},
		{`pad_left("x", 1000000000)`, "pad_left: width 1000000000 is outside"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			p, probs := lib.Compile(tt.src, nil, nil)
			if len(probs) > 0 {
				t.Fatal(probs)
			}
			start := time.Now()
			out, err := p.Run(&vm.VM{}, map[string]any{})
			if err == nil {
				t.Fatalf("= %.40v, want an error containing %q", out, tt.msg)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want one containing %q", err, tt.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}
}
